"""Training data pipeline speed per worker: pix2pix.data against the reference implementation.

One item = read a 512x256 aligned JPEG, split it into A and B, jitter (resize to 286x286,
random 256x256 crop, random flip; the same parameters for both halves) and scale to [-1, 1].

* ours: ``PairedImageDataset.__getitem__`` (Pillow decode, then uint8 tensors: one antialiased
  bicubic resize for both halves in channels-last, crop and flip on uint8, float last).
* reference: junyanz/pytorch-CycleGAN-and-pix2pix ``AlignedDataset.__getitem__`` as written
  there: PIL ``open().convert("RGB")``, crop the halves, ``get_params`` with Python ``random``,
  ``get_transform`` building ``Resize([286, 286], BICUBIC)``, crop and flip lambdas,
  ``ToTensor`` and ``Normalize`` for each half.

Both run in this one process on one thread (``torch.set_num_threads(1)``, as in a DataLoader
worker), over the same files, interleaved (the order alternates each repeat), after a warm-up
pass; the reported figure is the median of the repeats. Results go to stdout and to
``benchmarks/results/data_pipeline.json``.

Usage::

    python benchmarks/data_pipeline.py [--images 100] [--repeats 7] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image
from torchvision import transforms

from pix2pix.data import PairedImageDataset, SyntheticPairs, list_images, read_image
from pix2pix.data.transforms import JitterParams, PairTransform

LOAD_SIZE, CROP_SIZE = 286, 256
FACADES = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "facades" / "train"
RESULTS = Path(__file__).resolve().parent / "results" / "data_pipeline.json"


# --------------------------------------------------------------------- the reference, verbatim
# From data/base_dataset.py and data/aligned_dataset.py of junyanz/pytorch-CycleGAN-and-pix2pix
# (preprocess="resize_and_crop", no_flip=False, input_nc=output_nc=3).


def reference_get_params(size: tuple[int, int]) -> dict:
    del size  # used by the other preprocess modes only
    new_h = new_w = LOAD_SIZE
    x = random.randint(0, np.maximum(0, new_w - CROP_SIZE))
    y = random.randint(0, np.maximum(0, new_h - CROP_SIZE))
    flip = random.random() > 0.5
    return {"crop_pos": (x, y), "flip": flip}


def _crop(img: Image.Image, pos: tuple[int, int], size: int) -> Image.Image:
    ow, oh = img.size
    x1, y1 = pos
    tw = th = size
    if ow > tw or oh > th:
        return img.crop((x1, y1, x1 + tw, y1 + th))
    return img


def _flip(img: Image.Image, flip: bool) -> Image.Image:
    if flip:
        return img.transpose(Image.FLIP_LEFT_RIGHT)
    return img


def reference_get_transform(params: dict) -> transforms.Compose:
    method = transforms.InterpolationMode.BICUBIC
    return transforms.Compose(
        [
            transforms.Resize([LOAD_SIZE, LOAD_SIZE], method),
            transforms.Lambda(lambda img: _crop(img, params["crop_pos"], CROP_SIZE)),
            transforms.Lambda(lambda img: _flip(img, params["flip"])),
            transforms.ToTensor(),
            transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
        ]
    )


def reference_getitem(path: Path) -> dict:
    AB = Image.open(path).convert("RGB")  # the reference's names
    w, h = AB.size
    w2 = int(w / 2)
    A = AB.crop((0, 0, w2, h))
    B = AB.crop((w2, 0, w, h))
    params = reference_get_params(A.size)
    A = reference_get_transform(params)(A)
    B = reference_get_transform(params)(B)
    return {"A": A, "B": B, "A_paths": str(path), "B_paths": str(path)}


# --------------------------------------------------------------------------------- harness


def find_or_make_images(data: Path | None, count: int, scratch: Path) -> tuple[list[Path], str]:
    folder = data or FACADES
    if folder.is_dir() and list_images(folder):
        return list_images(folder)[:count], str(folder)
    # No facades: render synthetic 256x256 pairs and store them as 512x256 aligned JPEGs.
    SyntheticPairs(count, size=256).write(scratch, ext=".jpg")
    return list_images(scratch), "generated synthetic 512x256 JPEGs"


def time_pass(load, items: list) -> float:
    start = time.perf_counter()
    for item in items:
        load(item)
    return len(items) / (time.perf_counter() - start)


def same_work_check(transform: PairTransform, path: Path) -> float:
    """Largest |ours - reference| over one item with the same crop and flip (in [-1, 1] units)."""
    random.seed(0)
    expected = reference_getitem(path)
    random.seed(0)
    params = reference_get_params((CROP_SIZE, CROP_SIZE))  # the draw reference_getitem made
    x, y = params["crop_pos"]
    jitter = JitterParams(
        resize=(LOAD_SIZE, LOAD_SIZE), crop=(y, x, CROP_SIZE, CROP_SIZE), flip=params["flip"]
    )
    pixels = torch.from_numpy(read_image(path)).permute(2, 0, 1)
    half = pixels.shape[2] // 2
    ours = transform.apply([pixels[:, :, :half], pixels[:, :, half:]], jitter)
    return max(
        float((ours[0] - expected["A"]).abs().max()), float((ours[1] - expected["B"]).abs().max())
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100, help="images per timed pass")
    parser.add_argument("--repeats", type=int, default=7, help="timed passes per pipeline (>=5)")
    parser.add_argument("--data", type=Path, default=None, help="folder of aligned JPEGs")
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON result file")
    args = parser.parse_args(argv)
    if args.repeats < 5:
        parser.error("--repeats must be at least 5")
    torch.set_num_threads(1)  # one DataLoader worker's share

    with tempfile.TemporaryDirectory() as scratch:
        paths, source = find_or_make_images(args.data, args.images, Path(scratch))
        dataset = PairedImageDataset(paths[0].parent, load_size=LOAD_SIZE, crop_size=CROP_SIZE)
        indices = [dataset.paths.index(str(path)) for path in paths]
        pipelines = {
            "ours": (dataset.__getitem__, indices),
            "reference": (reference_getitem, paths),
        }
        torch.manual_seed(0)
        random.seed(0)
        for load, items in pipelines.values():  # warm-up: page cache, lazy imports
            time_pass(load, items)
        runs: dict[str, list[float]] = {name: [] for name in pipelines}
        for repeat in range(args.repeats):
            order = list(pipelines) if repeat % 2 == 0 else list(reversed(pipelines))
            for name in order:
                runs[name].append(time_pass(*pipelines[name]))
        with Image.open(paths[0]) as first:
            size = list(first.size)
        difference = same_work_check(dataset.transform, paths[0])

    ours = statistics.median(runs["ours"])
    reference = statistics.median(runs["reference"])
    result = {
        "benchmark": "data_pipeline",
        "task": "read aligned JPEG, split A|B, resize 286 + random crop 256 + flip, to [-1, 1]",
        "unit": "images per second, one thread (one DataLoader worker)",
        "ours_img_per_s": round(ours, 1),
        "reference_img_per_s": round(reference, 1),
        "ratio": round(ours / reference, 2),
        "ours_runs": [round(v, 1) for v in runs["ours"]],
        "reference_runs": [round(v, 1) for v in runs["reference"]],
        "max_abs_difference_same_params": round(difference, 4),
        "images_per_pass": len(paths),
        "repeats": args.repeats,
        "image_size_wh": size,
        "data": source,
        "threads": torch.get_num_threads(),
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "pillow": PIL.__version__,
        },
    }
    text = json.dumps(result, indent=2)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
