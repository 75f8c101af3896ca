"""The training loop: taking the run folder, resuming, the cadences, stopping, interrupts.

:func:`run_fit` is what :meth:`Trainer.fit` runs. It drives the trainer through its public
methods only (``training_step``, ``log_losses``, ``write_samples``, ``validate``,
``save_checkpoint``...), so each of those stays an override point and this module owns only
the order: fetch a batch, step, log, sample, validate, checkpoint, stop.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from pix2pix._files import WriteError, remove_leftovers
from pix2pix.constants import FINAL_DIR, RUN_CONFIG_NAME, WEIGHTS_NAME
from pix2pix.trainer import checkpoint as ckpt
from pix2pix.trainer.checkpoint.layout import remove_stale_temporaries
from pix2pix.trainer.distributed import any_rank
from pix2pix.trainer.errors import RunFolderWriteError
from pix2pix.trainer.interrupts import deferred_interrupts
from pix2pix.trainer.loader import epoch_loader
from pix2pix.trainer.metadata import logged_config
from pix2pix.trainer.reporting import Reporter
from pix2pix.trainer.resume import config_changes, is_finished, refuse_changes
from pix2pix.trainer.rng import seed_everything
from pix2pix.trainer.run_folder import take_run_folder
from pix2pix.trainer.run_record import read_json_object, run_record, write_run_record

if TYPE_CHECKING:
    from torch.utils.data import DataLoader

    from pix2pix.trainer.trainer import Trainer

# errors of a writer that the user fixes outside the program (space, quota, a read-only mount)
_DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO)


@dataclass(frozen=True)
class Cadences:
    """Steps between logs, sample grids, validations and checkpoints (0: never).

    Examples:
        >>> from pix2pix.trainer.config import TrainerConfig
        >>> Cadences.of(TrainerConfig(), total_steps=80_000)
        Cadences(log=100, sample=1000, val=1000, checkpoint=1000)
        >>> Cadences.of(TrainerConfig(), total_steps=20)
        Cadences(log=1, sample=2, val=2, checkpoint=4)
    """

    log: int
    sample: int
    val: int
    checkpoint: int

    @classmethod
    def of(cls, config: Any, total_steps: int) -> Cadences:
        """The config's cadences; one left as ``None`` scales with the run's length.

        ``None`` gives the paper-length run's cadence (100 / 1,000 steps) when the run is long,
        and a proportion of it when it is short: 1/100 of the run between logs, 1/10 between
        samples and validations, 1/5 between checkpoints, so a 20-step run still draws its
        curves, shows pictures and can be resumed.
        """

        def scaled(value: int | None, every: int, fraction: int) -> int:
            if value is not None:
                return value
            return min(every, max(1, total_steps // fraction))

        return cls(
            log=scaled(config.log_every, 100, 100),
            sample=scaled(config.sample_every, 1000, 10),
            val=scaled(config.val_every, 1000, 10),
            checkpoint=scaled(config.checkpoint_every, 1000, 5),
        )


def total_steps(trainer: Trainer) -> int:
    """The steps of the whole run: every epoch, or ``max_steps`` when that comes first."""
    cfg = trainer.config
    total = trainer.steps_per_epoch() * cfg.total_epochs
    return min(total, cfg.max_steps) if cfg.max_steps is not None else total


def trainer_loader(trainer: Trainer) -> DataLoader:
    """The DataLoader of the trainer's current epoch, from its position in that epoch."""
    cfg = trainer.config
    # pinned memory only for CPU items: a dataset already on the GPU cannot be pinned
    on_cpu = str(getattr(trainer.train_data, "device", "cpu")).startswith("cpu")
    return epoch_loader(
        trainer.train_data,  # type: ignore[arg-type]
        epoch=trainer.state.epoch,
        start_batch=trainer.state.batch_in_epoch,
        batch_size=cfg.batch_size,
        shuffle=cfg.shuffle,
        drop_last=cfg.drop_last,
        seed=cfg.seed,
        num_workers=cfg.num_workers,
        rank=trainer.context.rank,
        world_size=trainer.context.world_size,
        pin_memory=trainer.device.type == "cuda" and on_cpu,
    )


def resume_advice(trainer: Trainer) -> str:
    """Where an interrupted run stands and how to continue it, for its last message."""
    if trainer.last_checkpoint is None:
        return "no checkpoint was written yet, so there is nothing to resume."
    hint = trainer.resume_hint or f"fit(resume_from={str(trainer.last_checkpoint)!r})"
    return f"the last checkpoint is {trainer.last_checkpoint}; resume with: {hint}"


