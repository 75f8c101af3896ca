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

from pix2pix._files import WriteError, atomic_directory
from pix2pix.constants import CHECKPOINTS_DIR, WEIGHTS_NAME
from pix2pix.models.base import ModelMixin, load_safetensors, load_state_dict_checked
from pix2pix.trainer.callbacks import Callback
from pix2pix.trainer.checkpoint import layout as ckpt
from pix2pix.trainer.distributed import all_gather_objects, barrier
from pix2pix.trainer.resume import DATA_ORDER_FIELDS
from pix2pix.trainer.rng import capture_rng_state
from pix2pix.trainer.run_record import run_record, write_run_record

if TYPE_CHECKING:
    from pix2pix.trainer.trainer import Trainer


def trainer_state(trainer: Trainer, rng_states: list[dict[str, Any]]) -> dict[str, Any]:
    """``trainer_state.pt``: the training state, the callbacks' states and the run's facts."""
    return {
        **trainer.state.state_dict(rng_states),
        "world_size": trainer.context.world_size,
        "data_length": _length(trainer.train_data),
        "callbacks": {
            callback_key(i, callback): callback.state_dict()
            for i, callback in enumerate(trainer.callbacks)
        },
        "config": trainer.config.to_dict(),
    }


def write_checkpoint(trainer: Trainer, folder: Path, rng_states: list[dict[str, Any]]) -> None:
    """Fill ``folder``, the temporary folder that ``checkpoint.write_atomically`` renames."""
    inference, ema = trainer.inference_metadata(), trainer.state.ema
    save_model(trainer.generator, folder / "generator", inference)
    save_model(trainer.discriminator, folder / "discriminator", None)
    if ema is not None:
        save_model(ema.module, folder / "ema", inference)
    ckpt.save_state(folder / ckpt.STATE_NAME, trainer_state(trainer, rng_states))
    # a copy of the run's record, so a damaged run-level file can be recovered from any
    # checkpoint
    write_run_record(folder, run_record(trainer))
    state = trainer.state
    position = {"step": state.step, "epoch": state.epoch, "batch_in_epoch": state.batch_in_epoch}
    ckpt.write_manifest(folder, position)  # last: its checksums cover every file above


def save_checkpoint(trainer: Trainer) -> Path:
    """What :meth:`Trainer.save_checkpoint` does (rank 0 writes; every rank must call it)."""
    trainer.log_losses()  # a NaN never reaches a checkpoint
    trainer.check_weights()
    cfg = trainer.config
    path = Path(cfg.output_dir) / CHECKPOINTS_DIR / ckpt.checkpoint_name(trainer.state.step)
    if trainer.last_checkpoint == path:
        return path  # already saved at this step
    rng_states = all_gather_objects(trainer.context, capture_rng_state())
    with trainer.interrupts.saving_window():
        if trainer.context.is_main:
            try:
                ckpt.write_atomically(path, lambda tmp: write_checkpoint(trainer, tmp, rng_states))
            except WriteError as error:  # name the checkpoint, not its temporary folder
                raise WriteError(_in_checkpoint(path, Path(error.path)), error) from None
            ckpt.prune_checkpoints(cfg.output_dir, cfg.keep_checkpoints)
        barrier(trainer.context)
    trainer.last_checkpoint = path
    trainer.call_hook("on_checkpoint", path)
    return path


def save_inference_model(trainer: Trainer, path: Path) -> Path:
    """What :meth:`Trainer.save_pretrained` does: the inference generator, atomically."""
    trainer.check_weights()
    with trainer.interrupts.saving_window():
        if trainer.context.is_main:
            generator, meta = trainer.inference_generator(), trainer.inference_metadata()
            # a temporary folder renamed into place: a kill leaves the old folder or none
            atomic_directory(path, lambda tmp: save_model(generator, tmp, meta))
            trainer.logger.info("Saved the generator to %s", path)
        barrier(trainer.context)
    return path


def _in_checkpoint(folder: Path, written: Path) -> Path:
    """``written`` (inside the temporary folder of ``folder``) as it would be in ``folder``."""
    parts = written.parts
    for i, part in enumerate(parts):
        if part.startswith(f".{folder.name}.tmp-"):
            return folder.joinpath(*parts[i + 1 :])
    return written


def restore_checkpoint(trainer: Trainer, path: Path) -> None:
    """Load a checkpoint folder into a set-up trainer (weights first, RNG states last).

    Raises:
        FileNotFoundError: If a part of the checkpoint is missing.
        ValueError: If it is damaged (a checksum differs), of another format, or does not fit
            the models.
    """
    ckpt.verify_checkpoint(path)
    state = ckpt.load_state(path / ckpt.STATE_NAME)
    load_model(trainer.generator, path / "generator")
    load_model(trainer.discriminator, path / "discriminator")
    ema = trainer.state.ema
    if ema is not None and (path / "ema").is_dir():
        load_model(ema.module, path / "ema")
    elif ema is not None:
        trainer.logger.warning("%s has no EMA weights; the EMA restarts from G.", path)
        ema.module.load_state_dict(trainer.generator.state_dict())
    context = trainer.context
    same_rng = trainer.state.load_state_dict(
        state, rank=context.rank, world_size=context.world_size, source=str(path)
    )
    if ema is not None and not (path / "ema").is_dir():
        ema.set_num_updates(0)
    for i, callback in enumerate(trainer.callbacks):
        saved = state.get("callbacks", {}).get(callback_key(i, callback))
        if saved is not None:
            callback.load_state_dict(saved)
    if not same_rng:
        trainer.logger.warning(
            "%s was written by %d process(es), this run has %d: RNG streams start afresh, so "
            "training continues correctly but not bit-exactly.",
            path,
            state.get("world_size"),
            context.world_size,
        )
    changed = _order_changes(state, trainer)
    if changed and trainer.state.batch_in_epoch:
        # the saved position indexes another data order: restart the epoch instead
        trainer.logger.warning(
            "%s: %s changed since the checkpoint, so the position inside epoch %d no longer "
            "applies; the epoch restarts.",
            path,
            ", ".join(changed),
            trainer.state.epoch,
        )
        trainer.state.batch_in_epoch = 0


def _length(data: Any) -> int | None:
    try:
        return len(data)
    except TypeError:
        return None


def _order_changes(state: dict[str, Any], trainer: Trainer) -> list[str]:
    """What differs from the checkpoint among the things that define the data order."""
    saved = state.get("config", {})
    changed = [
        name for name in DATA_ORDER_FIELDS if saved.get(name) != getattr(trainer.config, name)
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
