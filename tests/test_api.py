"""The public API is a contract: names must not vanish by accident."""

import importlib

import pytest

import pix2pix

EXPECTED = {
    "pix2pix": {
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
        "load_pretrained",
    },
    "pix2pix.trainer": {"Trainer", "TrainerConfig", "Callback", "NonFiniteLossError", "frozen"},
    "pix2pix.export": {"export_onnx", "export_torchscript", "export_model"},
    "pix2pix.hub": {"download_pretrained", "push_to_hub"},
    "pix2pix.nn": {"ConvBlock", "UpBlock", "ResidualBlock", "get_norm_layer", "init_weights"},
    "pix2pix.models": {
        "UNetGenerator",
        "ResNetGenerator",
        "PatchGANDiscriminator",
        "PixelDiscriminator",
        "ModelMixin",
        "load_pretrained",
    },
    "pix2pix.losses": {"GANLoss", "gan_loss", "gradient_penalty"},
}


@pytest.mark.parametrize("module_name", sorted(EXPECTED))
def test_public_names_are_exported(module_name):
    module = importlib.import_module(module_name)
    assert EXPECTED[module_name] <= set(module.__all__)
    for name in module.__all__:
        assert hasattr(module, name), name


def test_version_is_a_string():
    assert isinstance(pix2pix.__version__, str) and pix2pix.__version__.count(".") == 2


@pytest.mark.parametrize("module_name", sorted(EXPECTED))
def test_public_callables_have_docstrings(module_name):
    module = importlib.import_module(module_name)
    for name in module.__all__:
        obj = getattr(module, name)
        if callable(obj):
            assert obj.__doc__ and obj.__doc__.strip(), f"{module_name}.{name} has no docstring"
            assert ">>>" in obj.__doc__, f"{module_name}.{name} has no example in its docstring"