def run_fit(
    trainer: Trainer, resume_from: str | os.PathLike[str] | None, *, overwrite: bool
) -> Path | None:
    """What :meth:`Trainer.fit` does, holding the run folder's lock throughout."""
    output_dir = Path(trainer.config.output_dir)
    lock = take_run_folder(
        output_dir,
        trainer.context,
        new_run=resume_from is None,
        overwrite=overwrite,
        logger=trainer.logger,
    )
    try:
        return _fit(trainer, resume_from, output_dir)
    except OSError as error:
        if error.errno not in _DISK_ERRORS and not isinstance(error, WriteError):
            raise
        what = str(error) if isinstance(error, WriteError) else f"Could not write: {error}."
        raise RunFolderWriteError(
            f"{what} Training stopped at step {trainer.state.step}; {resume_advice(trainer)}"
        ) from error
    finally:
        lock.release()


def _resume(trainer: Trainer, resume_from: str | os.PathLike[str], output_dir: Path) -> bool:
    """Load the checkpoint ``resume_from`` names; whether the run has anything left to do."""
    path = ckpt.resolve_checkpoint(resume_from, output_dir)
    saved = read_json_object(path / RUN_CONFIG_NAME).get("trainer", {})
    allowed, refused = config_changes(saved, trainer.config)
    refuse_changes(
        refused,
        where=f"Cannot resume from {path}",
        fix="Resume with the checkpoint's settings, or start a new run",
    )
    for key, (old, new) in allowed.items():
        trainer.logger.info("Resuming with %s changed: %r -> %r.", key, old, new)
    trainer.load_checkpoint(path)
    return not is_finished(trainer.state.step, trainer.state.epoch, trainer.config)


def _finished(trainer: Trainer, output_dir: Path) -> Path:
    """A resumed run with nothing left to do: say so; export only if that was missed."""
    state, final = trainer.state, output_dir / FINAL_DIR
    trainer.logger.info(
        "%s finished at step %d (epoch %d of %d); nothing to train. To train further, "
        "resume with a larger max_steps (pix2pix train --max-steps M, M > %d) or more epochs "
        "(--epochs / --epochs-decay).",
        output_dir,
        state.step,
        state.epoch,
        trainer.config.total_epochs,
        state.step,
    )
    if (final / WEIGHTS_NAME).is_file():
        return final
    # killed between the last checkpoint and the export: the export is all that is left
    return trainer.save_pretrained(final)


def _fit(
    trainer: Trainer, resume_from: str | os.PathLike[str] | None, output_dir: Path
) -> Path | None:
    cfg, context = trainer.config, trainer.context
    seed_everything(cfg.seed + context.rank)
    if context.is_main:
        output_dir.mkdir(parents=True, exist_ok=True)
        # leftovers of a killed save, prune or export (safe: this run holds the lock)
        remove_stale_temporaries(output_dir)
        remove_leftovers(output_dir, (FINAL_DIR, RUN_CONFIG_NAME))
    if resume_from is not None and not _resume(trainer, resume_from, output_dir):
        return _finished(trainer, output_dir)
    if context.is_main:
        write_run_record(output_dir, run_record(trainer))
    trainer.reporter = Reporter(
        output_dir,
        loggers=(*dict.fromkeys(("jsonl", *cfg.loggers)), *trainer.extra_loggers),
        enabled=context.is_main,
        resume_step=trainer.state.step if resume_from is not None else None,
    )
    trainer.reporter.log_config(logged_config(trainer))
    trainer.interrupted = trainer.should_stop = False
    trainer.interrupts.requested = False
    loop = TrainingLoop(trainer)
    try:
        trainer.call_hook("on_train_start")
        with deferred_interrupts(
            trainer.interrupts, trainer.logger, lambda: trainer.state.step + 1
        ):
            try:
                loop.run()
                loop.close()  # before the final messages: a bar closed after them is drawn again
            except KeyboardInterrupt:
                trainer.interrupts.requested = True
                if trainer.interrupts.mid_step:
                    # D was updated but G not: this state is no step of any run
                    trainer.logger.warning(
                        "Interrupted inside step %d; not checkpointing a half-done step: %s",
                        trainer.state.step + 1,
                        resume_advice(trainer),
                    )
                    trainer.interrupted = True
                    return None
            # the final checkpoint and export are inside the window too: a Ctrl-C while they
            # are written waits for them
            stopped_early = any_rank(context, trainer.interrupts.requested)
            loop.log_losses()
            if not stopped_early:
                loop.last_step_outputs()
            trainer.save_checkpoint()
            if stopped_early:
                trainer.interrupted = True
                trainer.logger.warning(
                    "Interrupted after step %d: %s", trainer.state.step, resume_advice(trainer)
                )
                return None
            final = trainer.save_pretrained(output_dir / FINAL_DIR)
        trainer.call_hook("on_train_end")
        return final
    finally:
        loop.close()
        trainer.reporter.close()


