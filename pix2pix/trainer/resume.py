"""The resume policy in one place: what a resumed run may change, and when a run is finished.

A resumed run continues the computation of the run it resumes, so it keeps the models and every
setting that changes what a step computes (the learning rates, the losses, the batch, the
seed...). It may change what steers how long, where and how visibly it runs
(:data:`RESUME_SAFE_FIELDS`): a longer schedule, the logging cadences, the workers. Any other
difference is refused, naming each field with both values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from pix2pix.trainer.config import DATA_FIELDS, TrainerConfig

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

    Example:
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

    Example:
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

    Example:
        >>> is_finished(20, 0, TrainerConfig(max_steps=20)), is_finished(20, 0, TrainerConfig())
        (True, False)
    """
    if config.max_steps is not None and step >= config.max_steps:
        return True
    return epoch >= config.total_epochs
