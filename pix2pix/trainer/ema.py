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

    With ``warmup`` the ``n``-th update (from 0) uses ``min(decay, (1 + n) / (10 + n))``, as
    TensorFlow's ``ExponentialMovingAverage(num_updates=...)`` does: the first updates mostly
    copy the live weights, so a short run does not export an average still dominated by the
    random initial weights (with decay 0.995 the initial weights keep a weight of
    ``0.995 ** n``: 61% after 100 updates).

    Args:
        model: The model to track; it is deep-copied once (before any DDP or compile wrapping).
        decay: Weight of the old average at each update, in (0, 1).
        warmup: Ramp the decay up over the first updates (see above).

    Examples:
        >>> g = torch.nn.Linear(2, 2)
        >>> ema = ExponentialMovingAverage(g, decay=0.9)
        >>> ema.update(g)
        >>> torch.equal(ema.module.weight, g.weight)
        True
    """

    num_updates: torch.Tensor  # a registered buffer

    def __init__(self, model: nn.Module, decay: float, *, warmup: bool = False) -> None:
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay={decay!r} is not allowed; use a value in (0, 1).")
        self.decay, self.warmup = decay, warmup
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))
        # a host-side mirror of num_updates: reading the buffer would sync a GPU every step
        self._updates = 0
        self.register_load_state_dict_post_hook(self._after_load)

    def set_num_updates(self, count: int) -> None:
        """Set the update count (when resuming), which the warm-up reads."""
        self.num_updates.fill_(count)
        self._updates = int(count)

    def current_decay(self) -> float:
        """The decay the next :meth:`update` uses."""
        if not self.warmup:
            return self.decay
        return min(self.decay, (1 + self._updates) / (10 + self._updates))

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
        torch._foreach_lerp_(averaged, live, 1.0 - self.current_decay())
        for ema_buffer, buffer in zip(self.module.buffers(), model.buffers()):
            ema_buffer.copy_(buffer)
        self.num_updates += 1
        self._updates += 1

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        """Run the averaged model."""
        return self.module(*args)

    def _after_load(self, module: nn.Module, incompatible_keys: object) -> None:
        # load_state_dict replaced the buffer: bring the host-side mirror up to date
        self._updates = int(self.num_updates)
