"""The run record of ``pix2pix train``: ``run_config.json``, and what a resume may change.

``run_config.json`` holds everything that defines a run (data settings, both models' configs,
the TrainerConfig, callbacks); a copy sits in every checkpoint. On ``--resume`` the flags given
again are compared with it: the settings that do not change a step (RESUME_SAFE_FIELDS) are
applied, and any other difference, models included, is refused listing each field with both
values. Runs written before ``run_config.json`` are read from ``trainer_config.json`` and
``train_args.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pix2pix.constants import (
    CHECKPOINTS_DIR,
    CONFIG_NAME,
    RUN_CONFIG_NAME,
    TRAIN_ARGS_NAME,
    TRAINER_CONFIG_NAME,
    TRAINER_STATE_NAME,
)
from pix2pix.models.base import ModelMixin, build_from_config, read_config
from pix2pix.trainer import TrainerConfig
from pix2pix.trainer import checkpoint as ckpt
from pix2pix.trainer.config import RESUME_SAFE_FIELDS

RUN_CONFIG_FORMAT = 1

# data arguments remembered in the run folder for --resume
REMEMBERED = ("data", "val_data", "layout", "flip", "on_bad_image")
# model flags (all default to None, so the CLI knows which ones the user gave)
MODEL_FLAGS = (
    "generator",
    "num_downs",
    "base_channels",
    "discriminator",
    "disc_channels",
    "n_layers_d",
    "num_d",
    "norm",
    "dropout",
    "in_channels",
    "out_channels",
)


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``, with errors that name the file."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist.")
    try:
        value = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{path} is not valid JSON ({error}); restore it, or delete it and pass the "
            "settings as flags."
        ) from None
    if not isinstance(value, dict):
        raise ValueError(
            f"{path} must hold a JSON object, not {type(value).__name__}; restore it, or delete "
            "it and pass the settings as flags."
        )
    return value


def run_and_checkpoint(resume: str) -> tuple[Path, Path]:
    """``(run folder, checkpoint folder)`` for ``--resume`` (a run or one of its checkpoints)."""
    path = Path(resume)
    if (path / TRAINER_STATE_NAME).is_file() and path.parent.name == CHECKPOINTS_DIR:
        return path.parent.parent, path
    if not path.is_dir():
        raise FileNotFoundError(f"--resume {path}: no such run folder.")
    return path, ckpt.resolve_checkpoint("latest", path)


def saved_models(checkpoint: Path) -> tuple[ModelMixin, ModelMixin]:
    generator = build_from_config(read_config(checkpoint / "generator" / CONFIG_NAME))
    discriminator = build_from_config(read_config(checkpoint / "discriminator" / CONFIG_NAME))
    return generator, discriminator


def model_flag_changes(
    args: argparse.Namespace, generator: ModelMixin, discriminator: ModelMixin
) -> list[str]:
    """The model flags given on a resume that differ from the checkpoint's models."""
    g, d = generator.config, discriminator.config
    g_type = type(generator).__name__
    if g_type == "UNetGenerator":
        g_name = {8: "unet_256", 7: "unet_128"}.get(g.get("num_downs", 0), "unet (custom)")
    else:
        g_name = {9: "resnet_9blocks", 6: "resnet_6blocks"}.get(g.get("n_blocks", 0), "resnet")
    if type(discriminator).__name__ == "PixelDiscriminator":
        d_name = "pixel"
    elif type(discriminator).__name__ == "MultiScaleDiscriminator":
        d_name = "multiscale"
    else:
        d_name = "basic" if d.get("n_layers") == 3 else "n_layers"
    saved = {
        "generator": g_name,
        "num_downs": g.get("num_downs"),
        "base_channels": g.get("base_channels"),
        "discriminator": d_name,
        "disc_channels": d.get("base_channels"),
        "n_layers_d": d.get("n_layers"),
        "num_d": d.get("num_d"),
        "norm": g.get("norm"),
        "dropout": g.get("dropout"),
        "in_channels": g.get("in_channels"),
        "out_channels": g.get("out_channels"),
    }
    changes = []
    for key in MODEL_FLAGS:
        given = getattr(args, key, None)
        if given is not None and given != saved[key]:
            flag = "--" + key.replace("_", "-")
            changes.append(f"{flag}: {saved[key]!r} -> {given!r}")
    return changes


def resume_settings(args: argparse.Namespace, run_dir: Path, checkpoint: Path) -> TrainerConfig:
    """The saved config of a run, with the flags given on this command checked against it."""
    record_path = run_dir / RUN_CONFIG_NAME
    state_copy = checkpoint / RUN_CONFIG_NAME
    record: dict[str, Any] = {}
    for candidate in (record_path, state_copy):
        if candidate.is_file():
            try:
                record = read_json(candidate)
            except ValueError as error:
                print(f"pix2pix train: warning: {error}; using the copy in the checkpoint.")
                continue
            break
    if record:
        saved_trainer = record.get("trainer", {})
        saved_data = record.get("data", {})
    else:  # a run written before run_config.json existed
        legacy = run_dir / TRAINER_CONFIG_NAME
        saved_trainer = read_json(legacy) if legacy.is_file() else {}
        old_args = run_dir / TRAIN_ARGS_NAME
        saved_data = read_json(old_args) if old_args.is_file() else {}
    for key, value in saved_data.items():
        if key in REMEMBERED and getattr(args, key, None) is None:
            setattr(args, key, value)
    given = {k[4:]: v for k, v in vars(args).items() if k.startswith("cfg_")}
    base = TrainerConfig.from_dict(saved_trainer)
    refused = {
        key: (getattr(base, key), value)
        for key, value in given.items()
        if key not in RESUME_SAFE_FIELDS and getattr(base, key) != value
    }
    model_changes = model_flag_changes(args, *saved_models(checkpoint))
    if refused or model_changes or args.preset or args.config:
        listed = [
            f"--{k.replace('_', '-')}: {old!r} -> {new!r}" for k, (old, new) in refused.items()
        ]
        listed += model_changes
        if args.preset or args.config:
            listed.append("--preset/--config: a resumed run keeps its own settings")
        raise ValueError(
            f"--resume {args.resume}: these differ from the run's checkpoint: "
            f"{'; '.join(listed)}. A resumed run keeps its models and the settings that change "
            f"a step; only {', '.join(RESUME_SAFE_FIELDS)} may change. Drop those flags, or "
            f"start a new run: pix2pix train --config {run_dir / RUN_CONFIG_NAME} --output NEW."
        )
    return base.replace(**given) if given else base


def recorded_value(run_dir: Path, key: str) -> Any:
    """``run_config.json``'s ``key`` (``None`` when the file or the key is missing)."""
    path = run_dir / RUN_CONFIG_NAME
    try:
        return json.loads(path.read_text()).get(key) if path.is_file() else None
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return None


def callback_specs(args: argparse.Namespace, run_dir: Path | None) -> list[str]:
    """The ``--callback`` names of this run: a resumed run's recorded ones, then those given."""
    recorded = recorded_value(run_dir, "callbacks") if run_dir is not None else None
    specs = [str(s) for s in recorded] if isinstance(recorded, list) else []
    return list(dict.fromkeys([*specs, *(getattr(args, "callbacks", None) or [])]))


def flag_change(key: str, old: Any, new: Any) -> str:
    return f"--{key.replace('_', '-')}: {old!r} -> {new!r}"
