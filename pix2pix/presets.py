"""Named training recipes as plain data: the paper's, a measured improvement, and ablations.

A preset names the generator and discriminator arguments and the :class:`TrainerConfig` fields
that define a recipe; :func:`build_preset` turns one into models and a config for a given image
size. The architecture follows the size the way the paper does: a U-Net with a 1x1 bottleneck
(``unet_256`` at 256 px, ``unet_128`` at 128 px) and the 70x70 PatchGAN, with the jitter
``load_size = round(size * 286 / 256)`` -> ``crop_size = size`` (286 -> 256, 143 -> 128).

* ``"paper"``: exactly the paper's and the reference implementation's defaults.
* ``"lsgan-ema"`` (:data:`IMPROVED_PRESET`): the least-squares GAN loss (Mao et al. 2017; used
  by CycleGAN and pix2pixHD) and an exponential moving average of the generator's weights
  (Yazıcı et al. 2019), both of which need no change to the models. How it was measured and
  what it scored is on the "Quality results" docs page (``docs/src/results.md``), produced by
  ``benchmarks/quality.py``: numbers live there, not in docstrings, so they cannot go stale.
* :data:`ABLATIONS` hold one change each from ``"paper"`` (``"lsgan"``, ``"ema"``,
  ``"hinge-sn"``: hinge loss with a spectrally normalised discriminator, Miyato et al. 2018,
  and ``"ttur"``: separate learning rates for G and D, Heusel et al. 2017), so
  the ablation table can say which part of a recipe helps; and pix2pixHD's discriminator side
  on top of ``"lsgan-ema"`` (Wang et al. 2018): ``"lsgan-ema-msd"`` (the multi-scale
  discriminator), ``"lsgan-ema-fm"`` (feature matching) and ``"lsgan-ema-msd-fm"`` (both);
  and the paper with resize-convolution up-sampling in the generator instead of transposed
  convolutions (Odena et al. 2016): ``"paper-nearest"`` and ``"paper-bilinear"``.
  Each side names its model in the registry (``"model": "unet_256"``, ``"multiscale"``: see
  :func:`pix2pix.models.create_model`) beside its arguments.

Each preset also names the test mode its models record (``"test_mode"``, see
:mod:`pix2pix.inference.modes`): a model trained with ``pix2pix train --preset NAME`` is
translated in that mode by default (from Python, set ``trainer.run_info["test_mode"]``). It
was measured for ``"paper"`` (the "Quality results" page); the variants keep the paper's.

Examples:
    >>> from pix2pix.presets import build_preset
    >>> generator, discriminator, config = build_preset("paper", size=128)
    >>> generator.config["num_downs"], config.load_size, config.crop_size, config.gan_mode
    (7, 143, 128, 'vanilla')
"""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any

from torch import nn

from pix2pix.models import create_model
from pix2pix.trainer.config import TrainerConfig

__all__ = ["ABLATIONS", "IMPROVED_PRESET", "PRESETS", "build_preset", "get_preset", "preset_names"]

#: The paper's recipe (section 4 and the appendix; the reference implementation's defaults).
_PAPER: dict[str, Any] = {
    "description": (
        "The paper: U-Net (1x1 bottleneck, batch norm, dropout 0.5), 70x70 PatchGAN, vanilla "
        "GAN loss + 100 x L1, Adam 2e-4 (0.5, 0.999) for both networks, batch size 1, "
        "100 epochs then 100 of linear decay."
    ),
    "status": "paper",
    # the test mode the trained model records, the paper's (section 3.3) and the canonical
    # test.py's: measured against eval on facades, see docs/src/results.md
    "test_mode": "paper",
    "generator": {"model": "unet_256", "base_channels": 64, "norm": "batch", "dropout": 0.5},
    "discriminator": {"model": "patchgan", "base_channels": 64, "n_layers": 3, "norm": "batch"},
    "trainer": {
        "batch_size": 1,
        "lr": 2e-4,
        "beta1": 0.5,
        "beta2": 0.999,
        "lambda_l1": 100.0,
        "gan_mode": "vanilla",
        "lr_policy": "linear",
        "epochs": 100,
        "epochs_decay": 100,
        "ema_decay": None,
        "preprocess": "resize_and_crop",
    },
}


