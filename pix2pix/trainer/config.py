"""``TrainerConfig``: every training setting in one dataclass, saved to and loaded from JSON.

The defaults are the paper's (section 4 and the appendix) and the reference implementation's:
Adam with lr 2e-4 and betas (0.5, 0.999), batch size 1, lambda_L1 = 100, 100 epochs at the
initial learning rate followed by 100 epochs of linear decay.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import json
import os
import re
import tokenize
import types
import typing
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pix2pix._checks import check_choice, check_finite
from pix2pix._files import atomic_write_text
from pix2pix.constants import (
    DIRECTION_CHOICES,
    GAN_MODE_CHOICES,
    LR_POLICY_CHOICES,
    PRECISION_CHOICES,
    PREPROCESS_CHOICES,
)

# the fields whose values come from a fixed list (the CLI offers them as choices)
FIELD_CHOICES: dict[str, tuple[str, ...]] = {
    "gan_mode": GAN_MODE_CHOICES,
    "lr_policy": LR_POLICY_CHOICES,
    "precision": PRECISION_CHOICES,
    "best_mode": ("auto", "min", "max"),
}

#: Fields that describe the data. The dataset owns these facts (``PairedImageDataset(direction=
#: ..., preprocess=..., load_size=..., crop_size=...)``); a value given here is a statement the
#: Trainer checks against the dataset before training (a mismatch is an error, never silently
#: overridden) and the fallback for data that does not describe itself (a list of tensors).
DATA_FIELDS = ("direction", "preprocess", "load_size", "crop_size")


@dataclass
class TrainerConfig:
    """Settings of :class:`~pix2pix.trainer.Trainer`; each field has a one-line comment.

    Values are validated on construction (and by :meth:`validate` after edits); a bad value
    raises ``ValueError`` naming the field, the value and what is allowed.

    Examples:
        >>> config = TrainerConfig(epochs=5, epochs_decay=5, output_dir="runs/facades")
        >>> config.save("/tmp/trainer_config.json")  # doctest: +SKIP
        >>> TrainerConfig.load("/tmp/trainer_config.json") == config  # doctest: +SKIP
        True
    """

    # -- schedule --
    epochs: int = 100  # epochs at the initial learning rate (reference n_epochs)
    epochs_decay: int = 100  # epochs after that, LR decaying linearly towards 0 (n_epochs_decay)
    max_steps: int | None = None  # stop after this many optimisation steps; None = all epochs
    batch_size: int = 1  # images per process per step; global batch = batch_size x processes
    shuffle: bool = True  # reshuffle every epoch (False = the reference's --serial_batches)
    drop_last: bool = False  # drop the last incomplete batch of every epoch
    # -- optimisation --
    lr: float = 2e-4  # initial Adam learning rate of the generator (and D unless lr_d)
    lr_d: float | None = None  # discriminator learning rate; None = lr (TTUR: e.g. 2 x lr)
    beta1: float = 0.5  # Adam beta1 (momentum term)
    beta2: float = 0.999  # Adam beta2
    lambda_l1: float = 100.0  # weight of the L1 term in the generator loss (paper eq. 4)
    gan_mode: str = "vanilla"  # adversarial loss: vanilla (paper), lsgan, hinge or wgangp
    lambda_gp: float = 10.0  # gradient-penalty weight, used only when gan_mode is wgangp
    lambda_feat: float = 0.0  # weight of D feature matching in G loss (pix2pixHD: 10; 0 = off)
    lambda_vgg: float = 0.0  # weight of the VGG19 perceptual loss in G loss (pix2pixHD: 10; 0 off)
    vgg_weights: str | None = None  # torchvision's vgg19 weights file; None = torch's hub cache
    lr_policy: str = "linear"  # LR schedule, stepped once per epoch: linear, step, cosine, constant
    lr_decay_iters: int = 50  # step policy: multiply the LR by 0.1 every this many epochs
    # -- precision and speed --
    precision: str = "fp32"  # fp32, bf16 (autocast) or fp16 (autocast + gradient scaling)
    channels_last: bool = False  # use the channels-last memory format for models and batches
    compile: bool = False  # wrap both networks in torch.compile
    cuda_graphs: bool = False  # replay the whole step as one CUDA graph (GPU; fp32 or bf16)
    ema_decay: float | None = None  # decay of an EMA of the generator weights (None = no EMA)
    ema_warmup: bool = False  # EMA decay ramps up as min(decay, (1 + n) / (10 + n))
    sync_batchnorm: bool = False  # multi-GPU: convert batch norm to SyncBatchNorm
    num_workers: int = 0  # DataLoader worker processes (0 loads in the main process)
    seed: int = 0  # seeds torch, numpy and random at the start of fit, and the data order
    device: str = "auto"  # torch device; auto = this process's CUDA GPU if any, else CPU
    # -- outputs --
    output_dir: str = "runs/pix2pix"  # folder for checkpoints, samples, logs and the final model
    # the four cadences: None scales with the run (see pix2pix.trainer.loop.Cadences)
    log_every: int | None = None  # steps between logs (None: 1/100 of the run, at most 100)
    sample_every: int | None = None  # steps between sample grids (0: never; None: 1/10, <= 1000)
    num_samples: int = 4  # images in each sample grid
    val_every: int | None = None  # steps between validations (0: never; None: 1/10, <= 1000)
    checkpoint_every: int | None = None  # steps between checkpoints (0: only at the end; None: 1/5)
    keep_checkpoints: int = 3  # most recent checkpoints kept on disk (0 = keep all)
    progress_bar: bool = True  # show a tqdm progress bar (rank 0 only)
    loggers: tuple[str, ...] = ("jsonl", "csv")  # logs: jsonl (always), csv, tensorboard, wandb
    keep_best: int = 0  # keep the K best models by best_metric in output_dir/best (0 = off)
    best_metric: str = "val/L1"  # validation metric that keep_best and early stopping watch
    best_mode: str = "auto"  # min, max, or auto (max for PSNR and SSIM, else min)
    early_stop_patience: int | None = None  # stop after this many validations without improving
    early_stop_min_delta: float = 0.0  # smallest change of best_metric that counts as improving
    license: str | None = None  # license id for the model card (Hub ids: mit, cc-by-4.0...)
    # -- data description (owned by the dataset; see DATA_FIELDS): None = take the dataset's --
    direction: str | None = None  # AtoB: left/A half is the input; BtoA: right/B half is
    preprocess: str | None = None  # resizing used in training (resize_and_crop, crop, ...)
    load_size: int | None = None  # images are resized to this side before cropping (pixels)
    crop_size: int | None = None  # side of the training crops (pixels)

    def __post_init__(self) -> None:
        if isinstance(self.loggers, (list, str)):  # JSON gives a list; "csv,wandb" from code
            names = self.loggers.split(",") if isinstance(self.loggers, str) else self.loggers
            self.loggers = tuple(name.strip() for name in names if name.strip())
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self) -> TrainerConfig:
        """Check every field; returns ``self``.

        Raises:
            ValueError: Naming the first bad field, its value and the allowed values.
        """
        for f in dataclasses.fields(self):
            _check_type(f.name, getattr(self, f.name), _field_types()[f.name])
            # inf/nan pass every range check below (nan compares false both ways)
            check_finite(**{f.name: getattr(self, f.name)})
        _check_range("epochs", self.epochs, 0)
        _check_range("epochs_decay", self.epochs_decay, 0)
        if self.epochs + self.epochs_decay < 1:
            raise ValueError(
                f"epochs={self.epochs} and epochs_decay={self.epochs_decay} give no epoch to "
                "train; make their sum at least 1."
            )
        if self.max_steps is not None:
            _check_range("max_steps", self.max_steps, 1)
        _check_range("batch_size", self.batch_size, 1)
        if not self.lr > 0:
            raise ValueError(f"lr={self.lr!r} is not allowed; use a positive learning rate.")
        if self.lr_d is not None and not self.lr_d > 0:
            raise ValueError(
                f"lr_d={self.lr_d!r} is not allowed; use a positive learning rate, or None for "
                "the generator's lr."
            )
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name}={value!r} is not allowed; use a value in [0, 1).")
        _check_range("lambda_l1", self.lambda_l1, 0.0)
        _check_range("lambda_gp", self.lambda_gp, 0.0)
        _check_range("lambda_feat", self.lambda_feat, 0.0)
        _check_range("lambda_vgg", self.lambda_vgg, 0.0)
        if self.vgg_weights is not None and not self.vgg_weights:
            raise ValueError("vgg_weights='' is not allowed; name a file or use None.")
        if self.vgg_weights is not None and self.lambda_vgg == 0:
            raise ValueError(
                f"vgg_weights={self.vgg_weights!r} has no effect with lambda_vgg=0; set lambda_vgg "
                "(e.g. 10) to use the VGG loss, or leave vgg_weights None."
            )
        check_choice("gan_mode", self.gan_mode, FIELD_CHOICES["gan_mode"])
        check_choice("lr_policy", self.lr_policy, FIELD_CHOICES["lr_policy"])
        _check_range("lr_decay_iters", self.lr_decay_iters, 1)
        check_choice("precision", self.precision, FIELD_CHOICES["precision"])
        if self.cuda_graphs:
            _check_cuda_graphs(self.device, self.precision)
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ValueError(
                f"ema_decay={self.ema_decay!r} is not allowed; use a value in (0, 1) such as "
                "0.999, or None to turn the EMA off."
            )
        if self.ema_warmup and self.ema_decay is None:
            raise ValueError(
                "ema_warmup=True has no effect without an EMA; set ema_decay (e.g. 0.999) or "
                "leave ema_warmup False."
            )
        _check_range("num_workers", self.num_workers, 0)
        _check_range("seed", self.seed, 0)
        _check_device(self.device)
        if not self.output_dir:
            raise ValueError("output_dir='' is not allowed; name a folder for the run.")
        if self.log_every is not None:
            _check_range("log_every", self.log_every, 1)
        for name in ("sample_every", "val_every", "checkpoint_every", "keep_checkpoints"):
            if getattr(self, name) is not None:
                _check_range(name, getattr(self, name), 0)
        _check_range("num_samples", self.num_samples, 1)
        from pix2pix.trainer.loggers import LOGGER_CHOICES

        for name in self.loggers:
            if not isinstance(name, str):
                raise ValueError(f"loggers={self.loggers!r} must hold logger names (strings).")
            check_choice("loggers", name, LOGGER_CHOICES)
        _check_range("keep_best", self.keep_best, 0)
        check_choice("best_mode", self.best_mode, FIELD_CHOICES["best_mode"])
        if not self.best_metric:
            raise ValueError("best_metric='' is not allowed; name a metric such as 'val/L1'.")
        if self.early_stop_patience is not None:
            _check_range("early_stop_patience", self.early_stop_patience, 1)
        _check_range("early_stop_min_delta", self.early_stop_min_delta, 0.0)
        if self.license is not None and not self.license.strip():
            raise ValueError("license='' is not allowed; use a license id or None.")
        if self.direction is not None:
            check_choice("direction", self.direction, DIRECTION_CHOICES)
        if self.preprocess is not None:
            check_choice("preprocess", self.preprocess, PREPROCESS_CHOICES)
        for name in ("load_size", "crop_size"):
            if getattr(self, name) is not None:
                _check_range(name, getattr(self, name), 1)
        return self

    @property
    def total_epochs(self) -> int:
        """``epochs + epochs_decay``: the length of the schedule."""
        return self.epochs + self.epochs_decay

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict of JSON values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainerConfig:
        """Build a config from a dict; missing fields take their defaults.

        Raises:
            ValueError: For an unknown key (listing the valid ones) or an invalid value.
        """
        if not isinstance(values, dict):
            raise ValueError(
                f"A trainer config must be a JSON object; got {type(values).__name__}."
            )
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(
                f"Unknown trainer config field(s) {unknown}; valid fields are {known}."
            )
        return cls(**values)

    def replace(self, **changes: Any) -> TrainerConfig:
        """A validated copy with some fields changed.

        Examples:
            >>> TrainerConfig().replace(epochs=1).epochs
            1
        """
        return TrainerConfig.from_dict({**self.to_dict(), **changes})

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the config as indented JSON to ``path``; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrainerConfig:
        """Read a config written by :meth:`save` (or by hand; missing fields take defaults).

        Raises:
            FileNotFoundError: If ``path`` does not exist.
            ValueError: If it is not valid JSON or holds unknown fields or bad values.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"Trainer config {path} does not exist.")
        try:
            values = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{path} is not valid JSON: {error}") from None
        try:
            return cls.from_dict(values)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None

    @staticmethod
    def field_help() -> dict[str, str]:
        """The one-line comment of every field, keyed by field name (used for ``--help``)."""
        return dict(_field_comments())


