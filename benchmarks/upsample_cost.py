"""The cost of the generator's up-sampling: transposed convolution against resize-convolution.

Rows (unet_256 + 70x70 PatchGAN, the paper's fp32 settings, same data), one per
``UNetGenerator(upsample=...)``:

* ``transpose``: the paper's stride-2 4x4 transposed convolutions (the default);
* ``nearest``: nearest-neighbour 2x resize, then a 3x3 convolution, in every decoder block;
* ``bilinear``: bilinear 2x resize, then a 3x3 convolution.

For each row, in one process: a training step (``Trainer.training_step``: D then G, both Adam
updates) and a generator forward in eval mode without gradients (what ``translate`` runs), timed
interleaved (transpose, nearest, bilinear, transpose, ...) and reported as medians of
``--repeats`` after a warm-up; FLOPs of one training step counted with
``torch.utils.flop_counter``; the generator's parameter count. ``--memory`` measures each row's
peak memory in a fresh process (peak RSS on CPU, ``max_memory_allocated`` on GPU) over its setup
and 3 training steps. Ratios are each row over ``transpose``.

Run: ``python benchmarks/upsample_cost.py [--size 256] [--batch 1] [--repeats 5] [--memory]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pix2pix import PatchGANDiscriminator, UNetGenerator
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

ROWS = ("transpose", "nearest", "bilinear")


def make_trainer(row: str, args: argparse.Namespace, device: torch.device, folder: Path):
    """One row's trainer, set up, from the same seed."""
    torch.manual_seed(0)
    config = TrainerConfig(device=str(device), progress_bar=False, output_dir=str(folder))
    num_downs = args.size.bit_length() - 1  # unet_256 at 256 px
    generator = UNetGenerator(num_downs=num_downs, upsample=row)
    trainer = Trainer(generator, PatchGANDiscriminator(), config)
    trainer.setup()
    return trainer


def memory_child(row: str, args: argparse.Namespace) -> None:
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as folder:
        trainer = make_trainer(row, args, device, Path(folder))
        a, b = random_pair(args.batch, args.size, device)
        for _ in range(3):
            trainer.training_step({"source": a, "target": b})
        sync(device)
    print(peak_memory_mib(device))


def measure_memory(row: str, args: argparse.Namespace) -> float:
    """Peak memory (MiB) of one row's setup and 3 training steps, in a fresh process."""
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
    variants = {}
    with tempfile.TemporaryDirectory() as folder:
        for row in ROWS:
            trainer = make_trainer(row, args, device, Path(folder) / row)
            generator = trainer.generator

            def step(trainer=trainer) -> None:
                trainer.training_step({"source": a, "target": b})

            def forward(generator=generator) -> None:
                generator.eval()
                with torch.no_grad():
                    generator(a)
                generator.train()

            with FlopCounterMode(display=False) as counter:
                step()  # also a warm-up step
            rows[row] = {
                "generator_parameters": sum(p.numel() for p in generator.parameters()),
                "gflop_per_step": round(counter.get_total_flops() / 1e9, 1),
            }
            variants[f"{row}/step"] = step
            variants[f"{row}/forward"] = forward
        times = interleaved(variants, repeats=args.repeats, warmup=1, device=device)
    for name, values in times.items():
        row, kind = name.split("/")
        rows[row][f"median_{kind}_s"] = round(median(values), 4)
        rows[row][f"all_{kind}_s"] = [round(v, 4) for v in values]
    if args.memory:
        for row in ROWS:
            rows[row]["peak_memory_mib"] = round(measure_memory(row, args), 1)
    keys = ("median_step_s", "median_forward_s", "gflop_per_step", "peak_memory_mib")
    ratios = {
        row: {
            key: round(float(rows[row][key]) / float(rows["transpose"][key]), 2)  # type: ignore[arg-type]
            for key in keys
            if key in rows["transpose"]
        }
        for row in ROWS[1:]
    }
    payload = {
        "benchmark": "upsample_cost",
        "machine": machine(),
        "device": str(device),
        "size": args.size,
        "batch": args.batch,
        "repeats": args.repeats,
        "rows": rows,
        "over_transpose": ratios,
        "command": "python benchmarks/upsample_cost.py " + " ".join(argv or sys.argv[1:]),
    }
    write_results(f"upsample_cost_{device.type}_{args.size}px_b{args.batch}", payload, args.output)
    return payload


if __name__ == "__main__":
    main()