def _variant(description: str, status: str, **changes: dict[str, Any]) -> dict[str, Any]:
    """``"paper"`` with some generator/discriminator/trainer fields changed."""
    preset = copy.deepcopy(_PAPER)
    preset["description"], preset["status"] = description, status
    for part, fields in changes.items():
        preset[part].update(fields)
    return preset


#: The name of the improved preset (measured: see docs/src/results.md).
IMPROVED_PRESET = "lsgan-ema"

#: The recipes offered to users: ``"paper"`` and the improved preset.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": _PAPER,
    IMPROVED_PRESET: _variant(
        "Improved: the paper's recipe with the least-squares GAN loss and an EMA of the "
        "generator weights (decay 0.995, a ~200-step horizon); the exported generator is the EMA "
        "copy. Measured against 'paper': see the Quality results docs page.",
        "improved",
        trainer={"gan_mode": "lsgan", "ema_decay": 0.995},
    ),
}

#: One change each from ``"paper"``, for the ablation table of ``benchmarks/quality.py``.
ABLATIONS: dict[str, dict[str, Any]] = {
    "lsgan": _variant(
        "Ablation: the paper with the least-squares GAN loss.",
        "ablation",
        trainer={"gan_mode": "lsgan"},
    ),
    "ema": _variant(
        "Ablation: the paper with an EMA of the generator weights (decay 0.995).",
        "ablation",
        trainer={"ema_decay": 0.995},
    ),
    "hinge-sn": _variant(
        "Ablation: the paper with the hinge loss and spectral norm on every discriminator "
        "convolution (batch norm kept).",
        "ablation",
        discriminator={"spectral_norm": True},
        trainer={"gan_mode": "hinge"},
    ),
    "ttur": _variant(
        "Ablation: the paper with the two time-scale update rule: generator lr 1e-4, "
        "discriminator lr 4e-4 (Heusel et al. 2017; the split SAGAN and SPADE use).",
        "ablation",
        trainer={"lr": 1e-4, "lr_d": 4e-4},
    ),
    # pix2pixHD's discriminator side, on top of lsgan-ema (pix2pixHD trains with LSGAN)
    "lsgan-ema-msd": _variant(
        "Ablation: lsgan-ema with pix2pixHD's multi-scale discriminator (three 70x70 "
        "PatchGANs at full, 1/2 and 1/4 resolution, each its own weights).",
        "ablation",
        discriminator={"model": "multiscale", "num_d": 3},
        trainer={"gan_mode": "lsgan", "ema_decay": 0.995},
    ),
    "lsgan-ema-fm": _variant(
        "Ablation: lsgan-ema with pix2pixHD's discriminator feature matching (lambda_feat 10) "
        "on the single 70x70 PatchGAN (a MultiScaleDiscriminator with num_d=1).",
        "ablation",
        discriminator={"model": "multiscale", "num_d": 1},
        trainer={"gan_mode": "lsgan", "ema_decay": 0.995, "lambda_feat": 10.0},
    ),
    "lsgan-ema-msd-fm": _variant(
        "Ablation: lsgan-ema with pix2pixHD's discriminator side: the three-scale "
        "discriminator and feature matching (lambda_feat 10).",
        "ablation",
        discriminator={"model": "multiscale", "num_d": 3},
        trainer={"gan_mode": "lsgan", "ema_decay": 0.995, "lambda_feat": 10.0},
    ),
    # the checkerboard remedy: resize, then a 3x3 convolution, in every decoder block
    "paper-nearest": _variant(
        "Ablation: the paper with resize-convolution up-sampling in the generator: "
        "nearest-neighbour 2x, then a 3x3 convolution, instead of each transposed convolution "
        "(Odena et al. 2016: no period-2 checkerboard from the layer itself).",
        "ablation",
        generator={"upsample": "nearest"},
    ),
    "paper-bilinear": _variant(
        "Ablation: the paper with resize-convolution up-sampling in the generator: bilinear "
        "2x, then a 3x3 convolution, instead of each transposed convolution.",
        "ablation",
        generator={"upsample": "bilinear"},
    ),
}


