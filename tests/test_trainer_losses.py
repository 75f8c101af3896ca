"""The loss override points: losses apart from stepping, and the discriminator handles."""

from __future__ import annotations

import torch
from torch import nn

from pix2pix import PatchGANDiscriminator, Trainer, TrainerConfig, UNetGenerator
from pix2pix.trainer.step import EagerStep


def _trainer(cls: type[Trainer] = Trainer, tmp_path=None) -> Trainer:
    torch.manual_seed(0)
    config = TrainerConfig(device="cpu", progress_bar=False, output_dir=str(tmp_path or "/tmp/x"))
    return cls(UNetGenerator(base_channels=4, num_downs=5), PatchGANDiscriminator(base_channels=4),
               config)  # fmt: skip


def _batch() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return {
        "source": torch.rand(2, 3, 32, 32, generator=generator) * 2 - 1,
        "target": torch.rand(2, 3, 32, 32, generator=generator) * 2 - 1,
    }


class _Passthrough(Trainer):
    def generator_loss(self, source, target, fake):
        return super().generator_loss(source, target, fake)


class _ExtraTerm(Trainer):
    def generator_loss(self, source, target, fake):
        loss, logs = super().generator_loss(source, target, fake)
        logs["G_mean"] = fake.mean().abs() * 10
        return loss + logs["G_mean"], logs


def test_an_override_calling_super_is_bit_identical_to_the_default():
    plain, passthrough = _trainer(), _trainer(_Passthrough)
    losses_a, losses_b = plain.training_step(_batch()), passthrough.training_step(_batch())
    assert losses_a.keys() == losses_b.keys()
    assert all(torch.equal(losses_a[k], losses_b[k]) for k in losses_a)
    for a, b in zip(plain.generator.parameters(), passthrough.generator.parameters()):
        assert torch.equal(a, b)


def test_an_added_term_is_logged_detached_and_reaches_the_generator_only():
    plain, extra = _trainer(), _trainer(_ExtraTerm)
    plain.training_step(_batch())
    losses = extra.training_step(_batch())
    assert "G_mean" in losses and not losses["G_mean"].requires_grad
    changed = [not torch.equal(a, b) for a, b in
               zip(plain.generator.parameters(), extra.generator.parameters())]  # fmt: skip
    assert any(changed)
    # D's update ran before G's loss exists: D ends exactly where the plain trainer's D ends
    for a, b in zip(plain.discriminator.parameters(), extra.discriminator.parameters()):
        assert torch.equal(a, b)


class _Counting(nn.Module):
    def __init__(self, inner: nn.Module, name: str, calls: list[str]) -> None:
        super().__init__()
        self.inner, self.name, self.calls = inner, name, calls

    def forward(self, x):
        self.calls.append(self.name)
        return self.inner(x)


def test_each_update_runs_d_through_its_own_handle():
    trainer = _trainer()
    trainer.setup()
    calls: list[str] = []
    trainer.networks._d_train = _Counting(trainer.discriminator, "train", calls)
    trainer.networks._d_frozen = _Counting(trainer.discriminator, "frozen", calls)
    trainer.training_step(_batch())
    # D's update: fake then real through the training handle; G's update: the frozen one
    assert calls == ["train", "train", "frozen"]
    # outside an update, discriminate() runs the plain D (no wrapper is entered)
    trainer.discriminate(_batch()["source"], _batch()["target"])
    assert calls == ["train", "train", "frozen"]


def test_d_gets_no_gradient_in_the_generator_update():
    trainer = _trainer()
    trainer.setup()
    batch = _batch()
    source, target = trainer.prepare_batch(batch)
    fake = trainer.generate(source)
    EagerStep(trainer).generator_update(source, target, fake)
    assert all(p.grad is None or not p.grad.any() for p in trainer.discriminator.parameters())
    assert all(p.requires_grad for p in trainer.discriminator.parameters())  # restored
