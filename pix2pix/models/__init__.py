"""Generators and discriminators of pix2pix, with config + safetensors persistence."""

from pix2pix.models.base import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    ModelMixin,
    load_pretrained,
)
from pix2pix.models.patchgan import PatchGANDiscriminator, PixelDiscriminator
from pix2pix.models.resnet import ResNetGenerator
from pix2pix.models.unet import UNetGenerator

__all__ = [
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "ModelMixin",
    "PatchGANDiscriminator",
    "PixelDiscriminator",
    "ResNetGenerator",
    "UNetGenerator",
    "load_pretrained",
]
