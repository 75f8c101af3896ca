"""Ctrl-C during training: finish the step (and any save), then checkpoint and stop."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pix2pix.trainer.trainer import Trainer


@contextlib.contextmanager
def deferred_interrupts(trainer: Trainer) -> Iterator[None]:
    """Turn the first Ctrl-C into "stop after this step"; a second one stops at once.

    A save in progress (a checkpoint, the export) is never aborted: Ctrl-C during it only asks
    to stop afterwards. Forked DataLoader workers inherit the handler and stay silent.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    main_pid = os.getpid()

    def handler(signum: int, frame: Any) -> None:
        if os.getpid() != main_pid:
            return  # a forked DataLoader worker: the main process speaks and decides
        if trainer._saving:
            # a checkpoint or the export is being written: never abort it halfway
            if not trainer._interrupt_requested:
                trainer.logger.warning("Interrupt: finishing the save in progress first.")
            trainer._interrupt_requested = True
            return
        if trainer._interrupt_requested:
            raise KeyboardInterrupt
        trainer._interrupt_requested = True
        # between steps (a callback, validation) the loop stops after the step just done
        where = f"finishing step {trainer.step + 1}" if trainer._mid_step else "stopping"
        trainer.logger.warning(
            "Interrupt: %s, then saving a checkpoint (Ctrl-C again to stop at once).", where
        )

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
