"""The Trainer's hooks: no-op methods a subclass overrides, mirrored by :class:`Callback`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pix2pix.trainer.callbacks import Callback


class TrainerHooks:
    """The hook points of a run, in the order they fire; each runs before the callbacks' own.

    Examples:
        >>> class Announcing(Trainer):  # doctest: +SKIP
        ...     def on_epoch_start(self):
        ...         print("epoch", self.epoch)
    """

    callbacks: list[Callback]

    def on_train_start(self) -> None:
        """Hook: before the first step (after loading a checkpoint when resuming)."""

    def on_epoch_start(self) -> None:
        """Hook: before the first batch of each epoch (``self.epoch``)."""

    def on_step_end(self, losses: dict[str, torch.Tensor]) -> None:
        """Hook: after each step; ``losses`` are detached device tensors."""

    def on_validation_end(self, metrics: dict[str, float]) -> None:
        """Hook: after each validation with the mean metrics."""

    def on_checkpoint(self, path: Path) -> None:
        """Hook: after a checkpoint folder is written."""

    def on_train_end(self) -> None:
        """Hook: after the final checkpoint and export."""

    def call_hook(self, hook: str, *args: Any) -> None:
        """Run the trainer's hook ``hook``, then each callback's, in order."""
        getattr(self, hook)(*args)
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)
