"""The training state: everything but the weights that a resumed run needs, in one object.

:class:`TrainingState` holds the counters (step, epoch, position in the epoch), the optimizers,
schedulers, gradient scaler and EMA, and turns them, with every rank's RNG states, into one
dict of tensors and plain values (:meth:`~TrainingState.state_dict`) that checkpoints write and
read back (:meth:`~TrainingState.load_state_dict`), like Lightning's loop state. Nothing else
reaches into the Trainer to save or restore it.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from pix2pix.trainer.ema import ExponentialMovingAverage
from pix2pix.trainer.rng import restore_rng_state

logger = logging.getLogger(__name__)

#: Version of ``trainer_state.pt``. Format 1 (before 0.1.0) had no checkpoint manifest.
STATE_FORMAT = 2
_STATEFUL = ("optimizer_g", "optimizer_d", "scheduler_g", "scheduler_d", "scaler")


class TrainingState:
    """Counters, optimizers, schedulers, scaler and EMA of a run (built by ``Trainer.setup``).

    Attributes:
        step: Optimisation steps completed.
        epoch: The current epoch (0-based; the number of completed epochs).
        batch_in_epoch: Batches of the current epoch already trained on.
        optimizer_g: Adam on the generator (``None`` until set up).
        optimizer_d: Adam on the discriminator.
        scheduler_g: The per-epoch LR schedule of G (``None``: none).
        scheduler_d: The per-epoch LR schedule of D.
        scaler: fp16 loss scaling (disabled otherwise).
        ema: The EMA copy of G (``ema_decay``), or ``None``.

    Examples:
        >>> state = TrainingState()
        >>> state.advance(); state.step, state.batch_in_epoch
        (1, 1)
    """

    def __init__(self) -> None:
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.optimizer_g: Optimizer | None = None
        self.optimizer_d: Optimizer | None = None
        self.scheduler_g: LRScheduler | None = None
        self.scheduler_d: LRScheduler | None = None
        self.scaler: torch.amp.GradScaler | None = None
        self.ema: ExponentialMovingAverage | None = None

    def advance(self) -> None:
        """Count one optimisation step."""
        self.step += 1
        self.batch_in_epoch += 1

    def end_epoch(self) -> None:
        """Step the LR schedules once and start the next epoch."""
        for scheduler in (self.scheduler_g, self.scheduler_d):
            if scheduler is not None:
                with warnings.catch_warnings():
                    # a run resumed at an epoch's end steps the schedule before the optimizer
                    warnings.filterwarnings(
                        "ignore", "Detected call of `lr_scheduler.step", UserWarning
                    )
                    scheduler.step()
        self.epoch += 1
        self.batch_in_epoch = 0

    def state_dict(self, rng_states: list[dict[str, Any]]) -> dict[str, Any]:
        """Tensors and plain values only; ``rng_states`` holds one entry per rank."""
        state: dict[str, Any] = {
            "format": STATE_FORMAT,
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "ema_num_updates": int(self.ema.num_updates) if self.ema is not None else None,
            "rng": rng_states,
        }
        for name in _STATEFUL:
            obj = getattr(self, name)
            state[name] = obj.state_dict() if obj is not None else None
        return state

    def load_state_dict(
        self, state: dict[str, Any], *, rank: int, world_size: int, source: str
    ) -> bool:
        """Restore what :meth:`state_dict` returned (the EMA's weights are loaded apart).

        Args:
            state: The saved dict.
            rank: This process's rank, whose RNG states it takes.
            world_size: The number of processes now.
            source: The checkpoint, for messages.

        Returns:
            Whether the RNG streams were restored (only with the same number of processes).

        Raises:
            ValueError: For a state of another format.
        """
        if state.get("format") != STATE_FORMAT:
            raise ValueError(
                f"{source} has trainer-state format {state.get('format')!r}; this version of "
                f"pix2pix reads format {STATE_FORMAT} and cannot resume it (its generator/ "
                "still loads with Translator.from_pretrained)."
            )
        for name in _STATEFUL:
            obj = getattr(self, name)
            if obj is not None and state.get(name):  # {} comes from a disabled GradScaler
                obj.load_state_dict(state[name])
        if self.ema is not None:
            self.ema.set_num_updates(state.get("ema_num_updates") or 0)
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self.batch_in_epoch = int(state["batch_in_epoch"])
        rng = state.get("rng") or []
        if state.get("world_size") == world_size and len(rng) == world_size:
            restore_rng_state(rng[rank])
            return True
        return False


class StateField:
    """A Trainer attribute kept in its :class:`TrainingState` (``trainer.step`` reads and sets
    ``trainer.state.step``), so callbacks and overrides keep their short names.

    Examples:
        >>> class Holder:
        ...     step = StateField()
        ...     def __init__(self):
        ...         self.state = TrainingState()
        >>> holder = Holder(); holder.step = 3; holder.state.step
        3
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        return self if obj is None else getattr(obj.state, self.name)

    def __set__(self, obj: Any, value: Any) -> None:
        setattr(obj.state, self.name, value)
