"""pix2pixHD's discriminator side: the multi-scale discriminator and feature matching."""

import argparse
import json

import pytest
import torch
from torch import nn

from pix2pix.cli import train as cli_train
from pix2pix.losses import FeatureMatchingLoss, feature_matching_loss, gan_loss, gradient_penalty
from pix2pix.models import MultiScaleDiscriminator, PatchGANDiscriminator, load_pretrained
from pix2pix.models.multiscale import patchgan_features
from pix2pix.presets import build_preset
from pix2pix.trainer import Trainer, TrainerConfig

from helpers import assert_same_state, make_data, tiny_config

SMALL = dict(base_channels=4, n_layers=2)


def tiny_msd(seed=0, num_d=3, **changes):
    torch.manual_seed(seed)
    return MultiScaleDiscriminator(**{**SMALL, "num_d": num_d, **changes})


def tiny_g(seed=0):
    from pix2pix import UNetGenerator

    torch.manual_seed(seed)
    return UNetGenerator(base_channels=4, num_downs=6, dropout=0.5)


# ------------------------------------------------------------------ the model
def test_one_prediction_per_scale_with_the_scales_shapes_and_features():
    d = tiny_msd()
    x = torch.randn(2, 6, 64, 64)
    predictions = d(x)
    # n_layers=2: 64 -> 16 -> 15 -> 14; 32 -> 8 -> 7 -> 6; 16 -> 4 -> 3 -> 2
    assert [tuple(p.shape) for p in predictions] == [(2, 1, 14, 14), (2, 1, 6, 6), (2, 1, 2, 2)]
    again, features = d(x, return_features=True)
    assert all(torch.equal(a, b) for a, b in zip(predictions, again))
    assert len(features) == 3 and all(len(f) == 3 for f in features)  # n_layers + 1 each
    assert [tuple(f.shape[1:]) for f in features[0]] == [(4, 32, 32), (8, 16, 16), (16, 15, 15)]


def test_gradients_reach_every_scale_and_the_input():
    d = tiny_msd()
    x = torch.randn(2, 6, 64, 64, requires_grad=True)
    gan_loss(d(x), True, "lsgan").backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for index, scale in enumerate(d.scales):
        grads = [p.grad for p in scale.parameters()]
        assert all(g is not None for g in grads), index
        assert scale.head.weight.grad.abs().sum() > 0, index


def test_each_scale_has_its_own_weights_and_flat_keys():
    d = tiny_msd()
    keys = list(d.state_dict())
    assert keys[0] == "scales.0.blocks.0.conv.weight"
    assert "scales.2.head.weight" in keys and not any(k.startswith("downsample") for k in keys)
    assert not torch.equal(d.scales[0].head.weight, d.scales[1].head.weight)
    assert d.config == {"in_channels": 6, "base_channels": 4, "n_layers": 2, "norm": "batch",
                        "num_d": 3}  # fmt: skip
    assert d.receptive_field == PatchGANDiscriminator(**SMALL).receptive_field


def test_coarser_scales_see_the_average_pooled_input():
    d = tiny_msd(num_d=2)
    x = torch.randn(1, 6, 64, 64)
    pooled = nn.functional.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
    assert torch.equal(d(x)[1], d.scales[1](pooled))


def test_num_d_1_is_the_plain_patchgan_with_the_same_weights():
    torch.manual_seed(0)
    plain = PatchGANDiscriminator(**SMALL)
    torch.manual_seed(0)
    single = MultiScaleDiscriminator(**SMALL, num_d=1)
    assert_same_state(single.scales[0], plain)  # the same draw, too
    x = torch.randn(2, 6, 64, 64)
    for mode in ("train", "eval"):
        getattr(plain, mode)(), getattr(single, mode)()
        (prediction,) = single(x)
        assert torch.equal(prediction, plain(x))
    logits, features = patchgan_features(plain, x)
    assert torch.equal(logits, plain(x)) and len(features) == 3


@pytest.mark.parametrize("num_d", [0, -1, 1.5, True])
def test_bad_num_d_is_refused(num_d):
    with pytest.raises(ValueError, match="num_d"):
        MultiScaleDiscriminator(num_d=num_d)


