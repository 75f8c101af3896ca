"""Mixed precision, EMA, channels-last, compile, logging outputs and export metadata."""

import copy
import json
import re
import sys

import pytest
import torch
from PIL import Image

from pix2pix._extras import install_command
from pix2pix.models import load_pretrained
from pix2pix.trainer import Trainer
from pix2pix.trainer.ema import ExponentialMovingAverage
from pix2pix.trainer.loop import trainer_loader
from pix2pix.trainer.rng import seed_everything

from helpers import (
    assert_different_state,
    assert_same_state,
    make_data,
    tiny_config,
    tiny_models,
)


def conv_output_dtypes(module):
    seen = set()
    for layer in module.modules():
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            layer.register_forward_hook(lambda m, i, o: seen.add(o.dtype))
    return seen


@pytest.mark.parametrize("precision, dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_mixed_precision_on_cpu_trains(tmp_path, precision, dtype):
    g, d = tiny_models()
    before = copy.deepcopy(g)
    seen = conv_output_dtypes(g)
    trainer = Trainer(
        g, d, tiny_config(tmp_path, precision=precision, checkpoint_every=2), make_data(4)
    )
    trainer.fit()
    assert seen == {dtype}
    assert all(p.dtype == torch.float32 for p in g.parameters())  # master weights stay fp32
    assert_different_state(g, before)
    records = [json.loads(line) for line in (tmp_path / "run/metrics.jsonl").open()]
    assert all(isinstance(r["G_L1"], float) for r in records)
    state = torch.load(tmp_path / "run/checkpoints/step-000004/trainer_state.pt", weights_only=True)
    assert trainer.scaler.is_enabled() == (precision == "fp16")
    assert ("scale" in state["scaler"]) == (precision == "fp16")


def test_fp16_grad_scaler_skips_steps_with_overflowing_gradients(tmp_path):
    g, d = tiny_models()
    trainer = Trainer(g, d, tiny_config(tmp_path, precision="fp16"))
    trainer.setup()
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**120)
    params = [p.detach().clone() for p in list(g.parameters()) + list(d.parameters())]
    batch = {k: torch.stack([x[k] for x in make_data(2)]) for k in ("source", "target")}
    trainer.training_step(batch)
    after = list(g.parameters()) + list(d.parameters())
    assert all(torch.equal(a, b) for a, b in zip(params, after))  # both updates skipped
    assert trainer.scaler.get_scale() == 2.0**119  # backed off once per iteration


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fp16_on_cuda(tmp_path):
    g, d = tiny_models()
    trainer = Trainer(g, d, tiny_config(tmp_path, precision="fp16", device="cuda"), make_data(4))
    trainer.fit()
    assert trainer.scaler.is_enabled() and trainer.device.type == "cuda"


def test_ema_tracks_parameters_copies_buffers_and_is_exported(tmp_path):
    g, d = tiny_models()
    plain_g, plain_d = copy.deepcopy(g), copy.deepcopy(d)
    data = make_data(4)
    trainer = Trainer(g, d, tiny_config(tmp_path, ema_decay=0.6), data)
    trainer.fit()
    # the EMA does not change training
    Trainer(plain_g, plain_d, tiny_config(tmp_path / "plain"), data).fit()
    assert_same_state(g, plain_g)
    # replay the same run by hand and average
    g2, d2 = tiny_models()
    expected = copy.deepcopy(g2)
    replay = Trainer(g2, d2, tiny_config(tmp_path / "replay"), data)
    replay.setup()
    seed_everything(0)
    for epoch in range(2):
        for batch in _batches(replay, epoch):
            replay.training_step(batch)
            with torch.no_grad():
                for pe, p in zip(expected.parameters(), g2.parameters()):
                    pe.mul_(0.6).add_(p, alpha=0.4)
        replay.state.end_epoch()
    for pe, pa in zip(expected.parameters(), trainer.ema.module.parameters()):
        torch.testing.assert_close(pa, pe, rtol=1e-5, atol=1e-7)
    for be, b in zip(trainer.ema.module.buffers(), g.buffers()):
        assert torch.equal(be, b)  # buffers copied from the live model
    assert int(trainer.ema.num_updates) == 4
    assert_same_state(load_pretrained(tmp_path / "run/final"), trainer.ema.module)


def _batches(trainer, epoch):
    trainer.epoch, trainer.batch_in_epoch = epoch, 0
    return trainer_loader(trainer)


def test_ema_validates_decay_and_model():
    with pytest.raises(ValueError, match="decay=1.5"):
        ExponentialMovingAverage(torch.nn.Linear(2, 2), 1.5)
    ema = ExponentialMovingAverage(torch.nn.Linear(2, 2), 0.5)
    with pytest.raises(ValueError, match="same"):
        ema.update(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)))


