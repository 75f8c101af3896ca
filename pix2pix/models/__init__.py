"""Generators and discriminators of pix2pix, with config + safetensors persistence."""

from pix2pix._deprecation import moved_names
from pix2pix.models.base import ModelMixin, load_pretrained
from pix2pix.models.multiscale import MultiScaleDiscriminator
from pix2pix.models.patchgan import PatchGANDiscriminator, PixelDiscriminator
from pix2pix.models.resnet import ResNetGenerator
from pix2pix.models.unet import UNetGenerator

__all__ = [
    "ModelMixin",
    "MultiScaleDiscriminator",
    "PatchGANDiscriminator",
    "PixelDiscriminator",
    "ResNetGenerator",
    "UNetGenerator",
    "load_pretrained",
]

# file names have one home, pix2pix.constants
__getattr__ = moved_names(
    "pix2pix.models", {"CONFIG_NAME": "pix2pix.constants", "WEIGHTS_NAME": "pix2pix.constants"}
)
