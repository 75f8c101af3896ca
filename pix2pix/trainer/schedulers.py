"""Learning-rate schedules of the reference implementation, stepped once per epoch."""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import CosineAnnealingLR, LambdaLR, LRScheduler, StepLR

from pix2pix.constants import LR_POLICY_CHOICES
from pix2pix.trainer.config import TrainerConfig


def linear_decay_factor(epoch: int, epochs: int, epochs_decay: int, epoch_count: int = 1) -> float:
    """The reference's ``lambda_rule``: the LR multiplier during (0-based) ``epoch``.

    ``1 - max(0, epoch + epoch_count - epochs) / (epochs_decay + 1)``: 1 for the first ``epochs``
    epochs, then a linear ramp that reaches ``1 / (epochs_decay + 1)`` in the last epoch (the
    ``+ 1`` keeps the last epoch from training at LR 0). ``epoch_count`` is the reference's
    starting-epoch option, 1 by default.

    Examples:
        >>> [round(linear_decay_factor(e, 2, 2), 3) for e in range(4)]
        [1.0, 1.0, 0.667, 0.333]
    """
    return 1.0 - max(0, epoch + epoch_count - epochs) / float(epochs_decay + 1)


def build_scheduler(optimizer: Optimizer, config: TrainerConfig) -> LRScheduler:
    """The LR scheduler named by ``config.lr_policy`` for ``optimizer``, stepped per epoch.

    * ``"linear"``: :func:`linear_decay_factor` (paper: constant for ``epochs``, then linear decay
      over ``epochs_decay``).
    * ``"step"``: multiply by 0.1 every ``lr_decay_iters`` epochs (reference ``StepLR``).
    * ``"cosine"``: cosine annealing to 0 over all ``epochs + epochs_decay`` epochs (the reference
      anneals over ``n_epochs`` only, after which the cosine climbs back up; we use the whole run).
    * ``"constant"``: no change.

    Raises:
        ValueError: If ``config.lr_policy`` is unknown.

    Examples:
        >>> import torch
        >>> opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=2e-4)
        >>> build_scheduler(opt, TrainerConfig(lr_policy="step")).__class__.__name__
        'StepLR'
    """
    policy = config.lr_policy
    if policy == "linear":
        epochs, decay = config.epochs, config.epochs_decay
        return LambdaLR(optimizer, lambda epoch: linear_decay_factor(epoch, epochs, decay))
    if policy == "step":
        return StepLR(optimizer, step_size=config.lr_decay_iters, gamma=0.1)
    if policy == "cosine":
        return CosineAnnealingLR(optimizer, T_max=config.total_epochs, eta_min=0.0)
    if policy == "constant":
        return LambdaLR(optimizer, lambda epoch: 1.0)
    raise ValueError(f"lr_policy={policy!r} is not supported; choose one of {LR_POLICY_CHOICES}.")
