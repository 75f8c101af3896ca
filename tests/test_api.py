"""The public API is a contract: names must not vanish by accident."""

import importlib

import pytest

import pix2pix

# The whole public surface, pinned: a name added or removed here is a decision, not an accident.
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
        "list_pretrained",
        "load_pretrained",
    },
    "pix2pix.trainer": {
        "BestCheckpoint",
        "Callback",
        "EarlyStopping",
        "ExponentialMovingAverage",
        "Logger",
        "NonFiniteLossError",
        "Trainer",
        "TrainerConfig",
        "frozen",
    },
    "pix2pix.inference": {"Translator"},
    "pix2pix.export": {"export_onnx", "export_torchscript", "export_model"},
    "pix2pix.hub": {"download_pretrained", "push_to_hub"},
    "pix2pix.nn": {
        "ACTIVATION_CHOICES",
        "INIT_CHOICES",
        "NORM_CHOICES",
        "ConvBlock",
        "ResidualBlock",
        "UpBlock",
        "get_activation",
        "get_norm_layer",
        "init_weights",
    },
    "pix2pix.models": {
        "UNetGenerator",
        "ResNetGenerator",
        "PatchGANDiscriminator",
        "PixelDiscriminator",
        "MultiScaleDiscriminator",
        "ModelMixin",
        "load_pretrained",
    },
    "pix2pix.losses": {
        "GAN_MODE_CHOICES",
        "PENALTY_CHOICES",
        "GANLoss",
        "gan_loss",
        "gradient_penalty",
        "FeatureMatchingLoss",
        "feature_matching_loss",
    },
    "pix2pix.evaluation": {"GalleryRow", "evaluate", "find_inception_weights", "write_gallery"},
    "pix2pix.metrics": {"l1", "psnr", "ssim"},
    "pix2pix.presets": {
        "ABLATIONS",
        "IMPROVED_PRESET",
        "PRESETS",
        "build_preset",
        "get_preset",
        "preset_names",
    },
}

# names that moved or went private: still importable from the old place, with a warning
MOVED = [
    ("pix2pix.translator", "Translator"),
    ("pix2pix.conversion", "to_model_input"),
    ("pix2pix.tiling", "run_tiled"),
    ("pix2pix.trainer.state", "restore_checkpoint"),
    ("pix2pix.trainer.checkpoint", "CONFIG_NAME"),
    ("pix2pix.trainer.config", "DIRECTIONS"),
    ("pix2pix.models", "CONFIG_NAME"),
    ("pix2pix.losses", "GAN_MODES"),
    ("pix2pix.losses.adversarial", "PENALTY_TYPES"),
    ("pix2pix.data", "natural_sort_key"),
    ("pix2pix.data", "convert_channels"),
    ("pix2pix.evaluation", "json_ready"),
]


def test_the_surface_is_exactly_the_pinned_one():
    for module_name, names in EXPECTED.items():
        assert set(importlib.import_module(module_name).__all__) == names, module_name
    assert sum(len(names) for names in EXPECTED.values()) == 64


@pytest.mark.parametrize(("module_name", "name"), MOVED)
def test_moved_names_still_import_with_a_deprecation_warning(module_name, name):
    module = importlib.import_module(module_name)
    with pytest.warns(DeprecationWarning, match=f"{name} moved to"):
        assert getattr(module, name) is not None


def test_renamed_constants_keep_their_values():
    from pix2pix.constants import GAN_MODE_CHOICES, TRAINER_CONFIG_NAME

    with pytest.warns(DeprecationWarning):
        from pix2pix.losses import GAN_MODES
    with pytest.warns(DeprecationWarning):
        from pix2pix.trainer.checkpoint import CONFIG_NAME
    assert (
        GAN_MODES == GAN_MODE_CHOICES
        and CONFIG_NAME == TRAINER_CONFIG_NAME == "trainer_config.json"
    )


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
