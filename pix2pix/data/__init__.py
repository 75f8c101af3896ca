"""Paired datasets, joint jitter transforms, image I/O, the synthetic task and dataset tools."""

from pix2pix._deprecation import moved_names
from pix2pix.constants import PREPROCESS_CHOICES
from pix2pix.data.check import check_data
from pix2pix.data.download import download_dataset
from pix2pix.data.io import IMAGE_EXTENSIONS, list_images, read_image, write_image
from pix2pix.data.paired import PairedImageDataset
from pix2pix.data.synthetic import SyntheticPairs, render_pair
from pix2pix.data.tools import ToolReport, combine_folders, split_folder
from pix2pix.data.transforms import PairTransform, match_channels

__all__ = [
    "IMAGE_EXTENSIONS",
    "PREPROCESS_CHOICES",
    "PairTransform",
    "PairedImageDataset",
    "SyntheticPairs",
    "ToolReport",
    "check_data",
    "combine_folders",
    "download_dataset",
    "list_images",
    "match_channels",
    "read_image",
    "render_pair",
    "split_folder",
    "write_image",
]

# helpers that were public before 0.2: still importable from here, with a warning
__getattr__ = moved_names(
    "pix2pix.data",
    {
        "is_image_file": "pix2pix.data.io",
        "natural_sort_key": "pix2pix.data.io",
        "pil_to_array": "pix2pix.data.io",
        "JitterParams": "pix2pix.data.transforms",
        "convert_channels": "pix2pix.data.transforms:match_channels",
    },
)
