"""One run per folder: what an output folder already holds, and moving an old run aside.

A run folder (``TrainerConfig.output_dir``, ``pix2pix train --output``) holds one run. Training
a new run into a folder that holds another would interleave the two: checkpoints of both side
by side, ``metrics.jsonl`` counting 20 then 13, and ``--resume`` picking whichever checkpoint
has the higher step. So a new run refuses such a folder (:class:`RunExistsError`, naming the
run and the ways on) unless told to move the old run aside (:func:`move_aside`). A folder that
holds none of what a run writes (an empty temporary folder, a folder with a note in it) is fine.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pix2pix.constants import (
    BEST_DIR,
    CHECKPOINTS_DIR,
    FINAL_DIR,
    REPORT_NAME,
    RUN_CONFIG_NAME,
    SAMPLES_DIR,
)
from pix2pix.trainer.checkpoint.layout import STATE_NAME, checkpoint_step, list_checkpoints
from pix2pix.trainer.distributed import DistributedContext, any_rank
from pix2pix.trainer.lock import RunLock, RunLockedError
from pix2pix.trainer.loggers import CSV_NAME, JSONL_NAME, TENSORBOARD_DIR, WANDB_RUN_NAME

logger = logging.getLogger(__name__)

#: What a run writes into its folder; any of them means the folder holds a run.
RUN_ENTRIES = (
    RUN_CONFIG_NAME,
    JSONL_NAME,
    CSV_NAME,
    WANDB_RUN_NAME,
    CHECKPOINTS_DIR,
    FINAL_DIR,
    SAMPLES_DIR,
    BEST_DIR,
    TENSORBOARD_DIR,
)


class RunExistsError(FileExistsError):
    """A new run was asked to train into a folder that holds another run.

    Examples:
        >>> try:  # doctest: +SKIP
        ...     trainer.fit()
        ... except RunExistsError:
        ...     trainer.fit(resume_from="latest")  # or overwrite=True, or another output_dir
    """


@dataclass(frozen=True)
class RunSummary:
    """What :func:`find_run` found in a folder: an earlier run.

    Attributes:
        folder: The run folder.
        step: The step of its newest complete checkpoint (``None``: it has none).
        written: When it was last written to (seconds since the epoch).
    """

    folder: Path
    step: int | None
    written: float

    def describe(self) -> str:
        """``"a run at step 80 (last written 2026-12-06 16:40)"``."""
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.written))
        at = f"at step {self.step}" if self.step is not None else "with no checkpoint yet"
        return f"a run {at} (last written {when})"


def find_run(folder: str | os.PathLike[str]) -> RunSummary | None:
    """The run that ``folder`` holds, or ``None`` when it holds none (or does not exist).

    Examples:
        >>> find_run("/nonexistent/folder") is None
        True
    """
    folder = Path(folder)
    if not folder.is_dir():
        return None
    present = [folder / name for name in RUN_ENTRIES if (folder / name).exists()]
    if not present:
        return None
    checkpoints = list_checkpoints(folder)
    newest = checkpoints[-1] if checkpoints else None
    stamps = [_mtime(path) for path in [*present, *([newest] if newest else [])]]
    return RunSummary(
        folder=folder,
        step=checkpoint_step(newest) if newest is not None else None,
        written=max(stamps),
    )


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def aside_name(folder: Path) -> Path:
    """A free sibling name for an old run: ``runs/facades.old-20261206-164000``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = folder.with_name(f"{folder.name}.old-{stamp}")
    n = 1
    while candidate.exists():
        n += 1
        candidate = folder.with_name(f"{folder.name}.old-{stamp}-{n}")
    return candidate


