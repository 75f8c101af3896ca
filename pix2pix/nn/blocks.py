"""Encoder and decoder units shared by the generators and discriminators."""

from __future__ import annotations

from typing import Literal, cast

import torch
from torch import nn

from pix2pix._checks import check_choice
from pix2pix.nn.activation import get_activation
from pix2pix.nn.norm import conv_bias_for, get_norm_layer

#: How a decoder block doubles the resolution: the paper's transposed convolution, or a resize
#: (nearest-neighbour or bilinear) followed by a stride-1 convolution.
UPSAMPLE_CHOICES = ("transpose", "nearest", "bilinear")


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

    Examples:
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
    """Activation, up-sampling convolution, optional norm, optional dropout: the decoder unit.

    The activation comes first because the U-Net decoder activates the concatenation of the skip
    connection and the previous decoder output before up-sampling it (``ReLU -> ConvTranspose ->
    norm -> dropout``). With ``activation_first=False`` the order is ``ConvTranspose -> norm ->
    act -> dropout``, as in the ResNet generator.

    ``upsample`` chooses how the resolution grows by ``stride``:

    * ``"transpose"`` (the paper's and the reference's): a stride-``stride`` transposed
      convolution. When its kernel is not a multiple of the stride (4x4 and 3x3 at stride 2
      here) the kernel overlaps unevenly and paints a period-2 grid on the output
      (Odena, Dumoulin and Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016).
    * ``"nearest"`` or ``"bilinear"``: resize by ``stride`` first, then a stride-1 convolution
      with zero padding that keeps the size ("resize-convolution", the remedy of that article and
      of the reference implementation's FAQ). Every output pixel gets the same kernel, so no
      grid can come from the layer itself. The kernel is ``kernel_size`` when odd, else one
      less (4x4 -> 3x3: 9/16 of the transposed kernel's weights; 3x3 stays 3x3); ``padding``
      and ``output_padding`` only shape the transposed convolution, since a resize gives
      exactly ``stride`` times the input. Zero padding, not the reflect padding of the FAQ's
      snippet: at a U-Net's 1x1 bottleneck the resized 2x2 map is constant, reflect padding keeps
      the convolution's output constant, and batch norm over one 2x2 image then zeroes it
      (the bottleneck would reach the decoder as nothing); zeros make the four outputs differ.

    State-dict keys are ``conv.weight``, ``conv.bias`` (when present) and ``norm.*`` in every
    mode; the weight's shape differs (``[in, out, k, k]`` transposed, ``[out, in, k', k']``
    resize-conv), so weights of one mode do not load into the other.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Kernel size of the transposed convolution (see above for resize modes).
        stride: Up-sampling factor.
        padding: Padding of the transposed convolution.
        output_padding: Extra rows/columns added on one side of the transposed output.
        norm: ``"batch"``, ``"instance"`` or ``"none"``.
        activation: ``"relu"``, ``"leaky_relu"``, ``"tanh"`` or ``"none"``.
        activation_first: Apply the activation before up-sampling.
        dropout: Dropout probability after the norm (0 disables it).
        bias: Whether the convolution has a bias; ``None`` follows the reference rule.
        upsample: ``"transpose"`` (default), ``"nearest"`` or ``"bilinear"``.

    Examples:
        >>> block = UpBlock(8, 4, norm="batch", dropout=0.5)
        >>> block(torch.zeros(1, 8, 16, 16)).shape
        torch.Size([1, 4, 32, 32])
        >>> UpBlock(8, 4, upsample="nearest").conv.weight.shape
        torch.Size([4, 8, 3, 3])
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
        upsample: str = "transpose",
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout!r} must be in [0, 1).")
        check_choice("upsample", upsample, UPSAMPLE_CHOICES)
        use_bias = conv_bias_for(norm) if bias is None else bias
        self.activation_first = activation_first
        self.upsample = upsample
        self.act = get_activation(activation)
        self.resize: nn.Module
        self.conv: nn.Conv2d | nn.ConvTranspose2d
        if upsample == "transpose":
            self.resize = nn.Identity()
            self.conv = nn.ConvTranspose2d(
                in_channels,
                out_channels,
                kernel_size,
                stride=stride,
                padding=padding,
                output_padding=output_padding,
                bias=use_bias,
            )
        else:
            size = kernel_size if kernel_size % 2 else kernel_size - 1
            self.resize = nn.Upsample(
                scale_factor=stride,
                mode=upsample,
                # the half-pixel convention (torch's default, ONNX's Resize); set, so no warning
                align_corners=False if upsample == "bilinear" else None,
            )
            self.conv = nn.Conv2d(
                in_channels, out_channels, size, stride=1, padding=size // 2, bias=use_bias
            )
        self.norm = get_norm_layer(norm, out_channels)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block to ``x`` of shape ``[N, C, H, W]``."""
        if self.activation_first:
            return self.dropout(self.norm(self.conv(self.resize(self.act(x)))))
        return self.dropout(self.act(self.norm(self.conv(self.resize(x)))))


class ResidualBlock(nn.Module):
    """The ResNet generator's residual unit: ``x + conv(relu(norm(conv(x))))`` with reflect padding.

    Matches the reference ``ResnetBlock`` with ``padding_type="reflect"``: two 3x3 convolutions,
    each followed by the norm, a ReLU after the first and optional dropout between them.

    Args:
        channels: Channels in and out.
        norm: ``"batch"``, ``"instance"`` or ``"none"``.
        dropout: Dropout probability between the two convolutions.

    Examples:
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
