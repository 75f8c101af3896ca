"""Generators and discriminators of pix2pix: models by name, with config + safetensors persistence.

``create_model("unet_256")`` builds a registered architecture (``list_models()`` names them all);
every model saves itself as ``config.json`` + ``model.safetensors`` and
:func:`load_pretrained` loads any of them back.
"""

from pix2pix.models.base import ModelMixin, load_pretrained
from pix2pix.models.convert import load_reference_checkpoint
from pix2pix.models.multiscale import MultiScaleDiscriminator
from pix2pix.models.patchgan import PatchGANDiscriminator, PixelDiscriminator
from pix2pix.models.registry import create_model, list_models, register_model
from pix2pix.models.resnet import ResNetGenerator
from pix2pix.models.unet import UNetGenerator

__all__ = [
    "ModelMixin",
    "MultiScaleDiscriminator",
    "PatchGANDiscriminator",
    "PixelDiscriminator",
    "ResNetGenerator",
    "UNetGenerator",
    "create_model",
    "list_models",
    "load_pretrained",
    "load_reference_checkpoint",
    "register_model",
]
