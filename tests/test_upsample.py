"""Resize-convolution up-sampling (issue 28.1): ``upsample="nearest"|"bilinear"`` beside the
paper's transposed convolution, in the decoder block, both generators, config.json and the CLI."""

import json

import pytest
import torch
from torch import nn

from pix2pix.cli import main
from pix2pix.cli.train_models import model_flag_changes
from pix2pix.data import SyntheticPairs
from pix2pix.evaluation.checkerboard import period2_energy_fraction
from pix2pix.models import ResNetGenerator, UNetGenerator, create_model, load_pretrained
from pix2pix.models.convert import load_reference_checkpoint
from pix2pix.nn.blocks import UpBlock

from helpers import count
from reference import RefResnet, RefUnet, randomize

RESIZE = ["nearest", "bilinear"]


def test_parameter_counts():
    # the default is the paper's network, parameter for parameter
    assert count(UNetGenerator()) == 54_413_955
    assert count(UNetGenerator(upsample="transpose")) == 54_413_955
    # resize-conv: a 3x3 kernel where the U-Net's transposed one is 4x4 (9/16 of the weights)
    for mode in RESIZE:
        assert count(UNetGenerator(upsample=mode)) == 39_157_763
        assert count(UNetGenerator(num_downs=7, upsample=mode)) == 30_242_819
        # the ResNet's transposed kernels are 3x3 already: the same count
        assert count(ResNetGenerator(upsample=mode)) == count(ResNetGenerator()) == 11_378_179


@pytest.mark.parametrize("mode", RESIZE)
def test_up_block_resizes_then_convolves(mode):
    block = UpBlock(8, 4, norm="none", activation="none", upsample=mode)
    assert isinstance(block.resize, nn.Upsample) and block.resize.mode == mode
    assert isinstance(block.conv, nn.Conv2d) and not isinstance(block.conv, nn.ConvTranspose2d)
    assert block.conv.weight.shape == (4, 8, 3, 3) and block.conv.stride == (1, 1)
    # an odd kernel stays (the ResNet's 3x3); the output is exactly twice the input
    assert UpBlock(8, 4, 3, 2, 1, 1, upsample=mode).conv.weight.shape == (4, 8, 3, 3)
    x = torch.randn(2, 8, 5, 7)
    assert block(x).shape == (2, 4, 10, 14)
    # it is F.interpolate then a stride-1 "same" convolution, nothing else
    resized = nn.functional.interpolate(x, scale_factor=2, mode=mode)
    expected = nn.functional.conv2d(resized, block.conv.weight, block.conv.bias, padding=1)
    torch.testing.assert_close(block(x), expected)


def test_up_block_default_is_the_transposed_convolution():
    block = UpBlock(8, 4)
    assert block.upsample == "transpose" and isinstance(block.conv, nn.ConvTranspose2d)
    assert block.conv.weight.shape == (8, 4, 4, 4)
    with pytest.raises(ValueError, match=r"upsample='bicubic' is not supported; choose one of"):
        UpBlock(8, 4, upsample="bicubic")


def _ones_block(mode):
    block = UpBlock(1, 1, 3, 2, 1, 1, norm="none", activation="none", bias=False, upsample=mode)
    nn.init.ones_(block.conv.weight)
    return block


def test_resize_conv_paints_no_period_2_grid_where_the_transposed_one_does():
    # Odena et al.'s picture: a constant input through a stride-2 3x3 transposed convolution
    # overlaps unevenly (1, 2 or 4 taps per output pixel): a period-2 grid; resize-conv, none
    x = torch.ones(1, 1, 16, 16)
    with torch.no_grad():
        grids = {mode: _ones_block(mode)(x)[..., 2:-2, 2:-2] for mode in ["transpose", *RESIZE]}
    assert grids["transpose"].unique().tolist() == [1.0, 2.0, 4.0]
    for mode in RESIZE:
        assert grids[mode].unique().tolist() == [9.0]  # the border aside: flat
    # and on a smooth image the period-2 share of the output's energy says the same
    y, x = torch.meshgrid(torch.linspace(-1, 1, 16), torch.linspace(-1, 1, 16), indexing="ij")
    smooth = (0.5 * torch.sin(2 * y) * torch.cos(1.5 * x) + 0.6)[None, None]
    with torch.no_grad():
        share = {
            mode: float(period2_energy_fraction(_ones_block(mode)(smooth).expand(1, 3, 32, 32)))
            for mode in ["transpose", *RESIZE]
        }
    assert share["transpose"] > 0.05
    assert share["nearest"] < share["transpose"] / 50
    assert share["bilinear"] < share["transpose"] / 1000


@pytest.mark.parametrize("mode", RESIZE)
@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_generators_train_in_every_mode(mode, norm):
    torch.manual_seed(0)
    for g, size in [
        (UNetGenerator(3, 2, base_channels=4, num_downs=5, norm=norm, upsample=mode), (64, 32)),
        (ResNetGenerator(3, 2, base_channels=4, n_blocks=1, norm=norm, upsample=mode), (36, 20)),
    ]:
        x = torch.randn(2, 3, *size)
        y = g(x)
        assert y.shape == (2, 2, *size) and y.abs().max() <= 1
        y.square().mean().backward()
        for name, p in g.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        ups = g.decoder if isinstance(g, UNetGenerator) else g.up
        assert all(block.upsample == mode for block in ups)


