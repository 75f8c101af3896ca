"""The ResNet generator (reference ``resnet_6blocks`` / ``resnet_9blocks``), built flat."""

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
from pix2pix.nn.blocks import UPSAMPLE_CHOICES, ConvBlock, ResidualBlock, UpBlock
from pix2pix.nn.init import init_weights
from pix2pix.nn.norm import check_norm


class ResNetGenerator(ModelMixin):
    """Johnson et al.'s residual generator as the reference implementation builds it.

    A reflect-padded 7x7 stem, two stride-2 3x3 down-samplings, ``n_blocks`` residual blocks at
    ``4 * base_channels``, two stride-2 transposed convolutions (``output_padding=1``) and a
    reflect-padded 7x7 head with Tanh. Inputs must be multiples of 4.

    State-dict keys: ``stem.conv.weight``, ``down.{0,1}.conv.weight``,
    ``blocks.{i}.conv{1,2}.conv.weight``, ``up.{0,1}.conv.weight``, ``head.conv.weight``.

    ``upsample="nearest"`` or ``"bilinear"`` replaces the two transposed convolutions with a 2x
    resize and a 3x3 stride-1 convolution each (:class:`~pix2pix.nn.blocks.UpBlock`): the same
    kernel size, so the same parameter count (11,378,179 for ``resnet_9blocks``), without the
    period-2 grid. ``config.json`` records it only when it is not ``"transpose"``.

    Args:
        in_channels: Channels of the input image.
        out_channels: Channels of the output image.
        base_channels: Width of the stem (``ngf``).
        n_blocks: Number of residual blocks (9 for ``resnet_9blocks``, 6 for ``resnet_6blocks``).
        norm: ``"batch"``, ``"instance"`` (default, as the reference's CycleGAN setting) or
            ``"none"``.
        dropout: Dropout inside each residual block (the reference uses 0.5 unless
            ``--no_dropout``; 0 here).
        upsample: ``"transpose"`` (the reference's), ``"nearest"`` or ``"bilinear"``
            (resize, then a 3x3 convolution).

    Examples:
        >>> g = ResNetGenerator(base_channels=8, n_blocks=2)
        >>> g(torch.zeros(1, 3, 32, 32)).shape
        torch.Size([1, 3, 32, 32])
    """

    # recorded only when not the default: configs saved before the option keep their keys
    config_omit_defaults = ("upsample",)

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        base_channels: int = 64,
        n_blocks: int = 9,
        norm: str = "instance",
        dropout: float = 0.0,
        upsample: str = "transpose",
    ) -> None:
        super().__init__()
        check_positive_int(
            in_channels=in_channels, out_channels=out_channels, base_channels=base_channels
        )
        if isinstance(n_blocks, bool) or not isinstance(n_blocks, int) or n_blocks < 0:
            raise ValueError(f"n_blocks={n_blocks!r} must be a non-negative integer.")
        check_architecture(
            in_channels=in_channels,
            out_channels=out_channels,
            base_channels=base_channels,
            n_blocks=n_blocks,
        )
        check_norm(norm)
        check_probability("dropout", dropout)
        check_choice("upsample", upsample, UPSAMPLE_CHOICES)
        self.in_channels = in_channels
        self.out_channels = out_channels
        c = base_channels
        self.stem = ConvBlock(
            in_channels, c, 7, 1, 3, norm=norm, activation="relu", padding_mode="reflect"
        )
        self.down = nn.ModuleList(
            [
                ConvBlock(c, 2 * c, 3, 2, 1, norm=norm, activation="relu"),
                ConvBlock(2 * c, 4 * c, 3, 2, 1, norm=norm, activation="relu"),
            ]
        )
        self.blocks = nn.ModuleList(
            [ResidualBlock(4 * c, norm=norm, dropout=dropout) for _ in range(n_blocks)]
        )
        self.up = nn.ModuleList(
            [
                UpBlock(
                    4 * c, 2 * c, 3, 2, 1, 1, norm=norm, activation_first=False, upsample=upsample
                ),
                UpBlock(2 * c, c, 3, 2, 1, 1, norm=norm, activation_first=False, upsample=upsample),
            ]
        )
        self.head = ConvBlock(
            c,
            out_channels,
            7,
            1,
            3,
            norm="none",
            activation="tanh",
            bias=True,
            padding_mode="reflect",
        )
        init_weights(self, "normal", 0.02)

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this (4)."""
        return 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Translate ``x`` ``[N, in_channels, H, W]`` in [-1, 1] to ``[N, out_channels, H, W]``."""
        check_input(x, self.in_channels, self.size_multiple, type(self).__name__)
        x = self.stem(x)
        for block in self.down:
            x = block(x)
        for block in self.blocks:
            x = block(x)
        for block in self.up:
            x = block(x)
        return self.head(x)


@register_model(kind="generator")
def resnet_9blocks(**overrides: Any) -> ResNetGenerator:
    """The reference ``resnet_9blocks`` (CycleGAN's generator for 256 px)."""
    return ResNetGenerator(**{"n_blocks": 9, **overrides})


@register_model(kind="generator")
def resnet_6blocks(**overrides: Any) -> ResNetGenerator:
    """The reference ``resnet_6blocks`` (CycleGAN's generator for 128 px)."""
    return ResNetGenerator(**{"n_blocks": 6, **overrides})
