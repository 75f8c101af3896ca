"""How big a run a CPU trains at a useful speed: steps/s of the sizes a CPU user picks from.

Rows, each ``Trainer.training_step`` on random batches (timings interleaved, medians of
``--repeats`` steps after warm-up):

* the paper's unet_256 at 256 px, batch 1: fp32 (the default), beside the reference algorithm
  (``benchmarks/reference.py``, the ratio the AVX2 figures of issue 27 quote), bf16 autocast,
  and channels-last + ``torch.compile``;
* unet_128 at 128 px, batch 1, width 64 and 32;
* the demo's run: a 64 px U-Net (6 down-samplings) of width 32, batch 4.

Run: ``python benchmarks/cpu_sizes.py [--repeats 5] [--output benchmarks/results/cpu_sizes.json]``;
the JSON names the CPU. Speed depends on the CPU's instructions: with AVX-512 BF16 / AMX the bf16
row uses oneDNN's kernels; on an AVX2-only CPU it falls back to reference kernels, tens of times
slower (see ``docs/src/training.md``, "On a CPU").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pix2pix import PatchGANDiscriminator, UNetGenerator
from pix2pix.trainer import Trainer, TrainerConfig

from common import interleaved, machine, median, write_results
from reference import RefPix2Pix, build_reference

#: name -> (size, batch, num_downs, width, TrainerConfig settings); "reference" is the oracle
ROWS: dict[str, tuple[int, int, int, int, dict[str, Any]]] = {
    "paper_256_fp32": (256, 1, 8, 64, {}),
    "paper_256_reference": (256, 1, 8, 64, {}),
    "paper_256_bf16": (256, 1, 8, 64, {"precision": "bf16"}),
    "paper_256_channels_last_compile": (256, 1, 8, 64, {"channels_last": True, "compile": True}),
    "unet128_128_w64": (128, 1, 7, 64, {}),
    "unet128_128_w32": (128, 1, 7, 32, {}),
    "demo_64_w32_b4": (64, 4, 6, 32, {}),
}


def make_row(name: str) -> Any:
    """One row's step function and its batch."""
    size, batch, num_downs, width, settings = ROWS[name]
    torch.manual_seed(0)
    a, b = torch.rand(batch, 3, size, size) * 2 - 1, torch.rand(batch, 3, size, size) * 2 - 1
    if name.endswith("reference"):
        netG, netD = build_reference(num_downs=num_downs)
        model = RefPix2Pix(netG, netD)
        return lambda: model.optimize_parameters(a, b)
    config = TrainerConfig(device="cpu", progress_bar=False, **settings)
    generator = UNetGenerator(base_channels=width, num_downs=num_downs)
    discriminator = PatchGANDiscriminator(base_channels=width, n_layers=2 if size < 128 else 3)
    trainer = Trainer(generator, discriminator, config)
    return lambda: trainer.training_step({"source": a, "target": b})


def main() -> None:
    """Measure the rows side by side and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--output", default=None, help="the results JSON (default: print only)")
    args = parser.parse_args()
    variants = {name: make_row(name) for name in args.rows}
    times = interleaved(variants, repeats=args.repeats, warmup=2, device="cpu")
    rows = []
    for name in args.rows:
        size, batch, num_downs, width, settings = ROWS[name]
        seconds = median(times[name])
        rows.append(
            {
                "row": name,
                "size": size,
                "batch": batch,
                "num_downs": num_downs,
                "width": width,
                "settings": settings,
                "seconds_per_step": seconds,
                "steps_per_s": 1 / seconds,
                "images_per_s": batch / seconds,
            }
        )
        print(f"{name:34s} {1 / seconds:7.3f} steps/s  {batch / seconds:7.2f} img/s")
    if "paper_256_fp32" in times and "paper_256_reference" in times:
        ratio = median(times["paper_256_reference"]) / median(times["paper_256_fp32"])
        print(f"paper fp32 step: {ratio:.2f}x the reference's speed")
    result = {
        "machine": machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "repeats": args.repeats,
        "rows": rows,
        "command": " ".join(sys.argv),
    }
    if args.output:
        write_results("cpu_sizes", result, args.output)


if __name__ == "__main__":
    main()
