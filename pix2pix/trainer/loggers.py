"""Experiment loggers behind one small interface: JSONL, CSV, TensorBoard, Weights & Biases.

A run logs to every logger named in ``TrainerConfig.loggers`` (``metrics.jsonl`` always), so what
a run records never depends on what happens to be installed: a logger whose package is missing
fails at the start with the ``pip install`` line that adds it.

Every logger continues the same run on resume, and the steps a crashed run logged after its last
checkpoint appear once, not twice:

* ``jsonl`` and ``csv`` drop their rows with ``step > resume_step``;
* ``tensorboard`` opens its writer with ``purge_step=resume_step + 1``, so TensorBoard discards
  the orphaned events;
* ``wandb`` resumes the run whose id is stored in ``output_dir/wandb_run.json`` and skips the
  steps that run already holds (a resumed run redoes them bit-exactly, so the values agree).

Writing a logger of your own: subclass :class:`Logger` and override what it records.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pix2pix._extras import install_command, require_extra
from pix2pix._files import atomic_write_text
from pix2pix.trainer.metric_files import append_text, jsonl_records, read_csv_table

if TYPE_CHECKING:  # torch is imported by whoever passes a tensor; config.py reads names only
    import torch


#: The logger names ``TrainerConfig.loggers`` and ``pix2pix train --logger`` accept.
LOGGER_CHOICES = ("jsonl", "csv", "tensorboard", "wandb")
JSONL_NAME = "metrics.jsonl"
CSV_NAME = "metrics.csv"
TENSORBOARD_DIR = "tensorboard"
WANDB_RUN_NAME = "wandb_run.json"


class Logger:
    """Where a run's scalars, sample grids and config go; every method is a no-op here.

    Examples:
        >>> class PrintLogger(Logger):
        ...     def log_scalars(self, step, values):
        ...         print(step, values)
        >>> PrintLogger().log_scalars(10, {"G_L1": 3.5})
        10 {'G_L1': 3.5}
    """

    name = "logger"

    def log_scalars(self, step: int, values: Mapping[str, Any]) -> None:
        """Record ``values`` (name -> number) at ``step``."""

    def log_images(self, step: int, name: str, grid: torch.Tensor) -> None:
        """Record a ``[3, H, W]`` image in [0, 1] (a sample grid) at ``step``."""

    def log_config(self, config: Mapping[str, Any]) -> None:
        """Record the run's settings (a JSON-ready dict)."""

    def close(self) -> None:
        """Flush and release files."""


def _json_number(value: Any) -> Any:
    # JSON has no inf/nan; PSNR of identical images is inf
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class JSONLLogger(Logger):
    """``metrics.jsonl``: one ``{"step": N, ...}`` line per :meth:`log_scalars` call.

    A step with a validation has two lines (the losses, then ``val/*``): appending is what keeps
    every line that reached the disk through a kill. A failed append (a full disk) leaves no
    partial line and raises :class:`~pix2pix._files.WriteError` naming the file.

    Args:
        output_dir: The run folder.
        resume_step: When resuming, drop the records after this step. Damaged lines (a crash's
            cut-short line, non-JSON, non-UTF-8, no integer ``step``) are dropped too, each with
            a warning naming the file and line.
    """

    name = "jsonl"

    def __init__(self, output_dir: str | os.PathLike[str], resume_step: int | None = None) -> None:
        self.path = Path(output_dir) / JSONL_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.path.is_file():
            records = jsonl_records(self.path)
            kept = [text for text, record in records if record["step"] <= resume_step]
            atomic_write_text(self.path, "".join(text + "\n" for text in kept))
        elif _ends_without_newline(self.path):
            append_text(self.path, "\n")  # a line cut short: the next record starts anew

    def log_scalars(self, step: int, values: Mapping[str, Any]) -> None:
        record = {"step": step, **{k: _json_number(v) for k, v in values.items()}}
        append_text(self.path, json.dumps(record) + "\n")


