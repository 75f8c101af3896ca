"""Shared helpers for the side-by-side benchmarks: timing, memory, machine description, JSON."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def sync(device: torch.device | str) -> None:
    """Wait for queued GPU work so a timing covers it."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_once(fn: Callable[[], object], device: torch.device | str = "cpu") -> float:
    """Seconds one call of ``fn`` takes, including queued device work."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def interleaved(
    variants: dict[str, Callable[[], object]],
    repeats: int = 5,
    warmup: int = 1,
    device: torch.device | str = "cpu",
) -> dict[str, list[float]]:
    """Time every variant ``repeats`` times, interleaved (A B C A B C ...) to share the noise."""
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            times[name].append(time_once(fn, device))
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def flops_utilisation(
    img_per_s: float, gflop_per_image: float, peak_tflops: float
) -> dict[str, float]:
    """Achieved TFLOP/s (``img_per_s x gflop_per_image``) and model FLOPs utilisation against
    ``peak_tflops`` (the card's dense peak for the dtype that does the work).

    Example:
        >>> flops_utilisation(4000, 86.94, 790.0)
        {'achieved_tflops': 347.76, 'mfu': 0.4402}
    """
    achieved = img_per_s * gflop_per_image / 1e3
    return {"achieved_tflops": round(achieved, 2), "mfu": round(achieved / peak_tflops, 4)}


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB.

    Reads ``VmHWM`` from ``/proc/self/status``: ``getrusage``'s ``ru_maxrss`` survives ``exec``,
    so a child started by a big parent would report the parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_memory_mib(device: torch.device) -> float:
    """This process's peak memory so far, in MiB: allocated CUDA memory on a GPU, else RSS."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return peak_rss_mib()


def memory_in_child(script: str, row: str, size: int, batch: int, device: str) -> float:
    """Run ``script --memory-child ROW`` in a fresh process; the MiB it prints last.

    A fresh process, so that one row's peak is not another's: each benchmark's child sets its
    row up, runs a few steps and prints :func:`peak_memory_mib`.
    """
    command = [sys.executable, script, "--memory-child", row, "--size", str(size),
               "--batch", str(batch), "--device", device]  # fmt: skip
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def random_pair(batch: int, size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded ``(source, target)`` pair of ``[batch, 3, size, size]`` images in [-1, 1]."""
    generator = torch.Generator().manual_seed(0)
    shape = (batch, 3, size, size)
    a = torch.rand(shape, generator=generator) * 2 - 1
    b = torch.rand(shape, generator=generator) * 2 - 1
    return a.to(device), b.to(device)


def machine() -> dict[str, object]:
    """What ran the benchmark, for the results table."""
    info: dict[str, object] = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def write_results(name: str, payload: dict[str, object], output: str | None = None) -> Path:
    """Print ``payload`` as JSON and write it to ``results/<name>.json`` (or ``output``)."""
    path = Path(output) if output else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(payload, indent=2)
    path.write_text(text + "\n")
    print(text)
    return path
