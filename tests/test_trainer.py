"""The training step against the reference algorithm (``benchmarks/reference.py``), the
schedules, hooks and overrides. The shared helpers live in ``tests/helpers.py``."""

import copy

import pytest
import torch
from torch import nn

from pix2pix.trainer import Callback, Trainer
from pix2pix.trainer.schedulers import linear_decay_factor

from helpers import assert_different_state, assert_same_state, make_data, tiny_config, tiny_models
from reference import RefPix2Pix


def test_training_step_is_the_reference_algorithm_bit_for_bit(tmp_path):
    # 64 px and num_downs=6 put dropout in the decoder: its masks must match too
    g, d = tiny_models(num_downs=6)
    assert any(isinstance(m, nn.Dropout) for m in g.modules())
    ref_g, ref_d = copy.deepcopy(g), copy.deepcopy(d)
    data = make_data(6, size=64)
    batches = [
        {k: torch.stack([item[k] for item in data[i : i + 2]]) for k in ("source", "target")}
        for i in range(0, 6, 2)
    ]
    trainer = Trainer(g, d, tiny_config(tmp_path))
    torch.manual_seed(123)
    ours = [trainer.training_step(batch) for batch in batches]
    reference = RefPix2Pix(ref_g, ref_d)  # Adam(lr=2e-4, betas=(0.5, 0.999)), lambda_L1=100
    torch.manual_seed(123)
    theirs = [reference.optimize_parameters(b["source"], b["target"]) for b in batches]
    assert_same_state(g, ref_g)
    assert_same_state(d, ref_d)
    assert set(ours[0]) == {"D_fake", "D_real", "G_GAN", "G_L1"}
    assert [float(o["G_L1"]) for o in ours] == [float(t["G_L1"]) for t in theirs]
    # the parameters did move, so equality is not vacuous
    assert_different_state(g, tiny_models(num_downs=6)[0])


def test_fit_equals_the_reference_loop_with_linear_decay(tmp_path):
    g, d = tiny_models()
    ref_g, ref_d = copy.deepcopy(g), copy.deepcopy(d)
    data = make_data(4)
    config = tiny_config(tmp_path, shuffle=False, epochs=1, epochs_decay=2, seed=7)
    Trainer(g, d, config, train_data=data).fit()

    reference = RefPix2Pix(ref_g, ref_d)
    rule = lambda e: 1.0 - max(0, e + 1 - 1) / float(2 + 1)  # noqa: E731  (reference lambda_rule)
    optimizers = (reference.optimizer_G, reference.optimizer_D)
    sched = [torch.optim.lr_scheduler.LambdaLR(o, rule) for o in optimizers]
    torch.manual_seed(7)
    for _epoch in range(3):
        for i in range(0, 4, 2):
            a = torch.stack([x["source"] for x in data[i : i + 2]])
            b = torch.stack([x["target"] for x in data[i : i + 2]])
            reference.optimize_parameters(a, b)
        for s in sched:
            s.step()
    assert_same_state(g, ref_g)
    assert_same_state(d, ref_d)


def test_training_step_rejects_batches_without_source_and_target(tmp_path):
    trainer = Trainer(*tiny_models(), tiny_config(tmp_path))
    with pytest.raises(ValueError, match="'source' and 'target'"):
        trainer.training_step({"A": torch.zeros(1, 3, 32, 32)})
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        trainer.training_step({"source": torch.zeros(3, 32, 32), "target": torch.zeros(3, 32, 32)})


# ---------------------------------------------------------------------------- schedules