def test_channels_last_trains_and_keeps_the_format(tmp_path):
    g, d = tiny_models()
    trainer = Trainer(g, d, tiny_config(tmp_path, channels_last=True), make_data(4))
    trainer.fit()
    weight = g.encoder[1].conv.weight
    assert weight.is_contiguous(memory_format=torch.channels_last)
    reloaded = load_pretrained(tmp_path / "run/final")
    assert_same_state(reloaded, g)


class Counting(torch.nn.Module):
    """Stands in for torch.compile's OptimizedModule: the same module, counting its calls."""

    def __init__(self, module):
        super().__init__()
        self.module, self.calls = module, 0

    def forward(self, *args, **kwargs):
        self.calls += 1
        return self.module(*args, **kwargs)


def test_compiled_modules_are_the_ones_training_runs(tmp_path, monkeypatch):
    wrappers = []

    def fake_compile(module):
        wrappers.append(Counting(module))
        return wrappers[-1]

    monkeypatch.setattr(torch, "compile", fake_compile)
    g, d = tiny_models()
    forwards = {g: 0, d: 0}
    for module in (g, d):
        module.register_forward_pre_hook(lambda m, args: forwards.__setitem__(m, forwards[m] + 1))
    trainer = Trainer(g, d, tiny_config(tmp_path, compile=True), make_data(4))
    trainer.fit()
    assert trainer.step == 4
    # single process: one wrapper per network, D's own and frozen updates share one
    assert [w.module for w in wrappers] == [g, d]
    compiled_g, compiled_d = wrappers
    # every forward of G and D in training went through the compiled module
    assert compiled_g.calls == forwards[g] >= trainer.step
    assert compiled_d.calls == forwards[d] >= 2 * trainer.step
    # the networks themselves stay unwrapped: the export has plain keys and loads
    assert trainer.generator is g and trainer.discriminator is d
    assert_same_state(load_pretrained(tmp_path / "run/final"), g)


@pytest.mark.slow
def test_compile_for_real(tmp_path):
    g, d = tiny_models()
    trainer = Trainer(g, d, tiny_config(tmp_path, compile=True, max_steps=2), make_data(4))
    trainer.fit()
    assert trainer.step == 2


def test_outputs_metrics_samples_and_inference_metadata(tmp_path):
    class Described(list):
        @property
        def config(self):
            return {"direction": "BtoA", "preprocess": "none", "load_size": 32, "crop_size": 32}

    data = Described(make_data(4))
    config = tiny_config(tmp_path, sample_every=2, val_every=4, log_every=2, num_samples=3)
    trainer = Trainer(*tiny_models(), config, data, make_data(3, seed=5))
    trainer.fit()
    run = tmp_path / "run"
    records = [json.loads(line) for line in (run / "metrics.jsonl").open()]
    train = [r for r in records if "G_L1" in r]
    assert [r["step"] for r in train] == [2, 4]
    assert set(train[0]) == {
        "step",
        "epoch",
        "D_fake",
        "D_real",
        "G_GAN",
        "G_L1",
        "img_per_s",
        "lr",
        "window",
    }
    assert [r["window"] for r in train] == [2, 2]  # each mean covers log_every steps
    val = [r for r in records if "val/PSNR" in r]
    assert [r["step"] for r in val] == [4] and 0 < val[0]["val/SSIM"] < 1
    grid = Image.open(run / "samples/step-000004.png")
    # 3 columns, 3 rows, 2 px padding, and two 14 px header lines (column names, step)
    assert grid.size == (3 * 32 + 4 * 2, 3 * 32 + 4 * 2 + 2 * 14)
    inference = json.loads((run / "final/config.json").read_text())["inference"]
    assert {"dataset", "training"} <= set(inference)  # the card's facts (tested in test_report)
    data_facts = (
        "direction",
        "preprocess",
        "load_size",
        "crop_size",
        "in_channels",
        "out_channels",
    )
    assert {k: inference[k] for k in data_facts} == {
        "direction": "BtoA",
        "preprocess": "none",
        "load_size": 32,
        "crop_size": 32,
        "in_channels": 3,
        "out_channels": 3,
    }
    assert json.loads((run / "run_config.json").read_text())["trainer"]["sample_every"] == 2


def test_sample_grid_shows_gray_inputs_as_rgb(tmp_path):
    from pix2pix import PatchGANDiscriminator, UNetGenerator

    g = UNetGenerator(in_channels=1, out_channels=3, base_channels=4, num_downs=5)
    d = PatchGANDiscriminator(in_channels=4, base_channels=4, n_layers=2)
    data = make_data(2, in_channels=1)
    Trainer(g, d, tiny_config(tmp_path, sample_every=1, epochs_decay=0), data).fit()
    assert Image.open(tmp_path / "run/samples/step-000001.png").mode == "RGB"


