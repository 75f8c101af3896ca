"""Training: ``Trainer`` (the loop), ``TrainerConfig`` (its settings), ``Callback`` (hooks),
built-in callbacks (``BestCheckpoint``, ``EarlyStopping``), the ``Logger`` interface, and the
errors a run raises."""

from pix2pix.trainer.callbacks import Callback
from pix2pix.trainer.config import TrainerConfig
from pix2pix.trainer.distributed import cleanup_distributed
from pix2pix.trainer.errors import NonFiniteLossError, RunFolderWriteError
from pix2pix.trainer.lock import RunLockedError
from pix2pix.trainer.loggers import Logger
from pix2pix.trainer.monitoring import BestCheckpoint, EarlyStopping
from pix2pix.trainer.run_folder import RunExistsError
from pix2pix.trainer.trainer import Trainer

__all__ = [
    "BestCheckpoint",
    "Callback",
    "EarlyStopping",
    "Logger",
    "NonFiniteLossError",
    "RunExistsError",
    "RunFolderWriteError",
    "RunLockedError",
    "Trainer",
    "TrainerConfig",
    "cleanup_distributed",
]
