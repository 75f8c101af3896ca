"""Data order the trainer owns: a seeded, per-epoch shuffle that can start mid-epoch.

The order of epoch ``e`` is ``randperm(len(data))`` drawn from a generator seeded with
``seed + e`` (``DistributedSampler``'s rule), so it is a pure function of ``(seed, epoch)``:
a resumed run recomputes it and skips the batches it already trained on instead of storing
the generator. With several processes each rank takes every ``world_size``-th index of the same
permutation, so the union of one step's per-rank batches is the batch a single process would
draw with ``batch_size * world_size``.
"""

from __future__ import annotations

import math
import signal
from collections.abc import Iterator, Sequence
from typing import Any, cast

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` that can skip the first ``start_index`` samples of its epoch.

    Call :meth:`set_epoch` every epoch (a new shuffle) and :meth:`set_start_index` to resume.

    Examples:
        >>> sampler = ResumableSampler(list(range(6)), shuffle=False)
        >>> sampler.set_start_index(4)
        >>> list(sampler)
        [4, 5]
    """

    def __init__(
        self,
        dataset: Sequence[Any] | Dataset,
        *,
        num_replicas: int = 1,
        rank: int = 0,
        shuffle: bool = True,
        seed: int = 0,
    ) -> None:
        # DistributedSampler only takes len() of the data, which a plain sequence has too
        data = cast(Dataset, dataset)
        super().__init__(data, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed)
        self.start_index = 0

    def set_start_index(self, index: int) -> None:
        """Skip the first ``index`` samples (of this rank's share) of the current epoch."""
        if not 0 <= index <= self.num_samples:
            raise ValueError(
                f"start_index={index} is outside this epoch's {self.num_samples} samples; "
                "was the checkpoint written with another dataset or batch size?"
            )
        self.start_index = index

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        return iter(indices[self.start_index :])

    def __len__(self) -> int:
        return self.num_samples - self.start_index


def ignore_sigint(worker_id: int) -> None:
    """``worker_init_fn`` of the training loader: Ctrl-C is the main process's to handle.

    A terminal's Ctrl-C reaches every process of the group. Forked workers inherit the
    trainer's "finish the step" handler, and each would announce the interrupt with its own
    stale step number; the main process stops the workers when it stops.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def check_dataset(data: Any, name: str) -> None:
    """Raise ``ValueError`` unless ``data`` is a non-empty map-style dataset or list."""
    if not (hasattr(data, "__getitem__") and hasattr(data, "__len__")):
        raise ValueError(
            f"{name} must be a map-style dataset (with __len__ and __getitem__) or a list of "
            f"item dicts; got {type(data).__name__}."
        )
    if len(data) == 0:
        raise ValueError(f"{name} is empty; it needs at least one item.")


def batches_per_epoch(num_samples: int, batch_size: int, drop_last: bool) -> int:
    """Batches one process draws from ``num_samples`` samples."""
    if drop_last:
        return num_samples // batch_size
    return math.ceil(num_samples / batch_size)


def epoch_loader(
    data: Sequence[Any] | Dataset,
    *,
    epoch: int,
    start_batch: int,
    batch_size: int,
    shuffle: bool,
    drop_last: bool,
    seed: int,
    num_workers: int,
    rank: int = 0,
    world_size: int = 1,
    pin_memory: bool = False,
) -> DataLoader:
    """The DataLoader for one epoch, starting after ``start_batch`` batches.

    The loader gets its own ``torch.Generator`` seeded from ``(seed, epoch)``: DataLoader draws
    the worker seeds from it when an iterator starts, so creating the loader never consumes the
    global RNG (which would shift dropout masks when a resumed run creates it mid-epoch).
    """
    sampler = ResumableSampler(data, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed)
    sampler.set_epoch(epoch)
    # a finished epoch whose last batch was short: skip to its end, not past it
    sampler.set_start_index(min(start_batch * batch_size, sampler.num_samples))
    generator = torch.Generator()
    generator.manual_seed((seed * 1_000_003 + epoch) % 2**63)
    return DataLoader(
        data,  # type: ignore[arg-type]
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=drop_last,
        generator=generator,
        pin_memory=pin_memory,
        worker_init_fn=ignore_sigint if num_workers > 0 else None,
    )


def steps_per_epoch(data: Any, batch_size: int, drop_last: bool, world_size: int) -> int:
    """Optimisation steps in one epoch for each of ``world_size`` processes.

    Raises:
        ValueError: If ``drop_last`` leaves no batch at all.

    Examples:
        >>> steps_per_epoch(list(range(10)), batch_size=4, drop_last=False, world_size=1)
        3
    """
    check_dataset(data, "train_data")
    per_rank = -(-len(data) // world_size)
    steps = batches_per_epoch(per_rank, batch_size, drop_last)
    if steps == 0:
        raise ValueError(
            f"train_data has {per_rank} items per process, fewer than batch_size={batch_size}, "
            "and drop_last=True drops them all; lower batch_size or set drop_last=False."
        )
    return steps
