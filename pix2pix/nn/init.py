"""Weight initialisation schemes of the reference implementation."""

from __future__ import annotations

from torch import nn

INIT_CHOICES = ("normal", "xavier", "kaiming", "orthogonal")


def init_weights(module: nn.Module, scheme: str = "normal", gain: float = 0.02) -> nn.Module:
    """Initialise every convolution, linear and batch-norm layer inside ``module`` in place.

    Convolution (including transposed) and linear weights follow ``scheme``: ``"normal"`` draws
    from N(0, gain) (the paper's N(0, 0.02)), ``"xavier"`` is Xavier-normal with ``gain``,
    ``"kaiming"`` is Kaiming-normal (fan-in, ``gain`` unused) and ``"orthogonal"`` uses ``gain``.
    Their biases are set to 0. BatchNorm weights are drawn from N(1, gain) and biases set to 0.

    Args:
        module: The module to initialise (all submodules are visited).
        scheme: ``"normal"``, ``"xavier"``, ``"kaiming"`` or ``"orthogonal"``.
        gain: Standard deviation or gain, as described above.

    Returns:
        ``module``, for chaining.

    Raises:
        ValueError: If ``scheme`` is unknown.

    Examples:
        >>> layer = init_weights(nn.Conv2d(3, 8, 3))
        >>> float(layer.bias.abs().sum())
        0.0
    """
    if scheme not in INIT_CHOICES:
        raise ValueError(f"scheme={scheme!r} is not supported; choose one of {INIT_CHOICES}.")
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if scheme == "normal":
                nn.init.normal_(layer.weight, 0.0, gain)
            elif scheme == "xavier":
                nn.init.xavier_normal_(layer.weight, gain=gain)
            elif scheme == "kaiming":
                nn.init.kaiming_normal_(layer.weight, a=0, mode="fan_in")
            else:
                nn.init.orthogonal_(layer.weight, gain=gain)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, gain)
            nn.init.zeros_(layer.bias)
    return module
