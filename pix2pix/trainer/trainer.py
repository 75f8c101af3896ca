"""The Trainer: the front end users construct and subclass, over a small training engine.

Each concern has an owner with a public interface, and the Trainer wires them together:

* :class:`~pix2pix.trainer.networks.Networks`: G and D and their DDP / compiled handles;
* :mod:`~pix2pix.trainer.loss_terms`: each loss a weighted list of terms from the config;
* :class:`~pix2pix.trainer.state.TrainingState`: counters, optimizers, schedulers, scaler, EMA;
* :mod:`~pix2pix.trainer.loop`: the run folder, resuming, the cadences, stopping, interrupts;
* :mod:`~pix2pix.trainer.checkpoint`: what a checkpoint holds and where it lives.

A research variant overrides a loss, adds a term (:meth:`~Trainer.configure_loss_terms`),
changes :meth:`~Trainer.configure_optimizers`, or uses a hook (mirrored by :class:`Callback`).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler
from torch.utils.data import Dataset

from pix2pix import metrics
from pix2pix._device import autocast_dtype, check_precision
from pix2pix.losses.adversarial import gan_loss
from pix2pix.trainer.callbacks import Callback
from pix2pix.trainer.checkpoint.contents import (
    restore_checkpoint,
    save_checkpoint,
    save_inference_model,
)
from pix2pix.trainer.config import TrainerConfig
from pix2pix.trainer.cuda_graphs import CudaGraphStep
from pix2pix.trainer.distributed import (
    DistributedContext,
    RankZeroLogger,
    setup_distributed,
)
from pix2pix.trainer.ema import ExponentialMovingAverage
from pix2pix.trainer.hooks import TrainerHooks
from pix2pix.trainer.interrupts import InterruptFlags
from pix2pix.trainer.loader import check_dataset, steps_per_epoch
from pix2pix.trainer.loggers import Logger, check_logger_packages, logger_instances
from pix2pix.trainer.loop import run_fit
from pix2pix.trainer.loss_terms import (
    LossInputs,
    LossTerm,
    discriminator_terms,
    generator_terms,
    weighted_sum,
)
from pix2pix.trainer.metadata import build_inference_metadata
from pix2pix.trainer.monitoring import config_callbacks
from pix2pix.trainer.networks import Networks
from pix2pix.trainer.optim import build_adam
from pix2pix.trainer.outputs import SampleWriter, validate
from pix2pix.trainer.reporting import LossBuffer, Reporter, log_losses
from pix2pix.trainer.resume import continue_run
from pix2pix.trainer.run_record import callback_spec
from pix2pix.trainer.schedulers import build_scheduler
from pix2pix.trainer.state import StateField, TrainingState
from pix2pix.trainer.step import EagerStep, batch_to_device
from pix2pix.trainer.weights import check_weights

logger = logging.getLogger(__name__)
T = TypeVar("T", bound="Trainer")
Logs = dict[str, torch.Tensor]
Data = Dataset | Sequence[dict[str, Any]]


class Trainer(TrainerHooks):
    """Trains a pix2pix generator against a conditional discriminator (paper section 3).

    One :meth:`training_step` is one update in the reference order: the discriminator on the
    detached fake and on the real pair, its loss halved; then the generator, with the
    discriminator frozen, on ``GAN(D(source, fake), real) + lambda_l1 * L1(fake, target)``.

    Attributes used by overrides and callbacks: ``config``, ``generator`` and
    ``discriminator`` (the plain modules), ``state`` and, read through it, ``step`` (completed
    steps), ``epoch`` (0-based), ``batch_in_epoch``, ``optimizer_g``, ``optimizer_d``,
    ``scheduler_g``, ``scheduler_d``, ``scaler`` and ``ema``; ``device``, ``context`` (rank,
    world size), ``generator_terms`` / ``discriminator_terms`` and ``should_stop`` (set it to
    end after the current step; with several processes, at the next log step, where ranks
    agree).

    Args:
        generator: The generator, e.g. :class:`~pix2pix.UNetGenerator` (a ``ModelMixin``, so
            that checkpoints can save it).
        discriminator: The discriminator; it sees ``cat(source, image)`` on channels.
        config: Training settings; ``TrainerConfig()`` (the paper's) when omitted.
        train_data: A map-style dataset or list of dicts with ``"source"`` and ``"target"``
            ``[C, H, W]`` tensors in [-1, 1] (e.g. :class:`pix2pix.data.PairedImageDataset`).
        val_data: The same, for validation metrics and sample grids.
        callbacks: :class:`Callback` instances.
        loggers: :class:`~pix2pix.trainer.loggers.Logger` instances, beside the loggers that
            ``config.loggers`` names.

    Examples:
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

    step = StateField()
    epoch = StateField()
    batch_in_epoch = StateField()
    optimizer_g = StateField()
    optimizer_d = StateField()
    scheduler_g = StateField()
    scheduler_d = StateField()
    scaler = StateField()
    ema = StateField()

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        config: TrainerConfig | None = None,
        train_data: Data | None = None,
        val_data: Data | None = None,
        callbacks: Iterable[Callback] = (),
        loggers: Iterable[Logger] = (),
    ) -> None:
        if config is None:
            config = TrainerConfig()
        if not isinstance(config, TrainerConfig):
            raise ValueError(f"config must be a TrainerConfig; got {type(config).__name__}.")
        self.config = config.validate()
        self.networks = Networks(generator, discriminator)  # refuses models it cannot save
        self.extra_loggers = logger_instances(loggers)
        self.train_data, self.val_data = train_data, val_data
        callbacks = list(callbacks)
        # the config's built-in callbacks (keep_best, early_stop_patience) come after the given
        self.callbacks = [*callbacks, *config_callbacks(self.config)]
        #: The callbacks' classes as the run record lists them (``"module:Class"``): the given
        #: ones, and those a resumed run recorded (see :meth:`from_run`).
        self.recorded_callbacks: list[str] = [callback_spec(c) for c in callbacks]
        #: The checkpoint :meth:`fit` resumes from when called without ``resume_from`` (set by
        #: :meth:`from_run`); ``None`` starts a new run.
        self.resume_checkpoint: Path | None = None
        self.state = TrainingState()
        self.generator_terms: list[LossTerm] = []  # built by setup(), from the config
        self.discriminator_terms: list[LossTerm] = []
        self.should_stop = self.interrupted = False
        self.interrupts = InterruptFlags()
        self.context = DistributedContext()
        self.device = torch.device("cpu")
        self.last_checkpoint: Path | None = None
        # messages from rank 0 only: a job of N processes should not say everything N times
        self.logger = RankZeroLogger(logger, lambda: self.context.is_main)
        # how an interrupted run is continued, named in the exit message (the CLI sets its own)
        self.resume_hint: str | None = None
        self.loss_log = LossBuffer()  # losses since the last log, on the device until then
        self.reporter: Reporter | None = None  # the run's loggers, while fit() runs
        self.last_val_metrics: dict[str, float] = {}  # the latest validate() result
        # extra facts for the run record and the exported model card, e.g. {"preset": "paper"}
        self.run_info: dict[str, Any] = {}
        #: What :meth:`training_step` runs: ``EagerStep``, or ``CudaGraphStep`` (``cuda_graphs``)
        self.step_function: Callable[[torch.Tensor, torch.Tensor], Logs] = EagerStep(self)
        self.sample_writer = SampleWriter()
        self._is_setup = False

    @classmethod
    def from_run(
        cls: type[T],
        run: str | os.PathLike[str],
        train_data: Data,
        val_data: Data | None = None,
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
            train_data: The training data as the run had it (its settings must match the
                record; its folder may move).
            val_data: Validation data, if any.
            callbacks: :class:`Callback` instances to attach.
            **config_overrides: Settings that do not change what a step computes
                (:data:`~pix2pix.trainer.resume.RESUME_SAFE_FIELDS`), e.g. ``max_steps``.

        Raises:
            FileNotFoundError: If ``run`` is no run folder, or it has no checkpoint.
            ValueError: If the record is damaged or of another format, names another Trainer
                class, or an override or the data changes what a step computes.

        Examples:
            >>> trainer = Trainer.from_run("runs/a", data, max_steps=4000)  # doctest: +SKIP
            >>> trainer.fit()  # doctest: +SKIP
        """
        return continue_run(cls, run, train_data, val_data, callbacks, config_overrides)

    # ================================================================ setup
    @property
    def generator(self) -> nn.Module:
        """The plain generator module (never wrapped in DDP or compile)."""
        return self.networks.generator

    @property
    def discriminator(self) -> nn.Module:
        """The plain discriminator module."""
        return self.networks.discriminator

    def setup(self) -> None:
        """Place models; build optimizers, schedulers, scaler, EMA, handles and loss terms (once;
        :meth:`fit` and the first :meth:`training_step` call it)."""
        if self._is_setup:
            return
        cfg, state = self.config, self.state
        self.context = setup_distributed(cfg.device)
        self.device = device = self.context.device
        check_precision(cfg.precision, device, self.logger)
        self.networks.place(cfg, device)
        if cfg.ema_decay is not None:
            state.ema = ExponentialMovingAverage(
                self.generator, cfg.ema_decay, warmup=cfg.ema_warmup
            ).to(device)
        self.networks.wrap(cfg, self.context)
        state.optimizer_g, state.optimizer_d = self.configure_optimizers()
        state.scheduler_g, state.scheduler_d = self.configure_schedulers(
            state.optimizer_g, state.optimizer_d
        )
        state.scaler = torch.amp.GradScaler(device.type, enabled=cfg.precision == "fp16")
        self.generator_terms, self.discriminator_terms = self.configure_loss_terms()
        self.step_function = CudaGraphStep(self) if cfg.cuda_graphs else self.step_function
        self._is_setup = True

    def configure_optimizers(self) -> tuple[Optimizer, Optimizer]:
        """Return ``(optimizer_g, optimizer_d)``: Adam(lr, betas=(beta1, beta2)) for each (paper).

        The paper-exact fp32 default uses PyTorch's per-parameter Adam, whose arithmetic the
        reference implementation shares bit for bit; the fast paths (a lower ``precision``,
        ``compile``, ``cuda_graphs``) use the fused Adam kernel, several times faster.

        Examples:
            >>> class SGDTrainer(Trainer):  # doctest: +SKIP
            ...     def configure_optimizers(self):
            ...         return (torch.optim.SGD(self.generator.parameters(), lr=0.01),
            ...                 torch.optim.SGD(self.discriminator.parameters(), lr=0.01))
        """
        cfg = self.config
        fused = cfg.precision != "fp32" or cfg.compile or cfg.cuda_graphs
        return (
            build_adam(self.generator.parameters(), cfg, lr=cfg.lr, fused=fused),
            build_adam(self.discriminator.parameters(), cfg, lr=cfg.lr_d or cfg.lr, fused=fused),
        )

    def configure_schedulers(
        self, optimizer_g: Optimizer, optimizer_d: Optimizer
    ) -> tuple[LRScheduler | None, LRScheduler | None]:
        """Return ``(scheduler_g, scheduler_d)``, stepped once per epoch (``None`` for none);
        the default follows ``config.lr_policy`` (:mod:`pix2pix.trainer.schedulers`)."""
        return build_scheduler(optimizer_g, self.config), build_scheduler(optimizer_d, self.config)

    def configure_loss_terms(self) -> tuple[list[LossTerm], list[LossTerm]]:
        """Return ``(generator_terms, discriminator_terms)``, the weighted terms of each loss.

        The default builds them from the config (:mod:`~pix2pix.trainer.loss_terms`); extend
        the lists to add a term.

        Examples:
            >>> class TVTrainer(Trainer):  # doctest: +SKIP
            ...     def configure_loss_terms(self):
            ...         g, d = super().configure_loss_terms()
            ...         g.append(LossTerm("G_TV", 1e-4, lambda x: x.fake.diff().abs().mean()))
            ...         return g, d
        """
        return (
            generator_terms(self.config, self.discriminator),
            discriminator_terms(self.config, self.device.type),
        )

    # ================================================================ one update
    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The autocast context for ``config.precision`` (a no-op for fp32)."""
        dtype = autocast_dtype(self.config.precision)
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)

    def prepare_batch(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Move ``batch["source"]`` and ``batch["target"]`` (``[N, C, H, W]``) to the device."""
        return batch_to_device(batch, self.device, channels_last=self.config.channels_last)

    def training_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """One full update on ``batch``; returns the losses as detached 0-dim device tensors.

        A hand-written loop can call it (the first call sets up); reading a loss waits for the
        device, so the loop only does it when logging.

        Examples:
            >>> losses = trainer.training_step({"source": a, "target": b})  # doctest: +SKIP
            >>> sorted(losses)  # doctest: +SKIP
            ['D_fake', 'D_real', 'G_GAN', 'G_L1']
        """
        self.setup()
        source, target = self.prepare_batch(batch)
        return self.step_function(source, target)

    def generate(self, source: torch.Tensor) -> torch.Tensor:
        """G's output for ``source``, through the handle training uses (DDP/compile when on)."""
        return self.networks.generate(source)

    def discriminate(self, source: torch.Tensor, image: torch.Tensor, **kwargs: Any) -> Any:
        """D on ``cat(source, image)`` through the handle of the update in progress (DDP and
        compile in D's, frozen without DDP in G's); ``kwargs`` go to D."""
        return self.networks.discriminate(torch.cat([source, image], dim=1), **kwargs)

    def discriminator_loss(
        self, source: torch.Tensor, target: torch.Tensor, fake: torch.Tensor
    ) -> tuple[torch.Tensor, Logs]:
        """D's loss on ``(source, fake)`` as fake and ``(source, target)`` as real, plus its terms.

        ``fake`` arrives detached. Runs under autocast; returns ``(loss, logs)``: the loss to
        minimise and the values to log (``D_fake``, ``D_real``, and ``D_GP`` for wgangp).
        """
        mode = self.config.gan_mode
        loss_fake = gan_loss(self.discriminate(source, fake), False, mode)
        loss_real = gan_loss(self.discriminate(source, target), True, mode)
        # paper section 3.3: halve D's objective to slow D relative to G
        loss = (loss_fake + loss_real) * 0.5
        logs = {"D_fake": loss_fake, "D_real": loss_real}
        inputs = LossInputs(source, target, fake, self.networks.discriminate, self.discriminator)
        extra, extra_logs = weighted_sum(self.discriminator_terms, inputs)
        if extra is not None:
            loss = loss + extra
        return loss, {**logs, **extra_logs}

    def generator_loss(
        self, source: torch.Tensor, target: torch.Tensor, fake: torch.Tensor
    ) -> tuple[torch.Tensor, Logs]:
        """G's loss, the sum of :attr:`generator_terms` (``G_GAN + lambda_l1 * G_L1``, eq. 4).

        Runs under autocast with D frozen; returns ``(loss, logs)``. Add a term with
        :meth:`configure_loss_terms`, or override this (see ``examples/custom_trainer.py``).
        """
        features = any(term.needs_features for term in self.generator_terms)
        inputs = LossInputs(
            source, target, fake, self.networks.discriminate, self.discriminator, features=features
        )
        loss, logs = weighted_sum(self.generator_terms, inputs)
        if loss is None:
            raise ValueError("generator_terms is empty: the generator has nothing to minimise.")
        return loss, logs

    # ================================================================ validation, samples
    def inference_generator(self) -> nn.Module:
        """The generator used for validation, samples and export (the EMA copy when on)."""
        return self.state.ema.module if self.state.ema is not None else self.generator

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

    def validate(self) -> dict[str, float]:
        """Mean validation metrics over ``val_data`` (rank 0; {} elsewhere); the training RNG
        streams are untouched, so validating does not change the run."""
        return validate(self)

    def write_samples(self) -> Path | None:
        """Save a source | generated | target grid to ``output_dir/samples/step-XXXXXX.png``."""
        return self.sample_writer.write(self)

    def log_losses(self) -> dict[str, Any]:
        """Log the loss means since the last log (one device sync; a NaN stops the run);
        returns the record (``{}`` when no step was taken since)."""
        return log_losses(self)

    # ================================================================ the run
    def fit(
        self, resume_from: str | os.PathLike[str] | None = None, *, overwrite: bool = False
    ) -> Path | None:
        """Train for ``epochs + epochs_decay`` epochs (or ``max_steps`` steps).

        Writes the run record, checkpoints (at ``checkpoint_every`` and at the end) and the
        generator (EMA weights when on) to ``output_dir/final`` for the
        :class:`~pix2pix.Translator`. Ctrl-C finishes the step, checkpoints and returns ``None``.

        Args:
            resume_from: ``"latest"`` (newest checkpoint in ``output_dir``), a run folder, or a
                checkpoint folder (default: :attr:`resume_checkpoint`, set by
                :meth:`from_run`). The resumed run ends with exactly the weights an
                uninterrupted run would have (fp32, same device, ``num_workers=0``). A run that
                already finished its schedule is not trained again: ``fit`` says so and returns
                its exported model (raise ``max_steps`` or the epochs to train further).
            overwrite: A new run refuses an ``output_dir`` that holds another run, since the
                two would interleave; ``True`` moves the old run aside to
                ``output_dir.old-<time>`` first.

        Returns:
            The exported model folder, or ``None`` when interrupted.

        Raises:
            NonFiniteLossError: A loss became NaN/inf (no checkpoint is written after it).
            FileNotFoundError: ``resume_from`` names no checkpoint.
            RunExistsError: ``output_dir`` holds another run and neither ``resume_from`` nor
                ``overwrite`` says what to do with it.

        Examples:
            >>> trainer.fit()  # doctest: +SKIP
            >>> trainer.fit(resume_from="latest")  # doctest: +SKIP
        """
        if resume_from is None:
            resume_from = self.resume_checkpoint
        check_logger_packages(self.config.loggers)  # a missing extra is one line, before work
        check_dataset(self.train_data, "train_data")
        if self.val_data is not None:
            check_dataset(self.val_data, "val_data")
        self.inference_metadata()  # a config that contradicts the dataset stops here
        self.setup()
        return run_fit(self, resume_from, overwrite=overwrite)

    def steps_per_epoch(self) -> int:
        """Optimisation steps in one epoch for this process."""
        cfg = self.config
        return steps_per_epoch(
            self.train_data, cfg.batch_size, cfg.drop_last, self.context.world_size
        )

    # ================================================================ checkpoints, export
    def save_checkpoint(self) -> Path:
        """Write ``output_dir/checkpoints/step-XXXXXX`` atomically; keep the newest K.

        Checks the pending losses first, so a NaN never reaches a checkpoint. Every process
        must call it (RNG states are gathered from all ranks); only rank 0 writes.
        """
        return save_checkpoint(self)

    def load_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Restore weights, optimizers, schedulers, scaler, counters, callbacks and RNG states.

        Raises:
            FileNotFoundError: If a part of the checkpoint is missing.
            ValueError: If it is damaged (a checksum differs) or does not fit the models.
        """
        self.setup()
        restore_checkpoint(self, Path(path))
        self.last_checkpoint = Path(path)
        self.logger.info("Resumed from %s (step %d, epoch %d).", path, self.step, self.epoch)

    def inference_metadata(self) -> dict[str, Any]:
        """Settings stored with the exported generator for :class:`~pix2pix.Translator`.

        The data's facts (``direction``, ``preprocess``, ``load_size``, ``crop_size``) come from
        the training dataset; the config states them for data that does not describe itself.

        Raises:
            ValueError: If the trainer config and the dataset disagree on one of them.
        """
        return build_inference_metadata(self)

    def save_pretrained(self, path: str | os.PathLike[str]) -> Path:
        """Save the inference generator (EMA weights when on) with ``save_pretrained`` (rank 0).

        The folder loads with :meth:`pix2pix.Translator.from_pretrained`; it holds
        ``config.json`` (with :meth:`inference_metadata`), ``model.safetensors`` and a card.

        Examples:
            >>> trainer.save_pretrained("runs/facades/final")  # doctest: +SKIP
        """
        return save_inference_model(self, Path(path))

    def check_weights(self) -> None:
        """Raise :class:`~pix2pix.trainer.errors.NonFiniteWeightError` if a parameter or buffer
        of G, D or the EMA is NaN or infinite (one fused check, one device sync)."""
        check_weights(self)
