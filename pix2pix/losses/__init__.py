"""Losses for conditional GAN training: each a function and a thin ``nn.Module`` twin."""

from pix2pix.losses.adversarial import GANLoss, gan_loss, gradient_penalty
from pix2pix.losses.feature_matching import FeatureMatchingLoss, feature_matching_loss
from pix2pix.losses.perceptual import VGGLoss, vgg_loss

__all__ = [
    "FeatureMatchingLoss",
    "GANLoss",
    "VGGLoss",
    "feature_matching_loss",
    "gan_loss",
    "gradient_penalty",
    "vgg_loss",
]
