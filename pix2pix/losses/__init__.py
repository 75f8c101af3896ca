"""Losses for conditional GAN training."""

from pix2pix.losses.adversarial import (
    GAN_MODES,
    PENALTY_TYPES,
    GANLoss,
    gan_loss,
    gradient_penalty,
)

__all__ = ["GAN_MODES", "PENALTY_TYPES", "GANLoss", "gan_loss", "gradient_penalty"]
