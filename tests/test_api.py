"""The public API is a contract: names must not appear or vanish by accident (issue 24).

The public surface is the ``__all__`` of the public modules below, pinned whole. Every other
module of the package is internal and has no ``__all__``: what it defines is importable, but
only for the library itself (and for tests), with no promise that it stays.
"""

import importlib
import pkgutil

import pytest

import pix2pix

# The whole public surface, pinned: a name added or removed here is a decision, not an accident.
EXPECTED = {
    "pix2pix": {
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
    },
    "pix2pix.models": {
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
    },
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
    "pix2pix.losses": {
        "FeatureMatchingLoss",
        "GANLoss",
        "VGGLoss",
        "feature_matching_loss",
        "gan_loss",
        "gradient_penalty",
        "vgg_loss",
    },
    "pix2pix.data": {
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
    },
    "pix2pix.trainer": {
        "BestCheckpoint",
        "Callback",
        "EarlyStopping",
        "Logger",
        "NonFiniteLossError",
        "RunExistsError",
        "RunFolderWriteError",
        "RunLockedError",
        "Trainer",
        "TrainerConfig",
        "cleanup_distributed",
    },
    "pix2pix.trainer.checkpoint": {
        "CHECKPOINTS_DIR",
        "STATE_NAME",
        "checkpoint_name",
        "checkpoint_step",
        "list_checkpoints",
        "load_state",
        "read_position",
        "resolve_checkpoint",
        "verify_checkpoint",
    },
    "pix2pix.inference": {"Translator"},
    "pix2pix.evaluation": {
        "GalleryRow",
        "checkerboard",
        "evaluate",
        "find_inception_weights",
        "find_lpips_weights",
        "lpips_distance",
        "write_gallery",
    },
    "pix2pix.pretrained": {
        "DownloadError",
        "OfflineError",
        "PaletteClass",
        "PretrainedEntry",
        "UnsafeArchiveError",
        "cache_dir",
        "get_pretrained",
        "is_cached",
        "list_pretrained",
        "register_pretrained",
        "resolve_model",
        "unregister_pretrained",
    },
    "pix2pix.metrics": {"l1", "psnr", "ssim"},
    "pix2pix.export": {"export_model", "export_onnx", "export_torchscript"},
    "pix2pix.hub": {"download_pretrained", "push_to_hub"},
    "pix2pix.presets": {
        "ABLATIONS",
        "IMPROVED_PRESET",
        "PRESETS",
        "build_preset",
        "get_preset",
        "preset_names",
    },
    "pix2pix.serve": {"ServeSettings", "create_app", "serve"},
}

# names the docs promise where they are, although their modules are internal
KEPT_WHERE_THEY_ARE = [
    ("pix2pix.pretrained.registry", "CMP_FACADE_PALETTE"),
    ("pix2pix.data.download", "DATASETS"),
    ("pix2pix.trainer.loggers", "Logger"),
]


def _all_modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(pix2pix.__path__, "pix2pix.")]


def test_the_surface_is_exactly_the_pinned_one():
    for module_name, names in EXPECTED.items():
        assert set(importlib.import_module(module_name).__all__) == names, module_name


def test_every_other_module_is_internal():
    exporting = [
        name
        for name in _all_modules()
        if name not in EXPECTED and hasattr(importlib.import_module(name), "__all__")
    ]
    assert exporting == [], f"internal modules with an __all__: {exporting}"


@pytest.mark.parametrize(("module_name", "name"), KEPT_WHERE_THEY_ARE)
def test_names_the_docs_promise_stay_where_they_are(module_name, name):
    assert getattr(importlib.import_module(module_name), name) is not None


@pytest.mark.parametrize("module_name", sorted(EXPECTED))
def test_public_names_resolve(module_name):
    module = importlib.import_module(module_name)
    for name in module.__all__:
        assert hasattr(module, name), name


def test_version_is_a_string():
    assert isinstance(pix2pix.__version__, str) and pix2pix.__version__.count(".") == 2


@pytest.mark.parametrize("module_name", sorted(EXPECTED))
def test_public_callables_have_docstrings_with_an_example(module_name):
    module = importlib.import_module(module_name)
    for name in module.__all__:
        obj = getattr(module, name)
        if callable(obj):
            assert obj.__doc__ and obj.__doc__.strip(), f"{module_name}.{name} has no docstring"
            assert ">>>" in obj.__doc__, f"{module_name}.{name} has no example in its docstring"


def test_every_public_name_has_an_api_page():
    """Each public object is documented once, on the API page of its most specific module."""
    import inspect
    from pathlib import Path

    pages = Path(pix2pix.__file__).parent.parent / "docs" / "src" / "api"
    documented = set()
    for page in pages.glob("*.md"):
        for line in page.read_text().splitlines():
            if line.startswith("::: "):
                module, _, name = line[4:].strip().rpartition(".")
                obj = getattr(importlib.import_module(module), name)
                documented.add(id(obj) if inspect.isclass(obj) or callable(obj) else line)
    missing = [
        f"{module_name}.{name}"
        for module_name, names in EXPECTED.items()
        for name in names
        if name != "__version__"
        and (obj := getattr(importlib.import_module(module_name), name))
        and (inspect.isclass(obj) or callable(obj))
        and id(obj) not in documented
    ]
    assert missing == [], f"public names without an API page: {missing}"
