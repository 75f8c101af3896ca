"""What a run writes besides checkpoints: ``metrics.jsonl``, TensorBoard events, sample grids.

(Named ``reporting`` rather than ``logging`` so it never shadows the standard library module.)
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch
from torchvision.utils import make_grid, save_image

from pix2pix.inference.images import to_display

METRICS_NAME = "metrics.jsonl"
SAMPLES_DIR = "samples"
TENSORBOARD_DIR = "tensorboard"


def _summary_writer(log_dir: Path) -> Any:
    # imported lazily: TensorBoard is an optional extra and slow to import
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:
        raise ImportError(
            "TensorBoard logging (tensorboard=True) needs the tensorboard package: "
            "pip install 'pix2pix[tensorboard]'"
        ) from error
    return SummaryWriter(log_dir=str(log_dir))


def sample_grid(
    source: torch.Tensor, generated: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """One row per image: source | generated | target, as a ``[3, H, W]`` tensor in [0, 1].

    Example:
        >>> x = torch.zeros(2, 3, 8, 8)
        >>> sample_grid(x, x, x).shape
        torch.Size([3, 22, 32])
    """
    rows = torch.stack([to_display(source), to_display(generated), to_display(target)], dim=1)
    return make_grid(rows.flatten(0, 1), nrow=3, padding=2, pad_value=1.0)


class Reporter:
    """Writes scalars to ``metrics.jsonl`` (one JSON object per line) and optionally TensorBoard,
    and sample grids to ``samples/step-000200.png``.

    Only the main process should create one with ``enabled=True``; otherwise every method is a
    no-op.

    Args:
        output_dir: The run folder.
        tensorboard: Also write TensorBoard events to ``output_dir/tensorboard``.
        enabled: Whether this process writes anything.
        resume_step: When resuming, drop ``metrics.jsonl`` records after this step (they came
            from the part of the interrupted run that is about to be redone).

    Example:
        >>> reporter = Reporter("/tmp/run")  # doctest: +SKIP
        >>> reporter.log_scalars(100, {"G_L1": 3.2})  # doctest: +SKIP
    """

    def __init__(
        self,
        output_dir: str | os.PathLike[str],
        *,
        tensorboard: bool = False,
        enabled: bool = True,
        resume_step: int | None = None,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.enabled = enabled
        self._writer = None
        self.metrics_path = self.output_dir / METRICS_NAME
        if not enabled:
            return
        self.output_dir.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.metrics_path.is_file():
            self._truncate_after(resume_step)
        if tensorboard:
            self._writer = _summary_writer(self.output_dir / TENSORBOARD_DIR)

    def _truncate_after(self, step: int) -> None:
        kept = []
        for line in self.metrics_path.read_text().splitlines():
            try:
                record_step = json.loads(line).get("step", 0)
            except (json.JSONDecodeError, AttributeError):
                continue  # a line cut short by a crash
            if record_step <= step:
                kept.append(line)
        self.metrics_path.write_text("".join(line + "\n" for line in kept))

    def log_scalars(self, step: int, values: dict[str, Any]) -> None:
        """Append ``{"step": step, **values}`` to ``metrics.jsonl`` (and TensorBoard)."""
        if not self.enabled:
            return
        record = {"step": step, **{k: _json_number(v) for k, v in values.items()}}
        with self.metrics_path.open("a") as file:
            file.write(json.dumps(record) + "\n")
        if self._writer is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    self._writer.add_scalar(key, value, step)

    def log_samples(self, step: int, grid: torch.Tensor, name: str) -> Path | None:
        """Save a ``[3, H, W]`` grid in [0, 1] as ``samples/<name>.png`` (and to TensorBoard)."""
        if not self.enabled:
            return None
        folder = self.output_dir / SAMPLES_DIR
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        save_image(grid, path)
        if self._writer is not None:
            self._writer.add_image("samples", grid, step)
        return path

    def close(self) -> None:
        """Flush and close TensorBoard."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class LossBuffer:
    """Losses of the steps since the last log, kept on the device until they are read.

    Reading a device tensor waits for the device, so the loop only appends detached tensors
    and :meth:`drain` reads the whole interval with one device-to-host copy.

    Example:
        >>> buffer = LossBuffer()
        >>> buffer.add(1, {"G_L1": torch.tensor(2.0)})
        >>> buffer.add(2, {"G_L1": torch.tensor(4.0)})
        >>> buffer.drain()
        ({'G_L1': 3.0}, None)
    """

    def __init__(self) -> None:
        self._pending: list[tuple[int, dict[str, torch.Tensor]]] = []

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


def _json_number(value: Any) -> Any:
    # JSON has no inf/nan; PSNR of identical images is inf
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