def test_tensorboard_missing_gives_the_pip_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # find_spec then raises ValueError
    config = tiny_config(tmp_path, loggers=("tensorboard",))
    trainer = Trainer(*tiny_models(), config, make_data(2))
    with pytest.raises(ImportError, match=re.escape(install_command("tensorboard"))):
        trainer.fit()
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_tensorboard_writes_events(tmp_path):
    pytest.importorskip("tensorboard")
    config = tiny_config(tmp_path, loggers=("tensorboard",), sample_every=2)
    Trainer(*tiny_models(), config, make_data(2)).fit()
    assert list((tmp_path / "run/tensorboard").glob("events.out.tfevents.*"))


def test_wgangp_adds_the_gradient_penalty(tmp_path):
    trainer = Trainer(*tiny_models(), tiny_config(tmp_path, gan_mode="wgangp"), make_data(2))
    batch = {k: torch.stack([x[k] for x in make_data(2)]) for k in ("source", "target")}
    losses = trainer.training_step(batch)
    assert set(losses) == {"D_fake", "D_real", "D_GP", "G_GAN", "G_L1"}
    assert float(losses["D_GP"]) > 0


def test_ema_warmup_ramps_the_decay_and_survives_reloading():
    live = torch.nn.Linear(3, 3)
    ema = ExponentialMovingAverage(live, 0.75, warmup=True)
    start = ema.module.weight.clone()
    with torch.no_grad():
        live.weight.add_(1.0)
    assert ema.current_decay() == pytest.approx(0.1)  # (1 + 0) / (10 + 0)
    ema.update(live)
    torch.testing.assert_close(ema.module.weight, 0.1 * start + 0.9 * live.weight)
    decays = [ema.current_decay()]
    for _ in range(30):
        ema.update(live)
        decays.append(ema.current_decay())
    assert decays[0] == pytest.approx(2 / 11) and decays == sorted(decays)
    assert decays[-1] == 0.75  # capped once (1 + n) / (10 + n) passes it (n >= 26)
    # the count the warm-up reads comes back with the state dict and on resume
    fresh = ExponentialMovingAverage(live, 0.99, warmup=True)
    fresh.load_state_dict(ema.state_dict())
    assert fresh.current_decay() == pytest.approx(32 / 41)
    fresh.set_num_updates(5)
    assert fresh.current_decay() == pytest.approx(6 / 15) and int(fresh.num_updates) == 5
    assert ExponentialMovingAverage(live, 0.9).current_decay() == 0.9  # no warm-up by default


def test_lr_d_sets_the_discriminator_learning_rate(tmp_path):
    g, d = tiny_models()
    trainer = Trainer(g, d, tiny_config(tmp_path, lr=1e-4, lr_d=4e-4), make_data(2))
    trainer.setup()
    assert trainer.optimizer_g.param_groups[0]["lr"] == 1e-4
    assert trainer.optimizer_d.param_groups[0]["lr"] == 4e-4
    g, d = tiny_models()
    same = Trainer(g, d, tiny_config(tmp_path / "same", lr=3e-4), make_data(2))
    same.setup()
    assert same.optimizer_d.param_groups[0]["lr"] == 3e-4


def test_bf16_on_a_cpu_without_its_kernels_is_said_in_one_line(tmp_path, monkeypatch, caplog):
    """Issue 27: on an AVX2-only CPU bf16 trains tens of times slower, and the Trainer said
    nothing (the Translator warned)."""
    import pix2pix._device as device_module

    class NoBf16:
        @staticmethod
        def _is_mkldnn_bf16_supported():
            return False

    monkeypatch.setattr(device_module.torch.ops, "mkldnn", NoBf16())
    trainer = Trainer(*tiny_models(), tiny_config(tmp_path, precision="bf16"), make_data(2))
    with caplog.at_level("WARNING"):
        trainer.setup()
    lines = [
        r.getMessage() for r in caplog.records if "precision='bf16' on this CPU" in r.getMessage()
    ]
    assert len(lines) == 1 and "slow reference kernels" in lines[0]
    caplog.clear()
    fp32 = Trainer(*tiny_models(), tiny_config(tmp_path), make_data(2))
    with caplog.at_level("WARNING"):
        fp32.setup()
    assert "on this CPU" not in caplog.text


def test_translator_bf16_on_a_cpu_without_its_kernels_warns_in_the_same_words(monkeypatch):
    """The Translator and the Trainer share one probe and one message (pix2pix._device)."""
    import warnings

    import pix2pix._device as device_module
    from pix2pix import Translator

    class NoBf16:
        @staticmethod
        def _is_mkldnn_bf16_supported():
            return False

    monkeypatch.setattr(device_module.torch.ops, "mkldnn", NoBf16())
    generator, _ = tiny_models()
    with pytest.warns(UserWarning, match=r"dtype=torch.bfloat16 on this CPU: .* reference kernels"):
        Translator(generator, dtype="bf16")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Translator(generator)  # fp32 says nothing
