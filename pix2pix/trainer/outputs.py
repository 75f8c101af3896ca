"""What a run shows of itself between steps: validation metrics and sample grids.

Both run the inference generator (the EMA copy when on) in eval mode, and never touch the
training RNG streams (:func:`~pix2pix.trainer.rng.preserved_rng`), so validating or drawing a
sample grid does not change the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch.utils.data import DataLoader

from pix2pix.trainer.checkpoint.layout import checkpoint_name
from pix2pix.trainer.modes import eval_mode
from pix2pix.trainer.reporting import sample_grid
from pix2pix.trainer.rng import preserved_rng

if TYPE_CHECKING:
    from pix2pix.trainer.trainer import Trainer


@torch.no_grad()
def validation_means(trainer: Trainer) -> dict[str, float]:
    """``{"val/L1": mean, ...}``: :meth:`Trainer.validation_step` averaged over ``val_data``."""
    generator = trainer.inference_generator()
    values: dict[str, list[torch.Tensor]] = {}
    with preserved_rng(), eval_mode(generator):
        loader = DataLoader(
            trainer.val_data,  # type: ignore[arg-type]
            batch_size=trainer.config.batch_size,
            shuffle=False,
            num_workers=trainer.config.num_workers,
        )
        for batch in loader:
            for key, value in trainer.validation_step(batch).items():
                values.setdefault(key, []).append(value.detach().float().reshape(-1))
    return {f"val/{k}": torch.cat(v).mean().item() for k, v in values.items()}


def sample_items(trainer: Trainer) -> dict[str, torch.Tensor]:
    """The first ``num_samples`` pairs of the validation data (else the training data)."""
    data = trainer.val_data if trainer.val_data is not None else trainer.train_data
    count = min(trainer.config.num_samples, len(data))  # type: ignore[arg-type]
    items = [data[i] for i in range(count)]  # type: ignore[index]
    return {key: torch.stack([item[key] for item in items]) for key in ("source", "target")}


@torch.no_grad()
def sample_grid_of(trainer: Trainer, items: dict[str, torch.Tensor]) -> torch.Tensor:
    """The source | generated | target grid of ``items`` at the trainer's step."""
    generator = trainer.inference_generator()
    with preserved_rng(), eval_mode(generator):
        source, target = trainer.prepare_batch(items)
        fake = generator(source)
    return sample_grid(source, fake, target, step=trainer.state.step, headers=True)


def validate(trainer: Trainer) -> dict[str, float]:
    """What :meth:`Trainer.validate` does: the means, logged, and the hook called."""
    if trainer.val_data is None or not trainer.context.is_main:
        return {}
    trainer.setup()
    results = validation_means(trainer)
    trainer.last_val_metrics = dict(results)
    if trainer.reporter is not None:
        trainer.reporter.log_scalars(trainer.step, {"epoch": trainer.epoch, **results})
    summary = ", ".join(f"{k}={v:.4g}" for k, v in results.items())
    trainer.logger.info("step %d validation: %s", trainer.step, summary)
    trainer.call_hook("on_validation_end", results)
    return results


class SampleWriter:
    """Sample grids of the same pairs at every call (the first ``num_samples`` of the data)."""

    def __init__(self) -> None:
        self._items: dict[str, torch.Tensor] | None = None

    def write(self, trainer: Trainer) -> Path | None:
        """Save the grid to ``samples/step-XXXXXX.png`` and send it to the loggers (rank 0)."""
        if not trainer.context.is_main or trainer.reporter is None:
            return None
        if self._items is None:
            self._items = sample_items(trainer)
        grid = sample_grid_of(trainer, self._items)
        return trainer.reporter.log_samples(trainer.step, grid, checkpoint_name(trainer.step))
