"""Training: ``Trainer`` (the loop), ``TrainerConfig`` (its settings), ``Callback`` (hooks),
built-in callbacks (``BestCheckpoint``, ``EarlyStopping``) and the ``Logger`` interface."""

from pix2pix.trainer.callbacks import Callback
from pix2pix.trainer.config import TrainerConfig
from pix2pix.trainer.ema import ExponentialMovingAverage
from pix2pix.trainer.errors import NonFiniteLossError
from pix2pix.trainer.loggers import Logger
from pix2pix.trainer.modes import frozen
from pix2pix.trainer.monitoring import BestCheckpoint, EarlyStopping
from pix2pix.trainer.trainer import Trainer

__all__ = [
    "BestCheckpoint",
    "Callback",
    "EarlyStopping",
    "ExponentialMovingAverage",
    "Logger",
    "NonFiniteLossError",
    "Trainer",
    "TrainerConfig",
    "frozen",
]
