"""``pix2pix train``: train on a paired dataset folder, with a flag for every TrainerConfig field.

Settings are layered: TrainerConfig defaults, then ``--preset NAME`` or ``--config FILE``
(a TrainerConfig JSON, or a run's ``run_config.json``, which also defines the models and the
data settings), then the flags given on the command line. A run folder holds one run: a new run
refuses a folder that holds another (``--overwrite`` moves the old one aside). Every run's record
(``run_config.json``, written by ``Trainer.fit``) reproduces it: ``pix2pix train --config
RUN/run_config.json --data DIR --output NEW`` trains the same models with the same settings.
``--resume RUN`` is :meth:`Trainer.from_run`: it continues a run from its newest checkpoint (or
``--resume RUN/checkpoints/step-N`` from that one) with the same data and models; flags given
again may change only what does not change a step (a longer schedule, logging, workers); any
other difference is refused, listing each field with both values."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from pathlib import Path
from typing import Any

import torch

from pix2pix.cli.train_data import build_datasets, direction_of
from pix2pix.cli.train_models import (
    MODEL_FLAGS,
    add_model_flags,
    build_discriminator,
    build_generator,
    model_flag_changes,
    model_names,
)
from pix2pix.constants import RUN_CONFIG_NAME
from pix2pix.inference.modes import TEST_MODES, check_test_mode
from pix2pix.models.base import build_from_config
from pix2pix.presets import get_preset, preset_names
from pix2pix.trainer import Trainer, TrainerConfig
from pix2pix.trainer import checkpoint as ckpt
from pix2pix.trainer.callbacks import load_callback
from pix2pix.trainer.checkpoint import read_position
from pix2pix.trainer.config import FIELD_CHOICES
from pix2pix.trainer.distributed import cleanup_distributed
from pix2pix.trainer.lock import ensure_free
from pix2pix.trainer.loggers import check_logger_packages
from pix2pix.trainer.resume import config_changes, is_finished, refuse_changes
from pix2pix.trainer.rng import seed_everything
from pix2pix.trainer.run_folder import RunExistsError, find_run, locate_run
from pix2pix.trainer.run_record import (
    check_format,
    read_json_object,
    read_run_record,
    recorded_config,
)

# config fields whose flag is spelled differently (the rest are --field-name)
_FLAG_NAMES = {
    "output_dir": ("--output", "--output-dir"),
    "loggers": ("--logger", "--loggers"),
}


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
    data.add_argument(
        "--on-bad-image",
        choices=["raise", "skip"],
        default=None,
        help="an unreadable or unusable image: stop naming it (raise, default), or log it, "
        "count it in metrics.jsonl (skipped_images) and train on the next pair (skip)",
    )
    data.add_argument(
        "--no-check-data",
        dest="check_data",
        action="store_false",
        help="skip the pre-flight check that decodes every image before training (about 2 s "
        "for the 400 facades pairs)",
    )
    data.add_argument(
        "--palette",
        metavar="FILE",
        default=None,
        help='the classes of label-map inputs, a JSON list [{"name": "wall", "color": [r, g, b]}'
        ", ...] recorded with the model for pix2pix serve (default: the dataset's known classes, "
        "or the colours the data check finds in lossless label maps)",
    )
    data.add_argument("--in-channels", type=int, default=None, help="source channels (3)")
    data.add_argument("--out-channels", type=int, default=None, help="target channels (3)")
    add_model_flags(parser.add_argument_group("models"))
    run = parser.add_argument_group("run")
    run.add_argument(
        "--preset",
        choices=preset_names(),
        default=None,
        help="a named recipe (pix2pix.presets): its trainer settings and discriminator options; "
        "flags given here override them (default: the paper's settings)",
    )
    run.add_argument(
        "--test-mode",
        choices=TEST_MODES,
        default=None,
        help="the test mode the trained model records, which translate, evaluate, serve and "
        "export then use (paper: dropout on and each image's own batch statistics; eval: running "
        "statistics). Default: the preset's, else the one --config's run records, else paper, as "
        "the canonical test.py runs the paper's recipe",
    )
    run.add_argument(
        "--config",
        help="a TrainerConfig JSON, or a run's run_config.json (models and data settings too); "
        "flags given here override it",
    )
    run.add_argument(
        "--callback",
        dest="callbacks",
        action="append",
        default=None,
        metavar="MODULE:CLASS",
        help="attach a pix2pix.trainer.Callback subclass built with no arguments (repeatable); "
        "recorded in run_config.json; --resume attaches it again only when named again (or "
        "with --trust-callbacks)",
    )
    run.add_argument(
        "--trust-callbacks",
        action="store_true",
        help="with --resume: attach every callback the run recorded (this imports the modules "
        "its run_config.json names: only for run folders you trust)",
    )
    run.add_argument(
        "--resume",
        metavar="RUN",
        help="continue the run in this folder from its newest checkpoint, or from the "
        "checkpoint folder given (RUN/checkpoints/step-N)",
    )
    run.add_argument(
        "--overwrite",
        action="store_true",
        help="train a new run into an --output folder that holds another run, after moving "
        "that run's files aside to OUTPUT.old-<time> (other files in the folder stay; without "
        "this, such a folder is refused)",
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
        if field.name == "output_dir":  # its config default is for Python; the CLI asks for one
            text = f"{help_.get(field.name, '')} (required for a new run)"
        kwargs: dict[str, Any] = {"dest": f"cfg_{field.name}", "default": argparse.SUPPRESS}
        if hint is bool:
            group.add_argument(*flags, action=argparse.BooleanOptionalAction, help=text, **kwargs)
            continue
        if typing.get_origin(hint) is tuple:  # a list of names: --logger csv,tensorboard
            default_text = ",".join(default)
            text = f"{help_.get(field.name, '')}; comma-separated (default: {default_text})"
            group.add_argument(*flags, type=_names, metavar="NAMES", help=text, **kwargs)
            continue
        optional = isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
        base = next(a for a in typing.get_args(hint) if a is not type(None)) if optional else hint
        if field.name in FIELD_CHOICES:
            kwargs["choices"] = FIELD_CHOICES[field.name]
        else:
            kwargs["metavar"] = field.name.upper()
        group.add_argument(*flags, type=_parser(base, optional), help=text, **kwargs)


def _names(text: str) -> tuple[str, ...]:
    """``"csv, tensorboard"`` -> ``("csv", "tensorboard")``."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


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
        record = read_json_object(args.config)
        if "trainer" in record:  # a run_config.json
            try:
                config = TrainerConfig.from_dict(record["trainer"])
            except ValueError as error:
                raise ValueError(f"{args.config}: {error}") from None
        else:
            config = TrainerConfig.load(args.config)
    given = {k[4:]: v for k, v in vars(args).items() if k.startswith("cfg_")}
    return config.replace(**given) if given else config


