"""Atomic file and folder writes: the one home for every writer in the package.

A file is written under a temporary name in its own folder and renamed into place, so a crash
or a full disk never leaves a half-written file under the final name. Files get the permissions
a plain ``open()`` would give them (``0o666`` less the process umask), not ``mkstemp``'s
``0o600``: a serving process or a colleague must be able to read a saved model.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _umask() -> int:
    # os.umask can only be read by setting it; restore it at once (single-threaded at import)
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


def atomic_write(final_path: str | os.PathLike[str], write: Callable[[str], Any]) -> Path:
    """Call ``write(tmp_path)`` to fill a temporary file, then rename it to ``final_path``.

    If ``write`` fails (including a full disk) the temporary file is removed, the error is
    re-raised and ``final_path`` keeps its previous content.

    Args:
        final_path: Where the file ends up; its folder must exist.
        write: Writes the whole file at the path it is given.

    Returns:
        ``final_path`` as a ``Path``.
    """
    final = Path(final_path)
    try:
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp")
    except FileNotFoundError:
        raise  # the folder is missing: the caller's error, with its own message
    except OSError as error:
        raise WriteError(final, error) from None
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, final)
    except Exception as error:
        if is_write_failure(error):
            raise WriteError(final, error) from None
        raise
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return final


class WriteError(OSError):
    """A file could not be written (disk full, read-only folder...); says which and why.

    The previous content of the file, if any, is untouched.
    """

    reason: str  # why the write failed, in words ("no space left on the device")

    def __init__(self, path: Path, error: BaseException) -> None:
        if isinstance(error, WriteError):  # the same failure, named by another path
            reason = error.reason
        else:
            lines = str(error).strip().splitlines()
            reason = getattr(error, "strerror", None) or (
                lines[0] if lines else type(error).__name__
            )
            if _looks_like_disk_full(error):
                reason = "no space left on the device"
        super().__init__(
            getattr(error, "errno", None),
            f"Could not write {path}: {reason}. Free some space or choose another folder; "
            "the previous file, if any, is intact.",
        )
        self.path, self.reason = path, reason

    def __str__(self) -> str:
        return str(self.strerror)


def _looks_like_disk_full(error: BaseException) -> bool:
    text = str(error)
    # torch.save reports ENOSPC as "enforce fail ... unexpected pos"; safetensors as I/O errors
    return getattr(error, "errno", None) == 28 or "unexpected pos" in text or "No space" in text


def is_write_failure(error: BaseException) -> bool:
    """Whether ``error`` is a failed write (an OSError, or torch's and safetensors' own)."""
    if isinstance(error, OSError):
        return True
    name = type(error).__name__
    return name == "SafetensorError" or (
        isinstance(error, RuntimeError) and _looks_like_disk_full(error)
    )


def atomic_write_text(final_path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``final_path`` atomically; see :func:`atomic_write`."""
    return atomic_write(final_path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def atomic_directory(folder: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` to fill a temporary folder, then rename it to ``folder``.

    If ``write`` fails the temporary folder is removed and the error re-raised; ``folder`` and
    its siblings are never touched. If ``folder`` already exists it is replaced, and at every
    instant one complete copy exists on disk (the old one moves aside before the new one moves
    in). Leftovers of a killed write are named ``.NAME.tmp-PID`` and ``.NAME.old-PID``.
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
    fsync_directory(tmp)
    if folder.exists() and not folder.is_dir():
        shutil.rmtree(tmp, ignore_errors=True)
        raise FileExistsError(f"{folder} exists and is not a folder; move it away.")
    if folder.exists():
        trash = folder.parent / f".{folder.name}.old-{os.getpid()}"
        if trash.exists():
            shutil.rmtree(trash)
        os.rename(folder, trash)
        os.rename(tmp, folder)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.rename(tmp, folder)
    fsync_directory(folder.parent)
    return folder


def fsync_directory(folder: str | os.PathLike[str]) -> None:
    """Make renames in ``folder`` durable; a no-op where a folder cannot be opened."""
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


def remove_tree(folder: str | os.PathLike[str]) -> None:
    """Delete ``folder`` so that a kill midway leaves it whole or gone, never half-deleted.

    It is renamed to ``.NAME.old-PID`` first (one atomic step), then deleted;
    :func:`remove_leftovers` cleans up a trash folder a kill left behind.
    """
    folder = Path(folder)
    trash = folder.parent / f".{folder.name}.old-{os.getpid()}"
    if trash.exists():
        shutil.rmtree(trash)
    os.rename(folder, trash)
    fsync_directory(folder.parent)
    shutil.rmtree(trash, ignore_errors=True)


def remove_leftovers(folder: str | os.PathLike[str], names: tuple[str, ...]) -> list[Path]:
    """Delete what killed writes of ``names`` left in ``folder``; returns what was removed.

    That is ``.NAME.tmp-PID`` and ``.NAME.old-PID`` (from :func:`atomic_directory` and
    :func:`remove_tree`) and ``.NAME.XXXXXXXX.tmp`` (from :func:`atomic_write`). Call it only
    while no other process writes into ``folder`` (a run holds its folder's lock).
    """
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for child in folder.iterdir():
        for name in names:
            prefix = f".{name}."
            if not child.name.startswith(prefix):
                continue
            rest = child.name[len(prefix) :]
            if rest.startswith(("tmp-", "old-")) or rest.endswith(".tmp"):
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
                removed.append(child)
                break
    return removed
