"""An exclusive lock on a run folder, held by one training run for its whole life.

Two runs writing one folder would interleave ``metrics.jsonl``, prune each other's checkpoints
and delete each other's half-written ones. So a run takes ``RUN/pix2pix.lock`` first: an
``fcntl.flock`` on the file (released by the kernel when the process dies, however it dies) and
a record in it of the holder's PID, host and start time (for the error message, and for the
hosts a ``flock`` cannot see across: a run folder on a network file system).

* A second run on the folder gets :class:`RunLockedError` naming the folder and the holder.
* A lock left by a dead process of this host (``kill -9``, a power cut) is taken over, with a
  log line naming the old holder.
* A lock recorded by another host is never taken silently: the error names host and PID and
  says how to clear it (delete the lock file once that run is known to be gone).

Within one process the lock is re-entrant. With several processes (DDP) rank 0 holds it.
``pix2pix train`` checks it (:func:`ensure_free`) before its data check, so a busy folder is
refused at once; ``Trainer.fit`` takes it for the run's whole life.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the recorded holder alone decides
    fcntl = None  # type: ignore[assignment]


logger = logging.getLogger(__name__)

LOCK_NAME = "pix2pix.lock"
# flock errors that mean "not supported here", not "held by another process"
_NO_FLOCK = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)

# locks this process holds: resolved folder -> (owner pid, lock, depth); a forked child
# inherits the dict but not the ownership, hence the pid
_HELD: dict[str, tuple[int, RunLock, int]] = {}


class RunLockedError(RuntimeError):
    """Another run holds the run folder (or held it on another host and may still).

    Examples:
        >>> try:  # doctest: +SKIP
        ...     trainer.fit()
        ... except RunLockedError as error:
        ...     print(error)  # names the folder and the holder: process, host, start time
    """


def read_holder(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The recorded holder of ``folder``'s lock (``pid``, ``host``, ``started``), or None."""
    try:
        record = json.loads((Path(folder) / LOCK_NAME).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _describe(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "another process (its record is unreadable)"
    started = holder.get("started")
    when = (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))
        if isinstance(started, (int, float))
        else "?"
    )
    return f"process {holder.get('pid')} on host {holder.get('host')} (started {when})"


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


class RunLock:
    """The exclusive lock of one run folder; a context manager.

    Examples:
        >>> with RunLock("runs/facades"):  # doctest: +SKIP
        ...     trainer.fit()

    Raises:
        RunLockedError: From :meth:`acquire`, if another run holds the folder.
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None
        self._flock = fcntl is not None  # False where the file system refuses flock

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def _key(self) -> str:
        return str(self.folder.resolve())

    def acquire(self) -> None:
        """Take the lock, or raise :class:`RunLockedError` naming the holder."""
        if self._fd is not None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        key = self._key()
        held = _HELD.get(key)
        if held is not None and held[0] == os.getpid():  # re-entrant within a process
            _HELD[key] = (held[0], held[1], held[2] + 1)
            self._fd = -1
            return
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if fcntl is not None:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except OSError as error:
                        if error.errno in _NO_FLOCK:  # a file system without locks (some NFS)
                            self._flock = False
                            break
                        if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                            raise
                        raise RunLockedError(
                            f"{self.folder} is in use by another training run: "
                            f"{_describe(read_holder(self.folder))}. Wait for it to finish, "
                            "stop it, or train into another --output folder."
                        ) from None
                # the holder before us may have deleted the file between our open and flock
                try:
                    same = os.path.samestat(os.fstat(fd), os.stat(self.path))
                except FileNotFoundError:
                    same = False
                if same:
                    break
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
        try:
            self._check_previous(read_holder(self.folder))
            record = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        _HELD[key] = (os.getpid(), self, 1)

    def _check_previous(self, holder: dict[str, Any] | None) -> None:
        """Decide about a record left in the file by a run that no longer holds the flock."""
        if not holder:
            return
        host = socket.gethostname()
        pid = holder.get("pid")
        if holder.get("host") != host:
            raise RunLockedError(
                f"{self.folder} is locked by {_describe(holder)}, another machine, which may "
                f"still be training into it. If that run is gone, delete {self.path} and "
                "start again (see the Reliability page of the docs)."
            )
        if pid == os.getpid():
            return
        if not self._flock and _alive(pid):
            raise RunLockedError(
                f"{self.folder} is in use by another training run: {_describe(holder)}. Wait "
                f"for it to finish, stop it, or delete {self.path} if it is gone."
            )
        logger.warning(
            "Taking over the lock of %s from %s, which %s.",
            self.folder,
            _describe(holder),
            "no longer holds it" if _alive(pid) else "is no longer running",
        )

    def release(self) -> None:
        """Give the lock up (delete the lock file); a no-op when not held."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        key = self._key()
        held = _HELD.get(key)
        if fd == -1:  # a re-entrant hold: the outer one releases
            if held is not None and held[0] == os.getpid():
                _HELD[key] = (held[0], held[1], held[2] - 1)
            return
        _HELD.pop(key, None)
        with contextlib.suppress(OSError):
            os.remove(self.path)  # while still holding the flock: no one can be mid-takeover
        os.close(fd)


def ensure_free(folder: str | os.PathLike[str]) -> None:
    """Raise :class:`RunLockedError`, naming the holder, if a run is training into ``folder``.

    For commands that check before slow work: takes the lock and gives it back at once (the
    run itself takes it again), so a stale lock of a dead process is cleared the same way.

    Examples:
        >>> ensure_free("runs/facades")  # doctest: +SKIP
    """
    if not Path(folder).is_dir():
        return  # no folder, no run in it (and a refused command leaves no folder behind)
    lock = RunLock(folder)
    lock.acquire()
    lock.release()
