"""What a trained model and its loggers record about the run: data facts, steps, settings.

:func:`build_inference_metadata` is what :meth:`Trainer.inference_metadata` returns (stored in
the exported ``config.json`` and shown on its model card), the test mode included
(:func:`recorded_test_mode`); :func:`logged_config` is the record the loggers receive. Both read
the trainer; neither changes it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pix2pix.inference.modes import DEFAULT_TEST_MODE, check_test_mode
from pix2pix.trainer.config import DATA_FIELDS

if TYPE_CHECKING:
    from pix2pix.trainer.trainer import Trainer

# settings of this machine or of the card itself, not of the recipe: left out of the card
_PRIVATE_FIELDS = ("output_dir", "device", "num_workers", "progress_bar", "license")


def build_inference_metadata(trainer: Trainer) -> dict[str, Any]:
    """See :meth:`pix2pix.trainer.Trainer.inference_metadata`."""
    cfg = trainer.config
    gen_config = getattr(trainer.generator, "config", {})
    described = getattr(trainer.train_data, "config", None)
    described = described if isinstance(described, dict) else {}
    meta: dict[str, Any] = {
        "in_channels": gen_config.get("in_channels"),
        "out_channels": gen_config.get("out_channels"),
    }
    for key in DATA_FIELDS:
        stated = getattr(cfg, key)
        value = described.get(key, getattr(trainer.train_data, key, None))
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            value = None
        if stated is not None and value is not None and stated != value:
            raise ValueError(
                f"TrainerConfig.{key}={stated!r} but the training data has {key}={value!r}; "
                f"the dataset owns this setting: leave TrainerConfig.{key} as None or make "
                "them agree."
            )
        meta[key] = value if value is not None else stated
    # label-map sources: the classes `pix2pix serve` draws with (PairedImageDataset(palette=))
    meta["palette"] = described.get("palette", getattr(trainer.train_data, "palette", None))
    meta["test_mode"] = recorded_test_mode(trainer.run_info)
    meta.update(training_facts(trainer, meta.get("direction")))
    return {k: v for k, v in meta.items() if v is not None}


def recorded_test_mode(run_info: dict[str, Any]) -> str:
    """The test mode a trained model records: ``run_info["test_mode"]``, else ``"eval"``.

    ``pix2pix train`` states it for every run (its preset's, else the paper's); a
    :class:`~pix2pix.trainer.Trainer` built in Python sets ``trainer.run_info["test_mode"]``.
    A run that states none records ``"eval"``, the mode models had before it was recorded. The
    preset a run names (``run_info["preset"]``) is a record, not a setting: the command line
    reads the preset's test mode when it builds the run, so the trainer never looks presets up.

    Raises:
        ValueError: For a test mode that does not exist.

    Examples:
        >>> recorded_test_mode({}), recorded_test_mode({"test_mode": "paper"})
        ('eval', 'paper')
    """
    if run_info.get("test_mode") is not None:
        return check_test_mode(run_info["test_mode"], what='run_info["test_mode"]')
    return DEFAULT_TEST_MODE


def training_facts(trainer: Trainer, direction: Any) -> dict[str, Any]:
    """What the model card records: the data, steps, settings, metrics and license."""
    cfg = trainer.config
    data = trainer.train_data
    root = getattr(getattr(data, "dataset", data), "root", None)  # a Subset wraps one
    dataset: dict[str, Any] = {"name": Path(root).name if root is not None else None}
    if root is not None and Path(root).name in ("train", "training") and Path(root).parent.name:
        dataset["name"] = Path(root).parent.name  # facades/train -> facades
        dataset["split"] = Path(root).name
    with contextlib.suppress(TypeError):
        dataset["pairs"] = len(data)  # type: ignore[arg-type]
    dataset["direction"] = direction
    training = {
        "steps": trainer.step,
        "epochs_completed": trainer.epoch,
        **{k: v for k, v in trainer.run_info.items() if v is not None},
        "config": {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in cfg.to_dict().items()
            if k not in _PRIVATE_FIELDS
        },
    }
    metrics = {k: v for k, v in trainer.last_val_metrics.items() if isinstance(v, float)}
    return {
        "dataset": {k: v for k, v in dataset.items() if v is not None},
        "training": training,
        "metrics": metrics or None,
        "license": cfg.license,
    }


def logged_config(trainer: Trainer) -> dict[str, Any]:
    """The settings sent to the loggers: the TrainerConfig, the models and the data."""
    config = trainer.config.to_dict()
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}
    record: dict[str, Any] = {"trainer": config, **trainer.run_info}
    for name in ("generator", "discriminator"):
        module = getattr(trainer, name)
        model_config = getattr(module, "config", None)
        record[name] = {"model_type": type(module).__name__, **(model_config or {})}
    data = trainer.train_data
    root = getattr(getattr(data, "dataset", data), "root", None)
    if root is not None:
        record["data"] = str(root)
    return record
