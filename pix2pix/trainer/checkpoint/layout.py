"""Where checkpoints live on disk: names, discovery of the latest, pruning, safe state I/O.

See :mod:`pix2pix.trainer.checkpoint` for what a checkpoint folder holds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from pix2pix._files import (
    WriteError,
    atomic_directory,
    atomic_write_text,
    is_write_failure,
    remove_tree,
)
from pix2pix.constants import (
    CHECKPOINT_MANIFEST_NAME,
    CHECKPOINTS_DIR,
    CONFIG_NAME,
    TRAINER_STATE_NAME,
    WEIGHTS_NAME,
)

logger = logging.getLogger(__name__)

STATE_NAME = TRAINER_STATE_NAME
_NAME = re.compile(r"^step-(\d+)$")
# the files without which a checkpoint folder cannot be resumed (ema/ is checked when present)
_MODEL_FILES = (WEIGHTS_NAME, CONFIG_NAME)


def checkpoint_name(step: int) -> str:
    """Folder name of the checkpoint taken after ``step`` steps.

    Examples:
        >>> checkpoint_name(200)
        'step-000200'
    """
    return f"step-{step:06d}"


def checkpoint_step(path: str | os.PathLike[str]) -> int:
    """The step a checkpoint folder was taken after, read from its name.

    Examples:
        >>> checkpoint_step("runs/facades/checkpoints/step-000200")
        200
    """
    match = _NAME.match(Path(path).name)
    if match is None:
        raise ValueError(f"{path} is not a checkpoint folder (named step-NNNNNN).")
    return int(match.group(1))


def list_checkpoints(output_dir: str | os.PathLike[str]) -> list[Path]:
    """Complete checkpoints under ``output_dir/checkpoints``, oldest (lowest step) first.

    Examples:
        >>> [p.name for p in list_checkpoints("runs/facades")]  # doctest: +SKIP
        ['step-000800', 'step-000900', 'step-001000']
    """
    folder = Path(output_dir) / CHECKPOINTS_DIR
    if not folder.is_dir():
        return []
    found = []
    for child in folder.iterdir():
        match = _NAME.match(child.name)
        if match and is_complete(child):
            found.append((int(match.group(1)), child))
    return [path for _, path in sorted(found)]


def is_complete(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` holds every file a resume reads (state, manifest, G and D, the EMA if
    saved).

    Checkpoints are written atomically, so an incomplete one comes from outside (a partial
    copy, a deletion interrupted by an older version): it is never offered for resume.
    """
    path = Path(path)
    if not (path / STATE_NAME).is_file() or not (path / CHECKPOINT_MANIFEST_NAME).is_file():
        return False
    models = ["generator", "discriminator"] + (["ema"] if (path / "ema").exists() else [])
    return all((path / model / name).is_file() for model in models for name in _MODEL_FILES)


def resolve_checkpoint(
    resume_from: str | os.PathLike[str], output_dir: str | os.PathLike[str]
) -> Path:
    """Find the checkpoint folder that ``resume_from`` names.

    ``"latest"`` is the newest checkpoint of ``output_dir``; a run folder (one with a
    ``checkpoints`` subfolder) means its newest checkpoint; a checkpoint folder means itself.

    Raises:
        FileNotFoundError: Naming the folder searched when no checkpoint is found.

    Examples:
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
    """Fill a temporary folder with ``write(tmp)``, then rename it to ``folder``.

    A crash while saving leaves every earlier checkpoint untouched; see
    :func:`pix2pix._files.atomic_directory`.
    """
    return atomic_directory(folder, write)


def remove_stale_temporaries(output_dir: str | os.PathLike[str]) -> None:
    """Delete what a killed save or prune left: temporary, trash and incomplete folders.

    Call it only while holding the run folder's lock (another run's save in progress looks
    the same).
    """
    folder = Path(output_dir) / CHECKPOINTS_DIR
    if folder.is_dir():
        for child in folder.iterdir():
            if child.name.startswith(".step-") and (".tmp-" in child.name or ".old-" in child.name):
                logger.info("Removing %s, left by an interrupted save.", child)
                shutil.rmtree(child, ignore_errors=True)
            elif _NAME.match(child.name) and child.is_dir() and not is_complete(child):
                logger.warning("Removing %s: an incomplete checkpoint, not resumable.", child)
                remove_tree(child)


def prune_checkpoints(output_dir: str | os.PathLike[str], keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest checkpoints (``keep=0`` keeps all); returns removed."""
    if keep <= 0:
        return []
    removed = list_checkpoints(output_dir)[:-keep]
    for path in removed:
        # renamed away first: a kill midway leaves a whole checkpoint or a trash folder
        # (.step-N.old-PID, cleaned at the next start), never a half-deleted step-N
        try:
            remove_tree(path)
        except OSError as error:
            logger.warning("Could not remove the old checkpoint %s: %s", path, error)
    return removed


