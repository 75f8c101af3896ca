"""Discriminator feature matching (pix2pixHD, Wang et al. 2018, eq. 4).

The generator is asked to make the discriminator's intermediate activations on the fake pair
match those on the real pair: an L1 distance per layer, the real features detached (they are a
target, not something the generator's loss may move). It stabilises training and pushes the
generator towards the statistics of real images at several depths, a perceptual-like term that
needs no pretrained network.

Weighting follows pix2pixHD exactly: each of the ``L`` feature layers of a scale has weight
``4 / L`` (pix2pixHD's ``4.0 / (n_layers_D + 1)``, with ``L = n_layers + 1``) and each of the
``S`` scales ``1 / S``; that is, 4 x the mean over layers and scales. So ``lambda_feat=10``
means what it means in pix2pixHD.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

Features = Sequence[torch.Tensor] | Sequence[Sequence[torch.Tensor]]


def _per_scale(features: Features) -> list[list[torch.Tensor]]:
    if len(features) and isinstance(features[0], torch.Tensor):
        return [cast(list[torch.Tensor], list(features))]
    return [list(cast(Sequence[torch.Tensor], scale)) for scale in features]


def feature_matching_loss(
    real_features: Features, fake_features: Features, *, layer_scale: float = 4.0
) -> torch.Tensor:
    """pix2pixHD's feature-matching loss between D's features on real and on fake pairs.

    ``layer_scale / L * sum_layers L1(fake, real.detach())`` per scale (``L`` layers), averaged
    over scales. With the default ``layer_scale=4`` this is pix2pixHD's weighting; 1 gives the
    plain mean over layers and scales.

    Args:
        real_features: D's intermediate activations on ``cat(source, target)``: a list of
            tensors (one scale) or a list per scale, as
            ``MultiScaleDiscriminator(...)(x, return_features=True)[1]`` returns. Detached here.
        fake_features: The same on ``cat(source, fake)``, with the generator's graph.
        layer_scale: The total weight of one scale's layers (4 in pix2pixHD).

    Returns:
        A scalar tensor (0 when the features are equal).

    Raises:
        ValueError: If the two sides have different numbers of scales or layers, or none.

    Examples:
        >>> feats = [[torch.ones(1, 4, 8, 8), torch.ones(1, 8, 4, 4)]]
        >>> feature_matching_loss(feats, feats)
        tensor(0.)
    """
    real, fake = _per_scale(real_features), _per_scale(fake_features)
    if not real or len(real) != len(fake) or any(len(r) != len(f) for r, f in zip(real, fake)):
        raise ValueError(
            "real_features and fake_features must list the same (non-zero) number of scales "
            f"and layers; got {[len(r) for r in real]} and {[len(f) for f in fake]}."
        )
    total = torch.zeros((), device=fake[0][0].device, dtype=torch.float32)
    for real_scale, fake_scale in zip(real, fake):
        weight = layer_scale / len(fake_scale) / len(fake)
        for r, f in zip(real_scale, fake_scale):
            total = total + F.l1_loss(f, r.detach()).float() * weight
    return total


class FeatureMatchingLoss(nn.Module):
    """Module twin of :func:`feature_matching_loss`; ``forward`` delegates to it.

    Examples:
        >>> FeatureMatchingLoss()([torch.zeros(1, 2, 4, 4)], [torch.ones(1, 2, 4, 4)])
        tensor(4.)
    """

    def __init__(self, layer_scale: float = 4.0) -> None:
        super().__init__()
        self.layer_scale = layer_scale

    def forward(self, real_features: Features, fake_features: Features) -> torch.Tensor:
        """Compute the loss; see :func:`feature_matching_loss`."""
        return feature_matching_loss(real_features, fake_features, layer_scale=self.layer_scale)

    def extra_repr(self) -> str:
        return f"layer_scale={self.layer_scale}"