def _check_range(name: str, value: float, minimum: float) -> None:
    if value < minimum:
        raise ValueError(f"{name}={value!r} is not allowed; use a value >= {minimum}.")


def _check_cuda_graphs(device: str, precision: str) -> None:
    # device "auto" is checked at setup, where the device is known (a config may be read on a
    # machine without a GPU)
    if device != "auto" and not device.startswith("cuda"):
        raise ValueError(
            f"cuda_graphs=True needs a CUDA device; got device={device!r}. Use device='cuda' "
            "(or 'auto' on a machine with a GPU), or turn cuda_graphs off."
        )
    if precision == "fp16":
        raise ValueError(
            "cuda_graphs=True runs precision 'fp32' or 'bf16', not 'fp16' (its gradient "
            "scaler is not captured); use precision='bf16', which needs no loss scaling."
        )


def _check_device(device: str) -> None:
    if device == "auto":
        return
    import torch

    try:
        torch.device(device)
    except (RuntimeError, ValueError):
        raise ValueError(
            f"device={device!r} is not a torch device; use 'auto', 'cpu', 'cuda', 'cuda:1', ..."
        ) from None


@lru_cache(maxsize=1)
def _field_types() -> dict[str, tuple[type, ...]]:
    """Allowed Python types of each field, from its annotation (None included for ``| None``)."""
    hints = typing.get_type_hints(TrainerConfig)
    allowed: dict[str, tuple[type, ...]] = {}
    for name, hint in hints.items():
        args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        kinds: list[type] = []
        for arg in args:
            # a parametrised generic (tuple[str, ...]) is checked by its container type
            arg = typing.get_origin(arg) or arg
            kinds.append(type(None) if arg is type(None) else arg)
            if arg is float:
                kinds.append(int)  # JSON writes 1.0 as 1 in some tools; an int is a fine float
        allowed[name] = tuple(kinds)
    return allowed


def _check_type(name: str, value: Any, allowed: tuple[type, ...]) -> None:
    # bool is an int subclass; a flag passed where a number is expected is a mistake
    ok = isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)
    if not ok:
        names = " or ".join("None" if t is type(None) else t.__name__ for t in allowed)
        raise ValueError(f"{name}={value!r} has the wrong type; expected {names}.")


@lru_cache(maxsize=1)
def _field_comments() -> tuple[tuple[str, str], ...]:
    """Read each field's trailing ``# comment`` from this module's source.

    The comments are the documentation (nanoGPT-style); parsing them keeps ``--help`` from
    repeating them. Without the source (a frozen build) the help is empty, not an error.
    """
    names = {f.name for f in dataclasses.fields(TrainerConfig)}
    try:
        source = inspect.getsource(TrainerConfig)
    except (OSError, TypeError):
        return ()
    comments: dict[str, str] = {}
    pattern = re.compile(r"^\s*(\w+)\s*:")
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            match = pattern.match(token.line)
            if match and match.group(1) in names and match.group(1) not in comments:
                comments[match.group(1)] = token.string.lstrip("#").strip()
    return tuple(comments.items())
