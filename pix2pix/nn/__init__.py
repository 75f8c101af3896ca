"""Building blocks of the pix2pix networks."""

from pix2pix.nn.activation import ACTIVATION_CHOICES, get_activation
from pix2pix.nn.blocks import ConvBlock, ResidualBlock, UpBlock
from pix2pix.nn.init import INIT_CHOICES, init_weights
from pix2pix.nn.norm import NORM_CHOICES, get_norm_layer

__all__ = [
    "ACTIVATION_CHOICES",
    "INIT_CHOICES",
    "NORM_CHOICES",
    "ConvBlock",
    "ResidualBlock",
    "UpBlock",
    "get_activation",
    "get_norm_layer",
    "init_weights",
]
