"""Context managers that switch a module's mode or gradients and restore them afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[nn.Module]:
    """Turn off ``requires_grad`` on ``module``'s parameters, restoring each flag after.

    The generator step runs inside it, so no gradients are computed for the discriminator.

    Examples:
        >>> d = nn.Linear(2, 1)
        >>> with frozen(d):
        ...     d.weight.requires_grad
        False
        >>> d.weight.requires_grad
        True
    """
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Put ``module`` in eval mode (running BN statistics, no dropout), restoring the mode after.

    Examples:
        >>> g = nn.Dropout(0.5)
        >>> with eval_mode(g):
        ...     g.training
        False
        >>> g.training
        True
    """
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)
