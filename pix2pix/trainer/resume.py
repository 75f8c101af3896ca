"""The resume policy in one place: what a resumed run may change, and when a run is finished.

A resumed run continues the computation of the run it resumes, so it keeps the models and every
setting that changes what a step computes (the learning rates, the losses, the batch, the
seed...). It may change what steers how long, where and how visibly it runs
(:data:`RESUME_SAFE_FIELDS`): a longer schedule, the logging cadences, the workers. Any other
difference is refused, naming each field with both values.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pix2pix.constants import RUN_CONFIG_NAME
from pix2pix.models.base import build_from_config
from pix2pix.trainer.config import DATA_FIELDS, TrainerConfig
from pix2pix.trainer.run_folder import locate_run
from pix2pix.trainer.run_record import data_record, read_run_record, recorded_config

if TYPE_CHECKING:
    from pix2pix.trainer.callbacks import Callback
    from pix2pix.trainer.trainer import Trainer

T = TypeVar("T", bound="Trainer")

#: Fields a resumed run may change: they steer how long, where and how visibly it runs, not
#: what one step computes. Any other difference from the checkpoint is refused on resume.
RESUME_SAFE_FIELDS = (
    "epochs",
    "epochs_decay",
    "max_steps",
    "log_every",
    "sample_every",
    "num_samples",
    "val_every",
    "checkpoint_every",
    "keep_checkpoints",
    "num_workers",
    "progress_bar",
    "loggers",
    "keep_best",
    "early_stop_patience",
    "early_stop_min_delta",
    "license",
    "output_dir",
    "device",
    "vgg_weights",  # where the frozen VGG19 file is, like device: a moved file is the same run
)

#: Fields that, with the dataset's length and the number of processes, define the data order:
#: a change puts a mid-epoch resume at the start of its epoch (the saved position no longer
#: indexes the same order).
DATA_ORDER_FIELDS = ("batch_size", "seed", "shuffle", "drop_last")


def config_changes(
    saved: Mapping[str, Any], current: TrainerConfig
) -> tuple[dict[str, tuple[Any, Any]], dict[str, tuple[Any, Any]]]:
    """Compare a run's saved config with the one it is resumed with.

    Returns:
        ``(allowed, refused)``: ``{field: (saved value, new value)}`` for the differing fields
        of :data:`RESUME_SAFE_FIELDS` and for every other differing field. The data fields
        (:data:`~pix2pix.trainer.config.DATA_FIELDS`) are left out: they are checked against the
        dataset itself.

    Examples:
        >>> allowed, refused = config_changes({"lr": 1e-3}, TrainerConfig(max_steps=5))
        >>> allowed, refused
        ({'max_steps': (None, 5)}, {'lr': (0.001, 0.0002)})
    """
    allowed: dict[str, tuple[Any, Any]] = {}
    refused: dict[str, tuple[Any, Any]] = {}
    defaults = TrainerConfig()
    for f in dataclasses.fields(current):
        if f.name in DATA_FIELDS:
            continue
        old = saved.get(f.name, getattr(defaults, f.name))
        new = getattr(current, f.name)
        if isinstance(old, list):  # a tuple field read back from JSON
            old = tuple(old)
        if old != new:
            (allowed if f.name in RESUME_SAFE_FIELDS else refused)[f.name] = (old, new)
    return allowed, refused


def model_changes(saved: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """The differences between two model records (``{"model_type": ..., **config}``).

    Examples:
        >>> model_changes({"model_type": "UNetGenerator", "base_channels": 4},
        ...               {"model_type": "UNetGenerator", "base_channels": 8})
        {'base_channels': (4, 8)}
    """
    keys = [*saved, *(k for k in current if k not in saved)]
    return {
        key: (saved.get(key), current.get(key))
        for key in keys
        if key != "pix2pix_version" and saved.get(key) != current.get(key)
    }


def refuse_changes(refused: Mapping[str, tuple[Any, Any]], *, where: str, fix: str) -> None:
    """Raise one ``ValueError`` listing every refused change with both values.

    Args:
        refused: ``{name: (saved, new)}``; nothing is raised when it is empty.
        where: What is being resumed (``"Cannot resume runs/a"``).
        fix: What to do instead.
    """
    if not refused:
        return
    listed = "; ".join(f"{name}: {old!r} -> {new!r}" for name, (old, new) in refused.items())
    raise ValueError(
        f"{where} with changed settings ({listed}): they change what the run computes. {fix} "
        f"(allowed on resume: {', '.join(RESUME_SAFE_FIELDS)})."
    )


def is_finished(step: int, epoch: int, config: TrainerConfig) -> bool:
    """Whether a run at ``step`` / ``epoch`` has done all that ``config`` asks for.

    Examples:
        >>> is_finished(20, 0, TrainerConfig(max_steps=20)), is_finished(20, 0, TrainerConfig())
        (True, False)
    """
    if config.max_steps is not None and step >= config.max_steps:
        return True
    return epoch >= config.total_epochs


def _data_changes(saved: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """The dataset settings that differ from the record and change what a step sees."""
    refused = {}
    for key, (old, new) in model_changes(saved, current).items():
        # its folder may move and its bad-image policy changes no step; a setting only one
        # side states (a palette, for pix2pix serve) is no change to the pixels
        if key in ("root", "on_error") or key not in saved or key not in current:
            continue
        # size_multiple shapes images only under preprocess="none"; elsewhere a dataset built
        # with the default (256) reads what the run read with its generator's multiple
        if key == "size_multiple" and saved.get("preprocess") != "none":
            continue
        refused[f"train_data.{key}"] = (old, new)
    return refused


def continue_run(
    cls: type[T],
    run: str | os.PathLike[str],
    train_data: Any,
    val_data: Any,
    callbacks: Iterable[Callback],
    overrides: dict[str, Any],
) -> T:
    """What :meth:`Trainer.from_run` does: rebuild a run of ``cls`` from its folder.

    Nothing the record names is imported: the models come from the library's own classes, the
    recorded Trainer class name must be ``cls``'s, and the recorded callbacks are only listed.
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
    given_dir = overrides.setdefault("output_dir", str(run_dir))
    if Path(given_dir).resolve() != run_dir.resolve():
        raise ValueError(
            f"{where} into output_dir={given_dir!r}: a resumed run continues in its own "
            "folder; leave output_dir out."
        )
    saved = recorded_config(record, run_dir)
    try:
        generator = build_from_config(record["generator"])
        discriminator = build_from_config(record["discriminator"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{run_dir / RUN_CONFIG_NAME} is damaged: {error}") from None
    config = saved.replace(**overrides)
    _, refused = config_changes(record["trainer"], config)
    recorded_data = (record.get("data") or {}).get("train") or {}
    data_now = data_record(train_data) or {}
    refused.update(_data_changes(recorded_data, data_now))
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
