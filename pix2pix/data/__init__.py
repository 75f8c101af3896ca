"""Paired datasets, joint jitter transforms, image I/O, the synthetic task and dataset tools."""

from pix2pix.data.io import (
    IMAGE_EXTENSIONS,
    is_image_file,
    list_images,
    natural_sort_key,
    pil_to_array,
    read_image,
    write_image,
)
from pix2pix.data.paired import PairedImageDataset
from pix2pix.data.synthetic import SyntheticPairs, render_pair
from pix2pix.data.tools import ToolReport, combine_folders, split_folder
from pix2pix.data.transforms import (
    PREPROCESS_CHOICES,
    JitterParams,
    PairTransform,
    convert_channels,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "PREPROCESS_CHOICES",
    "JitterParams",
    "PairTransform",
    "PairedImageDataset",
    "SyntheticPairs",
    "ToolReport",
    "combine_folders",
    "convert_channels",
    "is_image_file",
    "list_images",
    "natural_sort_key",
    "pil_to_array",
    "read_image",
    "render_pair",
    "split_folder",
    "write_image",
]
