"""pix2pix: paired image-to-image translation with conditional GANs for PyTorch."""

from pix2pix.data import PairedImageDataset, SyntheticPairs
from pix2pix.inference.translator import Translator
from pix2pix.models import (
    MultiScaleDiscriminator,
    PatchGANDiscriminator,
    PixelDiscriminator,
    ResNetGenerator,
    UNetGenerator,
    create_model,
    list_models,
    load_pretrained,
)
from pix2pix.pretrained import list_pretrained
from pix2pix.trainer import Callback, Trainer, TrainerConfig
from pix2pix.version import __version__

__all__ = [
    "Callback",
    "MultiScaleDiscriminator",
    "PairedImageDataset",
    "PatchGANDiscriminator",
    "PixelDiscriminator",
    "ResNetGenerator",
    "SyntheticPairs",
    "Trainer",
    "TrainerConfig",
    "Translator",
    "UNetGenerator",
    "__version__",
    "create_model",
    "list_models",
    "list_pretrained",
    "load_pretrained",
]
