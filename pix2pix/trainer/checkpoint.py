"""Checkpoint folders: atomic writes, discovery of the latest one, pruning, safe loading.

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
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)

CHECKPOINTS_DIR = "checkpoints"
STATE_NAME = "trainer_state.pt"
CONFIG_NAME = "trainer_config.json"
_NAME = re.compile(r"^step-(\d+)$")


def checkpoint_name(step: int) -> str:
    """Folder name of the checkpoint taken after ``step`` steps.

    Example:
        >>> checkpoint_name(200)
        'step-000200'
    """
    return f"step-{step:06d}"


def list_checkpoints(output_dir: str | os.PathLike[str]) -> list[Path]:
    """Complete checkpoints under ``output_dir/checkpoints``, oldest (lowest step) first."""
    folder = Path(output_dir) / CHECKPOINTS_DIR
    if not folder.is_dir():
        return []
    found = []
    for child in folder.iterdir():
        match = _NAME.match(child.name)
        if match and (child / STATE_NAME).is_file():
            found.append((int(match.group(1)), child))
    return [path for _, path in sorted(found)]


def resolve_checkpoint(
    resume_from: str | os.PathLike[str], output_dir: str | os.PathLike[str]
) -> Path:
    """Find the checkpoint folder that ``resume_from`` names.

    ``"latest"`` is the newest checkpoint of ``output_dir``; a run folder (one with a
    ``checkpoints`` subfolder) means its newest checkpoint; a checkpoint folder means itself.

    Raises:
        FileNotFoundError: Naming the folder searched when no checkpoint is found.

    Example:
        >>> resolve_checkpoint("runs/facades/checkpoints/step-000200", "runs/x")  # doctest: +SKIP
        PosixPath('runs/facades/checkpoints/step-000200')
    """
    if str(resume_from) == "latest":
        run = Path(output_dir)
    else:
        path = Path(resume_from)
        if (path / STATE_NAME).is_file():
            return path
        if not path.exists():
            raise FileNotFoundError(
                f"Cannot resume from {path}: it does not exist. Pass a run folder, a checkpoint "
                "folder (…/checkpoints/step-000200) or 'latest'."
            )
        run = path
    checkpoints = list_checkpoints(run)
    if not checkpoints:
        raise FileNotFoundError(
            f"No checkpoint to resume from in {run / CHECKPOINTS_DIR}; train first, or start "
            "without resume_from."
        )
    return checkpoints[-1]


def write_atomically(folder: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` to fill a temporary folder, then rename it to ``folder``.

    If ``write`` fails the temporary folder is removed and the error re-raised; ``folder`` and
    its siblings are never touched. If ``folder`` already exists (a run resumed from an older
    checkpoint reaches the same step again) the new one replaces it.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        write(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(tmp)
    if folder.exists():
        # the old copy moves aside first: at every instant one complete copy exists on disk
        trash = folder.parent / f".{folder.name}.old-{os.getpid()}"
        os.rename(folder, trash)
        os.rename(tmp, folder)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.rename(tmp, folder)
    _fsync_dir(folder.parent)
    return folder


def _fsync_dir(folder: Path) -> None:
    # make the rename durable; some filesystems (and Windows) cannot open a directory
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temporaries(output_dir: str | os.PathLike[str]) -> None:
    """Delete half-written checkpoint folders left by a crashed save."""
    folder = Path(output_dir) / CHECKPOINTS_DIR
    if folder.is_dir():
        for child in folder.iterdir():
            if child.name.startswith(".step-") and (".tmp-" in child.name or ".old-" in child.name):
                logger.info("Removing %s, left by an interrupted save.", child)
                shutil.rmtree(child, ignore_errors=True)


def prune_checkpoints(output_dir: str | os.PathLike[str], keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest checkpoints (``keep=0`` keeps all); returns removed."""
    if keep <= 0:
        return []
    removed = list_checkpoints(output_dir)[:-keep]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def save_state(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """``torch.save`` a trainer state made of tensors and plain Python values."""
    torch.save(state, path)


def load_state(
    path: str | os.PathLike[str], map_location: str | torch.device | None = "cpu"
) -> dict[str, Any]:
    """Load ``trainer_state.pt`` safely (``weights_only=True``).

    Raises:
        FileNotFoundError: If the file is missing.
        ValueError: If it is damaged or holds objects other than tensors and plain values.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: not a complete pix2pix checkpoint.")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises several types for damaged or unsafe files
        raise ValueError(
            f"Could not read {path}: {error}. The checkpoint is damaged or was not written by "
            "pix2pix; resume from an earlier one."
        ) from None
