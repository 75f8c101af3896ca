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