@pytest.mark.parametrize("num_d", [1, 2, 3])
def test_too_small_an_input_is_one_clear_error_naming_the_least_size(num_d):
    # 64 px crops with three scales gave torch's "Expected more than 1 value per channel when
    # training, got input size [1, 32, 1, 1]" from the coarsest scale's 16 px
    d = MultiScaleDiscriminator(base_channels=4, num_d=num_d).train()
    least = {1: 24, 2: 47, 3: 93}[num_d]
    assert d.min_input_size == least
    assert [p.shape[-1] for p in d(torch.zeros(1, 6, least, least))][-1] >= 1  # batch 1 trains
    with pytest.raises(ValueError) as error:
        d(torch.zeros(1, 6, least, least - 1))
    assert str(error.value).startswith(
        f"MultiScaleDiscriminator(num_d={num_d}, n_layers=3) needs inputs of at least "
        f"{least}x{least} pixels; got {least}x{least - 1}."
    )
    assert "--crop-size" in str(error.value) and "--num-d" in str(error.value)


@pytest.mark.parametrize("n_layers, least", [(1, 6), (2, 12), (3, 24), (4, 48)])
def test_the_patchgan_names_its_least_input_size(n_layers, least):
    d = PatchGANDiscriminator(base_channels=4, n_layers=n_layers).train()
    assert d.min_input_size == least
    assert d(torch.zeros(1, 6, least, least)).shape[-2:] == (1, 1)  # batch 1 trains
    with pytest.raises(ValueError, match=rf"n_layers={n_layers}\) needs inputs of at least "
                       rf"{least}x{least} pixels; got {least - 1}x{least}\."):  # fmt: skip
        d(torch.zeros(1, 6, least - 1, least))
    # feature matching with a plain PatchGAN walks its blocks without forward: checked too
    with pytest.raises(ValueError, match=rf"at least {least}x{least} pixels"):
        patchgan_features(d, torch.zeros(1, 6, least, least - 1))


def test_cli_refuses_a_crop_too_small_for_the_discriminator_before_any_work(tmp_path, capsys):
    from pix2pix.cli import main
    from pix2pix.data import SyntheticPairs

    SyntheticPairs(2, size=64).write(tmp_path / "data")
    run = tmp_path / "run"
    argv = ["train", "--data", str(tmp_path / "data"), "--output", str(run), "--crop-size", "64",
            "--load-size", "64", "--num-downs", "6", "--base-channels", "4", "--disc-channels",
            "4", "--discriminator", "multiscale", "--max-steps", "1"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "crop_size=64 is too small for the MultiScaleDiscriminator, which needs at least " in err
    assert "93 pixels a side; pass --crop-size 128" in err
    assert not run.exists()
    assert main([*argv, "--num-d", "2"]) == 0  # 64 >= 47: two scales fit


def test_save_and_load_round_trip(tmp_path):
    d = tiny_msd(spectral_norm=True)
    d.save_pretrained(tmp_path / "d")
    config = json.loads((tmp_path / "d/config.json").read_text())
    assert config["model_type"] == "MultiScaleDiscriminator" and config["spectral_norm"] is True
    loaded = load_pretrained(tmp_path / "d")
    assert isinstance(loaded, MultiScaleDiscriminator)
    assert_same_state(loaded, d)
    x = torch.randn(1, 6, 64, 64)
    d.eval(), loaded.eval()
    assert all(torch.equal(a, b) for a, b in zip(d(x), loaded(x)))


def test_default_config_omits_spectral_norm():
    assert "spectral_norm" not in tiny_msd().config


def test_compiles_and_matches_eager():
    # a cheap check (a tiny model, eager backend); the real inductor compile test is slow
    d = tiny_msd().eval()
    compiled = torch.compile(d, backend="eager")
    x = torch.randn(1, 6, 64, 64)
    predictions, features = compiled(x, return_features=True)
    eager_predictions, eager_features = d(x, return_features=True)
    assert all(torch.equal(a, b) for a, b in zip(predictions, eager_predictions))
    assert torch.equal(features[2][1], eager_features[2][1])


# ------------------------------------------------------------------ feature matching
def test_feature_matching_is_zero_on_identical_inputs():
    d = tiny_msd()
    x = torch.randn(2, 6, 64, 64)
    _, real = d(x, return_features=True)
    _, fake = d(x.clone(), return_features=True)
    assert feature_matching_loss(real, fake) == 0
    assert FeatureMatchingLoss()(real, fake) == 0


def test_feature_matching_weights_layers_and_scales_as_pix2pixhd():
    ones, zeros = torch.ones(1, 2, 4, 4), torch.zeros(1, 2, 4, 4)
    # one scale, two layers with L1 1 and 3: 4/2 * (1 + 3) = 8
    assert feature_matching_loss([[zeros, zeros]], [[ones, 3 * ones]]) == 8
    # two scales (L1 1 everywhere): each 4/L * L = 4, averaged over scales = 4
    assert feature_matching_loss([[zeros]] * 2, [[ones]] * 2) == 4
    assert feature_matching_loss([zeros], [ones], layer_scale=1.0) == 1  # one flat list
    with pytest.raises(ValueError, match="same"):
        feature_matching_loss([[zeros]], [[ones, ones]])


def test_feature_matching_detaches_the_real_features():
    real = torch.zeros(1, 2, 4, 4, requires_grad=True)
    fake = torch.ones(1, 2, 4, 4, requires_grad=True)
    feature_matching_loss([real], [fake]).backward()
    assert real.grad is None and fake.grad is not None


def test_gan_loss_of_a_list_is_the_mean_over_scales():
    a, b = torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 2, 2)
    expected = (gan_loss(a, True, "lsgan") + gan_loss(b, True, "lsgan")) / 2
    assert torch.equal(gan_loss([a, b], True, "lsgan"), expected)


