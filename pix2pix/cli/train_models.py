"""The models of ``pix2pix train``: registry names and flags turned into ``create_model`` calls.

``--generator`` and ``--discriminator`` take the names of :func:`pix2pix.models.list_models`;
the width, depth, norm, dropout and up-sampling flags become keyword overrides. A flag the
chosen model does not take is one clear error naming the flag and the model, not a
``TypeError``. A preset names its models and their settings too; flags override them.
"""

from __future__ import annotations

import argparse
import inspect
from typing import Any

import torch

from pix2pix.models import create_model, list_models
from pix2pix.models.base import ModelMixin
from pix2pix.nn.blocks import UPSAMPLE_CHOICES
from pix2pix.presets import get_preset

# flag -> constructor argument, for each side (all flags default to None: "not given")
GENERATOR_FLAGS = {
    "num_downs": "num_downs",
    "base_channels": "base_channels",
    "norm": "norm",
    "dropout": "dropout",
    "upsample": "upsample",
}
DISCRIMINATOR_FLAGS = {
    "disc_channels": "base_channels",
    "n_layers_d": "n_layers",
    "num_d": "num_d",
    "norm": "norm",
}
#: Constructor arguments that a saved config leaves out while at their default
#: (``config_omit_defaults``): a config without the key had this value.
OMITTED_DEFAULTS = {"upsample": "transpose"}
#: Every model flag (the CLI knows which ones the user gave: they default to None).
MODEL_FLAGS = (
    "generator",
    "discriminator",
    *dict.fromkeys([*GENERATOR_FLAGS, *DISCRIMINATOR_FLAGS]),
    "in_channels",
    "out_channels",
)


def add_model_flags(group: argparse._ArgumentGroup) -> None:
    """The ``models`` flags of ``pix2pix train``."""
    group.add_argument(
        "--generator",
        choices=list_models("generator"),
        default=None,
        help="generator architecture (default: the preset's, unet_256)",
    )
    group.add_argument(
        "--num-downs",
        type=int,
        default=None,
        help="U-Net down-samplings, overriding the architecture's (8 or 7)",
    )
    group.add_argument("--base-channels", type=int, default=None, help="generator width (64)")
    group.add_argument(
        "--discriminator",
        choices=list_models("discriminator"),
        default=None,
        help="patchgan = the paper's 70x70 PatchGAN (--n-layers-d changes the patch); pixel = "
        "1x1; multiscale = pix2pixHD's --num-d PatchGANs at full, 1/2, 1/4... resolution "
        "(default: the preset's, patchgan)",
    )
    group.add_argument(
        "--disc-channels", type=int, default=None, help="discriminator width (ndf, 64)"
    )
    group.add_argument(
        "--n-layers-d", type=int, default=None, help="stride-2 layers of each PatchGAN (3)"
    )
    group.add_argument(
        "--num-d",
        type=int,
        default=None,
        help="scales of --discriminator multiscale (3; 1 = one PatchGAN that returns features)",
    )
    group.add_argument(
        "--norm",
        choices=["batch", "instance", "none"],
        default=None,
        help="normalisation of both networks (default: the generator's own, batch for U-Net, "
        "instance for ResNet)",
    )
    group.add_argument(
        "--dropout",
        type=float,
        default=None,
        help="generator dropout (default 0.5 for U-Net, 0 for ResNet)",
    )
    group.add_argument(
        "--upsample",
        choices=list(UPSAMPLE_CHOICES),
        default=None,
        help="how the generator's decoder doubles the resolution: transpose = the paper's "
        "stride-2 transposed convolution (default; leaves a period-2 checkerboard), nearest or "
        "bilinear = resize, then a 3x3 convolution (no checkerboard from the layer; unet_256 "
        "39.2M parameters instead of 54.4M, ResNet the same)",
    )


def _chosen(args: argparse.Namespace, side: str) -> tuple[str, dict[str, Any], str | None]:
    """The model name for ``side``, the preset's settings that go with it, and the preset
    model it replaces (``None`` when it replaces none).

    A preset names both models; ``--generator``/``--discriminator`` naming another replaces
    the preset's model and its settings.
    """
    preset = getattr(args, "preset", None)
    settings = dict(get_preset(preset)[side]) if preset else {}
    preset_model = settings.pop("model", None) or DEFAULTS[side]
    chosen = getattr(args, side, None)
    if chosen is None or chosen == preset_model:
        return preset_model, settings, None
    return chosen, {}, preset_model if settings else None


