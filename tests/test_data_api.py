"""The data API is a contract: names must not vanish by accident."""

import inspect

import pix2pix
import pix2pix.data

EXPECTED = {
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
}


def test_data_names_are_exported_and_documented():
    assert set(pix2pix.data.__all__) >= EXPECTED
    for name in pix2pix.data.__all__:
        obj = getattr(pix2pix.data, name)
        if callable(obj):
            assert obj.__doc__ and obj.__doc__.strip(), name


def test_headline_datasets_are_top_level():
    assert pix2pix.PairedImageDataset is pix2pix.data.PairedImageDataset
    assert pix2pix.SyntheticPairs is pix2pix.data.SyntheticPairs
    assert {"PairedImageDataset", "SyntheticPairs"} <= set(pix2pix.__all__)


def test_constructor_contracts():
    paired = inspect.signature(pix2pix.PairedImageDataset).parameters
    assert list(paired)[:11] == [
        "root",
        "direction",
        "layout",
        "preprocess",
        "load_size",
        "crop_size",
        "flip",
        "train",
        "in_channels",
        "out_channels",
        "size_multiple",
    ]
    assert paired["direction"].default == "AtoB" and paired["load_size"].default == 286
    synthetic = inspect.signature(pix2pix.SyntheticPairs).parameters
    assert list(synthetic)[:5] == ["length", "size", "seed", "in_channels", "out_channels"]
    assert synthetic["length"].default == 400 and synthetic["size"].default == 128
