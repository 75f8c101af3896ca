"""TrainerConfig: paper defaults, validation messages, JSON round trip, documented fields."""

import dataclasses
import json

import pytest

from pix2pix.trainer import TrainerConfig


def test_defaults_are_the_papers():
    c = TrainerConfig()
    assert (c.epochs, c.epochs_decay, c.batch_size) == (100, 100, 1)
    assert (c.lr, c.beta1, c.beta2, c.lambda_l1) == (2e-4, 0.5, 0.999, 100.0)
    assert (c.gan_mode, c.lr_policy, c.precision, c.ema_decay) == (
        "vanilla",
        "linear",
        "fp32",
        None,
    )


def test_json_round_trip(tmp_path):
    config = TrainerConfig(
        epochs=3,
        ema_decay=0.999,
        max_steps=10,
        precision="bf16",
        direction="BtoA",
        output_dir="runs/x",
    )
    path = config.save(tmp_path / "sub" / "config.json")
    assert TrainerConfig.load(path) == config
    assert json.loads(path.read_text())["ema_decay"] == 0.999
    assert TrainerConfig.from_dict(config.to_dict()) == config


def test_partial_json_takes_defaults_and_ints_are_fine_floats(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"lr": 1, "epochs": 5}')
    config = TrainerConfig.load(path)
    assert (config.lr, config.epochs, config.epochs_decay) == (1, 5, 100)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"lr": 0.0}, r"lr=0.0 .*positive"),
        ({"beta1": 1.0}, r"beta1=1.0 .*\[0, 1\)"),
        ({"epochs": 1.5}, r"epochs=1.5 has the wrong type; expected int"),
        ({"epochs": 0, "epochs_decay": 0}, r"epochs=0 and epochs_decay=0"),
        ({"batch_size": 0}, r"batch_size=0 .*>= 1"),
        ({"gan_mode": "wgan"}, r"gan_mode='wgan' .*'vanilla', 'lsgan', 'hinge', 'wgangp'"),
        ({"lr_policy": "plateau"}, r"lr_policy='plateau' .*'linear', 'step', 'cosine'"),
        ({"precision": "fp8"}, r"precision='fp8' .*'fp32', 'bf16', 'fp16'"),
        ({"ema_decay": 0.0}, r"ema_decay=0.0 .*\(0, 1\)"),
        ({"lr_d": 0.0}, r"lr_d=0.0 .*positive"),
        ({"ema_warmup": "yes"}, "ema_warmup"),
        ({"ema_warmup": True}, "ema_warmup=True has no effect without an EMA"),
        ({"max_steps": 0}, r"max_steps=0 .*>= 1"),
        ({"max_steps": True}, r"max_steps=True has the wrong type"),
        ({"device": "gpu0"}, r"device='gpu0' .*'auto', 'cpu', 'cuda'"),
        ({"direction": "AB"}, r"direction='AB' .*'AtoB', 'BtoA'"),
        ({"preprocess": "zoom"}, r"preprocess='zoom'"),
        ({"log_every": 0}, r"log_every=0"),
        ({"keep_checkpoints": -1}, r"keep_checkpoints=-1"),
        ({"shuffle": "yes"}, r"shuffle='yes' has the wrong type; expected bool"),
    ],
)
def test_invalid_values_name_field_value_and_allowed(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainerConfig(**changes)


def test_validate_catches_edits_after_construction():
    config = TrainerConfig()
    config.lr_policy = "nope"
    with pytest.raises(ValueError, match="lr_policy='nope'"):
        config.validate()


def test_unknown_keys_and_bad_files(tmp_path):
    with pytest.raises(ValueError, match=r"Unknown trainer config field\(s\) \['lambda_L1'\]"):
        TrainerConfig.from_dict({"lambda_L1": 10})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json is not valid JSON"):
        TrainerConfig.load(bad)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        TrainerConfig.load(tmp_path / "missing.json")


def test_every_field_has_a_one_line_comment():
    help_ = TrainerConfig.field_help()
    names = [f.name for f in dataclasses.fields(TrainerConfig)]
    assert list(help_) == names
    assert all(text and "\n" not in text for text in help_.values())
    assert "n_epochs" in help_["epochs"]


def test_replace_validates():
    assert TrainerConfig().replace(epochs=7).epochs == 7
    with pytest.raises(ValueError, match="epochs=-1"):
        TrainerConfig().replace(epochs=-1)
