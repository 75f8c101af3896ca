"""Checkpoints of a training run: the folder layout on disk and what each folder holds.

A checkpoint is a folder ``output_dir/checkpoints/step-000200`` holding::

    generator/            config.json + model.safetensors (save_pretrained)
    discriminator/        the same
    ema/                  the EMA generator, when the EMA is on
    trainer_state.pt      optimizers, schedulers, scaler, counters, RNG states, callback state
    trainer_config.json   the TrainerConfig of the run, for reference

The folder is written under a temporary name and renamed into place, so a crash while saving
leaves every earlier checkpoint untouched. ``trainer_state.pt`` holds only tensors and plain
Python values and is read with ``torch.load(weights_only=True)``: loading a checkpoint never
unpickles arbitrary objects.

:mod:`~pix2pix.trainer.checkpoint.layout` knows where checkpoints are (names, the latest,
pruning); :mod:`~pix2pix.trainer.checkpoint.contents` knows what is inside (writing a trainer
into a folder and restoring it).
"""

from pix2pix._deprecation import moved_names
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
    list_checkpoints,
    load_state,
    prune_checkpoints,
    remove_stale_temporaries,
    resolve_checkpoint,
    save_state,
    write_atomically,
)

__all__ = [
    "CHECKPOINTS_DIR",
    "STATE_FORMAT",
    "STATE_NAME",
    "callback_key",
    "checkpoint_name",
    "list_checkpoints",
    "load_model",
    "load_state",
    "prune_checkpoints",
    "remove_stale_temporaries",
    "resolve_checkpoint",
    "restore_checkpoint",
    "save_model",
    "save_state",
    "trainer_state",
    "write_atomically",
    "write_checkpoint",
]

# trainer_config.json's name was CONFIG_NAME here, which shadowed pix2pix.models.CONFIG_NAME
__getattr__ = moved_names(
    "pix2pix.trainer.checkpoint", {"CONFIG_NAME": "pix2pix.constants:TRAINER_CONFIG_NAME"}
)
