"""What a run writes besides checkpoints: ``metrics.jsonl``, TensorBoard events, sample grids.

(Named ``reporting`` rather than ``logging`` so it never shadows the standard library module.)
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torchvision.utils import make_grid, save_image

from pix2pix._drawing import fit_text, font
from pix2pix.constants import SAMPLES_DIR
from pix2pix.inference.images import to_display
from pix2pix.trainer.distributed import any_rank
from pix2pix.trainer.errors import NonFiniteLossError
from pix2pix.trainer.loggers import JSONL_NAME, Logger, build_loggers
from pix2pix.trainer.loggers import TENSORBOARD_DIR as TENSORBOARD_DIR

if TYPE_CHECKING:
    from pix2pix.trainer.trainer import Trainer

METRICS_NAME = JSONL_NAME
SAMPLE_COLUMNS = ("source", "generated", "target")
_HEADER_HEIGHT = 14


def sample_grid(
    source: torch.Tensor,
    generated: torch.Tensor,
    target: torch.Tensor,
    *,
    step: int | None = None,
    headers: bool = False,
) -> torch.Tensor:
    """One row per image: source | generated | target, as a ``[3, H, W]`` tensor in [0, 1].

    With ``headers`` (the trainer's sample grids have them) a white strip on top names the
    columns, below a line with the ``step`` when one is given; labels too long for a narrow
    column are cut short.

    Examples:
        >>> x = torch.zeros(2, 3, 8, 8)
        >>> sample_grid(x, x, x).shape
        torch.Size([3, 22, 32])
        >>> sample_grid(x, x, x, headers=True).shape
        torch.Size([3, 36, 32])
        >>> sample_grid(x, x, x, headers=True, step=200).shape  # a second line names the step
        torch.Size([3, 50, 32])
    """
    rows = torch.stack([to_display(source), to_display(generated), to_display(target)], dim=1)
    grid = make_grid(rows.flatten(0, 1), nrow=3, padding=2, pad_value=1.0)
    if not headers:
        return grid
    return _with_headers(grid, source.shape[-1], step)


def _with_headers(grid: torch.Tensor, cell_width: int, step: int | None) -> torch.Tensor:
    from PIL import Image, ImageDraw

    pad, width = 2, grid.shape[-1]
    lines = 1 if step is None else 2
    height = _HEADER_HEIGHT * lines
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    typeface = font(11)
    if step is not None:
        draw.text(
            (pad + 1, 1), fit_text(draw, f"step {step}", width - 4, typeface), "black", typeface
        )
    for j, label in enumerate(SAMPLE_COLUMNS):
        x = pad + j * (cell_width + pad)
        text = fit_text(draw, label, cell_width - 2, typeface)
        draw.text((x + 1, height - _HEADER_HEIGHT + 1), text, fill="black", font=typeface)
    header = torch.frombuffer(bytearray(canvas.tobytes()), dtype=torch.uint8)
    header = header.reshape(height, width, 3).permute(2, 0, 1).float() / 255
    return torch.cat([header.to(grid.device, grid.dtype), grid], dim=1)


class Reporter:
    """Sends scalars, sample grids and the config to the run's loggers
    (:mod:`pix2pix.trainer.loggers`), and saves sample grids as ``samples/step-000200.png``.

    Only the main process should create one with ``enabled=True``; otherwise every method is a
    no-op.

    Args:
        output_dir: The run folder.
        loggers: Logger names (see :data:`pix2pix.trainer.loggers.LOGGER_CHOICES`) and
            :class:`~pix2pix.trainer.loggers.Logger` instances, which are used as they are.
        enabled: Whether this process writes anything.
        resume_step: When resuming, the checkpoint step: each logger drops or supersedes what
            an interrupted run logged after it (that part is about to be redone).

    Examples:
        >>> reporter = Reporter("/tmp/run", loggers=("jsonl", "csv"))  # doctest: +SKIP
        >>> reporter.log_scalars(100, {"G_L1": 3.2})  # doctest: +SKIP
    """

    def __init__(
        self,
        output_dir: str | os.PathLike[str],
        *,
        loggers: Sequence[str | Logger] = ("jsonl",),
        enabled: bool = True,
        resume_step: int | None = None,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.enabled = enabled
        self.metrics_path = self.output_dir / METRICS_NAME
        self.loggers: list[Logger] = []
        if not enabled:
            return
        self.output_dir.mkdir(parents=True, exist_ok=True)
        names = [logger for logger in loggers if isinstance(logger, str)]
        given = [logger for logger in loggers if isinstance(logger, Logger)]
        self.loggers = [*build_loggers(names, self.output_dir, resume_step=resume_step), *given]

    def log_scalars(self, step: int, values: dict[str, Any]) -> None:
        """Send ``values`` at ``step`` to every logger (``metrics.jsonl``, ``metrics.csv``...)."""
        for logger in self.loggers:
            logger.log_scalars(step, values)

    def log_config(self, config: Mapping[str, Any]) -> None:
        """Send the run's settings to every logger."""
        for logger in self.loggers:
            logger.log_config(config)

    def log_samples(self, step: int, grid: torch.Tensor, name: str) -> Path | None:
        """Save a ``[3, H, W]`` grid in [0, 1] as ``samples/<name>.png``; send it to the loggers."""
        if not self.enabled:
            return None
        folder = self.output_dir / SAMPLES_DIR
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        save_image(grid, path)
        for logger in self.loggers:
            logger.log_images(step, "samples", grid)
        return path

    def close(self) -> None:
        """Flush and close every logger."""
        loggers, self.loggers = self.loggers, []
        for logger in loggers:
            logger.close()


class LossBuffer:
    """Losses of the steps since the last log, kept on the device until they are read.

    Reading a device tensor waits for the device, so the loop only appends detached tensors
    and :meth:`drain` reads the whole interval with one device-to-host copy.

    Examples:
        >>> buffer = LossBuffer()
        >>> buffer.add(1, {"G_L1": torch.tensor(2.0)})
        >>> buffer.add(2, {"G_L1": torch.tensor(4.0)})
        >>> buffer.drain()
        ({'G_L1': 3.0}, None)
    """

    def __init__(self) -> None:
        self._pending: list[tuple[int, dict[str, torch.Tensor]]] = []
        self._clock = (time.perf_counter(), 0)

    def restart(self, step: int) -> None:
        """Time the throughput from now, at ``step``."""
        self._clock = (time.perf_counter(), step)

    def images_per_second(self, step: int, images_per_step: int) -> float:
        """Images per second since the last call (or :meth:`restart`); restarts the clock."""
        now = time.perf_counter()
        start, start_step = self._clock
        self._clock = (now, step)
        return (step - start_step) * images_per_step / max(now - start, 1e-9)

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, step: int, losses: dict[str, torch.Tensor]) -> None:
        """Keep ``losses`` (0-dim tensors) of ``step``."""
        self._pending.append((step, losses))

    def drain(self) -> tuple[dict[str, float], tuple[int, str, float] | None]:
        """Empty the buffer: ``(mean of each loss, (step, name, value) of the first non-finite
        one or None)``."""
        pending, self._pending = self._pending, []
        flat = [(step, name, value) for step, losses in pending for name, value in losses.items()]
        if not flat:
            return {}, None
        values = torch.stack([v.detach().float().reshape(()) for _, _, v in flat]).cpu().tolist()
        bad = next(
            ((step, name, v) for (step, name, _), v in zip(flat, values) if not math.isfinite(v)),
            None,
        )
        sums: dict[str, list[float]] = {}
        for (_, name, _), value in zip(flat, values):
            sums.setdefault(name, []).append(value)
        return {name: sum(v) / len(v) for name, v in sums.items()}, bad


def log_losses(trainer: Trainer) -> dict[str, Any]:
    """What :meth:`Trainer.log_losses` does: drain the buffer, stop on a NaN, log the means."""
    buffer = trainer.loss_log
    window = len(buffer)  # steps the means cover: log_every, fewer at a checkpoint
    means, bad = buffer.drain()
    if any_rank(trainer.context, bad is not None):  # all ranks stop together
        step, name, value = bad or (trainer.step, "(on another rank)", float("nan"))
        raise NonFiniteLossError(step, name, value, last_checkpoint=trainer.last_checkpoint)
    if not window:
        return {}
    images_per_step = trainer.config.batch_size * trainer.context.world_size
    record: dict[str, Any] = {"epoch": trainer.epoch, **means, "window": window}
    record["img_per_s"] = buffer.images_per_second(trainer.step, images_per_step)
    if trainer.state.optimizer_g is not None:
        record["lr"] = trainer.state.optimizer_g.param_groups[0]["lr"]
    skipped = getattr(trainer.train_data, "skipped", 0)
    if isinstance(skipped, int) and skipped:  # PairedImageDataset(on_error="skip")
        record["skipped_images"] = skipped
    if trainer.reporter is not None:
        trainer.reporter.log_scalars(trainer.step, record)
    return record