# ------------------------------------------------------------------ training
def config(tmp_path, **changes):
    return tiny_config(tmp_path, gan_mode="lsgan", **changes)


def test_trainer_logs_feature_matching_and_trains_every_scale(tmp_path):
    d = tiny_msd()
    before = [p.detach().clone() for p in d.parameters()]
    trainer = Trainer(
        tiny_g(), d, config(tmp_path, lambda_feat=10.0, max_steps=2), make_data(4, 64)
    )
    losses = trainer.training_step({k: torch.stack([x[k] for x in make_data(2, 64)]) for k in
                                    ("source", "target")})  # fmt: skip
    assert set(losses) == {"D_fake", "D_real", "G_GAN", "G_L1", "G_feat"}
    assert float(losses["G_feat"]) > 0
    assert all(not torch.equal(a, b) for a, b in zip(before, d.parameters()))


def test_feature_matching_without_a_feature_discriminator_is_a_clear_error(tmp_path):
    torch.manual_seed(0)
    trainer = Trainer(
        tiny_g(),
        PatchGANDiscriminator(**SMALL),
        config(tmp_path, lambda_feat=1.0),
        make_data(2, 64),
    )
    with pytest.raises(ValueError, match="lambda_feat=1.0 needs a discriminator"):
        trainer.fit()


@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf")])
def test_lambda_feat_must_be_finite_and_non_negative(value):
    with pytest.raises(ValueError, match="lambda_feat"):
        TrainerConfig(lambda_feat=value)


def test_the_paper_default_path_is_unchanged(tmp_path):
    """lambda_feat=0 with the PatchGAN: bit-identical to the loss written out by hand."""
    torch.manual_seed(0)
    g, d = tiny_g(), PatchGANDiscriminator(**SMALL)
    trainer = Trainer(g, d, tiny_config(tmp_path))
    trainer.setup()
    batch = make_data(2, 64)
    source = torch.stack([x["source"] for x in batch])
    target = torch.stack([x["target"] for x in batch])
    torch.manual_seed(1)
    fake = g(source)
    loss, logs = trainer.generator_loss(source, target, fake)
    assert set(logs) == {"G_GAN", "G_L1"}
    expected = nn.functional.binary_cross_entropy_with_logits(
        d(torch.cat([source, fake], 1)), torch.ones(2, 1, 14, 14)
    ) + 100 * nn.functional.l1_loss(fake, target)
    assert torch.equal(loss, expected)


def test_num_d_1_trains_bit_identically_to_the_patchgan(tmp_path):
    """The same recipe with MultiScaleDiscriminator(num_d=1) and the PatchGAN: same weights."""
    torch.manual_seed(0)
    plain = PatchGANDiscriminator(**SMALL)
    torch.manual_seed(0)
    single = MultiScaleDiscriminator(**SMALL, num_d=1)
    runs = []
    for name, d in (("plain", plain), ("single", single)):
        trainer = Trainer(tiny_g(), d, config(tmp_path / name, max_steps=3), make_data(4, 64))
        trainer.fit()
        runs.append(trainer)
    assert_same_state(runs[0].generator, runs[1].generator)
    assert_same_state(runs[0].discriminator, runs[1].discriminator.scales[0])


def run(tmp_path, name, resume_from=None, **changes):
    values = dict(
        epochs=2,
        epochs_decay=1,
        output_dir=str(tmp_path / name),
        ema_decay=0.9,
        checkpoint_every=2,
        keep_checkpoints=0,
        seed=3,
        lambda_feat=10.0,
    )
    values.update(changes)
    trainer = Trainer(tiny_g(), tiny_msd(), config(tmp_path, **values), make_data(5, 64))
    trainer.fit(resume_from=resume_from)
    return trainer


