"""One training step, as the reference orders it: G forward, D's update, G's update, EMA.

:class:`EagerStep` runs it op by op (the default, and the paper-exact fp32 path). It computes
the losses through the trainer's override points (:meth:`Trainer.discriminator_loss`,
:meth:`Trainer.generator_loss`) and owns the update around them: the D handle of each update,
freezing D while G learns, zero_grad, autocast, gradient scaling, backward and the optimiser
step. A step function replaces it through ``Trainer.step_function`` (the CUDA-graph step of
``cuda_graphs`` captures this same sequence).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch.optim import Optimizer

from pix2pix.trainer.modes import frozen

if TYPE_CHECKING:
    from pix2pix.trainer.trainer import Trainer

Logs = dict[str, torch.Tensor]


def batch_to_device(
    batch: dict[str, Any], device: torch.device, *, channels_last: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch["source"]`` and ``batch["target"]`` (``[N, C, H, W]``) as float on ``device``.

    Raises:
        ValueError: For a batch that is not such a dict, in one line saying what it got.

    Examples:
        >>> x = torch.zeros(1, 3, 4, 4)
        >>> [t.shape for t in batch_to_device({"source": x, "target": x}, torch.device("cpu"),
        ...                                   channels_last=False)]
        [torch.Size([1, 3, 4, 4]), torch.Size([1, 3, 4, 4])]
    """
    if not isinstance(batch, dict) or "source" not in batch or "target" not in batch:
        found = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise ValueError(f"A batch must be a dict with 'source' and 'target' tensors; got {found}.")
    memory_format = torch.channels_last if channels_last else torch.preserve_format
    tensors = []
    for key in ("source", "target"):
        value = batch[key]
        if not isinstance(value, torch.Tensor) or value.dim() != 4:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value)
            raise ValueError(
                f"batch[{key!r}] must be a [N, C, H, W] tensor; got {shape}. A single item "
                "needs a batch dimension (value.unsqueeze(0))."
            )
        tensors.append(value.to(device, non_blocking=True, memory_format=memory_format).float())
    return tensors[0], tensors[1]


class EagerStep:
    """The pix2pix update, op by op, on a set-up trainer.

    Examples:
        >>> losses = EagerStep(trainer)(source, target)  # doctest: +SKIP
        >>> sorted(losses)  # doctest: +SKIP
        ['D_fake', 'D_real', 'G_GAN', 'G_L1']
    """

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer

    def __call__(self, source: torch.Tensor, target: torch.Tensor) -> Logs:
        """One step; returns the losses as detached 0-dim tensors (still on the device)."""
        trainer, state = self.trainer, self.trainer.state
        with trainer.autocast():
            fake = trainer.generate(source)
        losses = self.discriminator_update(source, target, fake)
        losses.update(self.generator_update(source, target, fake))
        if state.scaler is not None and state.scaler.is_enabled():
            state.scaler.update()  # once per iteration, after both optimizers stepped
        if state.ema is not None:
            state.ema.update(trainer.generator)
        return losses

    def discriminator_update(
        self, source: torch.Tensor, target: torch.Tensor, fake: torch.Tensor
    ) -> Logs:
        """D's update on ``discriminator_loss``, with ``fake`` detached."""
        trainer = self.trainer
        with trainer.networks.discriminator_update():
            return self._update(
                trainer.state.optimizer_d, trainer.discriminator_loss, source, target, fake.detach()
            )

    def generator_update(
        self, source: torch.Tensor, target: torch.Tensor, fake: torch.Tensor
    ) -> Logs:
        """G's update on ``generator_loss``, with D frozen (no D gradients computed)."""
        trainer = self.trainer
        with frozen(trainer.discriminator), trainer.networks.generator_update():
            return self._update(
                trainer.state.optimizer_g, trainer.generator_loss, source, target, fake
            )

    def _update(
        self,
        optimizer: Optimizer | None,
        loss_fn: Callable[..., tuple[torch.Tensor, Logs]],
        *inputs: torch.Tensor,
    ) -> Logs:
        """zero_grad, the loss under autocast, backward (scaled under fp16), step."""
        scaler = self.trainer.state.scaler
        if optimizer is None or scaler is None:
            raise RuntimeError("The optimizers are built by setup(); call trainer.setup() first.")
        optimizer.zero_grad()
        with self.trainer.autocast():
            loss, logs = loss_fn(*inputs)
        scaler.scale(loss).backward()
        scaler.step(optimizer)  # skipped on inf gradients under fp16
        return {name: value.detach() for name, value in logs.items()}
