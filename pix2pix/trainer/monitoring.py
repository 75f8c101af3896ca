"""Built-in callbacks that watch a validation metric: keep the best models, stop early.

Both are plain :class:`~pix2pix.trainer.Callback` subclasses that act in
``on_validation_end``, so they need validation data (``val_data``) and ``val_every > 0``. They
are also reachable from :class:`~pix2pix.trainer.TrainerConfig` (``keep_best``,
``early_stop_patience``, with ``best_metric``, ``best_mode`` and ``early_stop_min_delta``), which
the Trainer turns into callbacks with :func:`config_callbacks`. Their state is saved in every
checkpoint and restored on resume.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pix2pix._checks import check_choice
from pix2pix._files import atomic_directory
from pix2pix.trainer.callbacks import Callback

if TYPE_CHECKING:
    from pix2pix.trainer.config import TrainerConfig
    from pix2pix.trainer.trainer import Trainer


from pix2pix.constants import BEST_DIR

BEST_INDEX = "best.json"
#: Metrics where a higher value is better (``auto`` mode); every other metric is minimised.
HIGHER_IS_BETTER = ("psnr", "ssim")


def metric_mode(metric: str, mode: str = "auto") -> str:
    """``"min"`` or ``"max"``: ``mode`` itself, or for ``"auto"`` what suits ``metric``.

    Examples:
        >>> metric_mode("val/PSNR"), metric_mode("val/L1"), metric_mode("val/L1", "max")
        ('max', 'min', 'max')
    """
    check_choice("mode", mode, ("auto", "min", "max"))
    if mode != "auto":
        return mode
    name = metric.rsplit("/", 1)[-1].lower()
    return "max" if name in HIGHER_IS_BETTER else "min"


def _improves(value: float, reference: float | None, mode: str, min_delta: float) -> bool:
    if reference is None:
        return True
    if mode == "min":
        return value < reference - min_delta
    return value > reference + min_delta


class _MetricWatcher(Callback):
    """A callback that reads one validation metric (``self.metric``) after each validation."""

    metric: str
    _warned = False  # said once that the metric is missing

    def metric_value(self, trainer: Trainer, metrics: dict[str, float]) -> float | None:
        """The watched metric's value, or ``None`` (said once) when validation gave none."""
        value = metrics.get(self.metric)
        if value is None or not math.isfinite(value):
            if not self._warned:
                self._warned = True
                trainer.logger.warning(
                    "%s: validation gave no finite %r (it gave %s); it does nothing until it does.",
                    type(self).__name__,
                    self.metric,
                    ", ".join(sorted(metrics)) or "nothing",
                )
            return None
        return float(value)

    def warn_without_validation(self, trainer: Trainer) -> None:
        """Say that the run never validates, when it does not."""
        if trainer.val_data is None or trainer.config.val_every == 0:
            trainer.logger.warning(
                "%s watches %r, but this run never validates (give val_data and val_every > 0).",
                type(self).__name__,
                self.metric,
            )


class BestCheckpoint(_MetricWatcher):
    """Keep the ``k`` best models by a validation metric in ``output_dir/best/step-XXXXXX``.

    Each kept folder is a saved generator (EMA weights when on), loadable with
    :meth:`pix2pix.Translator.from_pretrained`; its ``config.json`` ``inference["best"]`` holds
    the metric, its value and the step. ``best/best.json`` lists the kept models, best first.
    Folders are written atomically, never pruned with the checkpoints, and the list is restored
    on resume (models a crashed run saved after its last checkpoint are removed: the resumed run
    redoes those steps).

    Args:
        k: How many models to keep (at least 1).
        metric: The validation metric, e.g. ``"val/L1"`` or ``"val/PSNR"``.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (see :func:`metric_mode`).
        dirname: The folder under ``output_dir``.

    Examples:
        >>> trainer = Trainer(G, D, config, train, val,  # doctest: +SKIP
        ...                   callbacks=[BestCheckpoint(k=2, metric="val/PSNR")])
    """

    def __init__(
        self, k: int = 1, metric: str = "val/L1", mode: str = "auto", dirname: str = BEST_DIR
    ) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k={k!r} must be an integer >= 1 (the number of models kept).")
        self.k = k
        self.metric = metric
        self.mode = metric_mode(metric, mode)
        self.dirname = dirname
        #: The kept models, best first: ``{"step", "value", "path"}`` (path relative to the run).
        self.kept: list[dict[str, Any]] = []
        self._warned = False

    def qualifies(self, value: float) -> bool:
        """Whether a model with this metric value enters the best ``k``."""
        if len(self.kept) < self.k:
            return True
        return _improves(value, self.kept[-1]["value"], self.mode, 0.0)

    def update(self, step: int, value: float) -> tuple[bool, list[dict[str, Any]]]:
        """Record a candidate: ``(kept?, entries that dropped out)``; writes nothing."""
        if not self.qualifies(value):
            return False, []
        entry = {"step": step, "value": value, "path": f"{self.dirname}/step-{step:06d}"}
        kept = [e for e in self.kept if e["step"] != step] + [entry]
        # stable sort: among equal values the earlier model stays ahead
        kept.sort(key=lambda e: e["value"], reverse=self.mode == "max")
        self.kept, dropped = kept[: self.k], kept[self.k :]
        return entry in self.kept, dropped

    def on_train_start(self, trainer: Trainer) -> None:
        self.warn_without_validation(trainer)
        if not trainer.context.is_main:
            return
        folder = Path(trainer.config.output_dir) / self.dirname
        if trainer.last_checkpoint is None:  # a new run: nothing of an older one is deleted
            return
        known = {Path(e["path"]).name for e in self.kept}
        if folder.is_dir():  # models of a crashed run's redone steps
            for child in folder.iterdir():
                if child.is_dir() and child.name.startswith("step-") and child.name not in known:
                    shutil.rmtree(child, ignore_errors=True)
        if folder.is_dir():
            self._write_index(folder)

    def on_validation_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        value = self.metric_value(trainer, metrics)
        if value is None or not trainer.context.is_main:
            return
        kept, dropped = self.update(trainer.step, value)
        if not kept:
            return
        from pix2pix.trainer.checkpoint.contents import save_model

        output_dir = Path(trainer.config.output_dir)
        meta = {
            **trainer.inference_metadata(),
            "best": {
                "metric": self.metric,
                "value": value,
                "mode": self.mode,
                "step": trainer.step,
            },
        }
        target = output_dir / self.kept_entry(trainer.step)["path"]
        atomic_directory(target, lambda tmp: save_model(trainer.inference_generator(), tmp, meta))
        for entry in dropped:
            shutil.rmtree(output_dir / entry["path"], ignore_errors=True)
        self._write_index(output_dir / self.dirname)
        rank = [e["step"] for e in self.kept].index(trainer.step) + 1
        trainer.logger.info(
            "%s=%.4g at step %d is best #%d of %d: saved %s",
            self.metric,
            value,
            trainer.step,
            rank,
            self.k,
            target,
        )

    def kept_entry(self, step: int) -> dict[str, Any]:
        """The kept entry of ``step``."""
        return next(e for e in self.kept if e["step"] == step)

    def _write_index(self, folder: Path) -> None:
        from pix2pix._files import atomic_write_text

        folder.mkdir(parents=True, exist_ok=True)
        index = {"metric": self.metric, "mode": self.mode, "k": self.k, "kept": self.kept}
        atomic_write_text(folder / BEST_INDEX, json.dumps(index, indent=2) + "\n")

    def state_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "mode": self.mode, "kept": [dict(e) for e in self.kept]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("metric") != self.metric or state.get("mode") != self.mode:
            return  # a different metric: the old ranking means nothing for it
        self.kept = [dict(e) for e in state.get("kept", [])][: self.k]


