"""Argument checks shared by the model constructors."""

from __future__ import annotations

import torch


def check_positive(**values: int) -> None:
    """Raise ``ValueError`` naming the first argument that is not a positive integer."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name}={value!r} must be a positive integer.")


def check_probability(name: str, value: float) -> None:
    """Raise ``ValueError`` unless ``0 <= value < 1``."""
    if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name}={value!r} must be a probability in [0, 1).")


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
