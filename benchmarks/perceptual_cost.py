"""The cost of the VGG perceptual loss (``lambda_vgg``): a training step with and without it.

Rows (unet_256 + 70x70 PatchGAN, the paper's fp32 settings, same data):

* ``without``: ``TrainerConfig()``, the paper's loss;
* ``with_vgg``: ``TrainerConfig(lambda_vgg=10)``, pix2pixHD's VGG19 loss added to G's.

The VGG19 is randomly initialised and written to a temporary file, which the row reads as it
would torchvision's: the cost of a step does not depend on the weights' values, so this measures
the real term's cost without its 548 MB download. Timings are interleaved (without, with, ...)
and reported as medians of ``--repeats`` steps after a warm-up step; FLOPs of one step are
counted with ``torch.utils.flop_counter``; ``--memory`` measures each row's peak memory in a
fresh process (peak RSS on CPU, ``max_memory_allocated`` on GPU), over ``3`` steps.

Run: ``python benchmarks/perceptual_cost.py [--size 256] [--batch 1] [--repeats 5] [--memory]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pix2pix import PatchGANDiscriminator, UNetGenerator
from pix2pix.losses.perceptual import VGG19Features
from pix2pix.trainer import Trainer, TrainerConfig

from common import (
    interleaved,
    machine,
    median,
    memory_in_child,
    peak_memory_mib,
    random_pair,
    sync,
    write_results,
)

ROWS = ("without", "with_vgg")


def random_vgg_file(folder: Path) -> Path:
    """A randomly initialised VGG19 (conv1_1 ... conv5_1) saved as torchvision's keys."""
    path = folder / "vgg19-random.pth"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        torch.save(VGG19Features().state_dict(), path)
    return path


def make_row(name: str, args: argparse.Namespace, device: torch.device, folder: Path):
    """One row's trainer, set up; returns a function doing one training step on ``(a, b)``."""
    torch.manual_seed(0)
    extra = {}
    if name == "with_vgg":
        extra = {"lambda_vgg": 10.0, "vgg_weights": str(random_vgg_file(folder))}
    config = TrainerConfig(device=str(device), progress_bar=False, output_dir=str(folder), **extra)
    num_downs = args.size.bit_length() - 1  # unet_256 at 256 px
    trainer = Trainer(UNetGenerator(num_downs=num_downs), PatchGANDiscriminator(), config)
    trainer.setup()
    return lambda a, b: trainer.training_step({"source": a, "target": b})


def memory_child(row: str, args: argparse.Namespace) -> None:
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as folder:
        step = make_row(row, args, device, Path(folder))
        a, b = random_pair(args.batch, args.size, device)
        for _ in range(3):
            step(a, b)
        sync(device)
    print(peak_memory_mib(device))


def measure_memory(row: str, args: argparse.Namespace) -> float:
    """Peak memory (MiB) of one row's setup and 3 steps, in a fresh process."""
    return memory_in_child(__file__, row, args.size, args.batch, args.device)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--memory", action="store_true", help="also measure peak memory per row")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_child, args)
        return {}
    device = torch.device(args.device)
    a, b = random_pair(args.batch, args.size, device)
    rows: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as folder:
        steps = {}
        for row in ROWS:
            start = time.perf_counter()
            steps[row] = make_row(row, args, device, Path(folder) / row)
            rows[row] = {"setup_s": round(time.perf_counter() - start, 2)}
            with FlopCounterMode(display=False) as counter:
                steps[row](a, b)  # also the warm-up step
            rows[row]["gflop_per_step"] = round(counter.get_total_flops() / 1e9, 1)
        times = interleaved(
            {r: (lambda r=r: steps[r](a, b)) for r in ROWS},
            repeats=args.repeats,
            warmup=1,
            device=device,
        )
    for row, values in times.items():
        rows[row]["median_step_s"] = round(median(values), 4)
        rows[row]["all_steps_s"] = [round(v, 4) for v in values]
    if args.memory:
        for row in ROWS:
            rows[row]["peak_memory_mib"] = round(measure_memory(row, args), 1)
    ratios = {
        key: round(float(rows["with_vgg"][key]) / float(rows["without"][key]), 2)  # type: ignore[arg-type]
        for key in ("median_step_s", "gflop_per_step", "peak_memory_mib")
        if key in rows["without"]
    }
    payload = {
        "benchmark": "perceptual_cost",
        "machine": machine(),
        "device": str(device),
        "size": args.size,
        "batch": args.batch,
        "repeats": args.repeats,
        "rows": rows,
        "with_vgg_over_without": ratios,
        "command": "python benchmarks/perceptual_cost.py " + " ".join(argv or sys.argv[1:]),
    }
    name = f"perceptual_cost_{device.type}_{args.size}px_b{args.batch}"
    write_results(name, payload, args.output)
    return payload


if __name__ == "__main__":
    main()