@pytest.mark.parametrize("epochs, decay", [(3, 4), (100, 100), (1, 0)])
def test_linear_policy_matches_the_reference_rule_at_epoch_boundaries(tmp_path, epochs, decay):
    g, d = tiny_models()
    trainer = Trainer(g, d, tiny_config(tmp_path, epochs=epochs, epochs_decay=decay, lr=2e-4))
    trainer.setup()
    seen = []
    for _ in range(epochs + decay):
        seen.append(trainer.optimizer_g.param_groups[0]["lr"])
        trainer.state.end_epoch()
    expected = [2e-4 * (1.0 - max(0, e + 1 - epochs) / float(decay + 1)) for e in range(len(seen))]
    assert seen == pytest.approx(expected, rel=1e-12, abs=0)
    assert seen[0] == 2e-4 and (decay == 0 or seen[-1] == pytest.approx(2e-4 / (decay + 1)))
    assert linear_decay_factor(epochs, epochs, decay) == pytest.approx(1 - 1 / (decay + 1))


def test_linear_decay_reaches_the_discriminator_and_fit_steps_per_epoch(tmp_path):
    seen = []

    class RecordLR(Callback):
        def on_epoch_start(self, trainer):
            seen.append((trainer.epoch, trainer.optimizer_d.param_groups[0]["lr"]))

    g, d = tiny_models()
    config = tiny_config(tmp_path, epochs=1, epochs_decay=2, log_every=100)
    Trainer(g, d, config, train_data=make_data(3), callbacks=[RecordLR()]).fit()
    assert seen == [(0, 2e-4), (1, pytest.approx(2e-4 * 2 / 3)), (2, pytest.approx(2e-4 / 3))]


@pytest.mark.parametrize("policy", ["step", "cosine", "constant"])
def test_other_policies(tmp_path, policy):
    trainer = Trainer(
        *tiny_models(),
        tiny_config(tmp_path, lr_policy=policy, epochs=2, epochs_decay=2, lr_decay_iters=1),
    )
    trainer.setup()
    lrs = []
    for _ in range(4):
        lrs.append(trainer.optimizer_g.param_groups[0]["lr"])
        trainer.state.end_epoch()
    expected = {
        "step": [2e-4, 2e-5, 2e-6, 2e-7],
        "cosine": [
            2e-4 * (1 + torch.cos(torch.tensor(torch.pi * e / 4)).item()) / 2 for e in range(4)
        ],
        "constant": [2e-4] * 4,
    }[policy]
    assert lrs == pytest.approx(expected, rel=1e-6)


# ---------------------------------------------------------------------------- hooks and overrides


class Recorder(Callback):
    def __init__(self, log):
        self.log = log

    def on_train_start(self, trainer):
        self.log.append(("cb", "train_start", trainer.step))

    def on_epoch_start(self, trainer):
        self.log.append(("cb", "epoch_start", trainer.epoch))

    def on_step_end(self, trainer, losses):
        assert all(isinstance(v, torch.Tensor) and v.dim() == 0 for v in losses.values())
        self.log.append(("cb", "step_end", trainer.step))

    def on_validation_end(self, trainer, metrics):
        assert set(metrics) == {"val/L1", "val/PSNR", "val/SSIM"}
        self.log.append(("cb", "validation_end", trainer.step))

    def on_checkpoint(self, trainer, path):
        assert path.is_dir() and path.name == f"step-{trainer.step:06d}"
        self.log.append(("cb", "checkpoint", trainer.step))

    def on_train_end(self, trainer):
        self.log.append(("cb", "train_end", trainer.step))


