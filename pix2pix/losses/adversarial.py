"""Adversarial objectives: vanilla (BCE with logits), LSGAN, hinge and WGAN-GP.

Each objective has a functional form, :func:`gan_loss`, and a thin module twin, :class:`GANLoss`,
whose ``forward`` only delegates. Discriminators output raw logits (or scores); targets are
broadcast to the prediction's shape, so any patch-map size works.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pix2pix.constants import GAN_MODE_CHOICES, PENALTY_CHOICES


def _check_mode(mode: str) -> str:
    if mode not in GAN_MODE_CHOICES:
        raise ValueError(f"mode={mode!r} is not supported; choose one of {GAN_MODE_CHOICES}.")
    return mode


def gan_loss(
    prediction: torch.Tensor | list[torch.Tensor],
    target_is_real: bool,
    mode: str = "vanilla",
    *,
    for_discriminator: bool = True,
    real_label: float = 1.0,
    fake_label: float = 0.0,
) -> torch.Tensor:
    """Adversarial loss of a discriminator output against a real or fake target.

    * ``"vanilla"``: binary cross-entropy with logits against ``real_label``/``fake_label``
      (the paper's objective, eq. 1).
    * ``"lsgan"``: mean squared error against the labels (Mao et al. 2017).
    * ``"hinge"``: for the discriminator ``relu(1 - x)`` on real and ``relu(1 + x)`` on fake;
      for the generator ``-x`` (Lim & Ye 2017; Miyato et al. 2018).
    * ``"wgangp"``: ``-x`` on real and ``x`` on fake (pair with :func:`gradient_penalty`).

    Only the hinge discriminator loss differs from its generator form; for the other modes the
    generator simply asks for ``target_is_real=True``.

    Args:
        prediction: Discriminator output of any shape, or a list of outputs (multi-scale
            discriminators), whose losses are averaged.
        target_is_real: Whether the prediction should be judged real.
        mode: One of :data:`GAN_MODE_CHOICES`.
        for_discriminator: Use the discriminator form (matters for ``"hinge"`` only).
        real_label: Target value for real samples (``"vanilla"`` and ``"lsgan"``).
        fake_label: Target value for fake samples (``"vanilla"`` and ``"lsgan"``).

    Returns:
        A scalar tensor.

    Raises:
        ValueError: If ``mode`` is unknown.

    Examples:
        >>> gan_loss(torch.zeros(1, 1, 30, 30), True)  # log(2)
        tensor(0.6931)
    """
    _check_mode(mode)
    if isinstance(prediction, (list, tuple)):
        losses = [
            gan_loss(
                p,
                target_is_real,
                mode,
                for_discriminator=for_discriminator,
                real_label=real_label,
                fake_label=fake_label,
            )
            for p in prediction
        ]
        return torch.stack(losses).mean()
    if mode in ("vanilla", "lsgan"):
        target = torch.tensor(
            real_label if target_is_real else fake_label,
            dtype=prediction.dtype,
            device=prediction.device,
        ).expand_as(prediction)
        if mode == "vanilla":
            return F.binary_cross_entropy_with_logits(prediction, target)
        return F.mse_loss(prediction, target)
    if mode == "hinge" and for_discriminator:
        margin = 1.0 - prediction if target_is_real else 1.0 + prediction
        return F.relu(margin).mean()
    # hinge generator form and both WGAN forms: push the score up for "real", down for "fake"
    return -prediction.mean() if target_is_real else prediction.mean()


class GANLoss(nn.Module):
    """Module twin of :func:`gan_loss`; ``forward`` delegates to it.

    Args:
        mode: ``"vanilla"`` (paper), ``"lsgan"``, ``"hinge"`` or ``"wgangp"``.
        real_label: Target value for real samples.
        fake_label: Target value for fake samples.

    Examples:
        >>> criterion = GANLoss("lsgan")
        >>> criterion(torch.ones(2, 1, 4, 4), target_is_real=True)
        tensor(0.)
    """

    def __init__(self, mode: str = "vanilla", real_label: float = 1.0, fake_label: float = 0.0):
        super().__init__()
        self.mode = _check_mode(mode)
        self.real_label = real_label
        self.fake_label = fake_label

    def forward(
        self,
        prediction: torch.Tensor | list[torch.Tensor],
        target_is_real: bool,
        for_discriminator: bool = True,
    ) -> torch.Tensor:
        """Compute the loss; see :func:`gan_loss`."""
        return gan_loss(
            prediction,
            target_is_real,
            self.mode,
            for_discriminator=for_discriminator,
            real_label=self.real_label,
            fake_label=self.fake_label,
        )

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


def gradient_penalty(
    discriminator: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    *,
    penalty_type: str = "mixed",
    constant: float = 1.0,
    weight: float = 10.0,
) -> torch.Tensor:
    """WGAN-GP gradient penalty (Gulrajani et al. 2017), as the reference ``cal_gradient_penalty``.

    ``weight * mean((||grad D(x)||_2 - constant)**2)`` where ``x`` is the real input, the fake
    input, or (``"mixed"``, the default) a random per-sample interpolation of the two. For pix2pix
    pass the discriminator's full inputs, i.e. ``cat(source, target)``.

    Args:
        discriminator: The critic.
        real: Real discriminator inputs ``[N, C, H, W]``.
        fake: Fake discriminator inputs of the same shape (detached or not).
        penalty_type: ``"mixed"``, ``"real"`` or ``"fake"``.
        constant: Target gradient norm.
        weight: Penalty weight (lambda).

    Returns:
        A scalar tensor, differentiable with respect to the critic's parameters.

    Raises:
        ValueError: If ``penalty_type`` is unknown or the shapes differ.

    Examples:
        >>> critic = torch.nn.Conv2d(6, 1, 3)
        >>> gradient_penalty(critic, torch.randn(2, 6, 8, 8), torch.randn(2, 6, 8, 8)).ndim
        0
    """
    if penalty_type not in PENALTY_CHOICES:
        raise ValueError(
            f"penalty_type={penalty_type!r} is not supported; choose one of {PENALTY_CHOICES}."
        )
    if real.shape != fake.shape:
        raise ValueError(
            f"real and fake must have the same shape; got {tuple(real.shape)} and "
            f"{tuple(fake.shape)}."
        )
    if penalty_type == "real":
        points = real.detach()
    elif penalty_type == "fake":
        points = fake.detach()
    else:
        alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
        points = alpha * real.detach() + (1 - alpha) * fake.detach()
    points.requires_grad_(True)
    scores = discriminator(points)
    if isinstance(scores, (list, tuple)):  # a multi-scale critic: the gradient of every scale
        scores = torch.cat([score.flatten(1) for score in scores], dim=1)
    (gradients,) = torch.autograd.grad(
        outputs=scores,
        inputs=points,
        grad_outputs=torch.ones_like(scores),
        create_graph=True,
        retain_graph=True,
    )
    # the reference adds 1e-16 inside the norm so the gradient of sqrt stays finite at 0
    norms = (gradients.flatten(1) + 1e-16).norm(2, dim=1)
    return ((norms - constant) ** 2).mean() * weight
