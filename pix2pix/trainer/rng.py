"""Seeding, capturing and restoring every random number generator training touches.

States are stored as tensors and plain Python values so a checkpoint loads with
``torch.load(weights_only=True)``: numpy's state array becomes an int64 tensor, Python's
``random`` state tuple a tensor plus two plain values.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, numpy and torch (CPU and every CUDA device).

    Examples:
        >>> seed_everything(0)
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def capture_rng_state() -> dict[str, Any]:
    """The states of torch (CPU and CUDA), numpy and Python ``random`` as checkpointable values.

    Examples:
        >>> state = capture_rng_state()
        >>> a = torch.rand(1); restore_rng_state(state); torch.equal(a, torch.rand(1))
        True
    """
    kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    version, python_state, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "python": {
            "version": int(version),
            "state": torch.tensor(python_state, dtype=torch.int64),
            "gauss_next": gauss_next,
        },
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put back states from :func:`capture_rng_state` (CUDA states only where devices exist)."""
    torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
    numpy = state["numpy"]
    np.random.set_state(
        (
            numpy["kind"],
            numpy["keys"].numpy().astype(np.uint32),
            numpy["pos"],
            numpy["has_gauss"],
            numpy["cached_gaussian"],
        )
    )
    python = state["python"]
    random.setstate((python["version"], tuple(python["state"].tolist()), python["gauss_next"]))


@contextmanager
def preserved_rng() -> Iterator[None]:
    """Run a block without disturbing any RNG stream (for validation and sample grids).

    Whatever random numbers the block draws (a dataset's random crop, a dropout layer), the
    training that follows sees the same numbers as if the block had not run; this is what lets
    a run with validation resume bit-exactly.

    Examples:
        >>> with preserved_rng():
        ...     _ = torch.rand(3)
    """
    state = capture_rng_state()
    try:
        yield
    finally:
        restore_rng_state(state)