def save_state(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """``torch.save`` a trainer state made of tensors and plain Python values.

    Raises:
        WriteError: Naming the file when the write fails (torch reports a full disk as
            ``[enforce fail at inline_container.cc] . unexpected pos``).
    """
    try:
        torch.save(state, path)
    except Exception as error:
        if is_write_failure(error):
            raise WriteError(Path(path), error) from None
        raise


def load_state(
    path: str | os.PathLike[str], map_location: str | torch.device | None = "cpu"
) -> dict[str, Any]:
    """Load ``trainer_state.pt`` safely (``weights_only=True``).

    Raises:
        FileNotFoundError: If the file is missing.
        ValueError: If it is damaged or holds objects other than tensors and plain values.

    Examples:
        >>> load_state("runs/a/checkpoints/step-000200/trainer_state.pt")["step"]  # doctest: +SKIP
        200
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: Path, position: dict[str, int]) -> None:
    """Write ``folder/checkpoint.json``: the checkpoint's position and each file's SHA-256.

    Called last while the checkpoint is filled (before its folder is renamed into place), so
    the checksums cover every file; a resume checks them (:func:`verify_checkpoint`). Hashing
    runs at about 1.5 GB/s, a fraction of what writing the files costs.
    """
    files = {
        path.relative_to(folder).as_posix(): _sha256(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != CHECKPOINT_MANIFEST_NAME
    }
    manifest = {**position, "files": files}
    atomic_write_text(folder / CHECKPOINT_MANIFEST_NAME, json.dumps(manifest, indent=1) + "\n")


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint's ``checkpoint.json``.

    Raises:
        ValueError: If it is missing, damaged, or lacks the position.
    """
    path = Path(folder) / CHECKPOINT_MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(
            f"{path} is missing: the checkpoint was written by an older version of pix2pix or "
            "copied in part; resume from another checkpoint or start a new run."
        ) from None
    except (OSError, ValueError) as error:  # JSON and decoding errors are ValueErrors
        raise ValueError(f"{path} is damaged ({error}); resume from another checkpoint.") from None
    keys = ("step", "epoch", "batch_in_epoch", "files")
    if not isinstance(manifest, dict) or any(key not in manifest for key in keys):
        raise ValueError(f"{path} is damaged (it lacks {', '.join(keys)}).")
    return manifest


def read_position(folder: str | os.PathLike[str]) -> dict[str, int]:
    """``{"step", "epoch", "batch_in_epoch"}`` of a checkpoint, without loading it.

    Examples:
        >>> read_position("runs/facades/checkpoints/step-000200")  # doctest: +SKIP
        {'step': 200, 'epoch': 0, 'batch_in_epoch': 200}
    """
    manifest = read_manifest(folder)
    return {key: int(manifest[key]) for key in ("step", "epoch", "batch_in_epoch")}


def verify_checkpoint(folder: str | os.PathLike[str]) -> None:
    """Check every file of a checkpoint against the checksums written with it.

    Raises:
        ValueError: Naming the first file that is missing or changed since the checkpoint was
            written (a bit flip on disk, a partial copy), and the checkpoint to resume instead.

    Examples:
        >>> verify_checkpoint("runs/facades/checkpoints/step-000200")  # doctest: +SKIP
    """
    folder = Path(folder)
    for name, expected in read_manifest(folder)["files"].items():
        path = folder / name
        if not path.is_file():
            problem = "is missing"
        elif _sha256(path) != expected:
            problem = "does not match the checksum written with it (it changed on disk since)"
        else:
            continue
        step = checkpoint_step(folder)
        earlier = [p for p in list_checkpoints(folder.parent.parent) if checkpoint_step(p) < step]
        instead = f"resume from {earlier[-1]}" if earlier else "no earlier checkpoint is left"
        raise ValueError(f"{path} {problem}; the checkpoint is damaged: {instead}.")
