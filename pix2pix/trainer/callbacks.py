"""``Callback``: code that runs at the trainer's hook points without subclassing the trainer."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from pix2pix.trainer.trainer import Trainer


class Callback:
    """Base class with one no-op method per hook; override the ones you need.

    Each hook receives the trainer first, so a callback can read ``trainer.step``,
    ``trainer.epoch``, ``trainer.generator``, ``trainer.config`` ..., or set
    ``trainer.should_stop = True`` to end training after the current step (with several
    processes: at the next multiple of ``log_every``, where the ranks agree). Hooks run after the
    trainer's own method of the same name, in the order the callbacks were given.

    A callback with state that must survive a resume returns it from :meth:`state_dict` (tensors
    and plain Python values only: checkpoints are loaded with ``weights_only=True``).

    Hooks, in the order they fire:

    * ``on_train_start(trainer)``: after setup (and after loading a checkpoint when resuming).
    * ``on_epoch_start(trainer)``: before the first batch of an epoch (also for the partly done
      epoch a resumed run continues).
    * ``on_step_end(trainer, losses)``: after each optimisation step; ``losses`` are detached
      0-dim tensors (reading one with ``float()`` waits for the device).
    * ``on_validation_end(trainer, metrics)``: after a validation, with the mean metrics.
    * ``on_checkpoint(trainer, path)``: after a checkpoint folder is written.
    * ``on_train_end(trainer)``: after the final checkpoint and export.

    Examples:
        >>> class StopAt(Callback):
        ...     def on_step_end(self, trainer, losses):
        ...         if trainer.step == 10:
        ...             trainer.should_stop = True
    """

    def on_train_start(self, trainer: Trainer) -> None:
        """Called once before the first step."""

    def on_epoch_start(self, trainer: Trainer) -> None:
        """Called at the start of every epoch (``trainer.epoch`` is 0-based)."""

    def on_step_end(self, trainer: Trainer, losses: dict[str, torch.Tensor]) -> None:
        """Called after every optimisation step (``trainer.step`` already counts it)."""

    def on_validation_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        """Called after each validation with metrics such as ``{"val/PSNR": 21.3}``."""

    def on_checkpoint(self, trainer: Trainer, path: Path) -> None:
        """Called after a checkpoint is saved to ``path``."""

    def on_train_end(self, trainer: Trainer) -> None:
        """Called once when training finished (not when it was interrupted or failed)."""

    def state_dict(self) -> dict[str, Any]:
        """State to store in checkpoints (tensors and plain values); empty by default."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


HOOKS = (
    "on_train_start",
    "on_epoch_start",
    "on_step_end",
    "on_validation_end",
    "on_checkpoint",
    "on_train_end",
)


def _import(spec: str, module_name: str) -> Any:
    """Import the callback's module; its own errors (a SyntaxError...) as one line."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError:
        raise
    except Exception as error:
        raise ValueError(
            f"--callback {spec!r}: importing {module_name} failed: {type(error).__name__}: {error}"
        ) from None


def load_callback(spec: str) -> Callback:
    """Build the callback named ``"module:Class"`` (or ``"module.Class"``) with no arguments.

    This imports ``module``, running its code: call it only for names the user gave (a run
    folder's record may come from someone else; see :meth:`Trainer.from_run`). The class must
    be a :class:`Callback` subclass before anything of it is called. A module in the current
    folder is found too (the ``pix2pix`` command does not put it on ``sys.path`` by itself).

    Raises:
        ValueError: If the name is malformed, cannot be imported, or is not a Callback.

    Examples:
        >>> type(load_callback("pix2pix.trainer.monitoring:EarlyStopping")).__name__
        'EarlyStopping'
    """
    module_name, sep, attr = spec.partition(":")
    if not sep:
        module_name, _, attr = spec.rpartition(".")
    if not module_name or not attr:
        raise ValueError(f"--callback {spec!r}: use module:Class, e.g. my_callbacks:LogToSlack.")
    try:
        module = _import(spec, module_name)
    except ModuleNotFoundError as error:
        cwd = os.getcwd()
        if error.name != module_name.split(".")[0] or cwd in sys.path:
            raise ValueError(f"--callback {spec!r}: cannot import {module_name}: {error}") from None
        sys.path.insert(0, cwd)
        try:
            module = _import(spec, module_name)
        except ModuleNotFoundError as again:
            sys.path.remove(cwd)
            raise ValueError(f"--callback {spec!r}: cannot import {module_name}: {again}") from None
    cls = getattr(module, attr, None)
    if cls is None:
        raise ValueError(f"--callback {spec!r}: {module_name} has no attribute {attr!r}.")
    # checked before anything is called: "os:abort" names a function, not a Callback
    if not (isinstance(cls, type) and issubclass(cls, Callback)):
        raise ValueError(f"--callback {spec!r}: {attr} is not a pix2pix.trainer.Callback subclass.")
    try:
        return cls()
    except TypeError as error:
        raise ValueError(
            f"--callback {spec!r}: {attr} must be buildable with no arguments ({error})."
        ) from None
