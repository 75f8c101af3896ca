"""The data of ``pix2pix train``: the datasets, their pre-flight check, direction and palette.

Everything a run learns about its data before it trains: which half is the input (given, or
recorded by the dataset's download, said in one line either way), whether every image decodes
(``check-data`` before hours of training), and the label maps' palette that the model records
for ``pix2pix serve``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from pix2pix.data.palette_scan import as_inference_palette
from pix2pix.models.base import size_multiple_of
from pix2pix.palettes import DATASET_PALETTES, check_palette
from pix2pix.trainer import TrainerConfig


def build_datasets(
    args: argparse.Namespace, config: TrainerConfig, generator: Any, discriminator: Any
) -> tuple[Any, Any]:
    """The training and validation datasets, after the crop and data checks, with the palette
    of their label maps when they have one."""
    from pix2pix.data import PairedImageDataset  # the data stack is only needed here

    multiple = size_multiple_of(generator)
    data_settings = _data_settings(config)
    _check_crop(
        data_settings["crop_size"],
        data_settings["preprocess"],
        multiple,
        type(generator).__name__,
        discriminator,
    )
    dataset_args: dict[str, Any] = dict(
        layout=args.layout or "auto",
        in_channels=generator.config["in_channels"],
        out_channels=generator.config["out_channels"],
        size_multiple=multiple,
        **data_settings,
    )
    _check_writable(Path(config.output_dir))
    found = _preflight(args, dataset_args) if args.check_data else None
    dataset_args["on_error"] = args.on_bad_image or "raise"
    dataset_args["palette"] = choose_palette(args, data_settings["direction"], found)
    train_data = PairedImageDataset(args.data, flip=args.flip is not False, **dataset_args)
    val_data = None
    if args.val_data:
        val_data = PairedImageDataset(args.val_data, flip=False, train=False, **dataset_args)
    return train_data, val_data


def choose_palette(
    args: argparse.Namespace, direction: str, found: list[tuple[int, int, int]] | None
) -> list[dict[str, Any]] | None:
    """The classes of the source label maps, as the model records them, said in one line.

    In order: ``--palette FILE``; the palette of the dataset the data's download recorded (the
    facades' CMP classes, when the labels are the input); the lossless label maps' own colours
    that the data check found (``found``); else none.
    """
    from pix2pix.data.download import recorded_task

    given = getattr(args, "palette", None)
    if isinstance(given, list):  # recorded by the run being resumed
        return check_palette(given, "the run's record")
    if given:
        path = Path(given)
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ValueError(f"--palette {path}: cannot read a JSON palette ({error}).") from None
        palette = check_palette(value, str(path))
        print(f"pix2pix train: recording the {len(palette)} classes of {path} with the model.")
        return palette
    task = recorded_task(args.data)
    if task is not None and task.name in DATASET_PALETTES:
        source = task.a if direction == "AtoB" else task.b
        if "label" in source:
            palette = [{"name": n, "color": list(c)} for n, c in DATASET_PALETTES[task.name]]
            print(
                f"pix2pix train: recording {task.name}'s {len(palette)} label classes with the "
                "model, for pix2pix serve."
            )
            return palette
    if found:
        print(
            f"pix2pix train: the inputs are label maps of {len(found)} colours; recording them "
            "with the model as its classes (name them with --palette FILE)."
        )
        return as_inference_palette(found)
    return None


def _check_crop(
    crop_size: int, preprocess: str, multiple: int, generator: str, discriminator: Any
) -> None:
    if "crop" not in preprocess:
        return
    if crop_size % multiple:
        raise ValueError(
            f"crop_size={crop_size} is not a multiple of {multiple}, which {generator} "
            f"needs; pass --crop-size {max(multiple, crop_size // multiple * multiple)} "
            "or choose another --generator / --num-downs."
        )
    # the discriminator would refuse such crops at the first step; say so before any work
    least = int(getattr(discriminator, "min_input_size", 1))
    if crop_size < least:
        fits = -(-least // multiple) * multiple
        raise ValueError(
            f"crop_size={crop_size} is too small for the {type(discriminator).__name__}, which "
            f"needs at least {least} pixels a side; pass --crop-size {fits} or a discriminator "
            "that sees less (fewer layers: --n-layers-d; fewer scales: --num-d)."
        )


def _check_writable(folder: Path) -> None:
    """Find an unwritable run folder now, not at the first checkpoint an hour in."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise OSError(
            f"Cannot write to the run folder {folder}: {error.strerror or error}. Choose another "
            "--output, or fix its permissions."
        ) from None


def _preflight(
    args: argparse.Namespace, dataset_args: dict[str, Any]
) -> list[tuple[int, int, int]] | None:
    """Decode every training (and validation) image now, not hours into the run.

    Returns the training inputs' colours when they are all lossless label maps.
    """
    from pix2pix.data.check import check_data

    palette = None
    for folder in (args.data, args.val_data):
        if not folder:
            continue
        report = check_data(folder, **dataset_args, progress=True)
        if folder == args.data:
            palette = report.palette
        if report.ok:
            print(report.headline())
            continue
        if args.on_bad_image == "skip":
            print(report.summary())
            print(f"pix2pix train: {len(report.problems)} bad item(s) in {folder} will be skipped.")
            continue
        raise ValueError(
            f"{report.summary()}\nFix these files, or pass --on-bad-image skip to train without "
            "them (--no-check-data skips this check)."
        )
    return palette


def direction_of(data: Path) -> str:
    """The direction a run without ``--direction`` trains in, said in one line.

    The data's own record (written by ``pix2pix download``) decides; without one, A -> B, the
    left half of each pair to the right one.
    """
    from pix2pix.data.download import recorded_task

    task = recorded_task(data)
    if task is not None:
        print(
            f"pix2pix train: training {task.direction} ({task.task}), the usual task that "
            f"{task.name} records; pass --direction to choose the other way."
        )
        return task.direction
    print(
        f"pix2pix train: training AtoB (A -> B: each pair's left half, or its A/ image, is the "
        f"input): {data} records no direction; pass --direction BtoA for the other way."
    )
    return "AtoB"


def _data_settings(config: TrainerConfig) -> dict[str, Any]:
    """The dataset's resizing and direction: the flags (kept in the config) or the defaults."""
    defaults: dict[str, Any] = {"direction": "AtoB", "preprocess": "resize_and_crop"}
    defaults.update(load_size=286, crop_size=256)
    return {key: getattr(config, key) or value for key, value in defaults.items()}
