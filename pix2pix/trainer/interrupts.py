"""Ctrl-C during training: finish the step (and any save), then checkpoint and stop.

:class:`InterruptFlags` is what the loop, the savers and the signal handler share: whether a
stop was asked for, whether a step or a save is under way. The handler only sets flags; the
loop reads them between steps.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any


class InterruptFlags:
    """Where a run stands for the Ctrl-C handler.

    Attributes:
        requested: A stop was asked for (Ctrl-C, or the loop's own decision).
        mid_step: A step is under way (D updated, G not yet): it must not be checkpointed.
        saving: A checkpoint or export is being written: it must not be cut short.

    Examples:
        >>> flags = InterruptFlags()
        >>> with flags.saving_window():
        ...     flags.saving
        True
    """

    def __init__(self) -> None:
        self.requested = False
        self.mid_step = False
        self.saving = False

    @contextlib.contextmanager
    def saving_window(self) -> Iterator[None]:
        """Mark a checkpoint or export write, which a Ctrl-C must not cut short."""
        outer, self.saving = self.saving, True
        try:
            yield
        finally:
            self.saving = outer


@contextlib.contextmanager
def deferred_interrupts(
    flags: InterruptFlags, logger: logging.Logger | Any, next_step: Callable[[], int]
) -> Iterator[None]:
    """Turn the first Ctrl-C into "stop after this step"; a second one stops at once.

    A save in progress (a checkpoint, the export) is never aborted: Ctrl-C during it only asks
    to stop afterwards. Forked DataLoader workers inherit the handler and stay silent.

    Args:
        flags: The run's flags; the handler sets ``flags.requested``.
        logger: Where the handler says what it does.
        next_step: The number of the step under way, for the message.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    main_pid = os.getpid()

    def handler(signum: int, frame: Any) -> None:
        if os.getpid() != main_pid:
            return  # a forked DataLoader worker: the main process speaks and decides
        if flags.saving:
            # a checkpoint or the export is being written: never abort it halfway
            if not flags.requested:
                logger.warning("Interrupt: finishing the save in progress first.")
            flags.requested = True
            return
        if flags.requested:
            raise KeyboardInterrupt
        flags.requested = True
        # between steps (a callback, validation) the loop stops after the step just done
        where = f"finishing step {next_step()}" if flags.mid_step else "stopping"
        logger.warning(
            "Interrupt: %s, then saving a checkpoint (Ctrl-C again to stop at once).", where
        )

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
