"""torch.distributed plumbing for multi-GPU / multi-node training launched with ``torchrun``.

``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``
in each process; :func:`setup_distributed` reads them, picks the device and initialises the
process group (NCCL on GPUs, gloo on CPUs) unless the caller already did.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from pix2pix._device import resolve_device

_CPU = torch.device("cpu")


@dataclass(frozen=True)
class DistributedContext:
    """Where this process sits in the job: its rank, the number of processes and its device."""

    rank: int = 0  # global rank of this process
    world_size: int = 1  # number of processes
    local_rank: int = 0  # rank on this node (picks the GPU)
    device: torch.device = _CPU  # the device this process trains on

    @property
    def is_distributed(self) -> bool:
        """Whether more than one process trains."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the process that writes files and logs."""
        return self.rank == 0


def env_world_size() -> int:
    """``WORLD_SIZE`` from the environment (1 when not launched by torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def setup_distributed(device: str = "auto") -> DistributedContext:
    """Initialise the process group if ``torchrun`` started several processes.

    A process group the caller initialised already is used as it is. The trainer does not
    destroy a group it created, so several ``fit`` calls can share it; call
    :func:`cleanup_distributed` when the program is done.

    Examples:
        >>> setup_distributed("cpu").world_size  # a plain python process
        1
    """
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_available() or (env_world_size() <= 1 and not dist.is_initialized()):
        return DistributedContext(device=resolve_device(device, local_rank))
    resolved = resolve_device(device, local_rank)
    if not dist.is_initialized():
        backend = "nccl" if resolved.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    if resolved.type == "cuda":
        torch.cuda.set_device(resolved)
    return DistributedContext(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=local_rank,
        device=resolved,
    )


def cleanup_distributed() -> None:
    """Destroy the default process group if one exists (call once at program exit).

    Examples:
        >>> trainer.fit()  # doctest: +SKIP
        >>> cleanup_distributed()
    """
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(context: DistributedContext) -> None:
    """Wait for every process (no-op in a single process)."""
    if context.is_distributed:
        dist.barrier()


def all_gather_objects(context: DistributedContext, value: Any) -> list[Any]:
    """Every rank's ``value``, in rank order (``[value]`` in a single process)."""
    if not context.is_distributed:
        return [value]
    gathered: list[Any] = [None] * context.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def any_rank(context: DistributedContext, flag: bool) -> bool:
    """Whether ``flag`` is true on at least one rank (so that all ranks take the same branch)."""
    if not context.is_distributed:
        return flag
    device = context.device if dist.get_backend() == "nccl" else torch.device("cpu")
    value = torch.tensor(float(flag), device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


class RankZeroLogger(logging.LoggerAdapter):
    """A logger adapter that passes records on only in the main process (rank 0).

    Examples:
        >>> log = RankZeroLogger(logging.getLogger("pix2pix"), lambda: True)
        >>> log.info("shown once per job, not once per process")
    """

    def __init__(self, logger: logging.Logger, is_main: Callable[[], bool]) -> None:
        super().__init__(logger, {})
        self._is_main = is_main

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        """Log as ``logging.Logger.log`` does, on rank 0 only."""
        if self._is_main():
            super().log(level, msg, *args, **kwargs)