def preset_names() -> tuple[str, ...]:
    """Every name :func:`build_preset` accepts: :data:`PRESETS`, then :data:`ABLATIONS`.

    Examples:
        >>> preset_names()[:2]
        ('paper', 'lsgan-ema')
    """
    return (*PRESETS, *ABLATIONS)


def get_preset(name: str) -> dict[str, Any]:
    """The plain-data recipe named ``name`` (the stored dict itself: do not modify it).

    It holds ``description``, ``status``, ``test_mode`` (the mode its trained models record)
    and the ``generator``, ``discriminator`` and ``trainer`` arguments the recipe sets.

    Raises:
        ValueError: For a name that is not in :data:`PRESETS` or :data:`ABLATIONS`.

    Examples:
        >>> get_preset("lsgan-ema")["trainer"]["gan_mode"]
        'lsgan'
    """
    if name in PRESETS:
        return PRESETS[name]
    if name in ABLATIONS:
        return ABLATIONS[name]
    raise ValueError(f"Unknown preset {name!r}; choose one of {preset_names()}.")


def _build(name: str, kwargs: dict[str, Any]) -> nn.Module:
    try:
        return create_model(name, **kwargs)
    except ValueError as error:  # an unknown argument in generator={...} / discriminator={...}
        raise ValueError(f"Bad {name} override: {error}") from None


def build_preset(
    name: str,
    *,
    size: int = 256,
    in_channels: int = 3,
    out_channels: int = 3,
    **overrides: Any,
) -> tuple[nn.Module, nn.Module, TrainerConfig]:
    """Build the generator, discriminator and trainer config of a named preset.

    The U-Net gets ``num_downs = log2(size)`` (a 1x1 bottleneck, as ``unet_256``/``unet_128``);
    the config gets ``crop_size = size`` and ``load_size = round(size * 286 / 256)``. Models are
    freshly initialised from the global torch RNG (seed it first for repeatable weights).

    Args:
        name: A key of :data:`PRESETS` or :data:`ABLATIONS`.
        size: Training resolution, a power of two >= 32 (256 in the paper, 128 for unet_128).
        in_channels: Channels of the source images.
        out_channels: Channels of the target images.
        **overrides: :class:`TrainerConfig` fields (``epochs=5``, ``output_dir="runs/x"``,
            ``direction="BtoA"``, ...), and ``generator={...}`` / ``discriminator={...}`` to
            change model arguments (e.g. ``base_channels``).

    Returns:
        ``(generator, discriminator, config)``.

    Raises:
        ValueError: For an unknown preset or override, or a size that is not a power of two
            >= 32.

    Examples:
        >>> g, d, config = build_preset("lsgan-ema", size=64, generator={"base_channels": 8})
        >>> config.gan_mode, config.ema_decay, g.config["base_channels"]
        ('lsgan', 0.995, 8)
    """
    preset = get_preset(name)
    if isinstance(size, bool) or not isinstance(size, int) or size < 32 or size & (size - 1):
        raise ValueError(
            f"size={size!r} must be a power of two >= 32 (the U-Net halves the image down to "
            "1x1 and the PatchGAN needs 32 px); use 256 (paper) or 128 (unet_128)."
        )
    # later keys win: the preset's, then the caller's (which may even change num_downs)
    generator_args = {**preset["generator"], **overrides.pop("generator", {})}
    discriminator_args = {**preset["discriminator"], **overrides.pop("discriminator", {})}
    fields = {f.name for f in dataclasses.fields(TrainerConfig)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(
            f"Unknown override(s) {unknown} for build_preset; pass TrainerConfig fields "
            f"({', '.join(sorted(fields))}) or generator={{...}} / discriminator={{...}}."
        )
    shape = {"in_channels": in_channels, "out_channels": out_channels}
    g_name, d_name = generator_args.pop("model"), discriminator_args.pop("model")
    generator = _build(g_name, {**shape, "num_downs": int(math.log2(size)), **generator_args})
    discriminator = _build(
        d_name, {"in_channels": in_channels + out_channels, **discriminator_args}
    )
    trainer_args = {
        **preset["trainer"],
        "load_size": round(size * 286 / 256),
        "crop_size": size,
        **overrides,
    }
    return generator, discriminator, TrainerConfig(**trainer_args)
