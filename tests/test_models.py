import json

import pytest
import torch

from pix2pix.models import (
    PatchGANDiscriminator,
    PixelDiscriminator,
    ResNetGenerator,
    UNetGenerator,
    load_pretrained,
)

from helpers import count


def test_reference_parameter_counts():
    assert count(UNetGenerator()) == 54_413_955  # unet_256, batch norm
    assert count(UNetGenerator(num_downs=7)) == 41_828_995  # unet_128
    assert count(ResNetGenerator()) == 11_378_179  # resnet_9blocks, instance norm
    assert count(PatchGANDiscriminator()) == 2_768_705  # basic 70x70 on 6 channels


def test_unet_layer_layout_follows_the_paper():
    g = UNetGenerator(base_channels=4, num_downs=8)
    assert len(g.encoder) == 8 and len(g.decoder) == 8
    # no norm after the first and the innermost down-conv
    assert isinstance(g.encoder[0].norm, torch.nn.Identity)
    assert isinstance(g.encoder[7].norm, torch.nn.Identity)
    assert all(isinstance(g.encoder[i].norm, torch.nn.BatchNorm2d) for i in range(1, 7))
    # LeakyReLU before every down-conv but the first
    assert isinstance(g.encoder[0].act, torch.nn.Identity)
    assert all(isinstance(g.encoder[i].act, torch.nn.LeakyReLU) for i in range(1, 8))
    assert all(g.encoder[i].act.negative_slope == 0.2 for i in range(1, 8))
    # dropout after the up-convs of the num_downs - 5 middle blocks only
    dropouts = [isinstance(b.dropout, torch.nn.Dropout) for b in g.decoder]
    assert dropouts == [False, True, True, True, False, False, False, False]
    # the last up-conv has a bias and no norm; convs followed by batch norm have none
    assert g.decoder[-1].conv.bias is not None
    assert isinstance(g.decoder[-1].norm, torch.nn.Identity)
    assert all(b.conv.bias is None for b in g.encoder)
    assert all(b.conv.bias is None for b in g.decoder[:-1])


def test_unet_state_dict_keys_are_flat_and_readable():
    keys = list(UNetGenerator(base_channels=4, num_downs=5).state_dict())
    assert keys[:2] == ["encoder.0.conv.weight", "encoder.1.conv.weight"]
    assert "decoder.0.conv.weight" in keys and "decoder.4.conv.bias" in keys
    assert "decoder.1.norm.running_mean" in keys
    assert all(k.split(".")[0] in {"encoder", "decoder"} for k in keys)
    assert max(k.count(".") for k in keys) == 3


def test_resnet_and_patchgan_keys():
    keys = set(ResNetGenerator(base_channels=4, n_blocks=2).state_dict())
    assert {
        "stem.conv.weight",
        "down.1.conv.weight",
        "blocks.1.conv2.conv.weight",
        "up.0.conv.weight",
        "head.conv.bias",
    } <= keys
    keys = list(PatchGANDiscriminator(base_channels=4).state_dict())
    assert keys[0] == "blocks.0.conv.weight" and keys[-1] == "head.bias"
    assert "blocks.3.norm.running_var" in keys


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_generators_shapes_range_and_gradients(norm):
    torch.manual_seed(0)
    for g, size in [
        (UNetGenerator(3, 2, base_channels=4, num_downs=5, norm=norm), (64, 32)),
        (ResNetGenerator(3, 2, base_channels=4, n_blocks=2, norm=norm), (36, 20)),
    ]:
        x = torch.randn(2, 3, *size)
        y = g(x)
        assert y.shape == (2, 2, *size)
        assert y.abs().max() <= 1
        y.square().mean().backward()
        for name, p in g.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_unet_rejects_sizes_it_cannot_take():
    g = UNetGenerator(base_channels=4, num_downs=5)
    with pytest.raises(ValueError, match="multiples of 32; got 48x40"):
        g(torch.zeros(1, 3, 48, 40))
    with pytest.raises(ValueError, match="expects 3 input channels; got 1"):
        g(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match=r"4D tensor"):
        g(torch.zeros(3, 32, 32))
    with pytest.raises(ValueError, match="multiples of 4"):
        ResNetGenerator(base_channels=4, n_blocks=1)(torch.zeros(1, 3, 30, 32))


def test_patchgan_output_size_and_receptive_field():
    d = PatchGANDiscriminator(base_channels=4)
    assert d(torch.zeros(1, 6, 256, 256)).shape == (1, 1, 30, 30)
    assert d.receptive_field == 70
    assert PatchGANDiscriminator(base_channels=4, n_layers=1).receptive_field == 16
    assert PatchGANDiscriminator(base_channels=4, n_layers=4).receptive_field == 142
    p = PixelDiscriminator(base_channels=4)
    assert p(torch.zeros(2, 6, 16, 8)).shape == (2, 1, 16, 8) and p.receptive_field == 1


