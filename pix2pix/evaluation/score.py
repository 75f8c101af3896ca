"""Score a generator on a paired test set: mean L1, PSNR and SSIM, a gallery, and FID.

See :mod:`pix2pix.evaluation` for the two evaluation modes.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from pix2pix import metrics
from pix2pix._files import atomic_write_text
from pix2pix.constants import DIRECTION_CHOICES
from pix2pix.data.paired import PairedImageDataset
from pix2pix.evaluation.blur import BAND_EDGE, blur_statistics
from pix2pix.evaluation.checkerboard import checkerboard
from pix2pix.evaluation.fid import InceptionFeatures, fid_entries, find_inception_weights
from pix2pix.evaluation.gallery import (
    gallery_rows,
    pair_stem,
    save_pair_images,
    write_gallery,
    write_pairs_page,
)
from pix2pix.evaluation.lpips import (
    LPIPSNetwork,
    LpipsWeights,
    find_lpips_weights,
    lpips_distance,
    lpips_entries,
)
from pix2pix.inference.modes import DEFAULT_SEED, check_test_mode
from pix2pix.inference.translator import Translator
from pix2pix.models.base import ModelMixin

METRICS_NAME = "metrics.json"
GALLERY_PNG = "gallery.png"
GALLERY_HTML = "gallery.html"
PAIRS_HTML = "index.html"  # every pair, with save_images (the canonical results page name)
IMAGES_DIR = "images"
BLUR_NOTE = (
    "sharpness: mean Sobel gradient magnitude of output over target (1 ideal, < 1 blurrier); "
    f"hf_deficit_db: mean 10 log10(P_target / P_output) of the radially averaged luma power "
    f"spectra from {BAND_EDGE} x Nyquist to Nyquist (0 ideal, > 0 missing fine detail, < 0 "
    "excess); color_emd: per-channel histogram earth mover's distance in grey levels (0 "
    "ideal). Means over images; see pix2pix.evaluation.blur for how each can mislead."
)
CHECKERBOARD_NOTE = (
    "checkerboard: 10 log10 of the output's share of luma energy (mean removed, Hann window) "
    "at the period-2 frequencies (pi,0), (0,pi), (pi,pi) (bins within 1.5 steps of Nyquist) "
    "over the target's share, floor 1e-7, in dB; mean over images. 0 ideal, > 0 a grid the "
    "target lacks (transposed-convolution artefacts), < 0 less period-2 energy (blur). See "
    "pix2pix.evaluation.checkerboard."
)
_SSIM_MIN_SIDE = 11  # the SSIM window (11x11) must fit inside the image


def json_ready(value: Any) -> Any:
    """``value`` with every non-finite float written as a string (JSON has no inf or nan).

    PSNR of identical images is ``inf``; strict JSON readers reject ``Infinity``.

    Examples:
        >>> json_ready({"psnr": float("inf"), "l1": [0.0]})
        {'psnr': 'inf', 'l1': [0.0]}
    """
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


def _as_translator(
    model: Translator | nn.Module | str | os.PathLike[str],
    device: str | torch.device | None,
    dropout: float | None = None,
) -> tuple[Translator, dict[str, Any]]:
    """A Translator for ``model`` and a JSON summary of what was evaluated."""
    path = None
    if dropout is not None and not isinstance(model, (str, os.PathLike)):
        raise ValueError(
            f"dropout={dropout!r} is for a reference .pth path; a {type(model).__name__} "
            "already has its dropout (see Translator.from_pretrained(path, dropout=...))."
        )
    if isinstance(model, Translator):
        if device is not None:
            raise ValueError(
                f"device={device!r} was given with a Translator, which already has its device "
                f"({model.device}); build the Translator with that device instead."
            )
        translator = model
    elif isinstance(model, nn.Module):
        if device is None:  # stay where the caller put the model
            first = next(model.parameters(), None)
            device = first.device if first is not None else "cpu"
        translator = Translator(model, device=device)
    elif isinstance(model, (str, os.PathLike)):
        path = str(model)
        translator = Translator.from_pretrained(model, device=device, dropout=dropout)
    else:
        raise ValueError(
            "model must be a Translator, a generator nn.Module or a saved model path; got "
            f"{type(model).__name__}."
        )
    generator = translator.generator
    summary = {
        "path": path,
        "class": type(generator).__name__,
        "config": generator.config if isinstance(generator, ModelMixin) else None,
        "inference": dict(translator.inference),
        "parameters": sum(p.numel() for p in generator.parameters()),
    }
    return translator, summary


def _test_dataset(
    data: str | os.PathLike[str], translator: Translator, direction: str
) -> tuple[PairedImageDataset, str]:
    """The test split at the size the model was trained at (or native), and that rule in words."""
    inference = translator.inference
    out_channels = int(
        getattr(translator.generator, "out_channels", inference.get("out_channels", 3))
    )
    crop_size = inference.get("crop_size")
    if crop_size:
        preprocess = str(inference.get("preprocess", "resize_and_crop"))
        load_size = max(int(inference.get("load_size", crop_size)), int(crop_size))
        size_multiple = translator.size_multiple
        rule = (
            f"test transform of preprocess={preprocess!r} at the model's training "
            f"crop_size={crop_size} (from its saved inference settings)"
        )
    else:
        # preprocess="none" with a multiple of 1 keeps every image's own size
        preprocess, load_size, crop_size, size_multiple = "none", 1, 1, 1
        rule = (
            "native size: no crop_size saved with the model, so each image keeps its size and "
            f"the generator runs on a reflect-padded copy (to a multiple of "
            f"{translator.size_multiple}) cropped back, as the Translator does"
        )
    dataset = PairedImageDataset(
        data,
        direction=direction,
        preprocess=preprocess,
        load_size=load_size,
        crop_size=int(crop_size),
        size_multiple=size_multiple,
        train=False,
        flip=False,
        in_channels=translator.in_channels,
        out_channels=out_channels,
    )
    return dataset, rule


def evaluate(
    model: Translator | nn.Module | str | os.PathLike[str],
    data: str | os.PathLike[str] | Dataset | Sequence[Mapping[str, Any]],
    *,
    direction: str | None = None,
    test_mode: str | None = None,
    seed: int | None = None,
    dropout: float | None = None,
    num_gallery: int = 8,
    output_dir: str | os.PathLike[str] | None = None,
    batch_size: int = 1,
    device: str | torch.device | None = None,
    fid_weights: str | os.PathLike[str] | None = None,
    lpips_net: str = "alex",
    lpips_weights: str | os.PathLike[str] | None = None,
    lpips_heads: str | os.PathLike[str] | None = None,
    progress: bool = True,
    save_images: bool = False,
    sort: str | None = None,
    worst_first: bool = False,
    gallery_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Mean L1, PSNR, SSIM and blur-aware statistics of a generator over a test set, plus a gallery.

    The test images are read as training read them, without the jitter: a folder becomes
    ``PairedImageDataset(data, train=False)`` resized to the ``crop_size`` saved with the model
    (its ``config.json`` ``"inference"`` settings, written by the trainer), so a model trained at
    128 px is scored at 128 px. A model saved without a ``crop_size`` is scored at each image's
    native size, its input reflect-padded to the generator's size multiple and the output
    cropped back, as :class:`~pix2pix.Translator` does. A dataset object is used as it is (it
    must be deterministic: built with ``train=False``).

    Args:
        model: A saved model path (anything :meth:`Translator.from_pretrained` reads), a
            :class:`~pix2pix.Translator`, or a generator module (left on its device and put
            back in its train/eval mode afterwards).
        data: A folder of pairs, or a dataset / list of ``{"source", "target"}`` dicts with
            ``[C, H, W]`` tensors in [-1, 1].
        direction: ``"AtoB"`` or ``"BtoA"`` for a folder; default the model's training
            direction, else ``"AtoB"``. Must be ``None`` or match for a dataset.
        test_mode: ``"paper"`` (dropout on, each image normalised with its own batch
            statistics) or ``"eval"`` (running statistics, no dropout); default the model's
            recorded mode (:attr:`Translator.test_mode <pix2pix.Translator.test_mode>`:
            ``"paper"`` for the official pix2pix models, ``"eval"`` for a model that records
            none).
        seed: Dropout seed of the paper mode: pair ``i`` (in data order) uses ``seed + i``,
            whatever the batch size; default 0. Refused in the eval mode, which has no
            randomness for it to change.
        dropout: For a reference ``.pth`` path: the U-Net's dropout, which its weights cannot
            reveal (``0.0`` for ``--no_dropout``); see :meth:`Translator.from_pretrained
            <pix2pix.Translator.from_pretrained>`.
        num_gallery: How many pairs the gallery shows (0: no gallery): spread over the L1
            ranking from best to worst, the median among them (``gallery_names`` overrides).
        output_dir: Write ``metrics.json``, ``gallery.png`` and ``gallery.html`` here.
        batch_size: Images per forward pass. Results do not depend on it (the paper mode
            translates each image alone, as the paper does). A folder scored at native size
            needs 1 unless all images have one size.
        device: Where to run (default: the module's device; CUDA when present for a path).
        fid_weights: torchvision ``inception_v3`` weights file for FID. Default: the torch hub
            cache if it holds them; FID is ``None`` (with ``fid_note`` saying why) otherwise.
        lpips_net: LPIPS backbone: ``"alex"`` (the ``lpips`` package's default), ``"vgg"`` or
            ``"squeeze"`` (:mod:`pix2pix.evaluation.lpips`; version 0.1 heads).
        lpips_weights: torchvision's state dict of that backbone (``alexnet-owt-*.pth`` ...).
            Default: the torch hub cache if it holds it.
        lpips_heads: The LPIPS linear heads file. Default: the installed ``lpips`` package's
            (the ``lpips`` extra). Without both files LPIPS is ``None`` with
            ``lpips_note`` saying which is missing; nothing is downloaded.
        progress: Show a progress bar (tqdm: on stderr, or a widget in a notebook); ``False``
            for none (scripts that log, loops over many models).
        save_images: Also write every pair's source, output and target to
            ``output_dir/images/NAME_real_A.png``, ``NAME_fake_B.png``, ``NAME_real_B.png``
            and a page of every pair, ``output_dir/index.html`` (paged, sortable by each
            metric in the browser).
        sort: The metric the page is sorted by at first (e.g. ``"l1"``; default: data order).
        worst_first: Sort the page by ``sort``'s worst values first.
        gallery_names: The pairs the gallery shows, by name, in this order: to compare
            several models on the same pairs (pass one result's ``gallery`` to the next).

    Returns:
        A JSON-ready dict: ``l1``, ``psnr``, ``ssim`` (means) and ``l1_std``, ``psnr_std``,
        ``ssim_std`` (sample standard deviations over images), ``count``, ``mode``
        (``"paper"``/``"eval"``), ``mode_note``, ``seed`` (``None`` in the eval mode),
        ``direction``, ``resolution`` (the sizing rule), ``data``, ``model``
        (path, class, config, inference settings, parameter count), the blur-aware
        statistics of :mod:`pix2pix.evaluation.blur` (``sharpness``, ``hf_deficit_db``,
        ``color_emd``, each with ``_std``, and ``blur_note``), ``checkerboard`` (dB, with
        ``_std`` and ``checkerboard_note``: :mod:`pix2pix.evaluation.checkerboard`; ``None``
        for images under 8 px a side), ``fid``/``fid_note`` and
        ``kid``/``kid_note`` (with Inception weights), ``lpips`` (mean, with ``lpips_std``,
        ``lpips_note`` and ``lpips_setup``: backbone, version, files and their SHA-256),
        ``per_image`` (name and metrics of every pair),
        ``time_s``, and ``files`` (what was written). ``ssim`` is ``None`` for images under
        11 px a side. A PSNR of identical images is ``inf`` (written as ``"inf"`` in JSON).

    Raises:
        FileNotFoundError: If the model, the data folder, ``fid_weights``, ``lpips_weights``
            or ``lpips_heads`` does not exist.
        ValueError: For bad arguments, a jittering dataset, or outputs that do not match the
            targets' shape.

    Examples:
        >>> result = evaluate("runs/facades/final", "facades/test")  # doctest: +SKIP
        >>> result["mode"], round(result["l1"], 3), result["count"]  # doctest: +SKIP
        ('eval', 0.281, 106)
    """
    if direction is not None and direction not in DIRECTION_CHOICES:
        raise ValueError(
            f"direction={direction!r} is not supported; choose one of {DIRECTION_CHOICES}."
        )
    for name, value, low in (("batch_size", batch_size, 1), ("num_gallery", num_gallery, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name}={value!r} must be an integer >= {low}.")
    if (sort is not None or worst_first) and not save_images:
        raise ValueError("sort and worst_first order the page of every pair; set save_images.")
    if save_images and output_dir is None:
        raise ValueError("save_images=True needs output_dir, the folder for the images.")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValueError(f"seed={seed!r} must be a non-negative integer.")
    if test_mode is not None:
        check_test_mode(test_mode)
    weights = find_inception_weights(fid_weights)
    lpips_files = find_lpips_weights(lpips_net, lpips_weights, lpips_heads)
    module = model if isinstance(model, nn.Module) else None
    was_training = module.training if module is not None else None
    translator, model_summary = _as_translator(model, device, dropout)
    mode = test_mode or translator.test_mode
    try:
        if seed is not None and mode == "eval":  # inside: the module's mode is restored below
            # worded for both doors: the command line's --seed and the function's seed=
            raise ValueError(
                f"seed {seed} seeds the paper test mode's dropout, but the model runs in the "
                "eval mode, which has no dropout and no randomness; leave the seed out, or "
                "choose the paper test mode."
            )
        return _evaluate(
            translator,
            model_summary,
            data,
            direction=direction,
            test_mode=mode,
            seed=DEFAULT_SEED if seed is None else seed,
            num_gallery=num_gallery,
            output_dir=None if output_dir is None else Path(output_dir),
            batch_size=batch_size,
            inception_weights=weights,
            lpips_net=lpips_net,
            lpips_files=lpips_files,
            progress=progress,
            save_images=save_images,
            sort=sort,
            worst_first=worst_first,
            gallery_names=gallery_names,
        )
    finally:
        if module is not None:
            module.train(bool(was_training))


def _evaluate(
    translator: Translator,
    model_summary: dict[str, Any],
    data: Any,
    *,
    direction: str | None,
    test_mode: str,
    seed: int,
    num_gallery: int,
    output_dir: Path | None,
    batch_size: int,
    inception_weights: Path | None,
    lpips_net: str = "alex",
    lpips_files: LpipsWeights | None = None,
    progress: bool = False,
    save_images: bool = False,
    sort: str | None = None,
    worst_first: bool = False,
    gallery_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    start = time.perf_counter()
    if isinstance(data, (str, os.PathLike)):
        direction = direction or translator.direction or "AtoB"
        dataset, resolution = _test_dataset(data, translator, direction)
        data_name = str(data)
    else:
        dataset, data_name = data, type(data).__name__
        # a Subset (a held-out split) describes itself through the dataset it wraps
        described = getattr(data, "dataset", data)
        own = getattr(described, "direction", None)
        if direction is not None and own is not None and own != direction:
            raise ValueError(
                f"direction={direction!r} differs from the dataset's direction={own!r}; leave "
                "direction=None for a dataset, or build the dataset with the direction wanted."
            )
        if getattr(described, "train", False):
            raise ValueError(
                "The dataset jitters its images (train=True); evaluate on one built with "
                "train=False so the numbers are repeatable."
            )
        direction = own or direction
        resolution = "as the given dataset returns the images"
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    values: dict[str, list[float]] = {"l1": [], "psnr": [], "ssim": []}
    blur: dict[str, list[float]] = {
        "sharpness": [],
        "hf_deficit_db": [],
        "color_emd": [],
        "checkerboard": [],
    }
    names: list[str] = []
    # every pair's images go to images/ (save_images), else to a scratch folder for the gallery
    scratch = None
    image_dir = None
    if output_dir is not None and (save_images or num_gallery):
        output_dir.mkdir(parents=True, exist_ok=True)
        if save_images:
            image_dir = output_dir / IMAGES_DIR
        else:
            scratch = tempfile.TemporaryDirectory(dir=output_dir, prefix=".gallery-")
            image_dir = Path(scratch.name)
    stems: set[str] = set()
    files: list[dict[str, str]] = []
    bar = tqdm(total=len(dataset), desc="evaluate", unit="pair", disable=not progress)
    inception = InceptionFeatures(inception_weights) if inception_weights else None
    features: dict[str, list[torch.Tensor]] = {"output": [], "target": []}
    lpips_network = LPIPSNetwork(weights=lpips_files).to(translator.device) if lpips_files else None
    lpips_values: list[float] = []
    lpips_skipped = None  # why LPIPS could not be computed for some image
    for batch in loader:
        source, target = batch["source"].float(), batch["target"].float()
        output = _translate(translator, source, test_mode, seed + len(names))
        if output.shape != target.shape:
            raise ValueError(
                f"The generator's output {tuple(output.shape)} does not match the targets "
                f"{tuple(target.shape)}; check the model's out_channels and the direction "
                f"({direction})."
            )
        l1 = metrics.l1(output, target, reduction="none").tolist()
        psnr = metrics.psnr(output, target, reduction="none").tolist()
        if min(output.shape[-2:]) >= _SSIM_MIN_SIDE:
            ssim = metrics.ssim(output, target, reduction="none").tolist()
        else:
            ssim = [math.nan] * len(l1)
        for key, stat in blur_statistics(output, target).items():
            blur[key].extend(stat.tolist())
        blur["checkerboard"].extend(checkerboard(output, target).tolist())
        if lpips_network is not None:
            if min(output.shape[-2:]) >= lpips_network.min_side and output.shape[1] in (1, 3):
                lpips_values.extend(lpips_distance(output, target, lpips_network).tolist())
            else:
                lpips_skipped = (
                    f"not computed: the {lpips_net} backbone needs 1 or 3 channels and "
                    f"{lpips_network.min_side} px a side; got {tuple(output.shape[1:])}."
                )
        paths = batch.get("path") or [str(len(names) + i) for i in range(len(l1))]
        for i, (a, b, c) in enumerate(zip(l1, psnr, ssim)):
            name = Path(paths[i]).name
            names.append(name)
            values["l1"].append(a)
            values["psnr"].append(b)
            values["ssim"].append(c)
            if image_dir is not None:
                stem = pair_stem(name, stems)
                files.append(save_pair_images(image_dir, stem, source[i], output[i], target[i]))
        bar.update(len(l1))
        if inception is not None:
            features["output"].append(inception(output))
            features["target"].append(inception(target))
    bar.close()
    if not names:
        raise ValueError(f"{data_name} holds no pairs to evaluate.")
    mode = test_mode
    result: dict[str, Any] = {
        "mode": mode,
        "mode_note": (
            "paper test mode: dropout on and each image normalised with its own batch "
            f"statistics; pair i uses dropout seed {seed} + i"
            if mode == "paper"
            else "eval mode: no dropout, running batch-norm statistics"
        ),
        "seed": seed if mode == "paper" else None,
        "count": len(names),
        "direction": direction,
        "resolution": resolution,
        "data": data_name,
        "model": model_summary,
    }
    for key, series in values.items():
        tensor = torch.tensor(series, dtype=torch.float64)
        if key == "ssim" and tensor.isnan().any():
            result[key] = result[f"{key}_std"] = None
            continue
        result[key] = float(tensor.mean())
        result[f"{key}_std"] = float(tensor.std()) if len(series) > 1 else 0.0
    for key, stats in blur.items():  # NaN (a flat target's sharpness, a tiny image) is left out
        kept = torch.tensor(stats, dtype=torch.float64)
        kept = kept[~kept.isnan()]
        result[key] = float(kept.mean()) if len(kept) else None
        result[f"{key}_std"] = float(kept.std()) if len(kept) > 1 else 0.0
    result["blur_note"] = BLUR_NOTE
    result["checkerboard_note"] = CHECKERBOARD_NOTE
    result.update(fid_entries(features, inception_weights, len(names)))
    if lpips_skipped is not None:
        lpips_values = []
    result.update(lpips_entries(lpips_values, lpips_files, lpips_net, lpips_skipped))
    result["per_image"] = [
        {"name": n, "l1": a, "psnr": b, "ssim": None if math.isnan(c) else c}
        for n, a, b, c in zip(names, values["l1"], values["psnr"], values["ssim"])
    ]
    for entry, *stats in zip(result["per_image"], *blur.values()):
        entry.update({key: None if math.isnan(v) else v for key, v in zip(blur, stats)})
    if lpips_values:
        for entry, value in zip(result["per_image"], lpips_values):
            entry["lpips"] = value
    result["time_s"] = round(time.perf_counter() - start, 3)
    result["files"] = {}
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        gallery = []
        if image_dir is not None and num_gallery:
            gallery = gallery_rows(
                result["per_image"], files, image_dir, num_gallery, names=gallery_names
            )
            result["gallery"] = [row.name for row in gallery]
        if gallery:
            written = write_gallery(
                gallery,
                output_dir / GALLERY_PNG,
                output_dir / GALLERY_HTML,
                title=f"pix2pix evaluation ({mode})",
                notes=[
                    f"Model: {model_summary['path'] or model_summary['class']}",
                    f"Data: {data_name} ({direction}), {len(names)} pairs; {resolution}.",
                    f"Mode: {mode} ({result['mode_note']}).",
                    f"Mean L1 {result['l1']:.4f}, PSNR {result['psnr']:.2f} dB"
                    + ("" if result["ssim"] is None else f", SSIM {result['ssim']:.4f}"),
                ],
            )
            result["files"] = {key: str(path) for key, path in written.items()}
        if save_images and image_dir is not None:
            pairs = [
                {"name": entry["name"], "files": names_, "metrics": _page_metrics(entry)}
                for entry, names_ in zip(result["per_image"], files)
            ]
            page = write_pairs_page(
                output_dir / PAIRS_HTML,
                pairs,
                images_dir=IMAGES_DIR,
                title=f"pix2pix evaluation ({mode}): every pair",
                notes=[
                    f"Model: {model_summary['path'] or model_summary['class']}",
                    f"Data: {data_name} ({direction}), {len(names)} pairs; {resolution}.",
                ],
                sort=sort,
                worst_first=worst_first,
            )
            result["files"]["pairs"] = str(page)
            result["files"]["images"] = str(image_dir)
        if scratch is not None:
            scratch.cleanup()
        result["files"]["metrics"] = str(output_dir / METRICS_NAME)
        # atomic: an interrupted run never leaves a half-written metrics.json for --gallery-from
        text = json.dumps(json_ready(result), indent=2) + "\n"
        atomic_write_text(output_dir / METRICS_NAME, text)
    return result


def _translate(translator: Translator, source: torch.Tensor, mode: str, seed: int) -> torch.Tensor:
    """A batch's outputs; in the paper mode image ``k`` draws from ``seed + k``."""
    if mode == "eval":
        return translator.translate(source, test_mode="eval").float()
    images = source.split(1)
    return torch.cat(
        [translator.translate(x, test_mode="paper", seed=seed + k) for k, x in enumerate(images)]
    ).float()


def _page_metrics(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A per-image entry's numbers (``None`` and the name left out), for the page."""
    return {
        key: value
        for key, value in entry.items()
        if key != "name" and isinstance(value, (int, float)) and not isinstance(value, bool)
    }
