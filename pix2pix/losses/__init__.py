"""Losses for conditional GAN training."""

from pix2pix._deprecation import moved_names
from pix2pix.constants import GAN_MODE_CHOICES, PENALTY_CHOICES
from pix2pix.losses.adversarial import GANLoss, gan_loss, gradient_penalty
from pix2pix.losses.feature_matching import FeatureMatchingLoss, feature_matching_loss

__all__ = [
    "GAN_MODE_CHOICES",
    "PENALTY_CHOICES",
    "FeatureMatchingLoss",
    "GANLoss",
    "feature_matching_loss",
    "gan_loss",
    "gradient_penalty",
]

__getattr__ = moved_names(
    "pix2pix.losses",
    {
        "GAN_MODES": "pix2pix.constants:GAN_MODE_CHOICES",
        "PENALTY_TYPES": "pix2pix.constants:PENALTY_CHOICES",
    },
)
