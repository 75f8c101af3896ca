"""The pix2pix training loop: losses apart from stepping, plain-method hooks.

``Trainer.fit`` reads top to bottom: fetch a batch, :meth:`Trainer.training_step`, log,
sample, validate, checkpoint. A research variant overrides a loss
(:meth:`~Trainer.generator_loss`, :meth:`~Trainer.discriminator_loss`: they return a loss and
what to log, and never step), a whole step (:meth:`~Trainer.generator_step`,
:meth:`~Trainer.discriminator_step`), :meth:`~Trainer.configure_optimizers`, or a no-op hook
mirrored by :class:`Callback`. Freezing, zero_grad, autocast, gradient scaling, backward and the
optimiser step live in one private helper, which also picks the right discriminator handle.
"""

from __future__ import annotations

import contextlib
import errno
import inspect
import logging
import os
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from pix2pix import metrics
from pix2pix._device import autocast_dtype
from pix2pix._files import WriteError, atomic_directory, remove_leftovers
from pix2pix.constants import CHECKPOINTS_DIR, FINAL_DIR, RUN_CONFIG_NAME, WEIGHTS_NAME
from pix2pix.losses.adversarial import gan_loss, gradient_penalty
from pix2pix.losses.feature_matching import feature_matching_loss
from pix2pix.models.base import ModelMixin, build_from_config
from pix2pix.trainer import checkpoint as ckpt
from pix2pix.trainer.callbacks import Callback
from pix2pix.trainer.checkpoint.contents import (
    restore_checkpoint,
    save_model,
    trainer_state,
    write_checkpoint,
)
from pix2pix.trainer.checkpoint.layout import (
    prune_checkpoints,
    remove_stale_temporaries,
    write_atomically,
)
from pix2pix.trainer.config import TrainerConfig
from pix2pix.trainer.distributed import (
    DistributedContext,
    RankZeroLogger,
    all_gather_objects,
    any_rank,
    barrier,
    setup_distributed,
)
from pix2pix.trainer.ema import ExponentialMovingAverage
from pix2pix.trainer.errors import NonFiniteLossError, NonFiniteWeightError, RunFolderWriteError
from pix2pix.trainer.interrupts import deferred_interrupts
from pix2pix.trainer.loader import batches_per_epoch, check_dataset, epoch_loader
from pix2pix.trainer.lock import RunLock, RunLockedError
from pix2pix.trainer.loggers import check_logger_packages
from pix2pix.trainer.metadata import build_inference_metadata, logged_config
from pix2pix.trainer.modes import eval_mode, frozen
from pix2pix.trainer.monitoring import config_callbacks
from pix2pix.trainer.optim import build_adam
from pix2pix.trainer.reporting import LossBuffer, Reporter, sample_grid
from pix2pix.trainer.resume import config_changes, is_finished, model_changes, refuse_changes
from pix2pix.trainer.rng import capture_rng_state, preserved_rng, seed_everything
from pix2pix.trainer.run_folder import RunExistsError, find_run, locate_run, move_aside
from pix2pix.trainer.run_record import (
    callback_spec,
    data_record,
    read_run_record,
    run_record,
    write_run_record,
)
from pix2pix.trainer.schedulers import build_scheduler

logger = logging.getLogger(__name__)
T = TypeVar("T", bound="Trainer")
# config fields left out of the exported model's record: local paths and this machine's setup
Logs = dict[str, torch.Tensor]
# errors of a writer that the user fixes outside the program (space, quota, a read-only mount)
_DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO)


