"""Score one trained model in both test modes on the same test pairs, and show them side by side.

The paper preset's recorded test mode (issue 31) is chosen from this: a model trained by
``benchmarks/quality.py`` (e.g. the ``paper`` row at seed 0) is evaluated by
:func:`pix2pix.evaluation.evaluate` in

* ``eval``: running batch-norm statistics, no dropout (``test.py --eval``);
* ``paper``: dropout on and each image normalised with its own statistics (the canonical
  ``test.py``), with dropout seeds 0, 1 and 2 (pair ``i`` draws from ``seed + i``), so the
  spread between samples is seen beside the difference between modes;
* ``paper-no-dropout``: each image's own statistics, dropout off: what an ONNX/TorchScript export
  of a paper-mode model computes (:func:`pix2pix.inference.modes.paper_mode_graph`).

It writes ``OUTPUT/test_modes.json`` (every variant's L1, PSNR, SSIM, the blur-aware and
checkerboard statistics with their standard deviations, and the mean absolute pixel difference
between variants), ``OUTPUT/comparison.png`` (source | eval | paper seed 0 | paper seed 1 |
paper without dropout | target, for the test pairs the quality galleries show) and
``OUTPUT/comparison-zoom.png`` (the centre of the middle pairs, 4x).

Usage::

    python benchmarks/test_modes.py --model runs/quality-modes/facades-BtoA-128px/paper-seed0/final \\
        --data ../shared/datasets/facades/test --output benchmarks/results/test-modes-facades-128
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from pix2pix import Translator
from pix2pix.evaluation import GalleryRow, evaluate, write_gallery
from pix2pix.evaluation.score import _test_dataset, json_ready
from pix2pix.inference.modes import paper_mode_graph

from common import machine

KEEP = (
    "mode",
    "mode_note",
    "seed",
    "count",
    "resolution",
    *(f"{k}{s}" for k in ("l1", "psnr", "ssim") for s in ("", "_std")),
    *(
        f"{k}{s}"
        for k in ("sharpness", "hf_deficit_db", "color_emd", "checkerboard")
        for s in ("", "_std")
    ),
)
PAPER_SEEDS = (0, 1, 2)
NO_DROPOUT_NOTE = (
    "the paper mode without dropout (what an ONNX/TorchScript export of a paper-mode model "
    "computes): each image normalised with its own batch statistics, no dropout"
)


def noiseless(translator: Translator) -> Translator:
    """The paper mode without dropout, as an export computes it (same sizes and direction)."""
    inference = {**translator.inference, "test_mode": "eval"}
    return Translator(paper_mode_graph(translator.generator), device="cpu", inference=inference)


def variants(translator: Translator) -> dict[str, Any]:
    """``name -> (model for evaluate, keyword arguments)`` of every variant scored."""
    found: dict[str, Any] = {"eval": (translator, {"test_mode": "eval"})}
    for seed in PAPER_SEEDS:
        found[f"paper-seed{seed}"] = (translator, {"test_mode": "paper", "seed": seed})
    found["paper-no-dropout"] = (noiseless(translator), {"test_mode": "eval"})
    return found


def outputs(translator: Translator, sources: torch.Tensor, name: str) -> torch.Tensor:
    """The outputs of one variant for ``sources`` (pair ``i`` seeded as evaluate seeds it)."""
    if name == "eval":
        return translator.translate(sources, test_mode="eval")
    if name == "paper-no-dropout":
        return noiseless(translator).translate(sources)
    seed = int(name.removeprefix("paper-seed"))
    return torch.cat(
        [
            translator.translate(x, test_mode="paper", seed=seed + i)
            for i, x in enumerate(sources.split(1))
        ]
    )


def _zoom(image: torch.Tensor, side: int = 40, factor: int = 4) -> torch.Tensor:
    """The centre ``side`` x ``side`` of a ``[C, H, W]`` image, ``factor`` times larger."""
    height, width = image.shape[-2:]
    top, left = (height - side) // 2, (width - side) // 2
    crop = image[:, top : top + side, left : left + side]
    return torch.nn.functional.interpolate(crop[None], scale_factor=factor, mode="nearest")[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a saved model folder")
    parser.add_argument("--data", required=True, help="the test folder of A|B pairs")
    parser.add_argument("--output", required=True, help="folder for the JSON and the gallery")
    parser.add_argument("--gallery-rows", type=int, default=4)
    parser.add_argument("--limit", type=int, default=None, help="only the first N pairs (smoke)")
    args = parser.parse_args(argv)

    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    translator = Translator.from_pretrained(args.model, device="cpu")
    direction = translator.direction or "AtoB"
    # the pairs as evaluate reads the folder (the model's crop size), for the gallery
    dataset, _ = _test_dataset(args.data, translator, direction)
    data = dataset if args.limit is None else torch.utils.data.Subset(dataset, range(args.limit))
    scored = args.data if args.limit is None else data
    results: dict[str, Any] = {}
    per_image: dict[str, list[float]] = {}
    start = time.perf_counter()
    for name, (model, kwargs) in variants(translator).items():
        result = evaluate(model, scored, num_gallery=0, progress=False, batch_size=1, **kwargs)
        results[name] = {k: result.get(k) for k in KEEP}
        if name == "paper-no-dropout":  # evaluated as the eval mode of the export's graph
            results[name]["mode"] = name
            results[name]["mode_note"] = NO_DROPOUT_NOTE
        per_image[name] = [p["l1"] for p in result["per_image"]]
        print(
            f"{name:17s} L1 {result['l1']:.4f}  PSNR {result['psnr']:.2f}  SSIM "
            f"{result['ssim']:.4f}  sharpness {result['sharpness']:.3f}  HF deficit "
            f"{result['hf_deficit_db']:.2f} dB  colour EMD {result['color_emd']:.1f}  "
            f"checkerboard {result['checkerboard']:.2f} dB",
            file=sys.stderr,
        )

    # the gallery pairs of benchmarks/quality.py: spread evenly, the first and the last included
    total = len(data)
    count = min(args.gallery_rows, total)
    indices = list(dict.fromkeys(round(i * (total - 1) / max(count - 1, 1)) for i in range(count)))
    items = [data[i] for i in indices]
    sources = torch.stack([item["source"] for item in items])
    shown = ("eval", "paper-seed0", "paper-seed1", "paper-no-dropout")
    made = {name: outputs(translator, sources, name) for name in shown}
    # the mean absolute pixel difference between variants, over every test pair
    every = torch.stack([data[i]["source"] for i in range(total)])
    full = {
        name: outputs(translator, every, name)
        for name in ("eval", "paper-seed0", "paper-no-dropout")
    }
    full["paper-seed1"] = outputs(translator, every, "paper-seed1")
    pairs = [
        ("paper-seed0", "eval"),
        ("paper-seed0", "paper-seed1"),
        ("paper-no-dropout", "eval"),
        ("paper-no-dropout", "paper-seed0"),
    ]
    differences = {f"{a} vs {b}": float((full[a] - full[b]).abs().mean()) for a, b in pairs}
    rows = [
        GalleryRow(
            str(Path(str(item.get("path", index))).name),
            [item["source"], *(made[name][k] for name in shown), item["target"]],
            "  ".join(
                f"{name} L1 {per_image[name][index]:.3f}"
                for name in ("eval", "paper-seed0", "paper-no-dropout")
            ),
        )
        for k, (index, item) in enumerate(zip(indices, items))
    ]
    write_gallery(
        rows,
        output / "comparison.png",
        output / "comparison.html",
        columns=("source", *shown, "target"),
        title="One model in both test modes",
        notes=[f"Model: {args.model}", f"Data: {args.data} ({direction}), {total} pairs"],
    )
    # the centre of the middle pairs magnified 4x (nearest), where texture and noise show
    zoomed = ("eval", "paper-seed0", "paper-no-dropout")
    middle = list(range(len(items)))[1:-1] or list(range(len(items)))
    zoom_rows = [
        GalleryRow(
            rows[k].name,
            [_zoom(made[name][k]) for name in zoomed] + [_zoom(items[k]["target"])],
        )
        for k in middle
    ]
    write_gallery(
        zoom_rows,
        output / "comparison-zoom.png",
        None,
        columns=(*zoomed, "target"),
        title="The centre, 4x",
    )
    # pair by pair: where the paper mode (seed 0) is closer to the target than the eval mode
    closer = sum(p < e for p, e in zip(per_image["paper-seed0"], per_image["eval"]))
    record = {
        "model": args.model,
        "data": args.data,
        "direction": direction,
        "count": total,
        "machine": machine(),
        "time_s": round(time.perf_counter() - start, 1),
        "variants": results,
        "mean_abs_difference": differences,
        "pairs_with_lower_l1": {"paper-seed0": closer, "eval": total - closer},
        "gallery": [row.name for row in rows],
    }
    (output / "test_modes.json").write_text(json.dumps(json_ready(record), indent=2) + "\n")
    for key, value in differences.items():
        print(f"mean |{key}| = {value:.4f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
