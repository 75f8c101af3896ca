"""Activations selected by name."""

from __future__ import annotations

from torch import nn

ACTIVATION_CHOICES = ("relu", "leaky_relu", "tanh", "none")


def get_activation(name: str, negative_slope: float = 0.2) -> nn.Module:
    """Build an activation by name.

    Args:
        name: ``"relu"``, ``"leaky_relu"`` (slope ``negative_slope``), ``"tanh"`` or ``"none"``.
        negative_slope: Slope of the negative part for ``"leaky_relu"``; the paper uses 0.2.

    Returns:
        The activation module (``Identity`` for ``"none"``).

    Raises:
        ValueError: If ``name`` is unknown.

    Examples:
        >>> get_activation("leaky_relu")
        LeakyReLU(negative_slope=0.2)
    """
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(negative_slope)
    if name == "tanh":
        return nn.Tanh()
    if name == "none":
        return nn.Identity()
    raise ValueError(f"activation={name!r} is not supported; choose one of {ACTIVATION_CHOICES}.")