def run_train(args: argparse.Namespace) -> int:
    """Train a new run, or continue one (``--resume``); return the exit code.

    Everything that can be refused cheaply is checked before anything slow (the data check,
    building the models): a busy or occupied run folder, a missing optional package, settings
    a resumed run may not change, a run that already finished.
    """
    if args.resume:
        trainer = _resumed_trainer(args)
        if trainer is None:
            return 0  # the run had finished; the message said how to train further
    else:
        trainer = _new_trainer(args)
    return _fit(trainer, overwrite=bool(args.overwrite))


def _new_trainer(args: argparse.Namespace) -> Trainer:
    if not hasattr(args, "cfg_output_dir") and not args.config:
        raise ValueError("pass --output runs/NAME (the run folder) or --resume runs/NAME.")
    record = _record_from_config_flag(args)
    config = config_from_args(args, None)
    output_dir = Path(config.output_dir)
    ensure_free(output_dir)  # a busy folder is refused before any slow work
    existing = find_run(output_dir)
    if existing is not None and not args.overwrite:
        raise RunExistsError(
            f"{output_dir} already holds {existing.describe()}. Continue it with: pix2pix "
            f"train --resume {output_dir}; or train into a new --output folder; or pass "
            "--overwrite to move the old run aside."
        )
    check_logger_packages(config.loggers)
    if not args.data:
        raise ValueError("pass --data DIR, the training folder (e.g. facades/train).")
    if config.direction is None:
        config = config.replace(direction=direction_of(Path(args.data)))
    # seeded before the models are built, so their initial weights are reproducible too
    seed_everything(config.seed)
    if record:
        generator, discriminator = _models_from_record(args, record)
    else:
        in_channels, out_channels = args.in_channels or 3, args.out_channels or 3
        generator = build_generator(args, in_channels, out_channels)
        norm = generator.config.get("norm")
        discriminator = build_discriminator(args, in_channels + out_channels, norm)
    callbacks = [load_callback(spec) for spec in args.callbacks or []]
    train_data, val_data = build_datasets(args, config, generator, discriminator)
    trainer = Trainer(generator, discriminator, config, train_data, val_data, callbacks)
    # the registry names (when built from them), so a resume can compare --generator NAME
    names = {} if record else model_names(args)
    trainer.run_info = {**run_info(args, record), **names}
    return trainer


