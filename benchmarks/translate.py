"""Translator latency and throughput against the reference generator's eval-mode forward.

Side by side in one process, interleaved, medians of ``--repeats`` runs. Rows: the reference
U-Net (nested, as the canonical implementation) in eval mode under ``torch.no_grad``; our
``Translator`` with default settings; ``compile=True``; ``compile=True`` with ``dtype="bf16"``.
All share the same weights. Latency is one image; throughput is a batch.

Run: ``python benchmarks/translate.py [--sizes 256 1024] [--batch 8] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pix2pix import Translator
from pix2pix.models.convert import load_reference_checkpoint

from common import interleaved, machine, median, peak_rss_mib, write_results
from reference import build_reference


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--batch", type=int, default=8, help="batch for the throughput rows")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--variants", nargs="+", default=["default", "compile", "compile_bf16"])
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    device = torch.device(args.device)

    torch.manual_seed(0)
    ref_g, _ = build_reference()
    ref_g.eval().to(device)
    ours = load_reference_checkpoint(ref_g.state_dict())
    translators = {"default": Translator(ours, device=device)}
    if "compile" in args.variants:
        translators["compile"] = Translator(ours, device=device, compile=True)
    if "compile_bf16" in args.variants:
        translators["compile_bf16"] = Translator(ours, device=device, compile=True, dtype="bf16")

    def reference(x):
        with torch.no_grad():
            return ref_g(x)

    rows = []
    for size in args.sizes:
        for batch in (1, args.batch):
            x = torch.rand(batch, 3, size, size, device=device) * 2 - 1
            compile_seconds = {}
            for name, translator in translators.items():
                if name.startswith("compile"):
                    start = time.perf_counter()
                    translator(x)
                    compile_seconds[name] = round(time.perf_counter() - start, 1)
            variants = {"reference": lambda x=x: reference(x)}
            for name, translator in translators.items():
                variants[name] = lambda x=x, t=translator: t(x)
            times = interleaved(variants, repeats=args.repeats, device=device)
            base = median(times["reference"])
            row = {
                "size": size,
                "batch": batch,
                "median_s": {k: round(median(v), 4) for k, v in times.items()},
                "img_per_s": {k: round(batch / median(v), 2) for k, v in times.items()},
                "speedup_vs_reference": {k: round(base / median(v), 2) for k, v in times.items()},
                "first_call_s": compile_seconds,
            }
            rows.append(row)
            print(row, file=sys.stderr, flush=True)
    payload = {
        "benchmark": "translate",
        "machine": machine(),
        "device": str(device),
        "repeats": args.repeats,
        "rows": rows,
        "peak_rss_mib_process": round(peak_rss_mib(), 1),
    }
    write_results(f"translate_{device.type}", payload, args.output)
    return payload


if __name__ == "__main__":
    main()