def _ends_without_newline(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            if file.seek(0, os.SEEK_END) == 0:
                return False
            file.seek(-1, os.SEEK_END)
            return file.read(1) != b"\n"
    except FileNotFoundError:
        return False


class CSVLogger(Logger):
    """``metrics.csv``: one row per step, one column per key, empty cells where a key is absent.

    Everything logged at one step shares its row (the losses and a validation, both with
    ``epoch``); a key logged twice at one step keeps its last value (``metrics.jsonl`` keeps
    both). A step's first call appends its row; a later call at the same step, or a new key
    (a new column), rewrites the file whole, atomically: the merged row is on disk at once (a
    kill at the next step keeps it) and no row is ever longer than the header.

    Args:
        output_dir: The run folder.
        resume_step: When resuming, drop the rows after this step. Damaged rows (a crash's
            cut-short line, non-UTF-8, a non-integer ``step``, the wrong number of cells) are
            dropped whenever the file is opened, each with a warning naming the file and line.
    """

    name = "csv"

    def __init__(self, output_dir: str | os.PathLike[str], resume_step: int | None = None) -> None:
        self.path = Path(output_dir) / CSV_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.columns, rows, damaged = read_csv_table(self.path)
        self.rows = [r for r in rows if resume_step is None or int(r["step"]) <= resume_step]
        # each row's formatted line, kept so that completing the last row formats one line,
        # not the whole file; formatted again for all rows when a column is added
        self._lines: list[str] = []
        self._width = -1  # the number of columns self._lines were formatted with
        # the step of the row this logger wrote last: values logged at it join that row
        self._row_step: int | None = None
        if self.path.is_file() and (resume_step is not None or damaged):
            self._rewrite()

    def _line(self, cells: Sequence[str]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(cells)
        return buffer.getvalue()

    def _row_line(self, row: Mapping[str, str]) -> str:
        return self._line([row.get(column, "") for column in self.columns])

    def _rewrite(self) -> None:
        if self._width != len(self.columns):
            self._lines = [self._row_line(row) for row in self.rows]
            self._width = len(self.columns)
        atomic_write_text(self.path, self._line(self.columns) + "".join(self._lines))

    def log_scalars(self, step: int, values: Mapping[str, Any]) -> None:
        cells = {k: str(_json_number(v)) for k, v in values.items()}
        new_columns = [k for k in cells if k not in self.columns]
        self.columns += new_columns
        if self._row_step == step and self.rows:
            self.rows[-1].update(cells)  # the same step: complete its row
            if self._width == len(self.columns):
                self._lines[-1] = self._row_line(self.rows[-1])
            self._rewrite()
            return
        self._row_step = step
        self.rows.append({"step": str(step), **cells})
        line = self._row_line(self.rows[-1])
        if self._width == len(self.columns):
            self._lines.append(line)
        if new_columns or not self.path.is_file():
            self._rewrite()
        else:
            append_text(self.path, line)


def _summary_writer(log_dir: Path, purge_step: int | None) -> Any:
    # imported lazily: TensorBoard is an optional extra and slow to import
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:
        raise ImportError(
            "TensorBoard logging (loggers 'tensorboard') needs the "
            f"tensorboard package: {install_command('tensorboard')}"
        ) from error
    return SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)


class TensorBoardLogger(Logger):
    """TensorBoard events in ``output_dir/tensorboard``: scalars, sample grids, the config as text.

    Args:
        output_dir: The run folder.
        resume_step: When resuming, events after this step are purged (``purge_step``).
    """

    name = "tensorboard"

    def __init__(self, output_dir: str | os.PathLike[str], resume_step: int | None = None) -> None:
        purge = None if resume_step is None else resume_step + 1
        self.writer = _summary_writer(Path(output_dir) / TENSORBOARD_DIR, purge)

    def log_scalars(self, step: int, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            if _is_number(value):
                self.writer.add_scalar(key, value, step)

    def log_images(self, step: int, name: str, grid: torch.Tensor) -> None:
        self.writer.add_image(name, grid, step)

    def log_config(self, config: Mapping[str, Any]) -> None:
        text = json.dumps(config, indent=2, default=str)
        # TensorBoard renders text as Markdown: indent it four spaces to show it as code
        self.writer.add_text("config", "\n".join("    " + line for line in text.splitlines()))

    def close(self) -> None:
        self.writer.close()


class WandbLogger(Logger):
    """Weights & Biases: scalars, sample grids as images, the config as the run's config.

    The run id is stored in ``output_dir/wandb_run.json``; a resumed run continues that run
    (``resume="allow"``) and skips the steps it already holds. The project is ``$WANDB_PROJECT``
    or ``pix2pix``, the run name the run folder's name. ``WANDB_MODE=offline`` writes the run to
    ``output_dir/wandb/offline-run-*`` (upload it later with ``wandb sync``).

    Args:
        output_dir: The run folder.
        resume_step: The checkpoint step a resumed run continues from (``None``: a new run).
        project: The W&B project (default ``$WANDB_PROJECT`` or ``pix2pix``).
    """

    name = "wandb"

    def __init__(
        self,
        output_dir: str | os.PathLike[str],
        resume_step: int | None = None,
        project: str | None = None,
    ) -> None:
        try:
            import wandb
        except ImportError as error:
            raise ImportError(
                "Weights & Biases logging (logger 'wandb') needs the wandb package: "
                f"{install_command('wandb')} (set WANDB_MODE=offline to log without an account)"
            ) from error
        self._wandb = wandb
        self.output_dir = Path(output_dir)
        self.record_path = self.output_dir / WANDB_RUN_NAME
        record: dict[str, Any] = {}
        if self.record_path.is_file():
            try:
                record = json.loads(self.record_path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError):
                record = {}
        if resume_step is None or "id" not in record:
            record = {"id": uuid.uuid4().hex[:8], "last_step": -1}
        self.run_id = str(record["id"])
        # the steps the run already holds: a crashed run's redone steps are skipped
        self.last_step = int(record.get("last_step", -1))
        self.skip_through = self.last_step
        self.run = wandb.init(
            project=project or os.environ.get("WANDB_PROJECT", "pix2pix"),
            name=self.output_dir.resolve().name,
            id=self.run_id,
            resume="allow",
            dir=str(self.output_dir),
        )
        self._save_record()

    def _save_record(self) -> None:
        text = json.dumps({"id": self.run_id, "last_step": self.last_step}) + "\n"
        atomic_write_text(self.record_path, text)

    def _skip(self, step: int) -> bool:
        return step <= self.skip_through

    def _advance(self, step: int) -> None:
        if step > self.last_step:
            self.last_step = step
            self._save_record()

    def log_scalars(self, step: int, values: Mapping[str, Any]) -> None:
        if self._skip(step):
            return
        self.run.log({k: v for k, v in values.items() if _is_number(v)}, step=step)
        self._advance(step)

    def log_images(self, step: int, name: str, grid: torch.Tensor) -> None:
        if self._skip(step):
            return
        array = grid.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0)
        self.run.log({name: self._wandb.Image(array.cpu().numpy())}, step=step)
        self._advance(step)

    def log_config(self, config: Mapping[str, Any]) -> None:
        self.run.config.update(dict(config), allow_val_change=True)

    def close(self) -> None:
        self.run.finish()


_CLASSES: dict[str, type[Logger]] = {
    "jsonl": JSONLLogger,
    "csv": CSVLogger,
    "tensorboard": TensorBoardLogger,
    "wandb": WandbLogger,
}


def build_loggers(
    names: Sequence[str], output_dir: str | os.PathLike[str], resume_step: int | None = None
) -> list[Logger]:
    """The loggers named in ``names`` (``jsonl`` is always first), for ``output_dir``.

    Raises:
        ValueError: For an unknown name.
        ImportError: If a named logger's package is missing (naming the pip extra).

    Examples:
        >>> [type(x).__name__ for x in build_loggers(["csv"], "/tmp/run")]  # doctest: +SKIP
        ['JSONLLogger', 'CSVLogger']
    """
    ordered = ["jsonl", *(n for n in names if n != "jsonl")]
    for name in ordered:
        if name not in _CLASSES:
            raise ValueError(f"Unknown logger {name!r}; choose from {', '.join(LOGGER_CHOICES)}.")
    built: list[Logger] = []
    try:
        for name in dict.fromkeys(ordered):
            built.append(_CLASSES[name](output_dir, resume_step=resume_step))  # type: ignore[call-arg]
    except BaseException:
        for logger in built:
            logger.close()
        raise
    return built


#: The optional package each logger needs; the extra that installs it has the logger's name.
LOGGER_PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb"}


def check_logger_packages(names: Sequence[str]) -> None:
    """Raise :class:`~pix2pix._extras.MissingExtraError` for a logger whose package is missing.

    Asks the import system only (microseconds), so a run can check before anything slow.

    Examples:
        >>> check_logger_packages(["jsonl", "csv"])
    """
    for name in names:
        if name in LOGGER_PACKAGES:
            require_extra(LOGGER_PACKAGES[name], extra=name, purpose=f"--logger {name}")


def logger_instances(loggers: Iterable[Any]) -> list[Logger]:
    """The :class:`Logger` objects given to a Trainer, checked (names go in the config).

    Examples:
        >>> logger_instances([Logger()])[0].__class__.__name__
        'Logger'
    """
    given = list(loggers)
    for logger in given:
        if not isinstance(logger, Logger):
            raise ValueError(
                f"loggers must hold pix2pix.trainer.Logger instances; got "
                f"{type(logger).__name__} (name built-in loggers in TrainerConfig.loggers)."
            )
    return given