class TrainingLoop:
    """Epochs of steps at the run's cadences, until the schedule ends or a stop is asked for.

    Examples:
        >>> TrainingLoop(trainer).run()  # doctest: +SKIP
    """

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.cadences = Cadences.of(trainer.config, total_steps(trainer))
        self.progress: Any = None
        self._validated = self._sampled = -1  # the steps of the last validation / sample grid

    def run(self) -> None:
        """Train until the schedule ends or a stop is asked for (Ctrl-C, ``should_stop``)."""
        trainer, state, flags = self.trainer, self.trainer.state, self.trainer.interrupts
        cfg = trainer.config
        total = total_steps(trainer)
        self.progress = tqdm(
            total=total,
            initial=min(state.step, total),
            desc="train",
            unit="step",
            dynamic_ncols=True,
            disable=not (cfg.progress_bar and trainer.context.is_main),
        )
        trainer.loss_log.restart(state.step)
        flags.mid_step = False
        while state.epoch < cfg.total_epochs and not self.stop_requested():
            batches = iter(trainer_loader(trainer))
            trainer.call_hook("on_epoch_start")
            while True:
                flags.mid_step = True  # fetching advances the augmentation RNG
                batch = next(batches, None)
                if batch is None:
                    flags.mid_step = False
                    state.end_epoch()
                    break
                losses = trainer.training_step(batch)
                state.advance()
                flags.mid_step = False
                trainer.loss_log.add(state.step, losses)
                self.progress.update(1)
                trainer.call_hook("on_step_end", losses)
                self.after_step()
                if self.stop_requested():
                    return

    def after_step(self) -> None:
        """Log, sample, validate and checkpoint at their cadences."""
        trainer, step, every = self.trainer, self.trainer.state.step, self.cadences
        if step % every.log == 0:
            self.log_losses()
            trainer.check_weights()  # one more device sync at the cadence that already syncs
        if every.sample and step % every.sample == 0:
            self.sample()
        if every.val and trainer.val_data is not None and step % every.val == 0:
            self.validate()
        if every.checkpoint and step % every.checkpoint == 0:
            trainer.save_checkpoint()

    def sample(self) -> None:
        self.trainer.write_samples()
        self._sampled = self.trainer.state.step

    def validate(self) -> None:
        self.trainer.validate()
        self._validated = self.trainer.state.step

    def last_step_outputs(self) -> None:
        """At the run's last step, a sample grid and a validation, if the cadence missed it."""
        trainer, step = self.trainer, self.trainer.state.step
        if self.cadences.sample and self._sampled != step:
            self.sample()
        if self.cadences.val and trainer.val_data is not None and self._validated != step:
            self.validate()

    def log_losses(self) -> None:
        """Log the losses since the last log, and show them on the progress bar."""
        record = self.trainer.log_losses()
        if record and self.progress is not None:
            shown = {k: f"{v:.3g}" for k, v in record.items() if k not in ("lr", "window")}
            self.progress.set_postfix(shown, refresh=False)

    def stop_requested(self) -> bool:
        """Whether to leave the loop now (the same answer on every rank)."""
        trainer = self.trainer
        cfg, step = trainer.config, trainer.state.step
        if cfg.max_steps is not None and step >= cfg.max_steps:
            return True  # the same on every rank
        local = trainer.should_stop or trainer.interrupts.requested
        if not trainer.context.is_distributed:
            return local
        # Every rank must leave the loop at the same step or the others hang in collectives.
        # Agreeing waits for the device, so ranks compare flags at the log cadence only.
        return step % self.cadences.log == 0 and any_rank(trainer.context, local)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.close()
            self.progress = None
