"""Finding a NaN or infinite weight: one fused check over every tensor, one device sync."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from pix2pix.trainer.distributed import any_rank
from pix2pix.trainer.errors import NonFiniteWeightError

if TYPE_CHECKING:
    from pix2pix.trainer.trainer import Trainer


@torch.no_grad()
def first_non_finite(modules: list[tuple[str, nn.Module]]) -> tuple[str, float] | None:
    """``(name, value)`` of the first parameter or buffer that is NaN or infinite, or ``None``.

    One fused max-abs over every floating tensor (``torch._foreach_norm``) and a single read,
    so a trainer can afford it at its log cadence and before every save.

    Examples:
        >>> layer = nn.Linear(2, 2)
        >>> first_non_finite([("g", layer)]) is None
        True
        >>> _ = layer.bias.data.fill_(float("inf"))
        >>> first_non_finite([("g", layer)])
        ('g.bias', inf)
    """
    named: list[tuple[str, torch.Tensor]] = []
    for prefix, module in modules:
        for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
            if tensor.is_floating_point() and tensor.numel() > 0:
                named.append((f"{prefix}.{name}", tensor.detach()))
    if not named:
        return None
    norms = torch._foreach_norm([t for _, t in named], ord=float("inf"))
    peaks = torch.stack([n.float() for n in norms]).cpu()  # the one sync
    finite = torch.isfinite(peaks)
    if bool(finite.all()):
        return None
    index = int((~finite).nonzero()[0])
    return named[index][0], float(peaks[index])


def check_weights(trainer: Trainer) -> None:
    """What :meth:`Trainer.check_weights` does: every rank stops when one finds a bad tensor.

    Raises:
        NonFiniteWeightError: Naming the first bad tensor and the step.
    """
    modules = [("generator", trainer.generator), ("discriminator", trainer.discriminator)]
    if trainer.state.ema is not None:
        modules.append(("ema", trainer.state.ema.module))
    bad = first_non_finite(modules)
    if any_rank(trainer.context, bad is not None):  # all ranks stop together
        name, value = bad or ("(on another rank)", float("nan"))
        step, last = trainer.state.step, trainer.last_checkpoint
        raise NonFiniteWeightError(step, name, value, last_checkpoint=last)
