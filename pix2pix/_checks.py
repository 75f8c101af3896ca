"""Argument checks shared by every layer; each raises a ``ValueError`` naming the argument.

A leaf module: it imports nothing of pix2pix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def check_choice(argument: str, value: object, choices: Sequence[object]) -> None:
    """Raise ``ValueError`` naming ``argument`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{argument}={value!r} is not supported; choose one of {tuple(choices)}.")


def check_positive_int(**values: object) -> None:
    """Raise ``ValueError`` naming the first argument that is not a positive integer."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name}={value!r} must be a positive integer.")


def check_probability(name: str, value: object) -> None:
    """Raise ``ValueError`` unless ``0 <= value < 1``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name}={value!r} must be a probability in [0, 1).")


def check_finite(**values: object) -> None:
    """Raise ``ValueError`` naming the first number that is NaN or infinite."""
    for name, value in values.items():
        if isinstance(value, (int, float)) and not math.isfinite(value):
            raise ValueError(f"{name}={value!r} must be a finite number.")


#: The largest sizes a model's constructor accepts. A config.json from someone else is read
#: before anything is built: without bounds, ``"num_downs": 100000`` built a 100,000-level
#: U-Net for minutes and gigabytes before any check could run.
ARCHITECTURE_LIMITS = {
    "num_downs": 16,  # 2**16 = 65,536 px: no image needs a U-Net deeper than that
    "n_blocks": 64,  # ResNet residual blocks (the reference uses 6 or 9)
    "n_layers": 12,  # PatchGAN stride-2 layers (3 is the paper's 70x70)
    "num_d": 8,  # multi-scale discriminator scales (pix2pixHD uses 2 or 3)
    "base_channels": 4096,  # the first layer's width (the paper's 64)
    "in_channels": 64,
    "out_channels": 64,
}


def check_architecture(**values: int) -> None:
    """Raise ``ValueError`` for a size beyond :data:`ARCHITECTURE_LIMITS`, before building.

    Examples:
        >>> check_architecture(num_downs=8, base_channels=64)
        >>> check_architecture(num_downs=100000)
        Traceback (most recent call last):
        ...
        ValueError: num_downs=100000 is larger than any model needs (at most 16); check the config.
    """
    for name, value in values.items():
        limit = ARCHITECTURE_LIMITS[name]
        if isinstance(value, int) and not isinstance(value, bool) and value > limit:
            raise ValueError(
                f"{name}={value} is larger than any model needs (at most {limit}); check the "
                "config."
            )
