"""The optimisers of the training loop."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.optim import Optimizer

from pix2pix.trainer.config import TrainerConfig


def build_adam(
    params: Iterable[nn.Parameter], config: TrainerConfig, *, lr: float, fused: bool
) -> Optimizer:
    """Adam with learning rate ``lr`` and the config's betas; fused where the device allows."""
    params = list(params)
    betas = (config.beta1, config.beta2)
    if fused:
        try:
            return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)
        except (RuntimeError, TypeError):  # older torch: fused Adam is CUDA-only
            return torch.optim.Adam(params, lr=lr, betas=betas, foreach=True)
    return torch.optim.Adam(params, lr=lr, betas=betas)
