"""pix2pixHD's multi-scale discriminator: one PatchGAN per image scale (Wang et al. 2018).

The same conditional PatchGAN architecture (:class:`~pix2pix.models.PatchGANDiscriminator`) runs
on the input at full resolution, at 1/2, at 1/4, ... (``num_d`` scales), each scale with its own
weights. The coarser inputs come from a 3x3 stride-2 average pool (``padding=1``,
``count_include_pad=False``), as in pix2pixHD, so the coarse discriminators see a larger part of
the image per logit (a 70x70 patch at 1/4 resolution covers ~280x280 input pixels) and judge
global structure, while the full-resolution one judges texture.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn

from pix2pix._checks import check_architecture, check_positive_int
from pix2pix.models.base import ModelMixin
from pix2pix.models.patchgan import (
    PatchGANDiscriminator,
    check_input_size,
    check_patchgan_input,
)
from pix2pix.models.registry import register_model


def patchgan_features(
    discriminator: PatchGANDiscriminator, x: torch.Tensor
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``(logits, features)`` of a PatchGAN: the output of each block, then the head's logits.

    The logits equal ``discriminator(x)``; ``features`` are the ``n_layers + 1`` intermediate
    activations (after each block's norm and LeakyReLU) that feature matching compares.
    """
    check_patchgan_input(discriminator, x)
    features = []
    for block in discriminator.blocks:
        x = block(x)
        features.append(x)
    return discriminator.head(x), features


class MultiScaleDiscriminator(ModelMixin):
    """``num_d`` PatchGANs on the input at full, 1/2, 1/4, ... resolution (pix2pixHD).

    Scale ``i`` sees the input average-pooled ``i`` times (3x3, stride 2, padding 1, padding
    excluded from the mean). Every scale has its own weights, drawn from the global RNG in scale
    order with the paper's N(0, 0.02) init. With ``num_d=1`` it is exactly a
    :class:`~pix2pix.models.PatchGANDiscriminator` (same arithmetic, keys under ``scales.0.``).

    ``forward`` returns a list of patch-logit maps, one per scale (``[N, 1, h_i, w_i]``, finest
    first); the adversarial losses of :mod:`pix2pix.losses` take such a list and average over
    scales. ``forward(x, return_features=True)`` returns ``(predictions, features)``, where
    ``features[i]`` lists the intermediate activations of scale ``i`` (for
    :func:`pix2pix.losses.feature_matching_loss`).

    State-dict keys: ``scales.{i}.blocks.{j}.conv.weight``, ``scales.{i}.blocks.{j}.norm.*`` and
    ``scales.{i}.head.weight``.

    Args:
        in_channels: Channels of the concatenated (source, target) input.
        base_channels: Width of the first layer of every scale (``ndf``).
        n_layers: Stride-2 convolutions per scale (3: the 70x70 PatchGAN).
        norm: ``"batch"`` (pix2pix), ``"instance"`` (pix2pixHD) or ``"none"``.
        num_d: Number of scales (pix2pixHD uses 2 at 1024 px and 3 in its defaults).
        spectral_norm: Spectral norm on every convolution of every scale (off by default).

    Raises:
        ValueError: For a non-positive ``num_d`` or a bad PatchGAN argument.

    Examples:
        >>> d = MultiScaleDiscriminator(base_channels=8, num_d=3)
        >>> [tuple(p.shape) for p in d(torch.zeros(1, 6, 128, 128))]
        [(1, 1, 14, 14), (1, 1, 6, 6), (1, 1, 2, 2)]
    """

    config_omit_defaults = ("spectral_norm",)

    def __init__(
        self,
        in_channels: int = 6,
        base_channels: int = 64,
        n_layers: int = 3,
        norm: str = "batch",
        num_d: int = 3,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        check_positive_int(num_d=num_d)
        check_architecture(num_d=num_d)
        self.in_channels = in_channels
        self.num_d = num_d
        scales: list[PatchGANDiscriminator] = [
            PatchGANDiscriminator(
                in_channels,
                base_channels=base_channels,
                n_layers=n_layers,
                norm=norm,
                spectral_norm=spectral_norm,
            )
            for _ in range(num_d)
        ]
        self.scales = nn.ModuleList(scales)
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    @property
    def receptive_field(self) -> int:
        """Receptive field of one logit of the finest scale, in input pixels (70 by default)."""
        return self._patchgans()[0].receptive_field

    @property
    def size_multiple(self) -> int:
        """1: any side from :attr:`min_input_size` up (each pool rounds a side up)."""
        return 1

    @property
    def min_input_size(self) -> int:
        """The smallest input side whose coarsest scale the PatchGAN still takes (93 for 3 scales).

        Each 3x3 stride-2 average pool halves a side, rounding up; the PatchGAN needs
        :attr:`PatchGANDiscriminator.min_input_size` (24 with 3 layers) at every scale.
        """
        least = self._patchgans()[0].min_input_size
        for _ in range(self.num_d - 1):
            least = 2 * least - 1  # the smallest side whose rounded-up half is `least`
        return least

    def _patchgans(self) -> list[PatchGANDiscriminator]:
        return cast(list[PatchGANDiscriminator], list(self.scales))

    def forward(
        self, x: torch.Tensor, return_features: bool = False
    ) -> list[torch.Tensor] | tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        """Patch logits per scale for ``x`` = cat(source, target); features on request."""
        # checked here, not only by each scale: the coarsest scale's size is not the user's
        layers = len(self._patchgans()[0].blocks) - 1
        name = f"MultiScaleDiscriminator(num_d={self.num_d}, n_layers={layers})"
        check_input_size(name, self.min_input_size, x)
        predictions: list[torch.Tensor] = []
        features: list[list[torch.Tensor]] = []
        for index, scale in enumerate(self._patchgans()):
            if index:
                x = self.downsample(x)
            if return_features:
                logits, feats = patchgan_features(scale, x)
                features.append(feats)
            else:
                logits = scale(x)
            predictions.append(logits)
        if return_features:
            return predictions, features
        return predictions


@register_model(kind="discriminator")
def multiscale(**overrides: Any) -> MultiScaleDiscriminator:
    """pix2pixHD's discriminator: three 70x70 PatchGANs at full, 1/2 and 1/4 resolution."""
    return MultiScaleDiscriminator(**overrides)
