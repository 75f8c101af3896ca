"""Translator latency and throughput against the reference generator's eval-mode forward.

Like with like: the reference U-Net (nested, as the canonical implementation) runs in eval mode
under the **same grad mode as our Translator**, ``torch.inference_mode`` (the Translator always
uses it). ``--reference-no-grad`` adds an informative row with the reference under
``torch.no_grad`` (how the canonical ``test.py`` calls it); ratios are never taken against it.

Rows, all sharing the same weights: ``reference`` (inference_mode); our ``Translator`` with
default settings; ``compile=True``; ``compile=True`` with ``dtype="bf16"``. Interleaved in one
process (reference, ours, ..., reference, ...), medians of ``--repeats`` runs after a warm-up;
the compiled rows' first call (compilation) is timed separately. Latency is batch 1;
throughput is ``--batch``.

Run: ``python benchmarks/translate.py [--sizes 256 1024] [--batch 8] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pix2pix import Translator
from pix2pix.models.convert import load_reference_checkpoint

from common import interleaved, machine, median, peak_rss_mib, sync, write_results
from reference import build_reference

VARIANTS = ("default", "compile", "compile_bf16")
GRAD_MODE = "inference_mode"  # the Translator's; the reference row runs under the same


def build_translators(
    ours: nn.Module, device: torch.device, variants: list[str] | tuple[str, ...]
) -> dict[str, Translator]:
    """One Translator per variant, all on the same generator weights."""
    settings: dict[str, dict[str, object]] = {
        "default": {},
        "compile": {"compile": True},
        "compile_bf16": {"compile": True, "dtype": "bf16"},
        "bf16": {"dtype": "bf16"},
        "fp16": {"dtype": "fp16"},
        "compile_fp16": {"compile": True, "dtype": "fp16"},
    }
    return {name: Translator(ours, device=device, **settings[name]) for name in variants}


def reference_forward(ref_g: nn.Module, grad_mode: str = GRAD_MODE) -> Callable:
    """The reference generator's forward under ``grad_mode`` ("inference_mode" or "no_grad")."""
    mode = torch.inference_mode if grad_mode == "inference_mode" else torch.no_grad

    def run(x: torch.Tensor) -> torch.Tensor:
        with mode():
            return ref_g(x)

    return run


def measure_row(
    ref_g: nn.Module,
    translators: dict[str, Translator],
    size: int,
    batch: int,
    repeats: int,
    device: torch.device,
    reference_no_grad: bool = False,
) -> dict[str, object]:
    """One size x batch row: median seconds, img/s and speed-up over the reference."""
    x = torch.rand(batch, 3, size, size, device=device) * 2 - 1
    first_call: dict[str, float] = {}
    for name, translator in translators.items():
        if name.startswith("compile"):
            sync(device)
            start = time.perf_counter()
            translator(x)
            sync(device)
            first_call[name] = round(time.perf_counter() - start, 1)
    reference = reference_forward(ref_g, GRAD_MODE)
    variants: dict[str, Callable[[], object]] = {"reference": lambda: reference(x)}
    if reference_no_grad:
        no_grad = reference_forward(ref_g, "no_grad")
        variants["reference_no_grad"] = lambda: no_grad(x)
    for name, translator in translators.items():
        variants[name] = lambda t=translator: t(x)
    peak: dict[str, float] = {}
    if device.type == "cuda":  # peak memory of one call of each row, on its own
        for name, fn in variants.items():
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
            fn()
            torch.cuda.synchronize()
            peak[name] = round((torch.cuda.max_memory_allocated() - before) / 2**20, 1)
    times = interleaved(variants, repeats=repeats, device=device)
    base = median(times["reference"])
    row: dict[str, object] = {
        "size": size,
        "batch": batch,
        "grad_mode": GRAD_MODE,
        "median_s": {k: round(median(v), 4) for k, v in times.items()},
        "img_per_s": {k: round(batch / median(v), 2) for k, v in times.items()},
        "speedup_vs_reference": {k: round(base / median(v), 2) for k, v in times.items()},
        "all_s": {k: [round(t, 4) for t in v] for k, v in times.items()},
        "first_call_s": first_call,
    }
    if peak:
        row["peak_memory_mib_per_call"] = peak
    return row


def setup_models(device: torch.device, num_downs: int = 8) -> tuple[nn.Module, nn.Module]:
    """The reference U-Net (unet_256 by default) in eval mode and ours with the same weights."""
    torch.manual_seed(0)
    ref_g, _ = build_reference(num_downs=num_downs)
    ref_g.eval().to(device)
    ours = load_reference_checkpoint(ref_g.state_dict())
    return ref_g, ours


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--batch", type=int, default=8, help="batch for the throughput rows")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument(
        "--reference-no-grad",
        action="store_true",
        help="also time the reference under torch.no_grad (informative; ratios stay like-with-like)",
    )
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    device = torch.device(args.device)

    ref_g, ours = setup_models(device)
    translators = build_translators(ours, device, args.variants)
    rows = []
    batches = [1] if args.batch == 1 else [1, args.batch]
    for size in args.sizes:
        for batch in batches:
            row = measure_row(
                ref_g, translators, size, batch, args.repeats, device, args.reference_no_grad
            )
            rows.append(row)
            print(row, file=sys.stderr, flush=True)
    payload = {
        "benchmark": "translate",
        "machine": machine(),
        "device": str(device),
        "grad_mode": f"{GRAD_MODE} for the reference and every Translator row",
        "repeats": args.repeats,
        "rows": rows,
        "peak_rss_mib_process": round(peak_rss_mib(), 1),
        "command": "python benchmarks/translate.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
    }
    write_results(f"translate_{device.type}", payload, args.output)
    return payload


if __name__ == "__main__":
    main()
