import json

import pytest
import torch

import pix2pix.presets as presets
from pix2pix.models import PatchGANDiscriminator, UNetGenerator
from pix2pix.presets import (
    ABLATIONS,
    IMPROVED_PRESET,
    PRESETS,
    build_preset,
    get_preset,
    preset_names,
)
from pix2pix.trainer import Trainer, TrainerConfig

from helpers import count

TINY = {"generator": {"base_channels": 4}, "discriminator": {"base_channels": 4}}


@pytest.mark.parametrize(("size", "num_downs", "load_size"), [(256, 8, 286), (128, 7, 143)])
def test_paper_is_exactly_the_defaults(size, num_downs, load_size):
    generator, discriminator, config = build_preset("paper", size=size)
    # unet_256 / unet_128 and the 70x70 PatchGAN with every constructor default
    assert generator.config == UNetGenerator(num_downs=num_downs).config
    assert discriminator.config == PatchGANDiscriminator().config
    assert discriminator.receptive_field == 70
    assert count(discriminator) == 2_768_705
    # every trainer field is TrainerConfig's default (the paper's) but the jitter sizes
    defaults = TrainerConfig().to_dict()
    changed = {k for k, v in config.to_dict().items() if defaults[k] != v}
    assert changed <= {"load_size", "crop_size", "preprocess"}
    assert config.preprocess in (None, "resize_and_crop")
    assert (config.load_size, config.crop_size) == (load_size, size)
    assert (config.lr, config.beta1, config.beta2) == (2e-4, 0.5, 0.999)
    assert (config.gan_mode, config.lambda_l1, config.batch_size) == ("vanilla", 100.0, 1)
    assert (config.lr_policy, config.epochs, config.epochs_decay) == ("linear", 100, 100)
    assert config.ema_decay is None


def test_improved_preset_is_named_and_says_what_was_measured():
    assert set(PRESETS) == {"paper", IMPROVED_PRESET}
    assert IMPROVED_PRESET == "lsgan-ema"
    improved = PRESETS[IMPROVED_PRESET]
    assert improved["status"] == "improved" and "results" in improved["description"].lower()
    assert "results.md" in presets.__doc__
    _, _, config = build_preset(IMPROVED_PRESET, size=64, **TINY)
    assert (config.gan_mode, config.ema_decay) == ("lsgan", 0.995)


def test_ablations_change_one_thing_each():
    paper = PRESETS["paper"]
    for name, preset in ABLATIONS.items():
        changes = {
            (part, key)
            for part in ("generator", "discriminator", "trainer")
            for key in {*paper[part], *preset[part]}
            if paper[part].get(key) != preset[part].get(key)
        }
        assert changes, name
        assert preset["status"] == "ablation"
    assert preset_names() == (
        "paper",
        "lsgan-ema",
        "lsgan",
        "ema",
        "hinge-sn",
        "ttur",
        "lsgan-ema-msd",
        "lsgan-ema-fm",
        "lsgan-ema-msd-fm",
        "paper-nearest",
        "paper-bilinear",
    )
    _, discriminator, config = build_preset("hinge-sn", size=32, **TINY)
    assert discriminator.config["spectral_norm"] and config.gan_mode == "hinge"
    _, _, config = build_preset("ttur", size=32, **TINY)
    assert (config.lr, config.lr_d) == (1e-4, 4e-4)
    assert get_preset("ttur") is ABLATIONS["ttur"] and get_preset("paper") is PRESETS["paper"]
    with pytest.raises(ValueError, match="Unknown preset 'nope'"):
        get_preset("nope")


def test_presets_are_plain_data():
    # JSON types only (no tuples, no objects), so a preset round-trips through a config file
    def plain(value):
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, (str, bool, int, float))

    everything = {**PRESETS, **ABLATIONS}
    fields = set(TrainerConfig().to_dict())
    assert len(everything) == len(PRESETS) + len(ABLATIONS)  # no name in both tables
    for name, preset in everything.items():
        assert plain(preset), name
        assert json.loads(json.dumps(preset)) == preset, name
        assert {"generator", "discriminator", "trainer", "status"} <= set(preset), name
        assert set(preset["trainer"]) <= fields, name  # TrainerConfig fields only


def test_overrides():
    generator, discriminator, config = build_preset(
        "paper", size=64, in_channels=1, out_channels=2, epochs=1, direction="BtoA", **TINY
    )
    assert generator.config["num_downs"] == 6 and generator.config["in_channels"] == 1
    assert discriminator.config["in_channels"] == 3
    assert config.epochs == 1 and config.direction == "BtoA" and config.crop_size == 64
    # the presets themselves are not changed by overrides
    assert PRESETS["paper"]["generator"]["base_channels"] == 64


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "pix2pixHD"}, "Unknown preset 'pix2pixHD'"),
        ({"size": 100}, "size=100"),
        ({"size": 16}, "size=16"),
        ({"bogus": 1}, r"Unknown override\(s\) \['bogus'\]"),
        ({"generator": {"width": 3}}, "Bad unet_256 override.*unexpected keyword argument .width."),
        ({"lr": -1.0}, "lr=-1.0"),
    ],
)
def test_errors(kwargs, match):
    name = kwargs.pop("name", "paper")
    with pytest.raises(ValueError, match=match):
        build_preset(name, **kwargs)


@pytest.mark.parametrize("name", ["lsgan-ema", "hinge-sn"])
def test_presets_train_and_export(tmp_path, name):
    torch.manual_seed(0)
    generator, discriminator, config = build_preset(
        name,
        size=32,
        **TINY,
        max_steps=2,
        output_dir=str(tmp_path / name),
        progress_bar=False,
        sample_every=0,
        log_every=1,
    )
    data = [{"source": torch.rand(3, 32, 32) * 2 - 1, "target": torch.rand(3, 32, 32) * 2 - 1}]
    final = Trainer(generator, discriminator, config, train_data=data).fit()
    assert (final / "config.json").is_file()
    resumed = Trainer(
        *build_preset(name, size=32, **TINY, max_steps=3, output_dir=str(tmp_path / name))[:2],
        config.replace(max_steps=3),
        train_data=data,
    )
    resumed.fit(resume_from="latest")
    assert resumed.step == 3


def test_public_names_stay():
    assert {"PRESETS", "ABLATIONS", "IMPROVED_PRESET", "build_preset"} <= set(presets.__all__)
    for name in ("build_preset", "preset_names"):
        assert ">>>" in getattr(presets, name).__doc__, name
