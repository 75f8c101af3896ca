"""Loss terms: each loss a weighted list, built from the config, that a subclass can extend.

The generator's loss is the sum of its terms (``G_GAN``, ``lambda_l1 x G_L1``, and when their
weights are on, ``lambda_feat x`` feature matching and ``lambda_vgg x`` the VGG loss); the
discriminator's is the paper's halved real/fake objective plus its terms (the WGAN-GP penalty).
A term sees the step's tensors through :class:`LossInputs`, which runs D once on the fake pair
(with its features when a term asks for them) however many terms read it, and only through the
handle the update in progress allows.

Adding a term takes one function and one line in a subclass::

    class TVTrainer(Trainer):
        def configure_loss_terms(self):
            g_terms, d_terms = super().configure_loss_terms()
            g_terms.append(LossTerm("G_TV", 1e-4, lambda x: x.fake.diff(dim=-1).abs().mean()))
            return g_terms, d_terms
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pix2pix.losses.adversarial import gan_loss, gradient_penalty
from pix2pix.losses.feature_matching import feature_matching_loss
from pix2pix.losses.perceptual import VGGLoss, load_vgg19_features
from pix2pix.trainer.config import TrainerConfig


class LossInputs:
    """What a loss term computes from: the step's tensors and D's outputs, each run once.

    Attributes:
        source: The input images ``[N, C_in, H, W]``.
        target: The real outputs ``[N, C_out, H, W]``.
        fake: G's outputs (detached for D's terms).
        discriminator: The plain D module (for terms that must bypass DDP, such as a
            gradient penalty).

    Examples:
        >>> x = torch.zeros(1, 3, 8, 8)
        >>> inputs = LossInputs(x, x, x, lambda pair, **kw: pair.mean(), None)
        >>> float(inputs.fake_prediction)
        0.0
    """

    def __init__(
        self,
        source: torch.Tensor,
        target: torch.Tensor,
        fake: torch.Tensor,
        discriminate: Callable[..., Any],
        discriminator: nn.Module | None,
        *,
        features: bool = False,
    ) -> None:
        self.source, self.target, self.fake = source, target, fake
        self.discriminator = discriminator
        self._discriminate = discriminate
        self._features = features
        self._fake: Any = None
        self._real_features: Any = None

    def _fake_output(self) -> Any:
        if self._fake is None:
            pair = torch.cat([self.source, self.fake], dim=1)
            if self._features:
                self._fake = self._discriminate(pair, return_features=True)
            else:
                self._fake = (self._discriminate(pair), None)
        return self._fake

    @property
    def fake_prediction(self) -> Any:
        """D's prediction on ``(source, fake)`` (a list for a multi-scale D)."""
        return self._fake_output()[0]

    @property
    def fake_features(self) -> Any:
        """D's intermediate features on ``(source, fake)`` (needs ``needs_features``)."""
        return self._fake_output()[1]

    @property
    def real_features(self) -> Any:
        """D's features on ``(source, target)``: a target, so computed without a graph."""
        if self._real_features is None:
            with torch.no_grad():
                pair = torch.cat([self.source, self.target], dim=1)
                _, self._real_features = self._discriminate(pair, return_features=True)
        return self._real_features


@dataclass(frozen=True)
class LossTerm:
    """One term of a loss: ``weight * compute(inputs)``, logged under ``name`` (weighted).

    Attributes:
        name: The log key (``"G_L1"``).
        weight: The factor (``lambda_l1``); 1.0 adds the value as it is.
        compute: ``(LossInputs) -> scalar tensor``.
        needs_features: Whether it reads D's intermediate features (feature matching).

    Examples:
        >>> term = LossTerm("G_L1", 100.0, lambda x: (x.fake - x.target).abs().mean())
        >>> term.name, term.weight
        ('G_L1', 100.0)
    """

    name: str
    weight: float
    compute: Callable[[LossInputs], torch.Tensor]
    needs_features: bool = False