def test_hooks_fire_in_order_trainer_method_first(tmp_path):
    log = []

    class HookedTrainer(Trainer):
        def on_epoch_start(self):
            log.append(("trainer", "epoch_start", self.epoch))

        def on_step_end(self, losses):
            log.append(("trainer", "step_end", self.step))

    config = tiny_config(tmp_path, val_every=2, checkpoint_every=3, epochs=1, epochs_decay=1)
    g, d = tiny_models()
    trainer = HookedTrainer(
        g,
        d,
        config,
        train_data=make_data(4),
        val_data=make_data(2, seed=1),
        callbacks=[Recorder(log)],
    )
    trainer.fit()
    assert log == [
        ("cb", "train_start", 0),
        ("trainer", "epoch_start", 0),
        ("cb", "epoch_start", 0),
        ("trainer", "step_end", 1),
        ("cb", "step_end", 1),
        ("trainer", "step_end", 2),
        ("cb", "step_end", 2),
        ("cb", "validation_end", 2),
        ("trainer", "epoch_start", 1),
        ("cb", "epoch_start", 1),
        ("trainer", "step_end", 3),
        ("cb", "step_end", 3),
        ("cb", "checkpoint", 3),
        ("trainer", "step_end", 4),
        ("cb", "step_end", 4),
        ("cb", "validation_end", 4),
        ("cb", "checkpoint", 4),
        ("cb", "train_end", 4),
    ]


def test_overridden_methods_are_used(tmp_path):
    calls = []

    class Custom(Trainer):
        def configure_optimizers(self):
            calls.append("optimizers")
            return (
                torch.optim.SGD(self.generator.parameters(), lr=0.01),
                torch.optim.SGD(self.discriminator.parameters(), lr=0.01),
            )

        def configure_schedulers(self, opt_g, opt_d):
            calls.append("schedulers")
            return None, None

        def discriminator_loss(self, source, target, fake):
            calls.append("d")
            return super().discriminator_loss(source, target, fake)

        def generator_loss(self, source, target, fake):
            calls.append("g")
            loss, logs = super().generator_loss(source, target, fake)
            return loss, {**logs, "extra": torch.tensor(1.5)}

        def validation_step(self, batch):
            calls.append("val")
            return {"one": torch.ones(batch["source"].shape[0])}

    g, d = tiny_models()
    config = tiny_config(tmp_path, epochs=1, epochs_decay=0, val_every=1, log_every=1)
    trainer = Custom(g, d, config, train_data=make_data(2), val_data=make_data(2))
    trainer.fit()
    assert isinstance(trainer.optimizer_g, torch.optim.SGD)
    assert calls == ["optimizers", "schedulers", "d", "g", "val"]
    records = (tmp_path / "run" / "metrics.jsonl").read_text()
    assert '"extra": 1.5' in records and '"val/one": 1.0' in records


def test_training_step_can_drive_a_hand_written_loop(tmp_path):
    g, d = tiny_models()
    before = copy.deepcopy(g)
    trainer = Trainer(g, d, tiny_config(tmp_path))
    assert trainer.optimizer_g is None  # set up lazily
    batch = {k: torch.stack([x[k] for x in make_data(2)]) for k in ("source", "target")}
    for _ in range(2):
        losses = trainer.training_step(batch)
    assert isinstance(trainer.optimizer_g, torch.optim.Adam)
    assert all(torch.isfinite(v) for v in losses.values())
    assert_different_state(g, before)
    # D's requires_grad is restored after the generator step
    assert all(p.requires_grad for p in d.parameters())


def test_should_stop_from_a_callback_ends_after_the_step(tmp_path):
    class Stop(Callback):
        def on_step_end(self, trainer, losses):
            if trainer.step == 2:
                trainer.should_stop = True

    trainer = Trainer(*tiny_models(), tiny_config(tmp_path), make_data(6), callbacks=[Stop()])
    final = trainer.fit()
    assert trainer.step == 2 and final is not None and (final / "model.safetensors").is_file()


def test_fit_needs_train_data(tmp_path):
    with pytest.raises(ValueError, match="train_data must be a map-style dataset"):
        Trainer(*tiny_models(), tiny_config(tmp_path)).fit()
    with pytest.raises(ValueError, match="train_data is empty"):
        Trainer(*tiny_models(), tiny_config(tmp_path), train_data=[]).fit()
    with pytest.raises(ValueError, match="drop_last"):
        Trainer(
            *tiny_models(),
            tiny_config(tmp_path, batch_size=4, drop_last=True),
            train_data=make_data(3),
        ).fit()
