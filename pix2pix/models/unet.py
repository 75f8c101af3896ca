"""The U-Net generator of pix2pix (reference ``unet_128`` / ``unet_256``), built flat."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from pix2pix._checks import (
    check_architecture,
    check_choice,
    check_positive_int,
    check_probability,
)
from pix2pix.models.base import ModelMixin
from pix2pix.models.registry import register_model
from pix2pix.models.validation import check_input
from pix2pix.nn.blocks import UPSAMPLE_CHOICES, ConvBlock, UpBlock
from pix2pix.nn.init import init_weights
from pix2pix.nn.norm import check_norm


class UNetGenerator(ModelMixin):
    """Encoder-decoder with skip connections, layer for layer the reference U-Net.

    ``num_downs`` stride-2 4x4 convolutions halve the image down to ``size / 2**num_downs``;
    as many stride-2 4x4 transposed convolutions bring it back, each fed the concatenation of
    the previous decoder output and the encoder feature of the same resolution (paper, section
    3.2.1). ``num_downs=8`` is ``unet_256`` (1x1 bottleneck at 256 px) and ``num_downs=7`` is
    ``unet_128``. Channel widths are ``base_channels * min(2**level, 8)``.

    Exactly as the reference: no norm after the first and the innermost down-convolution;
    LeakyReLU(0.2) before every down-convolution but the first; ReLU before each up-convolution;
    norm after every up-convolution but the last, which has a bias and ends in Tanh; dropout after
    the up-convolutions of the ``num_downs - 5`` middle blocks (the paper's only noise source);
    convolutions followed by batch norm have no bias.

    The reference nests its blocks recursively and skip-connects the *activated* encoder output
    (its in-place LeakyReLU rewrites the tensor before concatenation); since the decoder applies
    ReLU first and ``relu(leaky_relu(x)) == relu(x)``, skipping the raw output is numerically
    identical, and keeps the state dict flat: ``encoder.{i}.conv.weight``,
    ``decoder.{j}.norm.running_mean``, with ``decoder.0`` the innermost up-sampling block.

    ``upsample="nearest"`` or ``"bilinear"`` replaces each transposed convolution with a 2x
    resize and a 3x3 stride-1 convolution (:class:`~pix2pix.nn.blocks.UpBlock`), which cannot
    paint the period-2 grid of the transposed one; the rest of the network is unchanged. Its
    decoder has 9/16 of the transposed kernels' weights: ``unet_256`` with batch norm has
    39,157,763 parameters instead of 54,413,955 (``unet_128``: 30,242,819 instead of
    41,828,995). ``config.json`` records ``upsample`` only when it is not ``"transpose"``, so
    configs saved before the option existed keep their keys.

    Args:
        in_channels: Channels of the input image.
        out_channels: Channels of the output image.
        base_channels: Width of the first layer (``ngf`` in the reference).
        num_downs: Number of down-samplings; inputs must be multiples of ``2**num_downs``.
        norm: ``"batch"`` (paper), ``"instance"`` or ``"none"``.
        dropout: Dropout probability in the middle decoder blocks (0 disables it).
        upsample: ``"transpose"`` (the paper's), ``"nearest"`` or ``"bilinear"``
            (resize, then a 3x3 convolution).

    Examples:
        >>> g = UNetGenerator(base_channels=8, num_downs=5)
        >>> g(torch.zeros(1, 3, 64, 64)).shape
        torch.Size([1, 3, 64, 64])
    """

    # recorded only when not the default: configs saved before the option keep their keys
    config_omit_defaults = ("upsample",)

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        base_channels: int = 64,
        num_downs: int = 8,
        norm: str = "batch",
        dropout: float = 0.5,
        upsample: str = "transpose",
    ) -> None:
        super().__init__()
        sizes = dict(
            in_channels=in_channels,
            out_channels=out_channels,
            base_channels=base_channels,
            num_downs=num_downs,
        )
        check_positive_int(**sizes)
        check_architecture(**sizes)
        check_norm(norm)
        check_probability("dropout", dropout)
        check_choice("upsample", upsample, UPSAMPLE_CHOICES)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_downs = num_downs

        def width(level: int) -> int:
            return base_channels * min(2**level, 8)

        innermost = num_downs - 1
        self.encoder = nn.ModuleList()
        for level in range(num_downs):
            outermost = level == 0
            self.encoder.append(
                ConvBlock(
                    in_channels if outermost else width(level - 1),
                    width(level),
                    norm="none" if outermost or level == innermost else norm,
                    activation="none" if outermost else "leaky_relu",
                    activation_first=True,
                    # The reference decides the bias from the block's norm type, so even the
                    # outermost and innermost convs (which have no norm) have none with batch norm.
                    bias=norm != "batch",
                )
            )
        self.decoder = nn.ModuleList()
        for level in reversed(range(num_downs)):
            outermost = level == 0
            self.decoder.append(
                UpBlock(
                    width(level) * (1 if level == innermost else 2),
                    out_channels if outermost else width(level - 1),
                    norm="none" if outermost else norm,
                    activation="relu",
                    dropout=dropout if 4 <= level < innermost else 0.0,
                    bias=True if outermost else norm != "batch",
                    upsample=upsample,
                )
            )
        init_weights(self, "normal", 0.02)

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this (``2**num_downs``)."""
        return 2**self.num_downs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Translate ``x`` ``[N, in_channels, H, W]`` in [-1, 1] to ``[N, out_channels, H, W]``."""
        check_input(x, self.in_channels, self.size_multiple, type(self).__name__)
        skips = []
        for block in self.encoder:
            x = block(x)
            skips.append(x)
        skips.pop()  # the bottleneck feeds the decoder directly
        for block in self.decoder:
            x = block(x)
            if skips:
                x = torch.cat([skips.pop(), x], dim=1)
        return torch.tanh(x)


@register_model(kind="generator")
def unet_256(**overrides: Any) -> UNetGenerator:
    """The reference ``unet_256``: 8 down-samplings, a 1x1 bottleneck at 256 px (54,413,955
    parameters with the defaults)."""
    return UNetGenerator(**{"num_downs": 8, **overrides})


@register_model(kind="generator")
def unet_128(**overrides: Any) -> UNetGenerator:
    """The reference ``unet_128``: 7 down-samplings, a 1x1 bottleneck at 128 px."""
    return UNetGenerator(**{"num_downs": 7, **overrides})
