"""The training step against an independent re-implementation of the paper's algorithm, the
schedules, hooks and overrides. Helpers here are shared by the other test_trainer_* files."""

import copy

import pytest
import torch
from torch import nn

from pix2pix import PatchGANDiscriminator, UNetGenerator
from pix2pix.trainer import Callback, Trainer, TrainerConfig
from pix2pix.trainer.schedulers import linear_decay_factor

# ---------------------------------------------------------------------------- shared helpers


def make_data(n=6, size=32, seed=0, in_channels=3, out_channels=3):
    g = torch.Generator().manual_seed(seed)
    return [
        {
            "source": torch.rand(in_channels, size, size, generator=g) * 2 - 1,
            "target": torch.rand(out_channels, size, size, generator=g) * 2 - 1,
            "path": f"item{i}",
        }
        for i in range(n)
    ]


def tiny_models(seed=0, num_downs=5, norm="batch", dropout=0.5):
    torch.manual_seed(seed)
    generator = UNetGenerator(base_channels=4, num_downs=num_downs, norm=norm, dropout=dropout)
    discriminator = PatchGANDiscriminator(base_channels=4, n_layers=2, norm=norm)
    return generator, discriminator


def tiny_config(tmp_path, **changes):
    values = dict(
        epochs=1,
        epochs_decay=1,
        batch_size=2,
        device="cpu",
        output_dir=str(tmp_path / "run"),
        log_every=1,
        sample_every=0,
        val_every=0,
        checkpoint_every=0,
        progress_bar=False,
    )
    values.update(changes)
    return TrainerConfig(**values)


def assert_same_state(a: nn.Module, b: nn.Module):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert torch.equal(sa[key], sb[key]), f"{key} differs"


def assert_different_state(a: nn.Module, b: nn.Module):
    sa, sb = a.state_dict(), b.state_dict()
    assert any(not torch.equal(sa[k], sb[k]) for k in sa)


# ---------------------------------------------------------------------------- the reference


def reference_step(net_g, net_d, opt_g, opt_d, real_a, real_b, lambda_l1=100.0):
    """Pix2PixModel.optimize_parameters of the reference implementation, written out from its
    description: D on cat(A, fake).detach() and cat(A, B) with BCEWithLogits, loss_D halved;
    then G with D frozen on GAN + L1 * lambda."""
    bce, l1 = nn.BCEWithLogitsLoss(), nn.L1Loss()

    def set_requires_grad(net, flag):
        for p in net.parameters():
            p.requires_grad = flag

    fake_b = net_g(real_a)
    set_requires_grad(net_d, True)
    opt_d.zero_grad()
    pred_fake = net_d(torch.cat((real_a, fake_b), 1).detach())
    loss_d_fake = bce(pred_fake, torch.tensor(0.0).expand_as(pred_fake))
    pred_real = net_d(torch.cat((real_a, real_b), 1))
    loss_d_real = bce(pred_real, torch.tensor(1.0).expand_as(pred_real))
    loss_d = (loss_d_fake + loss_d_real) * 0.5
    loss_d.backward()
    opt_d.step()
    set_requires_grad(net_d, False)
    opt_g.zero_grad()
    pred_fake = net_d(torch.cat((real_a, fake_b), 1))
    loss_g_gan = bce(pred_fake, torch.tensor(1.0).expand_as(pred_fake))
    loss_g_l1 = l1(fake_b, real_b) * lambda_l1
    loss_g = loss_g_gan + loss_g_l1
    loss_g.backward()
    opt_g.step()
    return {"G_GAN": loss_g_gan.item(), "G_L1": loss_g_l1.item(), "D_fake": loss_d_fake.item()}


def adam(net):
    return torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.5, 0.999))


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
    opt_g, opt_d = adam(ref_g), adam(ref_d)
    torch.manual_seed(123)
    theirs = [reference_step(ref_g, ref_d, opt_g, opt_d, b["source"], b["target"]) for b in batches]
    assert_same_state(g, ref_g)
    assert_same_state(d, ref_d)
    assert set(ours[0]) == {"D_fake", "D_real", "G_GAN", "G_L1"}
    assert [float(o["G_L1"]) for o in ours] == [t["G_L1"] for t in theirs]
    # the parameters did move, so equality is not vacuous
    assert_different_state(g, tiny_models(num_downs=6)[0])


def test_fit_equals_the_reference_loop_with_linear_decay(tmp_path):
    g, d = tiny_models()
    ref_g, ref_d = copy.deepcopy(g), copy.deepcopy(d)
    data = make_data(4)
    config = tiny_config(tmp_path, shuffle=False, epochs=1, epochs_decay=2, seed=7)
    Trainer(g, d, config, train_data=data).fit()

    opt_g, opt_d = adam(ref_g), adam(ref_d)
    rule = lambda e: 1.0 - max(0, e + 1 - 1) / float(2 + 1)  # noqa: E731  (reference lambda_rule)
    sched = [torch.optim.lr_scheduler.LambdaLR(o, rule) for o in (opt_g, opt_d)]
    torch.manual_seed(7)
    for _epoch in range(3):
        for i in range(0, 4, 2):
            a = torch.stack([x["source"] for x in data[i : i + 2]])
            b = torch.stack([x["target"] for x in data[i : i + 2]])
            reference_step(ref_g, ref_d, opt_g, opt_d, a, b)
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
        trainer._end_epoch()
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
        trainer._end_epoch()
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

        def discriminator_step(self, source, target, fake):
            calls.append("d")
            return super().discriminator_step(source, target, fake)

        def generator_step(self, source, target, fake):
            calls.append("g")
            losses = super().generator_step(source, target, fake)
            losses["extra"] = torch.tensor(1.5)
            return losses

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
