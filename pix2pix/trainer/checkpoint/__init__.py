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
from pix2pix.trainer.checkpoint.layout import (
    STATE_NAME,
    checkpoint_name,
    checkpoint_step,
    list_checkpoints,
    load_state,
    read_position,
    resolve_checkpoint,
    verify_checkpoint,
)

__all__ = [
    "CHECKPOINTS_DIR",
    "STATE_NAME",
    "checkpoint_name",
    "checkpoint_step",
    "list_checkpoints",
    "load_state",
    "read_position",
    "resolve_checkpoint",
    "verify_checkpoint",
]