def weighted_sum(
    terms: list[LossTerm], inputs: LossInputs
) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
    """``(sum of weighted terms, {name: weighted value})``; ``(None, {})`` for no terms.

    The sum runs in the terms' order, and a weight of 1.0 multiplies nothing, so the paper's
    ``GAN + lambda_l1 * L1`` is computed exactly as the reference computes it.
    """
    total: torch.Tensor | None = None
    logs: dict[str, torch.Tensor] = {}
    for term in terms:
        value = term.compute(inputs)
        if term.weight != 1.0:
            value = value * term.weight
        logs[term.name] = value
        total = value if total is None else total + value
    return total, logs


def generator_terms(config: TrainerConfig, discriminator: nn.Module) -> list[LossTerm]:
    """The generator's terms of ``config``: GAN, L1 (eq. 4), feature matching and VGG when on.

    The VGG loss's network (``lambda_vgg``) is loaded here, frozen, onto ``discriminator``'s
    device (the trainer's, once placed), so missing weights stop a run before its first step.

    Raises:
        ValueError: If ``lambda_feat`` is on and ``discriminator`` returns no features, or the
            VGG weights file is a pickle or holds other tensors.
        FileNotFoundError: If ``lambda_vgg`` is on and no VGG19 weights are found (one line
            saying where it looked and how to get them).
    """
    mode = config.gan_mode
    terms = [
        LossTerm(
            "G_GAN", 1.0, lambda x: gan_loss(x.fake_prediction, True, mode, for_discriminator=False)
        ),
        LossTerm("G_L1", config.lambda_l1, lambda x: F.l1_loss(x.fake, x.target)),
    ]
    if config.lambda_feat > 0:  # pix2pixHD feature matching: D's features on fake vs real
        if "return_features" not in inspect.signature(discriminator.forward).parameters:
            raise ValueError(
                f"lambda_feat={config.lambda_feat} needs a discriminator that returns its "
                f"intermediate features (forward(x, return_features=True)), and "
                f"{type(discriminator).__name__} does not; use "
                "pix2pix.models.MultiScaleDiscriminator (num_d=1 is the plain PatchGAN), "
                "or set lambda_feat=0."
            )
        terms.append(
            LossTerm(
                "G_feat",
                config.lambda_feat,
                lambda x: feature_matching_loss(x.real_features, x.fake_features),
                needs_features=True,
            )
        )
    if config.lambda_vgg > 0:  # pix2pixHD / SPADE: L1 between VGG19 features of fake and real
        parameter = next(discriminator.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        memory_format = torch.channels_last if config.channels_last else torch.preserve_format
        network = load_vgg19_features(config.vgg_weights)
        # Module.to takes memory_format= with device= at run time; torch's overloads omit it
        network.to(device=device, memory_format=memory_format)  # type: ignore[call-overload]
        terms.append(
            LossTerm("G_VGG", config.lambda_vgg, functools.partial(_vgg, VGGLoss(network)))
        )
    return terms


def _vgg(loss: VGGLoss, inputs: LossInputs) -> torch.Tensor:
    return loss(inputs.fake, inputs.target)


def discriminator_terms(config: TrainerConfig, device_type: str) -> list[LossTerm]:
    """The discriminator's terms beyond its real/fake objective: the WGAN-GP penalty."""
    if config.gan_mode != "wgangp":
        return []

    def penalty(x: LossInputs) -> torch.Tensor:
        # in fp32 on the plain module: a double backward through autocast or DDP is fragile,
        # and the gradients still reach DDP's hooks on D's parameters
        with torch.autocast(device_type, enabled=False):
            real_pair = torch.cat([x.source, x.target], dim=1).float()
            fake_pair = torch.cat([x.source, x.fake], dim=1).float()
            assert x.discriminator is not None  # LossInputs of D's update always carry it
            return gradient_penalty(x.discriminator, real_pair, fake_pair, weight=1.0)

    return [LossTerm("D_GP", config.lambda_gp, penalty)]
