"""Exponential moving average of the generator's weights (buffers copied, not forgotten)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class ExponentialMovingAverage(nn.Module):
    """A frozen copy of a model whose parameters track ``decay * ema + (1 - decay) * live``.

    Buffers (batch-norm running statistics) are copied from the live model at every update, as
    stylegan2-ada does; averaging only the parameters and keeping the initial buffers (a common
    hand-rolled EMA bug) pairs averaged weights with statistics from step 0.

    Args:
        model: The model to track; it is deep-copied once (before any DDP or compile wrapping).
        decay: Weight of the old average at each update, in (0, 1).

    Example:
        >>> g = torch.nn.Linear(2, 2)
        >>> ema = ExponentialMovingAverage(g, decay=0.9)
        >>> ema.update(g)
        >>> torch.equal(ema.module.weight, g.weight)
        True
    """

    num_updates: torch.Tensor  # a registered buffer

    def __init__(self, model: nn.Module, decay: float) -> None:
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay={decay!r} is not allowed; use a value in (0, 1).")
        self.decay = decay
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards ``model``'s current weights; copy its buffers."""
        averaged: list[torch.Tensor] = list(self.module.parameters())
        live = [p.detach() for p in model.parameters()]
        if len(averaged) != len(live):
            raise ValueError(
                f"The EMA tracks a model with {len(averaged)} parameters but got one with "
                f"{len(live)}; pass the same (unwrapped) generator."
            )
        torch._foreach_lerp_(averaged, live, 1.0 - self.decay)
        for ema_buffer, buffer in zip(self.module.buffers(), model.buffers()):
            ema_buffer.copy_(buffer)
        self.num_updates += 1

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        """Run the averaged model."""
        return self.module(*args)
