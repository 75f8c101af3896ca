"""Training: ``Trainer`` (the loop), ``TrainerConfig`` (its settings) and ``Callback`` (hooks)."""

from pix2pix.trainer.callbacks import Callback
from pix2pix.trainer.config import TrainerConfig
from pix2pix.trainer.ema import ExponentialMovingAverage
from pix2pix.trainer.errors import NonFiniteLossError
from pix2pix.trainer.modes import frozen
from pix2pix.trainer.trainer import Trainer

__all__ = [
    "Callback",
    "ExponentialMovingAverage",
    "NonFiniteLossError",
    "Trainer",
    "TrainerConfig",
    "frozen",
]
