"""Normalisation layers selected by name, as the reference implementation does."""

from __future__ import annotations

from collections.abc import Callable
from typing import overload

from torch import nn

NORM_CHOICES = ("batch", "instance", "none")


def check_norm(norm: str, argument: str = "norm") -> str:
    """Validate a normalisation name.

    Args:
        norm: The name to check.
        argument: The argument name to quote in the error message.

    Returns:
        The name, unchanged.

    Raises:
        ValueError: If ``norm`` is not one of ``"batch"``, ``"instance"`` or ``"none"``.
    """
    if norm not in NORM_CHOICES:
        raise ValueError(f"{argument}={norm!r} is not supported; choose one of {NORM_CHOICES}.")
    return norm


@overload
def get_norm_layer(norm: str, num_features: int) -> nn.Module: ...
@overload
def get_norm_layer(norm: str, num_features: None = None) -> Callable[[int], nn.Module]: ...


def get_norm_layer(
    norm: str, num_features: int | None = None
) -> nn.Module | Callable[[int], nn.Module]:
    """Build the normalisation layer named ``norm``, or a factory for it.

    With ``num_features`` the layer is returned; without it, a callable taking the channel
    count, like the reference's ``get_norm_layer(norm_type)``.

    ``"batch"`` is ``BatchNorm2d`` with learnable affine parameters and running statistics.
    ``"instance"`` is ``InstanceNorm2d(affine=False, track_running_stats=False)``, exactly as the
    reference implementation, so it has no parameters and no buffers. ``"none"`` is ``Identity``.

    Args:
        norm: ``"batch"``, ``"instance"`` or ``"none"``.
        num_features: Number of channels to normalise (omit to get a factory).

    Returns:
        The layer, or a factory ``num_features -> layer``.

    Raises:
        ValueError: If ``norm`` is unknown.

    Examples:
        >>> norm = get_norm_layer("instance", 8)
        >>> type(norm).__name__, norm.num_features, norm.affine, norm.track_running_stats
        ('InstanceNorm2d', 8, False, False)
        >>> make_norm = get_norm_layer("batch")
        >>> norm = make_norm(16)
        >>> type(norm).__name__, norm.num_features, norm.affine, norm.track_running_stats
        ('BatchNorm2d', 16, True, True)
    """
    check_norm(norm)
    if num_features is None:
        return lambda channels: get_norm_layer(norm, channels)
    if norm == "batch":
        return nn.BatchNorm2d(num_features, affine=True, track_running_stats=True)
    if norm == "instance":
        return nn.InstanceNorm2d(num_features, affine=False, track_running_stats=False)
    return nn.Identity()


def conv_bias_for(norm: str) -> bool:
    """Whether a convolution followed by ``norm`` should carry a bias.

    A bias before BatchNorm is cancelled by the mean subtraction, so the reference drops it; with
    instance norm (no affine) or no norm the bias is the only offset the layer has.
    """
    return check_norm(norm) != "batch"