def test_resume_with_the_multiscale_discriminator_is_bit_exact(tmp_path):
    full = run(tmp_path, "full")
    run(tmp_path, "split", max_steps=4)
    resumed = run(tmp_path, "split", resume_from="latest")
    assert resumed.step == full.step == 9
    assert_same_state(resumed.generator, full.generator)
    assert_same_state(resumed.discriminator, full.discriminator)
    assert_same_state(resumed.ema.module, full.ema.module)
    # the export is the generator alone: plain keys, loads as before
    exported = load_pretrained(tmp_path / "full/final")
    assert_same_state(exported, full.ema.module)


def test_reference_checkpoint_import_is_unaffected():
    from pix2pix.models.convert import convert_reference_state_dict

    import reference

    torch.manual_seed(0)
    _, net_d = reference.build_reference(num_downs=6, ngf=4, ndf=4)
    _, state = convert_reference_state_dict(net_d.state_dict(), architecture="patchgan")
    plain = PatchGANDiscriminator(base_channels=4)
    plain.load_state_dict(state)
    # a multi-scale D takes the reference PatchGAN as any one of its scales
    msd = MultiScaleDiscriminator(base_channels=4, num_d=2)
    msd.scales[0].load_state_dict(state)
    x = torch.randn(1, 6, 64, 64)
    plain.eval(), msd.eval(), net_d.eval()
    assert torch.equal(msd(x)[0], plain(x))
    torch.testing.assert_close(plain(x), net_d(x), rtol=0, atol=1e-6)


# ------------------------------------------------------------------ presets and CLI
@pytest.mark.parametrize(
    "name, num_d, lambda_feat",
    [("lsgan-ema-msd", 3, 0.0), ("lsgan-ema-fm", 1, 10.0), ("lsgan-ema-msd-fm", 3, 10.0)],
)
def test_presets_build_the_multiscale_discriminator(name, num_d, lambda_feat):
    _, d, cfg = build_preset(name, size=64, generator={"base_channels": 4},
                             discriminator={"base_channels": 4})  # fmt: skip
    assert isinstance(d, MultiScaleDiscriminator) and d.num_d == num_d
    assert (cfg.gan_mode, cfg.ema_decay, cfg.lambda_feat) == ("lsgan", 0.995, lambda_feat)
    assert isinstance(build_preset("lsgan-ema", size=64)[1], PatchGANDiscriminator)


def parse(*argv):
    parser = argparse.ArgumentParser()
    cli_train.register(parser.add_subparsers())
    return parser.parse_args(["train", *argv])


def test_cli_builds_the_multiscale_discriminator_and_lambda_feat():
    args = parse("--discriminator", "multiscale", "--num-d", "2", "--lambda-feat", "10",
                 "--disc-channels", "4")  # fmt: skip
    d = cli_train.build_discriminator(args, 6)
    assert isinstance(d, MultiScaleDiscriminator) and d.num_d == 2
    assert cli_train.config_from_args(args).lambda_feat == 10.0
    preset = cli_train.build_discriminator(parse("--preset", "lsgan-ema-msd-fm"), 6)
    assert isinstance(preset, MultiScaleDiscriminator) and preset.num_d == 3
    assert cli_train.config_from_args(parse("--preset", "lsgan-ema-fm")).lambda_feat == 10.0
    plain = cli_train.build_discriminator(parse("--preset", "lsgan-ema-msd", "--discriminator",
                                                "patchgan"), 6)  # fmt: skip
    assert type(plain) is PatchGANDiscriminator
    with pytest.raises(ValueError, match="--num-d does not apply to the patchgan discriminator"):
        cli_train.build_discriminator(parse("--num-d", "2"), 6)


def test_cli_resume_names_a_changed_num_d():
    from pix2pix.cli.train_models import model_flag_changes

    d, g = tiny_msd(num_d=2), tiny_g()
    record = {
        "generator": {"model_type": type(g).__name__, **g.config},
        "discriminator": {"model_type": type(d).__name__, **d.config},
        "info": {"generator": "unet_256", "discriminator": "multiscale"},
    }
    assert model_flag_changes(parse("--num-d", "3"), record) == {"--num-d": (2, 3)}
    assert model_flag_changes(parse("--discriminator", "multiscale"), record) == {}
    assert model_flag_changes(parse("--discriminator", "patchgan"), record) == {
        "--discriminator": ("multiscale", "patchgan")
    }
    del record["info"]  # a run built from Python: its class is compared
    assert model_flag_changes(parse("--discriminator", "multiscale"), record) == {}


def test_wgangp_penalty_takes_a_multiscale_critic():
    d = tiny_msd(norm="none")
    real, fake = torch.randn(2, 6, 64, 64), torch.randn(2, 6, 64, 64)
    penalty = gradient_penalty(d, real, fake)
    penalty.backward()
    assert penalty.ndim == 0 and d.scales[2].head.weight.grad is not None