def run_info(args: argparse.Namespace, record: dict[str, Any]) -> dict[str, Any]:
    """What a new run records about its recipe: the preset, and the test mode its model records.

    ``--config RUN/run_config.json`` carries that run's over; ``--preset`` and ``--test-mode``
    win. Without any, the paper's test mode: the defaults are the paper's recipe, which the
    canonical ``test.py`` translates in that mode.
    """
    info = dict(record.get("info") or {})
    if args.preset:
        info["preset"] = args.preset
        info["test_mode"] = get_preset(args.preset)["test_mode"]
    if args.test_mode:
        info["test_mode"] = args.test_mode
    info.setdefault("test_mode", get_preset("paper")["test_mode"])
    return info


def _resumed_trainer(args: argparse.Namespace) -> Trainer | None:
    if args.overwrite:
        raise ValueError("--overwrite starts a new run; it does not go with --resume.")
    if args.preset or args.config:
        raise ValueError(
            f"--resume {args.resume}: a resumed run keeps its own settings; drop --preset/--config."
        )
    run_dir, checkpoint = _locate(args.resume)
    given_output = getattr(args, "cfg_output_dir", str(run_dir))
    if Path(given_output).resolve() != run_dir.resolve():
        raise ValueError(
            f"--output {given_output} differs from --resume {run_dir}; a resumed run continues "
            "in its own folder (drop --output)."
        )
    args.cfg_output_dir = str(run_dir)
    record = read_run_record(run_dir, checkpoint)
    overrides = {k[4:]: v for k, v in vars(args).items() if k.startswith("cfg_")}
    config = recorded_config(record, run_dir).replace(**overrides)
    _, refused = config_changes(record["trainer"], config)
    changes = {f"--{k.replace('_', '-')}": change for k, change in refused.items()}
    changes.update(model_flag_changes(args, record))
    refuse_changes(
        changes,
        where=f"--resume {args.resume}: cannot continue the run",
        fix=f"Drop those flags, or start a new run with them: pix2pix train --config "
        f"{run_dir / RUN_CONFIG_NAME} --output NEW",
    )
    position = read_position(checkpoint)
    if is_finished(position["step"], position["epoch"], config):
        if args.test_mode:
            # it would save nothing, so the mode would reach no model: refused, not ignored
            raise ValueError(
                f"--test-mode {args.test_mode}: {run_dir} finished at step {position['step']} "
                "and saves no model again. Translate its model with --test-mode "
                f'{args.test_mode}, or set "test_mode" in {run_dir / "final" / "config.json"} '
                '("inference" section).'
            )
        print(
            f"pix2pix train: {run_dir} finished at step {position['step']} (epoch "
            f"{position['epoch']} of {config.total_epochs}); nothing to train. To train further, "
            f"resume with --max-steps M (M > {position['step']}) or more epochs "
            "(--epochs / --epochs-decay)."
        )
        return None
    check_logger_packages(config.loggers)
    train = (record.get("data") or {}).get("train") or {}
    val = (record.get("data") or {}).get("val") or {}
    for key, value in (
        ("data", train.get("root")),
        ("val_data", val.get("root")),
        ("layout", train.get("layout")),
        ("flip", train.get("flip")),
        ("on_bad_image", train.get("on_error")),
        ("palette", train.get("palette")),
    ):
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if not args.data:
        raise ValueError(f"{run_dir} does not record its training folder; pass --data DIR.")
    callbacks = _resume_callbacks(args, record, run_dir)
    with torch.device("meta"):  # for the data checks only: from_run builds the real ones
        generator = build_from_config(record["generator"])
        discriminator = build_from_config(record["discriminator"])
    train_data, val_data = build_datasets(args, config, generator, discriminator)
    trainer = Trainer.from_run(checkpoint, train_data, val_data, callbacks=callbacks, **overrides)
    if args.test_mode:  # a record for the exported model, not a training setting: may change
        trainer.run_info["test_mode"] = args.test_mode
    preset = trainer.run_info.get("preset")
    if "test_mode" not in trainer.run_info and preset in preset_names():
        # a run recorded before pix2pix train stated the mode: its preset's, as then
        trainer.run_info["test_mode"] = get_preset(preset)["test_mode"]
    return trainer


