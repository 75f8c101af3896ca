"""Training-step speed: ``Trainer.training_step`` against the reference algorithm, side by side.

Rows (same data, same architecture: unet_256 + batch norm + dropout, 70x70 PatchGAN, BCE GAN loss,
L1 x 100, two Adam optimisers, D then G):

* ``reference``: the faithful re-implementation in ``benchmarks/reference.py``, fp32;
* ``ours``: ``Trainer.training_step`` with the default (paper-exact fp32) ``TrainerConfig``;
* ``ours_fast``: ``precision="bf16", channels_last=True, compile=True``.

Timings are interleaved (ref, ours, fast, ref, ...) and reported as medians of ``--repeats``
steps after warm-up, with the ratio ours / reference. Training FLOPs per image are counted with
``torch.utils.flop_counter`` on the reference step; on a GPU the model FLOP utilisation (MFU) is
reported against ``--peak-tflops``. ``--memory`` measures each row's peak memory in a separate
process (peak RSS on CPU, ``max_memory_allocated`` on GPU).

Run: ``python benchmarks/train_step.py [--size 256] [--batch 1] [--repeats 5] [--memory]``
"""

from __future__ import annotations

import argparse
import sys
import time
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
    sync,
    write_results,
)
from reference import RefPix2Pix, build_reference

ROWS = ("reference", "ours", "ours_fast")


def make_row(name: str, size: int, device: torch.device, fast: dict[str, object]):
    """Build one row's models and return a zero-argument function doing one training step."""
    num_downs = size.bit_length() - 1  # unet_256 at 256 px, unet_128 at 128 px
    torch.manual_seed(0)
    if name == "reference":
        netG, netD = build_reference(num_downs=num_downs)
        model = RefPix2Pix(netG.to(device), netD.to(device)).to(device)
        return lambda a, b: model.optimize_parameters(a, b)
    settings = fast if name == "ours_fast" else {}
    config = TrainerConfig(device=str(device), progress_bar=False, **settings)
    trainer = Trainer(UNetGenerator(num_downs=num_downs), PatchGANDiscriminator(), config)
    return lambda a, b: trainer.training_step({"source": a, "target": b})


def training_flops(size: int, batch: int) -> float:
    """FLOPs of one reference training step per image (forward and backward of G and D)."""
    netG, netD = build_reference(num_downs=size.bit_length() - 1)
    model = RefPix2Pix(netG, netD)
    a, b = torch.randn(batch, 3, size, size), torch.randn(batch, 3, size, size)
    with FlopCounterMode(display=False) as counter:
        model.optimize_parameters(a, b)
    return counter.get_total_flops() / batch


def measure_memory(row: str, args: argparse.Namespace) -> float:
    """Peak memory (MiB) of ``steps`` training steps of one row, in a fresh process."""
    return memory_in_child(__file__, row, args.size, args.batch, args.device)


def memory_child(row: str, args: argparse.Namespace) -> None:
    device = torch.device(args.device)
    step = make_row(row, args.size, device, fast_settings(device))
    a = torch.rand(args.batch, 3, args.size, args.size, device=device) * 2 - 1
    b = torch.rand_like(a)
    for _ in range(3):
        step(a, b)
    sync(device)
    print(peak_memory_mib(device))


def fast_settings(device: torch.device) -> dict[str, object]:
    return {"precision": "bf16", "channels_last": True, "compile": True}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS)
    parser.add_argument("--memory", action="store_true", help="also measure peak memory per row")
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=989.0,
        help="GPU peak for MFU (H100 SXM dense bf16: 989)",
    )
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_child, args)
        return {}
    device = torch.device(args.device)

    a = torch.rand(args.batch, 3, args.size, args.size, device=device) * 2 - 1
    b = torch.rand_like(a)
    steps = {}
    first_call = {}
    for row in args.rows:
        steps[row] = make_row(row, args.size, device, fast_settings(device))
        start = time.perf_counter()
        steps[row](a, b)  # warm-up; compiles the fast row
        sync(device)
        first_call[row] = round(time.perf_counter() - start, 1)
        print(f"{row}: first step {first_call[row]} s", file=sys.stderr, flush=True)
    times = interleaved(
        {r: (lambda r=r: steps[r](a, b)) for r in args.rows}, repeats=args.repeats, device=device
    )
    flops = training_flops(args.size, args.batch)
    base = median(times["reference"]) if "reference" in times else None
    rows = {}
    for row, values in times.items():
        seconds = median(values)
        rows[row] = {
            "median_step_s": round(seconds, 4),
            "img_per_s": round(args.batch / seconds, 3),
            "vs_reference": round(base / seconds, 2) if base else None,
            "first_step_s": first_call[row],
            "all_steps_s": [round(v, 4) for v in values],
        }
        if device.type == "cuda":
            rows[row]["mfu"] = round(flops * args.batch / seconds / (args.peak_tflops * 1e12), 4)
    if args.memory:
        for row in args.rows:
            rows[row]["peak_memory_mib"] = round(measure_memory(row, args), 1)
    payload = {
        "benchmark": "train_step",
        "machine": machine(),
        "device": str(device),
        "size": args.size,
        "batch": args.batch,
        "repeats": args.repeats,
        "fast_settings": fast_settings(device),
        "training_gflop_per_image": round(flops / 1e9, 2),
        "rows": rows,
        "command": "python benchmarks/train_step.py " + " ".join(argv or sys.argv[1:]),
    }
    write_results(f"train_step_{device.type}_{args.size}px_b{args.batch}", payload, args.output)
    return payload


if __name__ == "__main__":
    main()