class Trainer:
    """Trains a pix2pix generator against a conditional discriminator (paper section 3).

    One :meth:`training_step` is one update in the reference order: the discriminator on the
    detached fake and on the real pair, its loss halved; then the generator, with the
    discriminator frozen, on ``GAN(D(source, fake), real) + lambda_l1 * L1(fake, target)``.

    To add a loss term, override :meth:`generator_loss` (or :meth:`discriminator_loss`): call
    ``super()``, add the term, add a log entry. Inside a loss, run the networks with
    :meth:`generate` and :meth:`discriminate`, which call them the way the current step needs
    (wrapped in DDP and/or ``torch.compile`` when those are on; D without DDP while G learns).

    Attributes used by overrides and callbacks (each is declared in ``__init__``): ``config``,
    ``generator`` and ``discriminator`` (the plain modules), ``optimizer_g``, ``optimizer_d``,
    ``scheduler_g``, ``scheduler_d``, ``scaler``, ``ema``, ``device``, ``context`` (rank,
    world size), ``step`` (completed steps), ``epoch`` (0-based), ``batch_in_epoch`` and
    ``should_stop`` (set it to end after the current step; with several processes, after the
    next step that is a multiple of ``log_every``, when ranks agree).

    Args:
        generator: The generator, e.g. :class:`~pix2pix.UNetGenerator`.
        discriminator: The discriminator; it sees ``cat(source, image)`` on channels.
        config: Training settings; ``TrainerConfig()`` (the paper's) when omitted.
        train_data: A map-style dataset or list of dicts with ``"source"`` and ``"target"``
            ``[C, H, W]`` tensors in [-1, 1] (e.g. :class:`pix2pix.data.PairedImageDataset`).
        val_data: The same, for validation metrics and sample grids.
        callbacks: :class:`Callback` instances.

    Example:
        >>> from pix2pix import PatchGANDiscriminator, UNetGenerator
        >>> data = [{"source": torch.rand(3, 32, 32) * 2 - 1, "target": torch.zeros(3, 32, 32)}]
        >>> trainer = Trainer(
        ...     UNetGenerator(base_channels=4, num_downs=5),
        ...     PatchGANDiscriminator(base_channels=4),
        ...     TrainerConfig(max_steps=2, output_dir="/tmp/run", progress_bar=False),
        ...     train_data=data,
        ... )
        >>> trainer.fit()  # doctest: +SKIP
        PosixPath('/tmp/run/final')
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        config: TrainerConfig | None = None,
        train_data: Dataset | Sequence[dict[str, Any]] | None = None,
        val_data: Dataset | Sequence[dict[str, Any]] | None = None,
        callbacks: Iterable[Callback] = (),
    ) -> None:
        if config is None:
            config = TrainerConfig()
        if not isinstance(config, TrainerConfig):
            raise ValueError(f"config must be a TrainerConfig; got {type(config).__name__}.")
        self.config = config.validate()
        for role, model in (("generator", generator), ("discriminator", discriminator)):
            # found now, not at the first checkpoint an hour into the run
            if not isinstance(model, ModelMixin):
                raise ValueError(
                    f"The {role} is a {type(model).__name__}, which the trainer cannot "
                    "checkpoint: models must subclass pix2pix.models.ModelMixin (which gives "
                    "them config.json + model.safetensors)."
                )
        self.generator = generator
        self.discriminator = discriminator
        self.train_data = train_data
        self.val_data = val_data
        # the config's built-in callbacks (keep_best, early_stop_patience) come after the given
        callbacks = list(callbacks)
        self.callbacks = [*callbacks, *config_callbacks(self.config)]
        #: The callbacks' classes as the run record lists them (``"module:Class"``): the given
        #: ones, and those a resumed run recorded (see :meth:`from_run`).
        self.recorded_callbacks: list[str] = [callback_spec(c) for c in callbacks]
        #: The checkpoint :meth:`fit` resumes from when called without ``resume_from`` (set by
        #: :meth:`from_run`); ``None`` starts a new run.
        self.resume_checkpoint: Path | None = None
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.should_stop = False
        self.interrupted = False
        # built by setup() (None until then)
        self.optimizer_g: Optimizer | None = None  # Adam on the generator
        self.optimizer_d: Optimizer | None = None  # Adam on the discriminator
        self.scheduler_g: LRScheduler | None = None  # per-epoch LR schedule of G (None: none)
        self.scheduler_d: LRScheduler | None = None  # per-epoch LR schedule of D (None: none)
        self.scaler: torch.amp.GradScaler | None = None  # fp16 loss scaling (off otherwise)
        self.ema: ExponentialMovingAverage | None = None  # EMA copy of G (ema_decay)
        # The networks as training calls them. Losses reach them through generate() and
        # discriminate(), which pick the handle the current update needs, so a subclass cannot
        # run D through DDP while G learns (that forward would leave DDP waiting for gradients).
        self._g_train: nn.Module = generator  # G, wrapped in DDP/compile when those are on
        self._d_train: nn.Module = discriminator  # D for its own update (DDP/compile)
        self._d_frozen: nn.Module = discriminator  # D without DDP, for the generator's update
        self._d_active: nn.Module = discriminator  # the D handle of the update running now
        self.context = DistributedContext()
        self.device = torch.device("cpu")
        self.last_checkpoint: Path | None = None
        # messages from rank 0 only: a job of N processes should not say everything N times
        self.logger = RankZeroLogger(logger, lambda: self.context.is_main)
        self._is_setup = False
        self._interrupt_requested = False
        self._mid_step = False
        self._saving = False  # inside a checkpoint or export write: Ctrl-C waits for its end
        # how an interrupted run is continued, named in the exit message (the CLI sets its own)
        self.resume_hint: str | None = None
        self._losses = LossBuffer()
        self._reporter: Reporter | None = None
        self._progress: Any = None
        self._samples: dict[str, torch.Tensor] | None = None
        self._log_clock = (time.perf_counter(), 0)
        self.last_val_metrics: dict[str, float] = {}  # the latest validate() result
        # extra facts for the run record and the exported model card, e.g. {"preset": "paper"}
        self.run_info: dict[str, Any] = {}

    @classmethod
    def from_run(
        cls: type[T],
        run: str | os.PathLike[str],
        train_data: Dataset | Sequence[dict[str, Any]],
        val_data: Dataset | Sequence[dict[str, Any]] | None = None,
        *,
        callbacks: Iterable[Callback] = (),
        **config_overrides: Any,
    ) -> T:
        """Rebuild a run from its folder, to continue it: :meth:`fit` then resumes bit-exactly.

        The models and the :class:`TrainerConfig` come from the run's record
        (``run_config.json``, or the copy in the checkpoint), the weights and the training
        state from its newest checkpoint (or the checkpoint folder given). Nothing the record
        names is imported: the models are built from the library's own classes, the recorded
        Trainer class name must be this class's, and recorded callbacks are attached only when
        passed again (a run folder may come from someone else).

        Args:
            run: A run folder (``output_dir`` of the run), or one of its checkpoint folders.
            train_data: The training data, as the run had it (the dataset's own settings, such
                as its direction and crop size, must match the record; its folder may move).
            val_data: Validation data, if any.
            callbacks: :class:`Callback` instances to attach.
            **config_overrides: Settings to change; only those that do not change what a step
                computes (:data:`~pix2pix.trainer.resume.RESUME_SAFE_FIELDS`), such as
                ``max_steps`` for a longer run.

        Returns:
            A trainer whose :meth:`fit` continues the run.

        Raises:
            FileNotFoundError: If ``run`` is no run folder, or it has no checkpoint.
            ValueError: If the record is damaged or of another format, the run was trained by
                another Trainer class, or an override or the data changes what a step computes.

        Example:
            >>> trainer = Trainer.from_run("runs/a", data, max_steps=4000)  # doctest: +SKIP
            >>> trainer.fit()  # doctest: +SKIP
        """
        run_dir, checkpoint = locate_run(run)
        record = read_run_record(run_dir, checkpoint)
        where = f"Cannot resume {run_dir}"
        recorded_class = record.get("trainer_class")
        if recorded_class != cls.__name__:
            raise ValueError(
                f"{where} with {cls.__name__}.from_run: it was trained by {recorded_class!r}; "
                f"resume it with {recorded_class}.from_run(...) from your own code."
            )
        given_dir = config_overrides.setdefault("output_dir", str(run_dir))
        if Path(given_dir).resolve() != run_dir.resolve():
            raise ValueError(
                f"{where} into output_dir={given_dir!r}: a resumed run continues in its own "
                "folder; leave output_dir out."
            )
        try:
            generator = build_from_config(record["generator"])
            discriminator = build_from_config(record["discriminator"])
            saved = TrainerConfig.from_dict(record["trainer"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{run_dir / RUN_CONFIG_NAME} is damaged: {error}") from None
        config = saved.replace(**config_overrides)
        _, refused = config_changes(record["trainer"], config)
        recorded_data = (record.get("data") or {}).get("train") or {}
        data_now = data_record(train_data) or {}
        for key, (old, new) in model_changes(recorded_data, data_now).items():
            if key in recorded_data and key in data_now and key not in ("root", "on_error"):
                refused[f"train_data.{key}"] = (old, new)
        refuse_changes(refused, where=where, fix="Drop those settings, or start a new run")
        trainer = cls(generator, discriminator, config, train_data, val_data, callbacks)
        recorded = [str(spec) for spec in record.get("callbacks") or []]
        missing = [spec for spec in recorded if spec not in trainer.recorded_callbacks]
        if missing:
            trainer.logger.warning(
                "%s recorded callbacks that are not attached: %s. Code named by a run folder is "
                "never imported; pass them again to attach them.",
                run_dir,
                ", ".join(missing),
            )
        trainer.recorded_callbacks = list(dict.fromkeys([*recorded, *trainer.recorded_callbacks]))
        trainer.run_info = dict(record.get("info") or {})
        trainer.resume_checkpoint = checkpoint
        return trainer

    # ================================================================ setup
    def setup(self) -> None:
        """Place models, build optimizers, schedulers, scaler, EMA and wrappers (once).

        Called by :meth:`fit` and lazily by the first :meth:`training_step`, so the trainer can
        also drive a hand-written loop.
        """
        if self._is_setup:
            return
        cfg = self.config
        self.context = setup_distributed(cfg.device)
        self.device = device = self.context.device
        if cfg.precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ValueError("precision='bf16' is not supported by this GPU; use 'fp16'.")
        memory_format = torch.channels_last if cfg.channels_last else torch.preserve_format
        for module in (self.generator, self.discriminator):
            # Module.to takes memory_format= with device= at run time; torch's overloads omit it
            module.to(device=device, memory_format=memory_format).train()  # type: ignore[call-overload]
        if cfg.ema_decay is not None:
            self.ema = ExponentialMovingAverage(
                self.generator, cfg.ema_decay, warmup=cfg.ema_warmup
            ).to(device)
        if self.context.is_distributed and cfg.sync_batchnorm:
            self.generator = nn.SyncBatchNorm.convert_sync_batchnorm(self.generator)
            self.discriminator = nn.SyncBatchNorm.convert_sync_batchnorm(self.discriminator)
        self.optimizer_g, self.optimizer_d = self.configure_optimizers()
        self.scheduler_g, self.scheduler_d = self.configure_schedulers(
            self.optimizer_g, self.optimizer_d
        )
        self.scaler = torch.amp.GradScaler(device.type, enabled=cfg.precision == "fp16")
        self._g_train, self._d_train = self.generator, self.discriminator
        if self.context.is_distributed:
            ids = [device.index] if device.type == "cuda" else None
            self._g_train = DistributedDataParallel(self.generator, device_ids=ids)
            self._d_train = DistributedDataParallel(self.discriminator, device_ids=ids)
        # The generator's update runs D without DDP: D is frozen there, and a DDP forward whose
        # backward yields no D gradients would leave DDP waiting for them.
        self._d_frozen = self.discriminator
        if cfg.compile:
            unwrapped = self._d_train is self.discriminator
            # torch.compile of a Module returns a Module (OptimizedModule); its stubs say Callable
            self._g_train = cast(nn.Module, torch.compile(self._g_train))
            self._d_train = cast(nn.Module, torch.compile(self._d_train))
            self._d_frozen = (
                self._d_train if unwrapped else cast(nn.Module, torch.compile(self.discriminator))
            )
        self._d_active = self._d_frozen
        self._is_setup = True

    def configure_optimizers(self) -> tuple[Optimizer, Optimizer]:
        """Return ``(optimizer_g, optimizer_d)``: Adam(lr, betas=(beta1, beta2)) for each (paper).

        The paper-exact fp32 default uses PyTorch's per-parameter Adam, whose arithmetic the
        reference implementation shares bit for bit. The fast paths (``precision`` other than
        fp32, or ``compile``) use the fused Adam kernel instead: the same update rule in one
        kernel for all parameters, several times faster for the 54M-parameter U-Net, but not
        bit-identical to the per-parameter loop.

        Example:
            >>> class SGDTrainer(Trainer):  # doctest: +SKIP
            ...     def configure_optimizers(self):
            ...         return (torch.optim.SGD(self.generator.parameters(), lr=0.01),
            ...                 torch.optim.SGD(self.discriminator.parameters(), lr=0.01))
        """
        cfg = self.config
        fused = cfg.precision != "fp32" or cfg.compile
        return (
            build_adam(self.generator.parameters(), cfg, lr=cfg.lr, fused=fused),
            build_adam(self.discriminator.parameters(), cfg, lr=cfg.lr_d or cfg.lr, fused=fused),
        )

    def configure_schedulers(
        self, optimizer_g: Optimizer, optimizer_d: Optimizer
    ) -> tuple[LRScheduler | None, LRScheduler | None]:
        """Return ``(scheduler_g, scheduler_d)``, stepped once per epoch (``None`` for none).

        The default follows ``config.lr_policy`` (see
        :func:`pix2pix.trainer.schedulers.build_scheduler`).

        Example:
            >>> trainer.configure_schedulers(opt_g, opt_d)  # doctest: +SKIP
            (<torch.optim.lr_scheduler.LambdaLR ...>, <torch.optim.lr_scheduler.LambdaLR ...>)
        """
        return build_scheduler(optimizer_g, self.config), build_scheduler(optimizer_d, self.config)

    # ================================================================ one update
    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The autocast context for ``config.precision`` (a no-op for fp32)."""
        dtype = autocast_dtype(self.config.precision)
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)

    def backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()``, scaled by the GradScaler under fp16."""
        self._built(self.scaler, "scaler").scale(loss).backward()

    def optimizer_step(self, optimizer: Optimizer) -> None:
        """``optimizer.step()``, through the GradScaler under fp16 (skipped on inf gradients)."""
        self._built(self.scaler, "scaler").step(optimizer)

    def _built(self, value: Any, name: str) -> Any:
        if value is None:
            raise RuntimeError(f"Trainer.{name} is built by setup(); call trainer.setup() first.")
        return value

    def prepare_batch(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Move ``batch["source"]`` and ``batch["target"]`` (``[N, C, H, W]``) to the device."""
        if not isinstance(batch, dict) or "source" not in batch or "target" not in batch:
            found = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
            raise ValueError(
                f"A batch must be a dict with 'source' and 'target' tensors; got {found}."
            )
        memory_format = torch.channels_last if self.config.channels_last else torch.preserve_format
        tensors = []
        for key in ("source", "target"):
            value = batch[key]
            if not isinstance(value, torch.Tensor) or value.dim() != 4:
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value)
                raise ValueError(
                    f"batch[{key!r}] must be a [N, C, H, W] tensor; got {shape}. A single item "
                    "needs a batch dimension (value.unsqueeze(0))."
                )
            tensors.append(
                value.to(self.device, non_blocking=True, memory_format=memory_format).float()
            )
        return tensors[0], tensors[1]

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """One full pix2pix update on ``batch``; returns the losses as detached 0-dim tensors.

        Works on a batch dict given directly, so a hand-written loop can call it (the first call
        sets up optimizers). The tensors stay on the device: reading them (``float(v)``) waits
        for the device, so the loop only does it when logging.

        Example:
            >>> losses = trainer.training_step({"source": a, "target": b})  # doctest: +SKIP
            >>> sorted(losses)  # doctest: +SKIP
            ['D_fake', 'D_real', 'G_GAN', 'G_L1']
        """
        self.setup()
        source, target = self.prepare_batch(batch)
        with self.autocast():
            fake = self.generate(source)
        losses = self.discriminator_step(source, target, fake)
        losses.update(self.generator_step(source, target, fake))
        scaler = self._built(self.scaler, "scaler")
        if scaler.is_enabled():
            scaler.update()  # once per iteration, after both optimizers stepped
        if self.ema is not None:
            self.ema.update(self.generator)
        return losses

    # ---------------------------------------------------------------- the networks, for losses
    def generate(self, source: torch.Tensor) -> torch.Tensor:
        """G's output for ``source``, through the handle training uses (DDP/compile when on)."""
        return self._g_train(source)

    def discriminate(self, source: torch.Tensor, image: torch.Tensor) -> Any:
        """D's prediction on the pair ``cat(source, image)``, through the right handle.

        During D's update this is D as that update needs it (DDP/compile when on); during G's
        update, the frozen D without DDP; elsewhere the plain D.
        """
        return self._d_active(torch.cat([source, image], dim=1))

    # ---------------------------------------------------------------- losses (override these)
    def discriminator_loss(
        self, source: torch.Tensor, target: torch.Tensor, fake: torch.Tensor
    ) -> tuple[torch.Tensor, Logs]:
        """D's loss on ``(source, fake)`` as fake and ``(source, target)`` as real.

        ``fake`` arrives detached. Runs under autocast; returns ``(loss, logs)``: the loss to
        minimise and the values to log (``D_fake``, ``D_real``, and ``D_GP`` for wgangp).
        Override to change D's objective; stepping is done for you.
        """
        cfg = self.config
        loss_fake = gan_loss(self.discriminate(source, fake), False, cfg.gan_mode)
        loss_real = gan_loss(self.discriminate(source, target), True, cfg.gan_mode)
        # paper section 3.3: halve D's objective to slow D relative to G
        loss = (loss_fake + loss_real) * 0.5
        logs = {"D_fake": loss_fake, "D_real": loss_real}
        if cfg.gan_mode == "wgangp":
            # in fp32 on the plain module: a double backward through autocast or DDP is
            # fragile, and the gradients still reach DDP's hooks on D's parameters
            with torch.autocast(self.device.type, enabled=False):
                real_pair = torch.cat([source, target], dim=1).float()
                fake_pair = torch.cat([source, fake], dim=1).float()
                penalty = gradient_penalty(
                    self.discriminator, real_pair, fake_pair, weight=cfg.lambda_gp
                )
            loss = loss + penalty
            logs["D_GP"] = penalty
        return loss, logs

    def generator_loss(
        self, source: torch.Tensor, target: torch.Tensor, fake: torch.Tensor
    ) -> tuple[torch.Tensor, Logs]:
        """G's loss ``GAN(D(source, fake), real) + lambda_l1 * L1(fake, target)`` (eq. 4).

        Runs under autocast with D frozen; returns ``(loss, logs)`` (``G_GAN``, ``G_L1``). To
        add a term: ``loss, logs = super().generator_loss(source, target, fake)``, add it to
        ``loss`` and put it in ``logs`` (see ``examples/custom_trainer.py``).
        """
        cfg = self.config
        if cfg.lambda_feat > 0:  # pix2pixHD feature matching: D's features on fake vs real
            if "return_features" not in inspect.signature(self.discriminator.forward).parameters:
                raise ValueError(
                    f"lambda_feat={cfg.lambda_feat} needs a discriminator that returns its "
                    f"intermediate features (forward(x, return_features=True)), and "
                    f"{type(self.discriminator).__name__} does not; use "
                    "pix2pix.models.MultiScaleDiscriminator (num_d=1 is the plain PatchGAN), "
                    "or set lambda_feat=0."
                )
            prediction, fake_features = self._d_active(
                torch.cat([source, fake], dim=1), return_features=True
            )
            with torch.no_grad():  # the real features are a target: no graph
                _, real_features = self._d_active(
                    torch.cat([source, target], dim=1), return_features=True
                )
            loss_gan = gan_loss(prediction, True, cfg.gan_mode, for_discriminator=False)
            loss_l1 = F.l1_loss(fake, target) * cfg.lambda_l1
            loss_feat = feature_matching_loss(real_features, fake_features) * cfg.lambda_feat
            logs = {"G_GAN": loss_gan, "G_L1": loss_l1, "G_feat": loss_feat}
            return loss_gan + loss_l1 + loss_feat, logs
        prediction = self.discriminate(source, fake)
        loss_gan = gan_loss(prediction, True, cfg.gan_mode, for_discriminator=False)
        loss_l1 = F.l1_loss(fake, target) * cfg.lambda_l1
        return loss_gan + loss_l1, {"G_GAN": loss_gan, "G_L1": loss_l1}

    # ---------------------------------------------------------------- whole updates
    def discriminator_step(
        self, source: torch.Tensor, target: torch.Tensor, fake: torch.Tensor
    ) -> Logs:
        """Update D once on :meth:`discriminator_loss` (with ``fake`` detached).

        Override only to change the whole update; returns the logs as detached tensors.
        """
        optimizer = self._built(self.optimizer_d, "optimizer_d")
        return self._update(
            optimizer, self._d_train, self.discriminator_loss, source, target, fake.detach()
        )

    def generator_step(
        self, source: torch.Tensor, target: torch.Tensor, fake: torch.Tensor
    ) -> Logs:
        """Update G once on :meth:`generator_loss`, with D frozen (no D gradients computed).

        Override only to change the whole update; returns the logs as detached tensors.
        """
        optimizer = self._built(self.optimizer_g, "optimizer_g")
        with frozen(self.discriminator):
            return self._update(
                optimizer, self._d_frozen, self.generator_loss, source, target, fake
            )

    def _update(
        self,
        optimizer: Optimizer,
        discriminator: nn.Module,
        loss_fn: Any,
        *inputs: torch.Tensor,
    ) -> Logs:
        """zero_grad, the loss under autocast with ``discriminator`` as D, backward, step."""
        optimizer.zero_grad()
        previous, self._d_active = self._d_active, discriminator
        try:
            with self.autocast():
                loss, logs = loss_fn(*inputs)
        finally:
            self._d_active = previous
        self.backward(loss)
        self.optimizer_step(optimizer)
        return {name: value.detach() for name, value in logs.items()}

    # ================================================================ validation
    def inference_generator(self) -> nn.Module:
        """The generator used for validation, samples and export (the EMA copy when on)."""
        return self.ema.module if self.ema is not None else self.generator

    def validation_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Per-image ``L1``, ``PSNR`` and ``SSIM`` of the generator's output on ``batch``.

        Runs under ``torch.no_grad`` with the generator in eval mode. Returns 1-D tensors (one
        value per image); :meth:`validate` averages them over the whole validation set.
        """
        source, target = self.prepare_batch(batch)
        fake = self.inference_generator()(source).float()
        values = {
            "L1": metrics.l1(fake, target, reduction="none"),
            "PSNR": metrics.psnr(fake, target, reduction="none"),
        }
        if min(fake.shape[-2:]) >= 11:
            values["SSIM"] = metrics.ssim(fake, target, reduction="none")
        return values

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean validation metrics over ``val_data`` (main process only; {} elsewhere).

        Random numbers drawn here (a dataset's augmentation) never reach the training RNG
        streams, so validating does not change the training run.
        """
        if self.val_data is None or not self.context.is_main:
            return {}
        self.setup()
        generator = self.inference_generator()
        sums: dict[str, list[torch.Tensor]] = {}
        with preserved_rng(), eval_mode(generator):
            loader = DataLoader(
                self.val_data,  # type: ignore[arg-type]
                batch_size=self.config.batch_size,
                shuffle=False,
                num_workers=self.config.num_workers,
            )
            for batch in loader:
                for key, value in self.validation_step(batch).items():
                    sums.setdefault(key, []).append(value.detach().float().reshape(-1))
        results = {f"val/{k}": torch.cat(v).mean().item() for k, v in sums.items()}
        self.last_val_metrics = dict(results)
        if self._reporter is not None:
            self._reporter.log_scalars(self.step, {"epoch": self.epoch, **results})
        self.logger.info(
            "step %d validation: %s",
            self.step,
            ", ".join(f"{k}={v:.4g}" for k, v in results.items()),
        )
        self._call("on_validation_end", results)
        return results

    # ================================================================ hooks
    def on_train_start(self) -> None:
        """Hook: before the first step (after loading a checkpoint when resuming)."""

    def on_epoch_start(self) -> None:
        """Hook: before the first batch of each epoch (``self.epoch``)."""

    def on_step_end(self, losses: dict[str, torch.Tensor]) -> None:
        """Hook: after each step; ``losses`` are detached device tensors."""

    def on_validation_end(self, metrics: dict[str, float]) -> None:
        """Hook: after each validation with the mean metrics."""

    def on_checkpoint(self, path: Path) -> None:
        """Hook: after a checkpoint folder is written."""

    def on_train_end(self) -> None:
        """Hook: after the final checkpoint and export."""

    def _call(self, hook: str, *args: Any) -> None:
        getattr(self, hook)(*args)
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)

    # ================================================================ the loop
    def fit(
        self, resume_from: str | os.PathLike[str] | None = None, *, overwrite: bool = False
    ) -> Path | None:
        """Train for ``epochs + epochs_decay`` epochs (or ``max_steps`` steps).

        Writes checkpoints every ``checkpoint_every`` steps and at the end, and exports the
        generator (EMA weights when on) to ``output_dir/final`` with the inference settings the
        :class:`~pix2pix.Translator` reads. Ctrl-C finishes the current step, writes a
        checkpoint and returns ``None`` (``self.interrupted`` is then true).

        Args:
            resume_from: ``"latest"`` (newest checkpoint in ``output_dir``), a run folder, or a
                checkpoint folder. The resumed run ends with exactly the weights an
                uninterrupted run would have (fp32, same device, ``num_workers=0``). A run that
                already finished its schedule is not trained again: ``fit`` says so and returns
                its exported model (raise ``max_steps`` or the epochs to train further).
            overwrite: A new run (no ``resume_from``) refuses an ``output_dir`` that holds
                another run, since the two would interleave; ``True`` moves the old run aside
                to ``output_dir.old-<time>`` first.

        Returns:
            The exported model folder, or ``None`` when interrupted.

        Raises:
            NonFiniteLossError: A loss became NaN/inf (no checkpoint is written after it).
            FileNotFoundError: ``resume_from`` names no checkpoint.
            RunExistsError: ``output_dir`` holds another run and neither ``resume_from`` nor
                ``overwrite`` says what to do with it.

        Example:
            >>> trainer.fit()  # doctest: +SKIP
            >>> trainer.fit(resume_from="latest")  # doctest: +SKIP
        """
        cfg = self.config
        if resume_from is None:
            resume_from = self.resume_checkpoint
        check_logger_packages(cfg.loggers)  # a missing extra is one line, before any work
        check_dataset(self.train_data, "train_data")
        if self.val_data is not None:
            check_dataset(self.val_data, "val_data")
        self.inference_metadata()  # a config that contradicts the dataset stops here
        self.setup()
        # the run folder is this run's alone until fit returns (rank 0 holds the lock)
        new_run = resume_from is None
        lock = self._take_run_folder(Path(cfg.output_dir), new_run=new_run, overwrite=overwrite)
        try:
            return self._fit(resume_from)
        except OSError as error:
            if error.errno not in _DISK_ERRORS and not isinstance(error, WriteError):
                raise
            what = str(error) if isinstance(error, WriteError) else f"Could not write: {error}."
            raise RunFolderWriteError(
                f"{what} Training stopped at step {self.step}; {self._resume_advice()}"
            ) from error
        finally:
            lock.release()

    def _take_run_folder(self, output_dir: Path, *, new_run: bool, overwrite: bool) -> RunLock:
        """Lock ``output_dir`` (rank 0) and check what it holds, before anything is written."""
        lock = RunLock(output_dir)
        failure: Exception | None = None
        if self.context.is_main:
            try:
                lock.acquire()
                for name in (FINAL_DIR, CHECKPOINTS_DIR):
                    if (output_dir / name).exists() and not (output_dir / name).is_dir():
                        raise FileExistsError(
                            f"{output_dir / name} is a file, but the run writes a folder there; "
                            "move it away or train into another --output folder."
                        )
                existing = find_run(output_dir) if new_run else None
                if existing is not None and not overwrite:
                    raise RunExistsError(
                        f"{output_dir} already holds {existing.describe()}; continue it with "
                        "fit(resume_from='latest'), train into another output_dir, or pass "
                        "fit(overwrite=True) to move the old run aside."
                    )
                if existing is not None:  # never interleaved: the old run moves out whole
                    self.logger.info("Moved the earlier run aside to %s.", move_aside(output_dir))
            except (RunLockedError, OSError) as error:
                lock.release()
                failure = error
        if any_rank(self.context, failure is not None):
            raise failure or RunLockedError(f"Rank 0 could not take the run folder {output_dir}.")
        return lock

    def _resume_advice(self) -> str:
        """Where an interrupted run stands and how to continue it, for its last message."""
        if self.last_checkpoint is None:
            return "no checkpoint was written yet, so there is nothing to resume."
        hint = self.resume_hint or f"fit(resume_from={str(self.last_checkpoint)!r})"
        return f"the last checkpoint is {self.last_checkpoint}; resume with: {hint}"

    def _fit(self, resume_from: str | os.PathLike[str] | None) -> Path | None:
        cfg = self.config
        seed_everything(cfg.seed + self.context.rank)
        resumed = resume_from is not None
        output_dir = Path(cfg.output_dir)
        if self.context.is_main:
            output_dir.mkdir(parents=True, exist_ok=True)
            # leftovers of a killed save, prune or export (safe: this run holds the lock)
            remove_stale_temporaries(output_dir)
            remove_leftovers(output_dir, (FINAL_DIR, RUN_CONFIG_NAME))
        if resume_from is not None:
            path = ckpt.resolve_checkpoint(resume_from, cfg.output_dir)
            self._check_resume_config(path)
            self.load_checkpoint(path)
            if is_finished(self.step, self.epoch, cfg):
                return self._finished_run(output_dir)
        if self.context.is_main:
            write_run_record(output_dir, run_record(self))
        self._reporter = Reporter(
            output_dir,
            loggers=tuple(dict.fromkeys(("jsonl", *cfg.loggers))),  # jsonl is always written
            enabled=self.context.is_main,
            resume_step=self.step if resumed else None,
        )
        self._reporter.log_config(logged_config(self))
        self.interrupted = self._interrupt_requested = self.should_stop = False
        try:
            self._call("on_train_start")
            with self._deferred_interrupts():
                try:
                    self._train_loop()
                except KeyboardInterrupt:
                    self._interrupt_requested = True
                    if self._mid_step:
                        # D was updated but G not: this state is no step of any run
                        self.logger.warning(
                            "Interrupted inside step %d; not checkpointing a half-done step: %s",
                            self.step + 1,
                            self._resume_advice(),
                        )
                        self.interrupted = True
                        return None
                # the final checkpoint and export are inside the window too: a Ctrl-C while
                # they are written waits for them (see _deferred_interrupts)
                stopped_early = any_rank(self.context, self._interrupt_requested)
                self._flush_logs()
                self.save_checkpoint()
                if stopped_early:
                    self.interrupted = True
                    self.logger.warning(
                        "Interrupted after step %d: %s", self.step, self._resume_advice()
                    )
                    return None
                final = self.save_pretrained(output_dir / FINAL_DIR)
            self._call("on_train_end")
            return final
        finally:
            if self._progress is not None:
                self._progress.close()
                self._progress = None
            self._reporter.close()

    def _train_loop(self) -> None:
        cfg = self.config
        per_epoch = self.steps_per_epoch()
        total = per_epoch * cfg.total_epochs
        if cfg.max_steps is not None:
            total = min(total, cfg.max_steps)
        self._progress = tqdm(
            total=total,
            initial=min(self.step, total),
            desc="train",
            unit="step",
            dynamic_ncols=True,
            disable=not (cfg.progress_bar and self.context.is_main),
        )
        self._log_clock = (time.perf_counter(), self.step)
        self._mid_step = False
        while self.epoch < cfg.total_epochs and not self._stop_requested():
            loader = self._epoch_loader()
            self._call("on_epoch_start")
            batches = iter(loader)
            while True:
                self._mid_step = True  # fetching advances the augmentation RNG
                batch = next(batches, None)
                if batch is None:
                    self._mid_step = False
                    self._end_epoch()
                    break
                losses = self.training_step(batch)
                self.step += 1
                self.batch_in_epoch += 1
                self._mid_step = False
                self._losses.add(self.step, losses)
                self._progress.update(1)
                self._call("on_step_end", losses)
                self._after_step()
                if self._stop_requested():
                    return

    def _after_step(self) -> None:
        cfg, step = self.config, self.step
        if step % cfg.log_every == 0:
            self._flush_logs()
            self.check_weights()  # one more device sync at the cadence that already syncs
        if cfg.sample_every and step % cfg.sample_every == 0:
            self.write_samples()
        if cfg.val_every and self.val_data is not None and step % cfg.val_every == 0:
            self.validate()
        if cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
            self.save_checkpoint()

    def _stop_requested(self) -> bool:
        cfg = self.config
        if cfg.max_steps is not None and self.step >= cfg.max_steps:
            return True  # the same on every rank
        local = self.should_stop or self._interrupt_requested
        if not self.context.is_distributed:
            return local
        # Every rank must leave the loop at the same step or the others hang in collectives.
        # Agreeing waits for the device, so ranks compare flags at the log cadence only.
        return self.step % cfg.log_every == 0 and any_rank(self.context, local)

    def _end_epoch(self) -> None:
        for scheduler in (self.scheduler_g, self.scheduler_d):
            if scheduler is not None:
                with warnings.catch_warnings():
                    # a run resumed at an epoch's end steps the schedule before the optimizer
                    warnings.filterwarnings(
                        "ignore", "Detected call of `lr_scheduler.step", UserWarning
                    )
                    scheduler.step()
        self.epoch += 1
        self.batch_in_epoch = 0

    def steps_per_epoch(self) -> int:
        """Optimisation steps in one epoch for this process."""
        cfg = self.config
        check_dataset(self.train_data, "train_data")
        world = self.context.world_size
        per_rank = -(-len(self.train_data) // world)  # type: ignore[arg-type]
        steps = batches_per_epoch(per_rank, cfg.batch_size, cfg.drop_last)
        if steps == 0:
            raise ValueError(
                f"train_data has {per_rank} items per process, fewer than batch_size="
                f"{cfg.batch_size}, and drop_last=True drops them all; lower batch_size or set "
                "drop_last=False."
            )
        return steps

    def _epoch_loader(self) -> DataLoader:
        cfg = self.config
        return epoch_loader(
            self.train_data,  # type: ignore[arg-type]
            epoch=self.epoch,
            start_batch=self.batch_in_epoch,
            batch_size=cfg.batch_size,
            shuffle=cfg.shuffle,
            drop_last=cfg.drop_last,
            seed=cfg.seed,
            num_workers=cfg.num_workers,
            rank=self.context.rank,
            world_size=self.context.world_size,
            pin_memory=self.device.type == "cuda",
        )

    def _deferred_interrupts(self) -> contextlib.AbstractContextManager[None]:
        """Turn the first Ctrl-C into "stop after this step"; a second one stops at once."""
        return deferred_interrupts(self)

    # ================================================================ logging, samples
    def _flush_logs(self) -> None:
        """Read the buffered losses (one device sync), stop on a NaN, log the interval means."""
        window = len(self._losses)  # steps the means cover: log_every, fewer at a checkpoint
        means, bad = self._losses.drain()
        if any_rank(self.context, bad is not None):  # all ranks stop together
            step, name, value = bad or (self.step, "(on another rank)", float("nan"))
            raise NonFiniteLossError(step, name, value, last_checkpoint=self.last_checkpoint)
        if not window:
            return
        now = time.perf_counter()
        start, start_step = self._log_clock
        self._log_clock = (now, self.step)
        images = (self.step - start_step) * self.config.batch_size * self.context.world_size
        record: dict[str, Any] = {**means, "window": window}
        record["img_per_s"] = images / max(now - start, 1e-9)
        record["lr"] = self._built(self.optimizer_g, "optimizer_g").param_groups[0]["lr"]
        skipped = getattr(self.train_data, "skipped", 0)
        if isinstance(skipped, int) and skipped:  # PairedImageDataset(on_error="skip")
            record["skipped_images"] = skipped
        if self._reporter is not None:
            self._reporter.log_scalars(self.step, {"epoch": self.epoch, **record})
        if self._progress is not None:
            shown = {k: f"{v:.3g}" for k, v in record.items() if k != "lr"}
            self._progress.set_postfix({"epoch": self.epoch, **shown}, refresh=False)

    @torch.no_grad()
    def write_samples(self) -> Path | None:
        """Save a source | generated | target grid to ``output_dir/samples/step-XXXXXX.png``."""
        if not self.context.is_main or self._reporter is None:
            return None
        generator = self.inference_generator()
        with preserved_rng(), eval_mode(generator):
            if self._samples is None:
                data = self.val_data if self.val_data is not None else self.train_data
                count = min(self.config.num_samples, len(data))  # type: ignore[arg-type]
                items = [data[i] for i in range(count)]  # type: ignore[index]
                self._samples = {
                    key: torch.stack([item[key] for item in items]) for key in ("source", "target")
                }
            source, target = self.prepare_batch(self._samples)
            fake = generator(source)
        grid = sample_grid(source, fake, target, step=self.step, headers=True)
        return self._reporter.log_samples(self.step, grid, ckpt.checkpoint_name(self.step))

    # ================================================================ checkpoints
    def save_checkpoint(self) -> Path:
        """Write ``output_dir/checkpoints/step-XXXXXX`` atomically; keep the newest K.

        Checks the pending losses first, so a NaN never reaches a checkpoint. Every process
        must call it (RNG states are gathered from all ranks); only rank 0 writes.
        """
        self._flush_logs()
        self.check_weights()
        cfg = self.config
        path = Path(cfg.output_dir) / ckpt.CHECKPOINTS_DIR / ckpt.checkpoint_name(self.step)
        if self.last_checkpoint == path:
            return path  # already saved at this step
        rng_states = all_gather_objects(self.context, capture_rng_state())
        with self._writing():
            if self.context.is_main:
                write_atomically(path, lambda tmp: write_checkpoint(self, tmp, rng_states))
                prune_checkpoints(cfg.output_dir, cfg.keep_checkpoints)
            barrier(self.context)
        self.last_checkpoint = path
        self._call("on_checkpoint", path)
        return path

    def state_dict(self, rng_states: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Everything but the weights needed to resume: counters, optimizers, RNGs, callbacks.

        Tensors and plain Python values only (see :mod:`pix2pix.trainer.state`).
        """
        return trainer_state(self, rng_states or [capture_rng_state()])

    def load_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Restore weights, optimizers, schedulers, scaler, counters, callbacks and RNG states.

        Raises:
            FileNotFoundError: If a part of the checkpoint is missing.
            ValueError: If it is damaged or does not fit the models.
        """
        self.setup()
        restore_checkpoint(self, Path(path))
        self.last_checkpoint = Path(path)
        self.logger.info("Resumed from %s (step %d, epoch %d).", path, self.step, self.epoch)

    def _check_resume_config(self, path: Path) -> None:
        """Refuse a resume whose config changes what a step computes; log the allowed changes."""
        saved = ckpt.load_state(path / ckpt.STATE_NAME).get("config", {})
        allowed, refused = config_changes(saved, self.config)
        refuse_changes(
            refused,
            where=f"Cannot resume from {path}",
            fix="Resume with the checkpoint's settings, or start a new run",
        )
        for key, (old, new) in allowed.items():
            self.logger.info("Resuming with %s changed: %r -> %r.", key, old, new)

    def _finished_run(self, output_dir: Path) -> Path | None:
        """A resumed run that has nothing left to do: say so; export only if that was missed."""
        final = output_dir / FINAL_DIR
        self.logger.info(
            "%s finished at step %d (epoch %d of %d); nothing to train. To train further, "
            "resume with a larger max_steps (pix2pix train --max-steps M, M > %d) or more "
            "epochs (--epochs / --epochs-decay).",
            output_dir,
            self.step,
            self.epoch,
            self.config.total_epochs,
            self.step,
        )
        if (final / WEIGHTS_NAME).is_file():
            return final
        # killed between the last checkpoint and the export: the export is all that is left
        return self.save_pretrained(final)

    # ================================================================ export
    def inference_metadata(self) -> dict[str, Any]:
        """Settings stored with the exported generator for :class:`~pix2pix.Translator`.

        ``direction``, ``preprocess``, ``load_size`` and ``crop_size`` are facts of the data:
        the training dataset owns them (its ``config`` dict, then its attributes). A value set
        in the trainer config is used for data that does not describe itself, and must agree
        with a dataset that does. Channels come from the generator.

        Raises:
            ValueError: If the trainer config and the dataset disagree on one of them.
        """
        return build_inference_metadata(self)

    def save_pretrained(self, path: str | os.PathLike[str]) -> Path:
        """Save the inference generator (EMA weights when on) with ``save_pretrained`` (rank 0).

        The folder loads with :meth:`pix2pix.Translator.from_pretrained`; it holds
        ``config.json`` (with :meth:`inference_metadata`), ``model.safetensors`` and a card.

        Example:
            >>> trainer.save_pretrained("runs/facades/final")  # doctest: +SKIP
        """
        path = Path(path)
        self.check_weights()
        with self._writing():
            if self.context.is_main:
                generator, meta = self.inference_generator(), self.inference_metadata()
                # a temporary folder renamed into place: a kill leaves the old folder or none
                atomic_directory(path, lambda tmp: save_model(generator, tmp, meta))
                self.logger.info("Saved the generator to %s", path)
            barrier(self.context)
        return path

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Mark a checkpoint or export write, which a Ctrl-C must not cut short."""
        outer, self._saving = self._saving, True
        try:
            yield
        finally:
            self._saving = outer

    @torch.no_grad()
    def check_weights(self) -> None:
        """Raise if a parameter or buffer of G, D or the EMA is NaN or infinite.

        One fused max-abs over every floating tensor and a single read (one device sync), so
        :meth:`fit` runs it at the log cadence and before every checkpoint and export.

        Raises:
            NonFiniteWeightError: Naming the first bad tensor and the step.
        """
        named: list[tuple[str, torch.Tensor]] = []
        modules = [("generator", self.generator), ("discriminator", self.discriminator)]
        if self.ema is not None:
            modules.append(("ema", self.ema.module))
        for prefix, module in modules:
            for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
                if tensor.is_floating_point() and tensor.numel() > 0:
                    named.append((f"{prefix}.{name}", tensor.detach()))
        bad: tuple[str, float] | None = None
        if named:
            norms = torch._foreach_norm([t for _, t in named], ord=float("inf"))
            peaks = torch.stack([n.float() for n in norms]).cpu()  # the one sync
            finite = torch.isfinite(peaks)
            if not bool(finite.all()):
                index = int((~finite).nonzero()[0])
                bad = (named[index][0], float(peaks[index]))
        if any_rank(self.context, bad is not None):  # all ranks stop together
            name, value = bad or ("(on another rank)", float("nan"))
            raise NonFiniteWeightError(self.step, name, value, last_checkpoint=self.last_checkpoint)