def _locate(resume: str) -> tuple[Path, Path]:
    """The run folder and checkpoint of ``--resume``, after checking nobody trains into it."""
    path = Path(resume)
    run_dir = path.parent.parent if path.parent.name == ckpt.CHECKPOINTS_DIR else path
    if run_dir.is_dir():
        ensure_free(run_dir)  # "in use by process N" beats "no checkpoint" for a live run
    return locate_run(path)


def _resume_callbacks(args: argparse.Namespace, record: dict[str, Any], run_dir: Path) -> list:
    """The callbacks of a resumed run: those named again (or all recorded, when trusted).

    A run folder may come from someone else: the modules its record names are imported only
    when the user names them on this command line (``--callback``) or says the folder is
    theirs (``--trust-callbacks``).
    """
    recorded = [str(spec) for spec in record.get("callbacks") or []]
    named = list(args.callbacks or [])
    if args.trust_callbacks:
        named = list(dict.fromkeys([*recorded, *named]))
    skipped = [spec for spec in recorded if spec not in named]
    if skipped:
        print(
            f"pix2pix train: {run_dir} recorded the callbacks {', '.join(skipped)}; they are "
            "not attached unless named again (--callback MODULE:CLASS) or trusted "
            "(--trust-callbacks), since a run folder's record never runs code by itself."
        )
    return [load_callback(spec) for spec in named]


def _record_from_config_flag(args: argparse.Namespace) -> dict[str, Any]:
    """``--config RUN/run_config.json``: the record that defines the models (else ``{}``)."""
    if not args.config:
        return {}
    record = read_json_object(args.config)
    if "trainer" not in record:
        return {}  # a TrainerConfig JSON, read by config_from_args
    check_format(record, args.config)
    mode = (record.get("info") or {}).get("test_mode")
    if mode is not None:  # refused before the data check, naming the file
        check_test_mode(mode, what=f'{args.config}: info["test_mode"]')
    return record


def _models_from_record(args: argparse.Namespace, record: dict[str, Any]) -> tuple[Any, Any]:
    given = [f"--{k.replace('_', '-')}" for k in MODEL_FLAGS if getattr(args, k) is not None]
    if given:
        raise ValueError(
            f"--config {args.config} defines the models; drop {', '.join(given)} (or edit "
            "the generator/discriminator sections of the file)."
        )
    try:
        generator = build_from_config(record["generator"])
        discriminator = build_from_config(record["discriminator"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"{args.config}: its generator/discriminator sections are not model configs ({error})."
        ) from None
    train = (record.get("data") or {}).get("train") or {}
    for key in ("layout", "flip"):
        if getattr(args, key, None) is None and key in train:
            setattr(args, key, train[key])
    return generator, discriminator


def _fit(trainer: Trainer, *, overwrite: bool) -> int:
    """Run ``trainer.fit`` with the command line's messages; return the exit code."""
    config = trainer.config
    output_dir = Path(config.output_dir)
    trainer.setup()  # joins the torchrun process group, so that only rank 0 speaks below
    trainer.logger.info(
        "Training on %d pairs from %s -> %s",
        len(trainer.train_data),  # type: ignore[arg-type]
        getattr(trainer.train_data, "root", "memory"),
        output_dir,
    )
    # the trainer's one interrupted-exit message names the last checkpoint and this command
    trainer.resume_hint = f"pix2pix train --resume {output_dir}"
    try:
        final = trainer.fit(overwrite=overwrite)
    except KeyboardInterrupt:  # before or after the trainer's deferred-interrupt window
        latest = ckpt.list_checkpoints(output_dir)
        where = (
            f"the last checkpoint is {latest[-1]}; continue with: {trainer.resume_hint}"
            if latest
            else "no checkpoint was written yet"
        )
        print(f"pix2pix train: interrupted; {where}", file=sys.stderr)
        return 130
    finally:
        cleanup_distributed()
    if trainer.interrupted:
        return 130  # the trainer said where the run stands and how to resume it
    trainer.logger.info("Done. Translate with: pix2pix translate IN --model %s --output OUT", final)
    return 0