class EarlyStopping(_MetricWatcher):
    """Stop training when a validation metric stopped improving for ``patience`` validations.

    A validation improves when the metric beats the best so far by more than ``min_delta``
    (lower for ``min``, higher for ``max``). After ``patience`` validations in a row without
    improving, it sets ``trainer.should_stop``: the run ends after that step with a final
    checkpoint and export, like a run that reached ``max_steps``.

    Args:
        metric: The validation metric, e.g. ``"val/L1"``.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (see :func:`metric_mode`).
        patience: Validations without improvement before stopping (at least 1).
        min_delta: The smallest change that counts as an improvement (>= 0).

    Examples:
        >>> stopper = EarlyStopping("val/L1", patience=3, min_delta=0.001)
    """

    def __init__(
        self,
        metric: str = "val/L1",
        mode: str = "auto",
        patience: int = 5,
        min_delta: float = 0.0,
    ) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience={patience!r} must be an integer >= 1.")
        if not min_delta >= 0:
            raise ValueError(f"min_delta={min_delta!r} must be >= 0.")
        self.metric = metric
        self.mode = metric_mode(metric, mode)
        self.patience = patience
        self.min_delta = float(min_delta)
        self.best: float | None = None
        self.best_step: int | None = None
        self.bad_validations = 0
        self.stopped_step: int | None = None
        self._warned = False

    def update(self, step: int, value: float) -> bool:
        """Record a validation's value; returns whether training should stop now."""
        if _improves(value, self.best, self.mode, self.min_delta):
            self.best, self.best_step, self.bad_validations = value, step, 0
            return False
        self.bad_validations += 1
        return self.bad_validations >= self.patience

    def on_train_start(self, trainer: Trainer) -> None:
        self.warn_without_validation(trainer)

    def on_validation_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        value = self.metric_value(trainer, metrics)
        if value is None:
            return
        if self.update(trainer.step, value):
            self.stopped_step = trainer.step
            trainer.should_stop = True
            trainer.logger.info(
                "Early stopping at step %d: %s has not improved on %.4g (step %s) for %d "
                "validation(s).",
                trainer.step,
                self.metric,
                self.best,
                self.best_step,
                self.bad_validations,
            )

    def state_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "best": self.best,
            "best_step": self.best_step,
            "bad_validations": self.bad_validations,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("metric") != self.metric:
            return
        self.best = state.get("best")
        self.best_step = state.get("best_step")
        self.bad_validations = int(state.get("bad_validations", 0))


def config_callbacks(config: TrainerConfig) -> list[Callback]:
    """The built-in callbacks a config asks for (``keep_best``, ``early_stop_patience``).

    Examples:
        >>> from pix2pix.trainer import TrainerConfig
        >>> [type(c).__name__ for c in config_callbacks(TrainerConfig(keep_best=2))]
        ['BestCheckpoint']
    """
    callbacks: list[Callback] = []
    if config.keep_best:
        callbacks.append(BestCheckpoint(config.keep_best, config.best_metric, config.best_mode))
    if config.early_stop_patience is not None:
        callbacks.append(
            EarlyStopping(
                config.best_metric,
                config.best_mode,
                config.early_stop_patience,
                config.early_stop_min_delta,
            )
        )
    return callbacks
