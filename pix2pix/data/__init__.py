"""Paired datasets, joint jitter transforms, image I/O, the synthetic task and dataset tools."""

from pix2pix.data.check import check_data
from pix2pix.data.download import download_dataset
from pix2pix.data.io import list_images, read_image, write_image
from pix2pix.data.paired import PairedImageDataset
from pix2pix.data.preloaded import PreloadedPairs
from pix2pix.data.prepare import prepare_cityscapes
from pix2pix.data.synthetic import SyntheticPairs
from pix2pix.data.tools import combine_folders, split_folder
from pix2pix.data.transforms import PairTransform

__all__ = [
    "PairTransform",
    "PairedImageDataset",
    "PreloadedPairs",
    "SyntheticPairs",
    "check_data",
    "combine_folders",
    "download_dataset",
    "list_images",
    "prepare_cityscapes",
    "read_image",
    "split_folder",
    "write_image",
]
