"""``pix2pix train``: train on a paired dataset folder, with a flag for every TrainerConfig field.

Settings are layered: TrainerConfig defaults, then ``--preset NAME`` or ``--config FILE``
(JSON), then the flags given on the command line. ``--resume runs/NAME`` continues the run in
that folder from its newest checkpoint with the same data and models (flags given again
override, e.g. a longer schedule)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any

from pix2pix.models import PatchGANDiscriminator, PixelDiscriminator, ResNetGenerator, UNetGenerator
from pix2pix.models.base import CONFIG_NAME, ModelMixin, build_from_config, read_config
from pix2pix.presets import get_preset, preset_names
from pix2pix.trainer import Trainer, TrainerConfig
from pix2pix.trainer import checkpoint as ckpt
from pix2pix.trainer.config import FIELD_CHOICES
from pix2pix.trainer.distributed import cleanup_distributed
from pix2pix.trainer.rng import seed_everything

GENERATORS = ("unet_256", "unet_128", "resnet_9blocks", "resnet_6blocks")
DISCRIMINATORS = ("basic", "n_layers", "pixel")
RUN_ARGS_NAME = "train_args.json"
# config fields whose flag is spelled differently (the rest are --field-name)
_FLAG_NAMES = {"output_dir": ("--output", "--output-dir")}
# data and model arguments remembered in the run folder for --resume
_REMEMBERED = ("data", "val_data", "layout", "flip")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    parser = subparsers.add_parser(
        "train",
        help="train a pix2pix model on a paired dataset",
        description="Train a generator and a PatchGAN discriminator on paired images (A|B "
        "side-by-side files, or A/ and B/ folders). Checkpoints, samples, metrics.jsonl and the "
        "final model (OUTPUT/final, for `pix2pix translate --model`) go to --output.",
    )
    data = parser.add_argument_group("data")
    data.add_argument("--data", help="training folder (e.g. facades/train)")
    data.add_argument("--val-data", help="validation folder (metrics and sample grids)")
    data.add_argument(
        "--layout",
        choices=["auto", "aligned", "folders"],
        default=None,
        help="aligned A|B files or A/ and B/ folders (default: auto)",
    )
    data.add_argument(
        "--no-flip",
        dest="flip",
        action="store_false",
        default=None,
        help="no random horizontal flips",
    )
    data.add_argument("--in-channels", type=int, default=None, help="source channels (3)")
    data.add_argument("--out-channels", type=int, default=None, help="target channels (3)")
    model = parser.add_argument_group("models")
    model.add_argument(
        "--generator",
        choices=GENERATORS,
        default="unet_256",
        help="generator architecture (default unet_256)",
    )
    model.add_argument(
        "--num-downs",
        type=int,
        default=None,
        help="U-Net down-samplings, overriding the architecture's (8 or 7)",
    )
    model.add_argument("--base-channels", type=int, default=64, help="generator width (ngf)")
    model.add_argument(
        "--discriminator",
        choices=DISCRIMINATORS,
        default="basic",
        help="basic = 70x70 PatchGAN; n_layers uses --n-layers-d; pixel = 1x1",
    )
    model.add_argument("--disc-channels", type=int, default=64, help="discriminator width (ndf)")
    model.add_argument("--n-layers-d", type=int, default=3, help="PatchGAN layers for n_layers")
    model.add_argument(
        "--norm",
        choices=["batch", "instance", "none"],
        default=None,
        help="normalisation of both networks (default: batch, instance for ResNet)",
    )
    model.add_argument(
        "--dropout",
        type=float,
        default=None,
        help="generator dropout (default 0.5 for U-Net, 0 for ResNet)",
    )
    run = parser.add_argument_group("run")
    run.add_argument(
        "--preset",
        choices=preset_names(),
        default=None,
        help="a named recipe (pix2pix.presets): its trainer settings and discriminator options; "
        "flags given here override them (default: the paper's settings)",
    )
    run.add_argument("--config", help="TrainerConfig JSON; flags given here override it")
    run.add_argument(
        "--resume", metavar="RUN", help="continue the run in this folder from its newest checkpoint"
    )
    config = parser.add_argument_group("trainer settings (TrainerConfig fields)")
    add_config_flags(config)
    parser.set_defaults(func=run_train)


def add_config_flags(group: argparse._ArgumentGroup) -> None:
    """One flag per TrainerConfig field, generated from the dataclass (help = its comment)."""
    help_ = TrainerConfig.field_help()
    hints = typing.get_type_hints(TrainerConfig)
    defaults = TrainerConfig()
    for field in dataclasses.fields(TrainerConfig):
        flags = _FLAG_NAMES.get(field.name, ("--" + field.name.replace("_", "-"),))
        hint = hints[field.name]
        default = getattr(defaults, field.name)
        text = f"{help_.get(field.name, '')} (default: {default})"
        kwargs: dict[str, Any] = {"dest": f"cfg_{field.name}", "default": argparse.SUPPRESS}
        if hint is bool:
            group.add_argument(*flags, action=argparse.BooleanOptionalAction, help=text, **kwargs)
            continue
        optional = isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
        base = next(a for a in typing.get_args(hint) if a is not type(None)) if optional else hint
        if field.name in FIELD_CHOICES:
            kwargs["choices"] = FIELD_CHOICES[field.name]
        else:
            kwargs["metavar"] = field.name.upper()
        group.add_argument(*flags, type=_parser(base, optional), help=text, **kwargs)


def _parser(kind: type, optional: bool) -> Any:
    def parse(text: str) -> Any:
        if optional and text.lower() in ("none", "null", "off"):
            return None
        return kind(text)

    parse.__name__ = kind.__name__  # argparse names the type in "invalid int value" errors
    return parse


def config_from_args(args: argparse.Namespace, base: TrainerConfig | None = None) -> TrainerConfig:
    """Layer ``--preset`` or ``--config``, then the given flags, over ``base``.

    ``base`` defaults to ``TrainerConfig()``; a preset changes only the fields it names.
    """
    config = base or TrainerConfig()
    preset = getattr(args, "preset", None)
    if preset and getattr(args, "config", None):
        raise ValueError(
            f"--preset {preset} and --config {args.config} both set the trainer settings; use "
            "one (flags override either)."
        )
    if preset:
        config = config.replace(**get_preset(preset)["trainer"])
    if getattr(args, "config", None):
        config = TrainerConfig.load(args.config)
    given = {k[4:]: v for k, v in vars(args).items() if k.startswith("cfg_")}
    return config.replace(**given) if given else config


def build_generator(args: argparse.Namespace, in_channels: int, out_channels: int) -> ModelMixin:
    """The generator named by ``--generator`` with the width, norm and dropout flags."""
    if args.generator.startswith("unet"):
        num_downs = args.num_downs or (8 if args.generator == "unet_256" else 7)
        return UNetGenerator(
            in_channels=in_channels,
            out_channels=out_channels,
            base_channels=args.base_channels,
            num_downs=num_downs,
            norm=args.norm or "batch",
            dropout=0.5 if args.dropout is None else args.dropout,
        )
    if args.num_downs is not None:
        raise ValueError(f"--num-downs applies to U-Net generators, not {args.generator}.")
    return ResNetGenerator(
        in_channels=in_channels,
        out_channels=out_channels,
        base_channels=args.base_channels,
        n_blocks=9 if args.generator == "resnet_9blocks" else 6,
        norm=args.norm or "instance",
        dropout=args.dropout or 0.0,
    )


def build_discriminator(args: argparse.Namespace, in_channels: int) -> ModelMixin:
    """The discriminator named by ``--discriminator`` (it sees source and target channels)."""
    norm = args.norm or ("instance" if args.generator.startswith("resnet") else "batch")
    preset = getattr(args, "preset", None)
    spectral_norm = bool(preset and get_preset(preset)["discriminator"].get("spectral_norm"))
    if args.discriminator == "pixel":
        if spectral_norm:
            raise ValueError(
                f"--preset {preset} puts spectral norm on the discriminator, which the pixel "
                "discriminator does not support; use --discriminator basic or n_layers."
            )
        return PixelDiscriminator(in_channels, base_channels=args.disc_channels, norm=norm)
    n_layers = 3 if args.discriminator == "basic" else args.n_layers_d
    return PatchGANDiscriminator(
        in_channels,
        base_channels=args.disc_channels,
        n_layers=n_layers,
        norm=norm,
        spectral_norm=spectral_norm,
    )


def _check_crop(config: TrainerConfig, multiple: int, generator: str) -> None:
    if "crop" in config.preprocess and config.crop_size % multiple:
        raise ValueError(
            f"crop_size={config.crop_size} is not a multiple of {multiple}, which {generator} "
            f"needs; pass --crop-size {max(multiple, config.crop_size // multiple * multiple)} "
            "or choose another --generator / --num-downs."
        )


def _models_from_checkpoint(run_dir: Path) -> tuple[ModelMixin, ModelMixin]:
    folder = ckpt.resolve_checkpoint("latest", run_dir)
    generator = build_from_config(read_config(folder / "generator" / CONFIG_NAME))
    discriminator = build_from_config(read_config(folder / "discriminator" / CONFIG_NAME))
    return generator, discriminator


def run_train(args: argparse.Namespace) -> int:
    """Build data, models and trainer from ``args``; train; return the exit code."""
    from pix2pix.data import PairedImageDataset  # the data stack is only needed here

    base = None
    if args.resume:
        run_dir = Path(args.resume)
        if not run_dir.is_dir():
            raise FileNotFoundError(f"--resume {run_dir}: no such run folder.")
        saved_config = run_dir / ckpt.CONFIG_NAME
        base = TrainerConfig.load(saved_config) if saved_config.is_file() else None
        remembered = run_dir / RUN_ARGS_NAME
        if remembered.is_file():
            for key, value in json.loads(remembered.read_text()).items():
                if getattr(args, key, None) is None:
                    setattr(args, key, value)
        if getattr(args, "cfg_output_dir", str(run_dir)) != str(run_dir):
            raise ValueError(
                f"--output {args.cfg_output_dir} differs from --resume {run_dir}; a resumed run "
                "continues in its own folder (drop --output)."
            )
        args.cfg_output_dir = str(run_dir)
    elif not hasattr(args, "cfg_output_dir") and not args.config:
        raise ValueError("pass --output runs/NAME (the run folder) or --resume runs/NAME.")
    config = config_from_args(args, base)
    if not args.data:
        raise ValueError("pass --data DIR, the training folder (e.g. facades/train).")

    # seeded before the models are built, so their initial weights are reproducible too
    seed_everything(config.seed)
    if args.resume:
        generator, discriminator = _models_from_checkpoint(Path(args.resume))
    else:
        generator = build_generator(args, args.in_channels or 3, args.out_channels or 3)
        discriminator = build_discriminator(
            args, (args.in_channels or 3) + (args.out_channels or 3)
        )
    in_channels = generator.config["in_channels"]
    out_channels = generator.config["out_channels"]
    multiple = int(getattr(generator, "size_multiple", 4))
    _check_crop(config, multiple, args.generator)
    dataset_args: dict[str, Any] = dict(
        direction=config.direction,
        layout=args.layout or "auto",
        preprocess=config.preprocess,
        load_size=config.load_size,
        crop_size=config.crop_size,
        in_channels=in_channels,
        out_channels=out_channels,
        size_multiple=multiple,
    )
    train_data = PairedImageDataset(args.data, flip=args.flip is not False, **dataset_args)
    val_data = None
    if args.val_data:
        val_data = PairedImageDataset(args.val_data, flip=False, train=False, **dataset_args)
    trainer = Trainer(generator, discriminator, config, train_data, val_data)
    trainer.setup()  # joins the torchrun process group, so that only rank 0 writes below
    trainer.logger.info(
        "Training on %d pairs from %s -> %s", len(train_data), args.data, config.output_dir
    )
    output_dir = Path(config.output_dir)
    if trainer.context.is_main and not args.resume:
        output_dir.mkdir(parents=True, exist_ok=True)
        run_args = {key: getattr(args, key) for key in _REMEMBERED}
        (output_dir / RUN_ARGS_NAME).write_text(json.dumps(run_args, indent=2) + "\n")
    try:
        final = trainer.fit(resume_from="latest" if args.resume else None)
    finally:
        cleanup_distributed()
    if trainer.interrupted:
        trainer.logger.warning(
            "Stopped at step %d. Continue with: pix2pix train --resume %s", trainer.step, output_dir
        )
        return 130
    trainer.logger.info("Done. Translate with: pix2pix translate IN --model %s --output OUT", final)
    return 0
