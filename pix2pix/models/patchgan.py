"""Conditional discriminators: the PatchGAN (paper section 3.2.2) and the 1x1 PixelGAN."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from pix2pix._checks import check_architecture, check_positive_int
from pix2pix.models.base import ModelMixin
from pix2pix.models.registry import register_model
from pix2pix.nn.blocks import ConvBlock
from pix2pix.nn.init import init_weights
from pix2pix.nn.norm import check_norm, conv_bias_for


def receptive_field(layers: list[tuple[int, int]]) -> int:
    """Receptive field in pixels of a stack of ``(kernel_size, stride)`` convolutions."""
    field = 1
    for kernel, stride in reversed(layers):
        field = (field - 1) * stride + kernel
    return field


def output_side(side: int, layers: list[tuple[int, int]]) -> int:
    """Output side of a stack of ``(kernel_size, stride)`` convolutions with padding 1."""
    for kernel, stride in layers:
        side = (side + 2 - kernel) // stride + 1
    return side


def check_input_size(name: str, least: int, x: torch.Tensor) -> None:
    """Refuse, in one line, an input of ``x``'s size under ``least`` pixels a side.

    Too small an input would otherwise fail deep in torch ("Expected more than 1 value per
    channel when training", or a convolution's "Kernel size can't be greater than actual
    input size"), naming a layer's size, not the crop the user chose.
    """
    height, width = x.shape[-2], x.shape[-1]
    if height < least or width < least:
        raise ValueError(
            f"{name} needs inputs of at least {least}x{least} pixels; got {height}x{width}. "
            "Train on larger crops (--crop-size), or use a discriminator that sees less "
            "(fewer layers: --n-layers-d; fewer scales: --num-d)."
        )


def check_patchgan_input(discriminator: PatchGANDiscriminator, x: torch.Tensor) -> None:
    """:func:`check_input_size` for one PatchGAN (its forward, and its features' walk)."""
    check_input_size(discriminator._name, discriminator.min_input_size, x)


class PatchGANDiscriminator(ModelMixin):
    """The reference "basic" / ``n_layers`` PatchGAN: classifies overlapping patches as real/fake.

    ``n_layers`` stride-2 4x4 convolutions (LeakyReLU 0.2; norm on all but the first), then a
    stride-1 4x4 convolution with norm and LeakyReLU and a stride-1 4x4 convolution to one channel.
    The output is a map of raw logits (no sigmoid): 30x30 for a 256 input with ``n_layers=3``,
    each logit seeing a 70x70 patch (:attr:`receptive_field`).

    The input is the source and the (real or generated) target concatenated on channels, so
    ``in_channels`` is their sum (6 for RGB to RGB).

    State-dict keys: ``blocks.{i}.conv.weight``, ``blocks.{i}.norm.*`` and ``head.weight``.

    Args:
        in_channels: Channels of the concatenated (source, target) input.
        base_channels: Width of the first layer (``ndf``).
        n_layers: Number of stride-2 convolutions (3 gives the paper's 70x70 PatchGAN, 1 a 16x16
            one, 4 a 142x142 one).
        norm: ``"batch"`` (paper), ``"instance"`` or ``"none"``.
        spectral_norm: Divide every convolution's weight by its largest singular value
            (Miyato et al. 2018), estimated by one power iteration per training-mode forward.
            Off by default (the paper has none). The parameter count is unchanged; the keys of
            the convolution weights become ``...conv.parametrizations.weight.original`` with
            the power-iteration vectors ``..._u``/``..._v`` beside them. Recorded in
            :attr:`config` only when on, so default configs stay as they were.

    Examples:
        >>> d = PatchGANDiscriminator(base_channels=8)
        >>> d(torch.zeros(1, 6, 256, 256)).shape, d.receptive_field
        (torch.Size([1, 1, 30, 30]), 70)
    """

    # recorded only when on: configs saved before spectral norm existed keep their keys
    config_omit_defaults = ("spectral_norm",)

    def __init__(
        self,
        in_channels: int = 6,
        base_channels: int = 64,
        n_layers: int = 3,
        norm: str = "batch",
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        check_positive_int(in_channels=in_channels, base_channels=base_channels, n_layers=n_layers)
        check_architecture(in_channels=in_channels, base_channels=base_channels, n_layers=n_layers)
        check_norm(norm)
        if not isinstance(spectral_norm, bool):
            raise ValueError(f"spectral_norm={spectral_norm!r} must be True or False.")
        self.in_channels = in_channels
        widths = [base_channels * min(2**i, 8) for i in range(n_layers + 1)]
        blocks = [ConvBlock(in_channels, widths[0], 4, 2, 1, norm="none", bias=True)]
        for i in range(1, n_layers):
            blocks.append(ConvBlock(widths[i - 1], widths[i], 4, 2, 1, norm=norm))
        blocks.append(ConvBlock(widths[-2], widths[-1], 4, 1, 1, norm=norm))
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Conv2d(widths[-1], 1, 4, stride=1, padding=1)
        self._layers = [(4, 2)] * n_layers + [(4, 1), (4, 1)]
        self._name = f"PatchGANDiscriminator(n_layers={n_layers})"
        self._min_input_size = next(
            n for n in range(1, 1 << 20) if output_side(n, self._layers) > 0
        )
        init_weights(self, "normal", 0.02)
        if spectral_norm:
            # after the init, so the normalised weights start from the paper's N(0, 0.02) draw
            for conv in [m for m in self.modules() if isinstance(m, nn.Conv2d)]:
                nn.utils.parametrizations.spectral_norm(conv)

    @property
    def size_multiple(self) -> int:
        """1: any side from :attr:`min_input_size` up."""
        return 1

    @property
    def receptive_field(self) -> int:
        """Side in pixels of the input patch that one output logit sees (70 for n_layers=3)."""
        return receptive_field(self._layers)

    @property
    def min_input_size(self) -> int:
        """The smallest input side that gives at least one logit (24 for n_layers=3).

        At that size every normalised layer also has more than one value per channel, which
        batch norm needs in training at batch size 1.
        """
        return self._min_input_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return patch logits ``[N, 1, h, w]`` for ``x`` = cat(source, target) ``[N, C, H, W]``."""
        check_patchgan_input(self, x)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


class PixelDiscriminator(ModelMixin):
    """The reference 1x1 "pixel" discriminator (PixelGAN): each logit sees one pixel.

    Two 1x1 convolutions (``base_channels`` then twice that, LeakyReLU 0.2, norm on the second)
    and a 1x1 convolution to one channel. As in the reference, the last convolution follows the
    norm's bias rule (no bias with batch norm).

    State-dict keys: ``blocks.{0,1}.conv.weight``, ``blocks.1.norm.*``, ``head.weight``.

    Args:
        in_channels: Channels of the concatenated (source, target) input.
        base_channels: Width of the first layer.
        norm: ``"batch"``, ``"instance"`` or ``"none"``.

    Examples:
        >>> PixelDiscriminator(base_channels=8)(torch.zeros(1, 6, 32, 32)).shape
        torch.Size([1, 1, 32, 32])
    """

    def __init__(self, in_channels: int = 6, base_channels: int = 64, norm: str = "batch") -> None:
        super().__init__()
        check_positive_int(in_channels=in_channels, base_channels=base_channels)
        check_architecture(in_channels=in_channels, base_channels=base_channels)
        check_norm(norm)
        self.in_channels = in_channels
        self.blocks = nn.ModuleList(
            [
                ConvBlock(in_channels, base_channels, 1, 1, 0, norm="none", bias=True),
                ConvBlock(base_channels, 2 * base_channels, 1, 1, 0, norm=norm),
            ]
        )
        self.head = nn.Conv2d(2 * base_channels, 1, 1, bias=conv_bias_for(norm))
        init_weights(self, "normal", 0.02)

    @property
    def size_multiple(self) -> int:
        """1: any size."""
        return 1

    @property
    def receptive_field(self) -> int:
        """Side in pixels of the input patch that one output logit sees (1)."""
        return 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return per-pixel logits ``[N, 1, H, W]``."""
        for block in self.blocks:
            x = block(x)
        return self.head(x)


@register_model(kind="discriminator")
def patchgan(**overrides: Any) -> PatchGANDiscriminator:
    """The paper's 70x70 PatchGAN (the reference ``basic``; ``n_layers`` changes the patch):
    2,768,705 parameters on 6 channels."""
    return PatchGANDiscriminator(**overrides)


@register_model(kind="discriminator")
def pixel(**overrides: Any) -> PixelDiscriminator:
    """The reference 1x1 ``pixel`` discriminator (PixelGAN)."""
    return PixelDiscriminator(**overrides)
