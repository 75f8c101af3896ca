"""Non-finite weights (parameters or buffers) stop training like a non-finite loss (issue 12.1)."""

import pytest
import torch
from safetensors.torch import load_file

from pix2pix.cli import main
from pix2pix.data import SyntheticPairs
from pix2pix.trainer import Callback, NonFiniteLossError, Trainer
from pix2pix.trainer import checkpoint as ckpt
from pix2pix.trainer.errors import NonFiniteWeightError

from helpers import make_data, tiny_config, tiny_models

TINY = [
    "--generator", "unet_128", "--num-downs", "5", "--base-channels", "4",
    "--discriminator", "patchgan", "--n-layers-d", "2", "--disc-channels", "4",
    "--load-size", "36", "--crop-size", "32", "--device", "cpu", "--no-progress-bar",
    "--no-check-data",
]  # fmt: skip


class PoisonRunningVar(Callback):
    """Set a BatchNorm running_var of G to inf after step ``at`` (the loss stays finite)."""

    def __init__(self, at, value=float("inf")):
        self.at, self.value = at, value

    def on_step_end(self, trainer, losses):
        if trainer.step == self.at:
            with torch.no_grad():
                trainer.generator.encoder[1].norm.running_var.fill_(self.value)


def all_finite(folder):
    for weights in folder.rglob("model.safetensors"):
        for name, tensor in load_file(weights).items():
            if tensor.is_floating_point() and not torch.isfinite(tensor).all():
                return f"{weights}:{name}"
    return None


def test_an_inf_buffer_stops_before_the_next_checkpoint(tmp_path):
    config = tiny_config(tmp_path, checkpoint_every=2, log_every=10)
    trainer = Trainer(*tiny_models(), config, make_data(8), callbacks=[PoisonRunningVar(3)])
    with pytest.raises(NonFiniteWeightError) as info:
        trainer.fit()
    error = info.value
    assert isinstance(error, NonFiniteLossError)  # caught by code written for NaN losses
    assert error.step == 4 and error.name == "generator.encoder.1.norm.running_var"
    assert "Weight generator.encoder.1.norm.running_var is inf at step 4" in str(error)
    assert "step-000002" in str(error)  # the last good checkpoint
    run = tmp_path / "run"
    assert [p.name for p in ckpt.list_checkpoints(run)] == ["step-000002"]
    assert all_finite(run / "checkpoints") is None
    assert not (run / "final").exists()


def test_checked_at_the_log_cadence_without_checkpoints(tmp_path):
    config = tiny_config(tmp_path, log_every=2, checkpoint_every=0)
    poison = PoisonRunningVar(3, float("nan"))
    trainer = Trainer(*tiny_models(), config, make_data(8), callbacks=[poison])
    with pytest.raises(NonFiniteWeightError, match="is nan at step 4"):
        trainer.fit()
    assert ckpt.list_checkpoints(tmp_path / "run") == []


def test_not_checked_every_step(tmp_path, monkeypatch):
    calls = []
    original = Trainer.check_weights

    def counting(self):
        calls.append(self.step)
        return original(self)

    monkeypatch.setattr(Trainer, "check_weights", counting)
    config = tiny_config(tmp_path, log_every=4, checkpoint_every=0, max_steps=8)
    Trainer(*tiny_models(), config, make_data(8)).fit()
    # log cadence (4, 8), the final checkpoint and the export: not once per step
    assert calls == [4, 8, 8, 8]


def test_the_export_is_checked(tmp_path):
    trainer = Trainer(*tiny_models(), tiny_config(tmp_path, max_steps=1), make_data(4))
    trainer.fit()
    with torch.no_grad():
        next(trainer.discriminator.parameters()).view(-1)[0] = float("-inf")
    with pytest.raises(NonFiniteWeightError, match=r"discriminator\..* is inf at step 1"):
        trainer.save_pretrained(tmp_path / "export")
    assert not (tmp_path / "export").exists()


def test_the_ema_copy_is_checked(tmp_path):
    trainer = Trainer(*tiny_models(), tiny_config(tmp_path, ema_decay=0.9), make_data(4))
    trainer.setup()
    with torch.no_grad():
        trainer.ema.module.encoder[1].norm.running_var.fill_(float("nan"))
    with pytest.raises(NonFiniteWeightError, match=r"ema\.encoder\.1\.norm\.running_var"):
        trainer.check_weights()


def test_cli_lr_1e10_stops_with_one_line_and_finite_checkpoints(tmp_path, capsys):
    """The issue's reproduction: it used to exit 0 with inf running_var everywhere."""
    SyntheticPairs(4, size=32, seed=0).write(tmp_path / "train")
    run = tmp_path / "run"
    code = main(["train", "--data", str(tmp_path / "train"), "--output", str(run),
                 "--lr", "1e10", "--max-steps", "20", "--checkpoint-every", "1", *TINY])  # fmt: skip
    assert code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1, errors
    assert errors[0].startswith("pix2pix train: error: Weight ")
    assert " is inf at step " in errors[0] or " is nan at step " in errors[0]
    assert all_finite(run) is None
    assert not (run / "final").exists()
