"""What a checkpoint folder holds: writing a trainer into one and restoring it from one.

The models go through ``save_pretrained`` (safetensors + config.json); everything else needed to
continue bit-exactly is one dict of tensors and plain values, ``trainer_state.pt``:

* ``step``, ``epoch`` and ``batch_in_epoch`` (the position inside the epoch; the data order
  itself is a function of ``(seed, epoch)``, see :mod:`pix2pix.trainer.loader`);
* the optimizers', schedulers' and GradScaler's ``state_dict()``;
* every rank's RNG states (torch CPU and CUDA, numpy, Python), so dropout masks and random
  crops continue where they stopped;
* each callback's ``state_dict()`` and the EMA's update count;
* the TrainerConfig the run had when it was written.

Beside them, a copy of the run's record (``run_config.json``) and ``checkpoint.json``: the
checkpoint's position (step, epoch) and the SHA-256 of every file, checked on resume.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from pix2pix.constants import WEIGHTS_NAME
from pix2pix.models.base import ModelMixin, load_safetensors, load_state_dict_checked
from pix2pix.trainer.callbacks import Callback
from pix2pix.trainer.checkpoint import layout as ckpt
from pix2pix.trainer.rng import restore_rng_state
from pix2pix.trainer.run_record import run_record, write_run_record

if TYPE_CHECKING:
    from pix2pix.trainer.trainer import Trainer

#: Version of ``trainer_state.pt``. Format 1 (before 0.1.0) had no checkpoint manifest.
STATE_FORMAT = 2
STATEFUL = ("optimizer_g", "optimizer_d", "scheduler_g", "scheduler_d", "scaler")


def trainer_state(trainer: Trainer, rng_states: list[dict[str, Any]]) -> dict[str, Any]:
    """The trainer's state without the weights; ``rng_states`` holds one entry per rank."""
    state: dict[str, Any] = {
        "format": STATE_FORMAT,
        "step": trainer.step,
        "epoch": trainer.epoch,
        "batch_in_epoch": trainer.batch_in_epoch,
        "world_size": trainer.context.world_size,
        "data_length": _length(trainer.train_data),
        "ema_num_updates": int(trainer.ema.num_updates) if trainer.ema is not None else None,
        "rng": rng_states,
        "callbacks": {
            callback_key(i, callback): callback.state_dict()
            for i, callback in enumerate(trainer.callbacks)
        },
        "config": trainer.config.to_dict(),
    }
    for name in STATEFUL:
        obj = getattr(trainer, name)
        state[name] = obj.state_dict() if obj is not None else None
    return state


def write_checkpoint(trainer: Trainer, folder: Path, rng_states: list[dict[str, Any]]) -> None:
    """Fill ``folder``, the temporary folder that ``checkpoint.write_atomically`` renames."""
    inference = trainer.inference_metadata()
    save_model(trainer.generator, folder / "generator", inference)
    save_model(trainer.discriminator, folder / "discriminator", None)
    if trainer.ema is not None:
        save_model(trainer.ema.module, folder / "ema", inference)
    ckpt.save_state(folder / ckpt.STATE_NAME, trainer_state(trainer, rng_states))
    # a copy of the run's record, so a damaged run-level file can be recovered from any
    # checkpoint
    write_run_record(folder, run_record(trainer))
    position = {"step": trainer.step, "epoch": trainer.epoch}
    ckpt.write_manifest(folder, {**position, "batch_in_epoch": trainer.batch_in_epoch})


def restore_checkpoint(trainer: Trainer, path: Path) -> None:
    """Load a checkpoint folder into a set-up trainer (weights first, RNG states last).

    Raises:
        FileNotFoundError: If a part of the checkpoint is missing.
        ValueError: If it is damaged, of another format, or does not fit the models.
    """
    ckpt.verify_checkpoint(path)
    state = ckpt.load_state(path / ckpt.STATE_NAME)
    if state.get("format") != STATE_FORMAT:
        raise ValueError(
            f"{path} has trainer-state format {state.get('format')!r}; this version of pix2pix "
            f"reads format {STATE_FORMAT} and cannot resume it (its generator/ still loads with "
            "Translator.from_pretrained)."
        )
    load_model(trainer.generator, path / "generator")
    load_model(trainer.discriminator, path / "discriminator")
    if trainer.ema is not None:
        if (path / "ema").is_dir():
            load_model(trainer.ema.module, path / "ema")
            trainer.ema.set_num_updates(state.get("ema_num_updates") or 0)
        else:
            trainer.logger.warning("%s has no EMA weights; the EMA restarts from G.", path)
            trainer.ema.module.load_state_dict(trainer.generator.state_dict())
    for name in STATEFUL:
        obj = getattr(trainer, name)
        if obj is not None and state.get(name):  # {} comes from a disabled GradScaler
            obj.load_state_dict(state[name])
    trainer.step, trainer.epoch = int(state["step"]), int(state["epoch"])
    trainer.batch_in_epoch = int(state["batch_in_epoch"])
    for i, callback in enumerate(trainer.callbacks):
        saved = state.get("callbacks", {}).get(callback_key(i, callback))
        if saved is not None:
            callback.load_state_dict(saved)
    world_size, rank = trainer.context.world_size, trainer.context.rank
    if state["world_size"] == world_size and len(state["rng"]) == world_size:
        restore_rng_state(state["rng"][rank])
    else:
        trainer.logger.warning(
            "%s was written by %d process(es), this run has %d: RNG streams start afresh, so "
            "training continues correctly but not bit-exactly.",
            path,
            state["world_size"],
            world_size,
        )
    changed = _order_changes(state, trainer)
    if changed and trainer.batch_in_epoch:
        # the saved position indexes another data order: restart the epoch instead
        trainer.logger.warning(
            "%s: %s changed since the checkpoint, so the position inside epoch %d no longer "
            "applies; the epoch restarts.",
            path,
            ", ".join(changed),
            trainer.epoch,
        )
        trainer.batch_in_epoch = 0


def _length(data: Any) -> int | None:
    try:
        return len(data)
    except TypeError:
        return None


def _order_changes(state: dict[str, Any], trainer: Trainer) -> list[str]:
    """What differs from the checkpoint among the things that define the data order."""
    saved = state.get("config", {})
    changed = [
        name
        for name in ("batch_size", "seed", "shuffle", "drop_last")
        if saved.get(name) != getattr(trainer.config, name)
    ]
    if state["world_size"] != trainer.context.world_size:
        changed.append("the number of processes")
    if state.get("data_length") != _length(trainer.train_data):
        changed.append("the dataset length")
    return changed


def callback_key(index: int, callback: Callback) -> str:
    """Key of a callback's state: its position and class name."""
    return f"{index}:{type(callback).__name__}"


def save_model(model: nn.Module, folder: Path, inference: dict[str, Any] | None) -> None:
    """``model.save_pretrained(folder)``, with a clear error for a model that cannot."""
    if not isinstance(model, ModelMixin):
        raise ValueError(
            f"{type(model).__name__} cannot be saved: the trainer saves models with "
            "save_pretrained, so they must subclass pix2pix.models.ModelMixin."
        )
    model.save_pretrained(folder, inference=inference)


def load_model(model: nn.Module, folder: Path) -> None:
    """Load ``folder/model.safetensors`` into ``model`` strictly."""
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise FileNotFoundError(f"{weights} is missing: the checkpoint is incomplete.")
    load_state_dict_checked(model, load_safetensors(weights), source=str(weights))