def test_the_unet_bottleneck_reaches_the_decoder_at_batch_1():
    # why zero padding: at a 1x1 bottleneck the resized 2x2 map is constant; with reflect
    # padding the convolution's output would be constant too, and batch norm over one 2x2
    # image would zero it. Here the innermost block's output depends on the bottleneck.
    torch.manual_seed(0)
    g = UNetGenerator(base_channels=4, num_downs=5, upsample="nearest", dropout=0.0)
    inner = g.decoder[0]
    a, b = torch.randn(1, 32, 1, 1), torch.randn(1, 32, 1, 1)
    out_a, out_b = inner(a), inner(b)
    assert out_a.shape == (1, 32, 2, 2)
    assert (out_a - out_b).abs().max() > 0.1
    assert out_a.flatten(2).std(dim=2).mean() > 0.1  # not constant over the 2x2 map


def test_config_records_upsample_only_when_not_the_default(tmp_path):
    assert "upsample" not in UNetGenerator(base_channels=4, num_downs=5).config
    assert "upsample" not in ResNetGenerator(base_channels=4, n_blocks=1).config
    g = UNetGenerator(base_channels=4, num_downs=5, upsample="bilinear", dropout=0.0).eval()
    assert g.config["upsample"] == "bilinear"
    g.save_pretrained(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["upsample"] == "bilinear"
    loaded = load_pretrained(tmp_path / "m").eval()
    assert loaded.config == g.config and loaded.decoder[0].upsample == "bilinear"
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded(x), g(x))
    # a config saved before the option existed (no key) is a transposed-convolution model
    UNetGenerator(base_channels=4, num_downs=5).save_pretrained(tmp_path / "old")
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    assert set(config) == {
        "model_type",
        "pix2pix_version",
        "in_channels",
        "out_channels",
        "base_channels",
        "num_downs",
        "norm",
        "dropout",
    }
    assert load_pretrained(tmp_path / "old").decoder[0].upsample == "transpose"
    # the registry names take it too
    assert create_model("unet_128", base_channels=4, upsample="nearest").config["upsample"] == (
        "nearest"
    )


def test_weights_of_one_mode_do_not_load_into_another(tmp_path):
    UNetGenerator(base_channels=4, num_downs=5).save_pretrained(tmp_path / "m")
    config_path = tmp_path / "m" / "config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "upsample": "nearest"}))
    with pytest.raises(ValueError, match=r"shape mismatches .*decoder\.0\.conv\.weight"):
        load_pretrained(tmp_path / "m")


def test_converted_reference_checkpoints_keep_the_transposed_convolution():
    for ref, size in [
        (randomize(RefUnet(3, 3, 5, ngf=4, norm="batch"), seed=1), (32, 32)),
        (randomize(RefResnet(3, 3, ngf=4, norm="instance", n_blocks=2)), (24, 32)),
    ]:
        ours = load_reference_checkpoint(ref.state_dict())
        assert "upsample" not in ours.config
        ups = ours.decoder if isinstance(ours, UNetGenerator) else ours.up
        assert all(b.upsample == "transpose" for b in ups)
        assert all(isinstance(b.conv, nn.ConvTranspose2d) for b in ups)
        ours.eval()
        ref.eval()
        x = torch.randn(2, 3, *size)
        with torch.no_grad():
            assert (ours(x) - ref(x)).abs().max() < 1e-5


TINY = [
    "--generator", "unet_128", "--num-downs", "5", "--base-channels", "4",
    "--discriminator", "patchgan", "--n-layers-d", "2", "--disc-channels", "4",
    "--preprocess", "resize_and_crop", "--load-size", "36", "--crop-size", "32",
    "--batch-size", "2", "--device", "cpu", "--no-progress-bar", "--log-every", "1",
]  # fmt: skip


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    SyntheticPairs(4, size=32, seed=0).write(root / "train")
    return root / "train"


def test_cli_train_upsample_is_saved_and_resume_keeps_it(dataset, tmp_path, capsys):
    run = tmp_path / "nearest"
    args = ["train", "--data", str(dataset), "--max-steps", "2", *TINY]
    assert main([*args, "--output", str(run), "--upsample", "nearest"]) == 0
    config = json.loads((run / "final" / "config.json").read_text())
    assert config["upsample"] == "nearest"
    assert load_pretrained(run / "final").decoder[0].upsample == "nearest"
    # resuming may repeat the flag, not change it
    assert main(["train", "--resume", str(run), "--max-steps", "3", "--upsample", "nearest"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--max-steps", "4", "--upsample", "bilinear"]) == 2
    assert "--upsample" in capsys.readouterr().err
    # a default run records no key; resuming it with --upsample transpose is no change
    plain = tmp_path / "plain"
    assert main([*args, "--output", str(plain)]) == 0
    assert "upsample" not in json.loads((plain / "final" / "config.json").read_text())
    assert (
        main(["train", "--resume", str(plain), "--max-steps", "3", "--upsample", "transpose"]) == 0
    )


def test_model_flag_changes_read_an_omitted_upsample_as_transpose():
    from pix2pix.cli import build_parser

    def parse(*flags):
        return build_parser().parse_args(["train", "--data", "x", *flags])

    record = {"generator": {"model_type": "UNetGenerator", "num_downs": 5}, "discriminator": {}}
    assert model_flag_changes(parse("--upsample", "transpose"), record) == {}
    assert model_flag_changes(parse("--upsample", "nearest"), record) == {
        "--upsample": ("transpose", "nearest")
    }
