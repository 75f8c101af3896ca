"""Checkpoints of a training run: the folder layout on disk and what each folder holds.

A checkpoint is a folder ``output_dir/checkpoints/step-000200`` holding::

    generator/            config.json + model.safetensors (save_pretrained)
    discriminator/        the same
    ema/                  the EMA generator, when the EMA is on
    trainer_state.pt      optimizers, schedulers, scaler, counters, RNG states, callback state
    run_config.json       a copy of the run's record (models, data, TrainerConfig, callbacks)
    checkpoint.json       the position (step, epoch) and the SHA-256 of every file above

The folder is written under a temporary name and renamed into place, so a crash while saving
leaves every earlier checkpoint untouched. ``trainer_state.pt`` holds only tensors and plain
Python values and is read with ``torch.load(weights_only=True)``: loading a checkpoint never
unpickles arbitrary objects.

:mod:`~pix2pix.trainer.checkpoint.layout` knows where checkpoints are (names, the latest,
pruning); :mod:`~pix2pix.trainer.checkpoint.contents` knows what is inside (writing a trainer
into a folder and restoring it).
"""

from pix2pix.constants import CHECKPOINTS_DIR
from pix2pix.trainer.checkpoint.contents import (
    STATE_FORMAT,
    callback_key,
    load_model,
    restore_checkpoint,
    save_model,
    trainer_state,
    write_checkpoint,
)
from pix2pix.trainer.checkpoint.layout import (
    STATE_NAME,
    checkpoint_name,
    checkpoint_step,
    list_checkpoints,
    load_state,
    prune_checkpoints,
    read_position,
    remove_stale_temporaries,
    resolve_checkpoint,
    save_state,
    verify_checkpoint,
    write_atomically,
)

__all__ = [
    "CHECKPOINTS_DIR",
    "STATE_FORMAT",
    "STATE_NAME",
    "callback_key",
    "checkpoint_name",
    "checkpoint_step",
    "list_checkpoints",
    "load_model",
    "load_state",
    "prune_checkpoints",
    "read_position",
    "remove_stale_temporaries",
    "resolve_checkpoint",
    "restore_checkpoint",
    "save_model",
    "save_state",
    "trainer_state",
    "verify_checkpoint",
    "write_atomically",
    "write_checkpoint",
]
