"""The data API is a contract: names must not vanish by accident."""

import inspect

import pix2pix
import pix2pix.data


def test_data_names_are_documented():
    # the names themselves are pinned with the rest of the public surface in test_api.py
    for name in pix2pix.data.__all__:
        obj = getattr(pix2pix.data, name)
        if callable(obj):
            assert obj.__doc__ and obj.__doc__.strip(), name


def test_headline_datasets_are_top_level():
    assert pix2pix.PairedImageDataset is pix2pix.data.PairedImageDataset
    assert pix2pix.SyntheticPairs is pix2pix.data.SyntheticPairs
    assert {"PairedImageDataset", "SyntheticPairs"} <= set(pix2pix.__all__)


def keyword_only_defaults(parameters):
    kw = inspect.Parameter.KEYWORD_ONLY
    return {name: p.default for name, p in parameters.items() if p.kind is kw}


def test_constructor_contracts():
    # only the root is positional; the options are keyword-only, so their order is free but
    # their names and defaults (the paper's) are the contract
    paired = inspect.signature(pix2pix.PairedImageDataset).parameters
    positional = [name for name, p in paired.items() if p.kind is not p.KEYWORD_ONLY]
    assert positional == ["root"] and paired["root"].default is inspect.Parameter.empty
    assert (
        keyword_only_defaults(paired).items()
        >= {
            "direction": "AtoB",
            "layout": "auto",
            "preprocess": "resize_and_crop",
            "load_size": 286,
            "crop_size": 256,
            "flip": True,
            "train": True,
            "in_channels": 3,
            "out_channels": 3,
            "size_multiple": 256,
        }.items()
    )
    # SyntheticPairs(length, size, seed, ...) may be called positionally: that order is pinned
    synthetic = inspect.signature(pix2pix.SyntheticPairs).parameters
    positional = {n: p.default for n, p in synthetic.items() if p.kind is not p.KEYWORD_ONLY}
    assert list(positional.items())[:5] == [
        ("length", 400),
        ("size", 128),
        ("seed", 0),
        ("in_channels", 3),
        ("out_channels", 3),
    ]
    assert keyword_only_defaults(synthetic).items() >= {"split": "train"}.items()