def move_aside(folder: str | os.PathLike[str]) -> Path:
    """Move the run in ``folder`` into a new sibling folder; return that folder.

    Only what a run writes moves (:data:`RUN_ENTRIES`, and the report page): anything else in
    the folder (the data, a script, notes) is the user's and stays where it is. Call it while
    holding the folder's lock: the lock file stays, so no other run can start in between. Each
    entry is one rename, so nothing is copied and nothing is half-moved; a kill midway leaves
    some entries in each folder, and the next run refuses the folder again.

    Raises:
        ValueError: For the root of the file system, which has no sibling to move to.

    Examples:
        >>> move_aside("runs/facades")  # doctest: +SKIP
        PosixPath('runs/facades.old-20261206-164000')
    """
    folder = Path(folder).resolve()  # "." has no name to put ".old-..." after
    if folder.parent == folder:
        raise ValueError(f"{folder} is the root of the file system; train into a folder in it.")
    destination = aside_name(folder)
    destination.mkdir()
    for name in (*RUN_ENTRIES, REPORT_NAME):
        entry = folder / name
        if entry.exists() or entry.is_symlink():
            os.replace(entry, destination / name)
    return destination


def locate_run(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(run folder, checkpoint folder)`` for a run folder (its newest checkpoint) or for one
    of its checkpoints (``RUN/checkpoints/step-000200``).

    Raises:
        FileNotFoundError: If ``path`` does not exist or its run has no complete checkpoint.

    Examples:
        >>> locate_run("runs/facades")  # doctest: +SKIP
        (PosixPath('runs/facades'), PosixPath('runs/facades/checkpoints/step-000200'))
    """
    path = Path(path)
    if (path / STATE_NAME).is_file() and path.parent.name == CHECKPOINTS_DIR:
        return path.parent.parent, path
    if not path.is_dir():
        raise FileNotFoundError(
            f"{path}: no such run folder. Pass a run folder (the --output of pix2pix train) or "
            "one of its checkpoints (RUN/checkpoints/step-000200)."
        )
    checkpoints = list_checkpoints(path)
    if not checkpoints:
        what = "holds a run that" if find_run(path) is not None else "is no run folder: it"
        raise FileNotFoundError(
            f"{path} {what} has no checkpoint to resume from; start the run again (pix2pix "
            "train --overwrite, or fit(overwrite=True))."
        )
    return path, checkpoints[-1]


def take_run_folder(
    output_dir: Path,
    context: DistributedContext,
    *,
    new_run: bool,
    overwrite: bool,
    logger: logging.Logger | Any,
) -> RunLock:
    """Lock ``output_dir`` (rank 0) and check what it holds, before anything is written.

    A new run refuses a folder that holds another run (:class:`RunExistsError`) unless
    ``overwrite``, which moves the old run aside; every rank raises when rank 0 does.

    Raises:
        RunLockedError: If another run holds the folder.
        RunExistsError: If a new run meets an old one and ``overwrite`` is false.
        FileExistsError: If ``final`` or ``checkpoints`` in it is a file.
    """
    lock = RunLock(output_dir)
    failure: Exception | None = None
    if context.is_main:
        try:
            lock.acquire()
            for name in (FINAL_DIR, CHECKPOINTS_DIR):
                if (output_dir / name).exists() and not (output_dir / name).is_dir():
                    raise FileExistsError(
                        f"{output_dir / name} is a file, but the run writes a folder there; "
                        "move it away or train into another --output folder."
                    )
            existing = find_run(output_dir) if new_run else None
            if existing is not None and not overwrite:
                raise RunExistsError(
                    f"{output_dir} already holds {existing.describe()}; continue it with "
                    "fit(resume_from='latest'), train into another output_dir, or pass "
                    "fit(overwrite=True) to move the old run aside."
                )
            if existing is not None:  # never interleaved: the old run moves out whole
                logger.info("Moved the earlier run aside to %s.", move_aside(output_dir))
        except Exception as error:  # whatever it is, the lock must not outlive the refusal
            lock.release()
            failure = error
    if any_rank(context, failure is not None):
        raise failure or RunLockedError(f"Rank 0 could not take the run folder {output_dir}.")
    return lock