def test_patchgan_outputs_raw_logits():
    d = PatchGANDiscriminator(base_channels=4).eval()
    with torch.no_grad():
        d.head.bias.fill_(5.0)
    assert d(torch.zeros(1, 6, 64, 64)).min() > 1  # no sigmoid squashing


@pytest.mark.parametrize(
    ("factory", "kwargs", "match"),
    [
        (UNetGenerator, {"norm": "group"}, "norm='group'"),
        (UNetGenerator, {"num_downs": 0}, "num_downs=0"),
        (UNetGenerator, {"in_channels": 0}, "in_channels=0"),
        (UNetGenerator, {"out_channels": -1}, "out_channels=-1"),
        (UNetGenerator, {"dropout": 1.0}, "dropout=1.0"),
        (ResNetGenerator, {"n_blocks": -1}, "n_blocks=-1"),
        (ResNetGenerator, {"base_channels": 2.5}, "base_channels=2.5"),
        (PatchGANDiscriminator, {"n_layers": 0}, "n_layers=0"),
        (PixelDiscriminator, {"norm": "layer"}, "norm='layer'"),
    ],
)
def test_bad_constructor_values_name_the_argument(factory, kwargs, match):
    with pytest.raises(ValueError, match=match):
        factory(**kwargs)


@pytest.mark.parametrize(
    "model",
    [
        UNetGenerator(1, 3, base_channels=4, num_downs=5, norm="instance", dropout=0.0),
        ResNetGenerator(base_channels=4, n_blocks=1),
        PatchGANDiscriminator(4, base_channels=4, n_layers=2),
        PixelDiscriminator(base_channels=4),
    ],
    ids=lambda m: type(m).__name__,
)
def test_save_and_load_round_trip(tmp_path, model):
    torch.manual_seed(0)
    model.eval()
    model.save_pretrained(tmp_path / "m", inference={"direction": "BtoA"})
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["model_type"] == type(model).__name__
    assert config["inference"] == {"direction": "BtoA"}
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
    for loaded in (type(model).from_pretrained(tmp_path / "m"), load_pretrained(tmp_path / "m")):
        assert type(loaded) is type(model) and loaded.config == model.config
        for (k1, v1), (k2, v2) in zip(model.state_dict().items(), loaded.state_dict().items()):
            assert k1 == k2 and torch.equal(v1, v2)
    # also loadable from the weights file path
    assert type(load_pretrained(tmp_path / "m" / "model.safetensors")) is type(model)


def test_config_is_json_and_complete():
    g = UNetGenerator(base_channels=8, num_downs=6, norm="instance", dropout=0.25)
    assert g.config == {
        "in_channels": 3,
        "out_channels": 3,
        "base_channels": 8,
        "num_downs": 6,
        "norm": "instance",
        "dropout": 0.25,
    }
    rebuilt = UNetGenerator(**json.loads(json.dumps(g.config)))
    assert [p.shape for p in rebuilt.parameters()] == [p.shape for p in g.parameters()]


def test_load_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_pretrained(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="config.json is missing"):
        load_pretrained(tmp_path / "empty")
    g = UNetGenerator(base_channels=4, num_downs=5)
    g.save_pretrained(tmp_path / "g")
    with pytest.raises(ValueError, match="describes a 'UNetGenerator', not a ResNetGenerator"):
        ResNetGenerator.from_pretrained(tmp_path / "g")
    # truncated weights file
    weights = tmp_path / "g" / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or not a safetensors file"):
        load_pretrained(tmp_path / "g")
    # config that does not match the weights
    g.save_pretrained(tmp_path / "g")
    config_path = tmp_path / "g" / "config.json"
    config = json.loads(config_path.read_text())
    config["num_downs"] = 6
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"missing keys \(13\): decoder\.4\.norm\.bias") as info:
        load_pretrained(tmp_path / "g")
    assert "shape mismatches" in str(info.value)
    config["num_downs"] = 4
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"unexpected keys \(\d+\): decoder\.3\.norm"):
        load_pretrained(tmp_path / "g")
    config_path.write_text('{"model_type": "Nope"}')
    with pytest.raises(ValueError, match="model_type='Nope'"):
        load_pretrained(tmp_path / "g")
    config_path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_pretrained(tmp_path / "g")


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    g = UNetGenerator(base_channels=4, num_downs=5)
    g.save_pretrained(tmp_path / "g")
    before = (tmp_path / "g" / "model.safetensors").read_bytes()

    import pix2pix.models.base as base

    def broken_save(state, path, metadata=None):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(base, "save_file", broken_save)
    with pytest.raises(OSError, match="disk full"):
        UNetGenerator(base_channels=4, num_downs=5).save_pretrained(tmp_path / "g")
    assert (tmp_path / "g" / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
    ]
