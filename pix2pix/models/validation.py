"""The input check shared by the models' forward passes (argument checks: ``pix2pix._checks``)."""

from __future__ import annotations

import torch


def check_input(x: torch.Tensor, channels: int, multiple: int, owner: str) -> None:
    """Check a model input's rank, channels and that its sides are multiples of ``multiple``."""
    if x.dim() != 4:
        raise ValueError(f"{owner} expects a 4D tensor [N, C, H, W]; got shape {tuple(x.shape)}.")
    if x.shape[1] != channels:
        raise ValueError(
            f"{owner} expects {channels} input channels; got {x.shape[1]} (shape {tuple(x.shape)})."
        )
    height, width = x.shape[-2:]
    if height % multiple or width % multiple:
        raise ValueError(
            f"{owner} needs height and width that are multiples of {multiple}; got "
            f"{height}x{width}. Pad or resize the input (pix2pix.Translator pads automatically)."
        )