def model_names(args: argparse.Namespace) -> dict[str, str]:
    """``{"generator": name, "discriminator": name}``: the registry names a new run builds."""
    return {side: _chosen(args, side)[0] for side in DEFAULTS}


def _say_replaced(args: argparse.Namespace, side: str, name: str, replaced: str | None) -> None:
    if replaced is None:
        return
    settings = {k: v for k, v in get_preset(args.preset)[side].items() if k != "model"}
    listed = ", ".join(f"{k}={v}" for k, v in settings.items())
    print(
        f"pix2pix train: --{side} {name} replaces --preset {args.preset}'s {replaced} and its "
        f"settings ({listed})."
    )


#: The models of a run that names neither a preset nor a model: the paper's.
DEFAULTS = {"generator": "unet_256", "discriminator": "patchgan"}


def _create(name: str, overrides: dict[str, Any], given: dict[str, str], side: str) -> ModelMixin:
    """``create_model(name, **overrides)``; an argument the model lacks names its flag."""
    with torch.device("meta"):  # the class and its arguments, without allocating anything
        accepted = inspect.signature(type(create_model(name)).__init__).parameters
    for key in overrides:
        if key not in accepted:
            source = given.get(key, f"{key}=...")
            raise ValueError(
                f"{source} does not apply to the {name} {side}, which takes "
                f"{', '.join(p for p in accepted if p != 'self')}."
            )
    return create_model(name, **overrides)


def _overrides(
    args: argparse.Namespace, settings: dict[str, Any], flags: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The preset's settings with the given flags over them, and where each one came from."""
    preset = getattr(args, "preset", None)
    given = {key: f"--preset {preset} (its {key})" for key in settings}
    overrides = dict(settings)
    for flag, key in flags.items():
        value = getattr(args, flag, None)
        if value is not None:
            overrides[key] = value
            given[key] = f"--{flag.replace('_', '-')}"
    return overrides, given


def build_generator(args: argparse.Namespace, in_channels: int, out_channels: int) -> ModelMixin:
    """The generator that ``--generator`` (or the preset) names, with the model flags."""
    name, settings, replaced = _chosen(args, "generator")
    _say_replaced(args, "generator", name, replaced)
    overrides, given = _overrides(args, settings, GENERATOR_FLAGS)
    overrides.update(in_channels=in_channels, out_channels=out_channels)
    return _create(name, overrides, given, "generator")


def build_discriminator(
    args: argparse.Namespace, in_channels: int, generator_norm: str | None = None
) -> ModelMixin:
    """The discriminator that ``--discriminator`` (or the preset) names, with the model flags.

    Its norm is ``--norm``, else the preset's, else the generator's (``generator_norm``).
    """
    name, settings, replaced = _chosen(args, "discriminator")
    _say_replaced(args, "discriminator", name, replaced)
    if generator_norm is not None:
        settings.setdefault("norm", generator_norm)
    overrides, given = _overrides(args, settings, DISCRIMINATOR_FLAGS)
    overrides["in_channels"] = in_channels
    return _create(name, overrides, given, "discriminator")


def model_flag_changes(args: argparse.Namespace, record: dict[str, Any]) -> dict[str, Any]:
    """The model flags given to ``--resume`` that differ from the run's models.

    ``{"--flag": (recorded, given)}``. A model name is compared with the registry name the run
    recorded (or, for a run built from Python, with its class); every other flag with the
    recorded constructor argument it sets.
    """
    info = record.get("info") or {}
    changes: dict[str, Any] = {}
    sides = (("generator", GENERATOR_FLAGS), ("discriminator", DISCRIMINATOR_FLAGS))
    for side, flags in sides:
        saved = record[side]
        chosen = getattr(args, side, None)
        if chosen is not None:
            if info.get(side) is not None:
                recorded = info[side]
                if chosen != recorded:
                    changes[f"--{side}"] = (recorded, chosen)
            else:
                with torch.device("meta"):
                    built = type(create_model(chosen)).__name__
                if built != saved.get("model_type"):
                    changes[f"--{side}"] = (saved.get("model_type"), chosen)
        for flag, key in flags.items():
            value = getattr(args, flag, None)
            recorded = saved.get(key, OMITTED_DEFAULTS.get(key))
            if value is not None and recorded != value:
                changes[f"--{flag.replace('_', '-')}"] = (recorded, value)
    for flag in ("in_channels", "out_channels"):
        value = getattr(args, flag, None)
        if value is not None and record["generator"].get(flag) != value:
            changes[f"--{flag.replace('_', '-')}"] = (record["generator"].get(flag), value)
    return changes
