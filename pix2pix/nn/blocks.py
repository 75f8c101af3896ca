"""Encoder and decoder units shared by the generators and discriminators."""

from __future__ import annotations

from typing import Literal, cast

import torch
from torch import nn

from pix2pix.nn.activation import get_activation
from pix2pix.nn.norm import conv_bias_for, get_norm_layer


class ConvBlock(nn.Module):
    """Convolution, optional normalisation, optional activation: the encoder unit.

    The activation runs after the normalisation by default (``conv -> norm -> act``, as in the
    PatchGAN and the ResNet generator). With ``activation_first=True`` it runs before the
    convolution (``act -> conv -> norm``), which is how the U-Net encoder is wired: each
    down-sampling block activates the previous block's output.

    State-dict keys are ``conv.weight``, ``conv.bias`` (when present) and ``norm.*``.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Convolution kernel size.
        stride: Convolution stride.
        padding: Zero (or ``padding_mode``) padding on each side.
        norm: ``"batch"``, ``"instance"`` or ``"none"``.
        activation: ``"relu"``, ``"leaky_relu"``, ``"tanh"`` or ``"none"``.
        activation_first: Apply the activation before the convolution instead of after the norm.
        bias: Whether the convolution has a bias; ``None`` follows the reference rule (no bias
            when followed by batch norm).
        padding_mode: ``"zeros"`` or ``"reflect"`` (the ResNet generator reflects).

    Example:
        >>> block = ConvBlock(3, 8, norm="batch", activation="leaky_relu")
        >>> block(torch.zeros(1, 3, 32, 32)).shape
        torch.Size([1, 8, 16, 16])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 4,
        stride: int = 2,
        padding: int = 1,
        *,
        norm: str = "batch",
        activation: str = "leaky_relu",
        activation_first: bool = False,
        bias: bool | None = None,
        padding_mode: str = "zeros",
    ) -> None:
        super().__init__()
        use_bias = conv_bias_for(norm) if bias is None else bias
        self.activation_first = activation_first
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            bias=use_bias,
            # any str is accepted here, as before; Conv2d itself rejects unknown modes
            padding_mode=cast(Literal["zeros", "reflect", "replicate", "circular"], padding_mode),
        )
        self.norm = get_norm_layer(norm, out_channels)
        self.act = get_activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block to ``x`` of shape ``[N, C, H, W]``."""
        if self.activation_first:
            return self.norm(self.conv(self.act(x)))
        return self.act(self.norm(self.conv(x)))


class UpBlock(nn.Module):
    """Activation, transposed convolution, optional norm, optional dropout: the decoder unit.

    The activation comes first because the U-Net decoder activates the concatenation of the skip
    connection and the previous decoder output before up-sampling it (``ReLU -> ConvTranspose ->
    norm -> dropout``). With ``activation_first=False`` the order is ``ConvTranspose -> norm ->
    act -> dropout``, as in the ResNet generator.

    State-dict keys are ``conv.weight``, ``conv.bias`` (when present) and ``norm.*``.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Kernel size of the transposed convolution.
        stride: Up-sampling factor.
        padding: Padding of the transposed convolution.
        output_padding: Extra rows/columns added on one side of the output.
        norm: ``"batch"``, ``"instance"`` or ``"none"``.
        activation: ``"relu"``, ``"leaky_relu"``, ``"tanh"`` or ``"none"``.
        activation_first: Apply the activation before the transposed convolution.
        dropout: Dropout probability after the norm (0 disables it).
        bias: Whether the convolution has a bias; ``None`` follows the reference rule.

    Example:
        >>> block = UpBlock(8, 4, norm="batch", dropout=0.5)
        >>> block(torch.zeros(1, 8, 16, 16)).shape
        torch.Size([1, 4, 32, 32])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 4,
        stride: int = 2,
        padding: int = 1,
        output_padding: int = 0,
        *,
        norm: str = "batch",
        activation: str = "relu",
        activation_first: bool = True,
        dropout: float = 0.0,
        bias: bool | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout!r} must be in [0, 1).")
        use_bias = conv_bias_for(norm) if bias is None else bias
        self.activation_first = activation_first
        self.act = get_activation(activation)
        self.conv = nn.ConvTranspose2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            output_padding=output_padding,
            bias=use_bias,
        )
        self.norm = get_norm_layer(norm, out_channels)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block to ``x`` of shape ``[N, C, H, W]``."""
        if self.activation_first:
            return self.dropout(self.norm(self.conv(self.act(x))))
        return self.dropout(self.act(self.norm(self.conv(x))))


class ResidualBlock(nn.Module):
    """The ResNet generator's residual unit: ``x + conv(relu(norm(conv(x))))`` with reflect padding.

    Matches the reference ``ResnetBlock`` with ``padding_type="reflect"``: two 3x3 convolutions,
    each followed by the norm, a ReLU after the first and optional dropout between them.

    Args:
        channels: Channels in and out.
        norm: ``"batch"``, ``"instance"`` or ``"none"``.
        dropout: Dropout probability between the two convolutions.

    Example:
        >>> ResidualBlock(8, norm="instance")(torch.zeros(1, 8, 16, 16)).shape
        torch.Size([1, 8, 16, 16])
    """

    def __init__(self, channels: int, *, norm: str = "instance", dropout: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout!r} must be in [0, 1).")
        self.conv1 = ConvBlock(
            channels, channels, 3, 1, 1, norm=norm, activation="relu", padding_mode="reflect"
        )
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = ConvBlock(
            channels, channels, 3, 1, 1, norm=norm, activation="none", padding_mode="reflect"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the residual unit."""
        return x + self.conv2(self.dropout(self.conv1(x)))
