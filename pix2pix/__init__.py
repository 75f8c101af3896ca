"""pix2pix: paired image-to-image translation with conditional GANs for PyTorch."""

from pix2pix.data import PairedImageDataset, SyntheticPairs
from pix2pix.inference.translator import Translator
from pix2pix.models import (
    PatchGANDiscriminator,
    PixelDiscriminator,
    ResNetGenerator,
    UNetGenerator,
    load_pretrained,
)
from pix2pix.pretrained import list_pretrained
from pix2pix.trainer import Callback, Trainer, TrainerConfig
from pix2pix.version import __version__

__all__ = [
    "Callback",
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
    "list_pretrained",
    "load_pretrained",
]
