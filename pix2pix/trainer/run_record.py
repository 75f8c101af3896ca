"""The record of a run, ``run_config.json``: everything that defines it, written by ``fit``.

The record holds the models' configs (by class name), the :class:`TrainerConfig`, what the
datasets say about themselves, the callbacks' class names and the Trainer class's name. ``fit``
writes it into the run folder when a run starts or resumes, and every checkpoint keeps a copy,
so a damaged run-level file is recovered from the newest checkpoint.

Reading a record never imports anything it names: models are built from the classes the library
registers (:func:`pix2pix.models.create_model`'s registry), the Trainer class name is compared
with the class resuming the run, and recorded callbacks are only listed until the user names
them again (a run folder may come from someone else).

Examples:
    >>> record = read_run_record("runs/facades")  # doctest: +SKIP
    >>> record["generator"]["model_type"], record["trainer"]["lr"]  # doctest: +SKIP
    ('UNetGenerator', 0.0002)
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pix2pix._files import atomic_write_text
from pix2pix.constants import RUN_CONFIG_NAME
from pix2pix.trainer.config import TrainerConfig

if TYPE_CHECKING:
    from pix2pix.trainer.callbacks import Callback
    from pix2pix.trainer.trainer import Trainer


logger = logging.getLogger(__name__)

#: The version of the record's layout. Format 1 (pix2pix before 0.1.0) kept the data folders
#: at the top of ``data``; runs of that format are refused with one line, not read.
RUN_RECORD_FORMAT = 2


def callback_spec(callback: Callback) -> str:
    """``"module:Class"`` of a callback, as ``pix2pix train --callback`` names it.

    Examples:
        >>> from pix2pix.trainer.monitoring import EarlyStopping
        >>> callback_spec(EarlyStopping())
        'pix2pix.trainer.monitoring:EarlyStopping'
    """
    cls = type(callback)
    return f"{cls.__module__}:{cls.__qualname__}"


def data_record(data: Any) -> dict[str, Any] | None:
    """What a dataset says about itself: its folder, its ``config`` and bad-image policy.

    ``None`` for no data; for data that does not describe itself (a list of tensors), its type
    and length.
    """
    if data is None:
        return None
    described = getattr(data, "config", None)
    record: dict[str, Any] = dict(described) if isinstance(described, dict) else {}
    root = getattr(data, "root", None)
    if root is not None:
        record["root"] = str(root)
    on_error = getattr(data, "on_error", None)
    if isinstance(on_error, str):
        record["on_error"] = on_error
    if not record:
        record["type"] = type(data).__name__
        with contextlib.suppress(TypeError):  # an iterable dataset has no length
            record["length"] = len(data)
    return record


def _model_record(model: Any) -> dict[str, Any]:
    return {"model_type": type(model).__name__, **getattr(model, "config", {})}


def run_record(trainer: Trainer) -> dict[str, Any]:
    """The record of ``trainer``'s run (plain JSON values); reads only its public attributes."""
    config = {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in trainer.config.to_dict().items()
    }
    return {
        "format": RUN_RECORD_FORMAT,
        "trainer_class": type(trainer).__name__,
        "generator": _model_record(trainer.generator),
        "discriminator": _model_record(trainer.discriminator),
        "trainer": config,
        "data": {"train": data_record(trainer.train_data), "val": data_record(trainer.val_data)},
        "callbacks": list(trainer.recorded_callbacks),
        "info": dict(trainer.run_info),
    }


def write_run_record(folder: str | os.PathLike[str], record: dict[str, Any]) -> Path:
    """Write ``record`` to ``folder/run_config.json`` atomically; returns the path."""
    return atomic_write_text(Path(folder) / RUN_CONFIG_NAME, json.dumps(record, indent=2) + "\n")


def read_json_object(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A JSON object from ``path``; every error is a one-line ``ValueError`` or
    ``FileNotFoundError`` naming the file.

    Examples:
        >>> read_json_object("missing.json")
        Traceback (most recent call last):
        ...
        FileNotFoundError: missing.json does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist.")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path} must hold a JSON object, not {type(value).__name__}")
    return value


def read_run_record(
    run_dir: str | os.PathLike[str], checkpoint: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """Read a run's record: ``run_dir/run_config.json``, else the copy in ``checkpoint``.

    A damaged run-level file is replaced by the checkpoint's copy with a warning (the copy is
    written into the run folder again by the next ``fit``).

    Raises:
        FileNotFoundError: If neither file exists (not a run folder of this version).
        ValueError: If both are damaged, or the record is of another format.
    """
    run_dir = Path(run_dir)
    candidates = [run_dir / RUN_CONFIG_NAME]
    if checkpoint is not None:
        candidates.append(Path(checkpoint) / RUN_CONFIG_NAME)
    existing = [path for path in candidates if path.is_file()]
    if not existing:
        raise FileNotFoundError(
            f"{run_dir} has no {RUN_CONFIG_NAME}, so it is not a run folder of this version of "
            "pix2pix and cannot be resumed; a model folder it holds (final/) still loads with "
            "Translator.from_pretrained."
        )
    problems = []
    for path in existing:
        try:
            record = read_json_object(path)
        except (ValueError, OSError) as error:
            problems.append(str(error))
            continue
        if problems:
            logger.warning("%s; using the copy in %s.", problems[0], path.parent)
        check_format(record, path)
        return record
    raise ValueError(
        f"{'; '.join(problems)}: restore {RUN_CONFIG_NAME} from a backup, or start a new run."
    )


def recorded_config(record: dict[str, Any], run_dir: str | os.PathLike[str]) -> TrainerConfig:
    """The :class:`TrainerConfig` a run's record holds.

    Raises:
        ValueError: Naming ``RUN_DIR/run_config.json`` as damaged, when its ``trainer`` section
            is missing or is not a valid config.
    """
    try:
        return TrainerConfig.from_dict(record["trainer"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{Path(run_dir) / RUN_CONFIG_NAME} is damaged: {error}") from None


def check_format(record: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Refuse, in one line, a record of another format than :data:`RUN_RECORD_FORMAT`."""
    found = record.get("format")
    if found != RUN_RECORD_FORMAT:
        raise ValueError(
            f"{path} is a run record of format {found!r}; this version of pix2pix reads format "
            f"{RUN_RECORD_FORMAT} and cannot resume or copy that run. Its model folder (final/) "
            "still loads with Translator.from_pretrained; start a new run to train again."
        )
