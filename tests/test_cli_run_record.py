"""The run folder is a complete record: run_config.json reproduces a run; resume keeps it."""

import json
import math

import pytest

from pix2pix.cli import main
from pix2pix.data import SyntheticPairs
from pix2pix.models import load_pretrained
from pix2pix.trainer import TrainerConfig
from pix2pix.trainer import checkpoint as ckpt

from helpers import recorded_config

TINY = [
    "--generator", "unet_128", "--num-downs", "5", "--base-channels", "4",
    "--discriminator", "patchgan", "--n-layers-d", "2", "--disc-channels", "4",
    "--load-size", "36", "--crop-size", "32", "--device", "cpu", "--no-progress-bar",
    "--log-every", "1", "--checkpoint-every", "1",
]  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("record")
    SyntheticPairs(4, size=32, seed=0).write(root / "train")
    folder = root / "runs" / "a"
    code = main(["train", "--data", str(root / "train"), "--direction", "BtoA",
                 "--output", str(folder), "--max-steps", "2", "--lr", "1e-3", *TINY])  # fmt: skip
    assert code == 0
    return root, folder


def test_run_config_records_data_models_and_trainer(run):
    _, folder = run
    record = json.loads((folder / "run_config.json").read_text())
    assert record["generator"]["model_type"] == "UNetGenerator"
    assert record["generator"]["base_channels"] == 4 and record["generator"]["num_downs"] == 5
    assert record["discriminator"]["n_layers"] == 2
    assert record["data"]["train"]["direction"] == "BtoA"
    assert record["data"]["train"]["crop_size"] == 32
    assert record["data"]["train"]["root"].endswith("train") and record["data"]["val"] is None
    assert record["trainer"]["lr"] == 1e-3
    assert (record["format"], record["trainer_class"], record["callbacks"]) == (2, "Trainer", [])


def test_config_run_config_reproduces_the_models_and_settings(run, tmp_path):
    root, folder = run
    new = tmp_path / "b"
    code = main(["train", "--config", str(folder / "run_config.json"), "--data",
                 str(root / "train"), "--output", str(new), "--no-check-data"])  # fmt: skip
    assert code == 0
    old, again = load_pretrained(folder / "final"), load_pretrained(new / "final")
    assert old.config == again.config
    record = json.loads((new / "run_config.json").read_text())
    assert record["trainer"]["lr"] == 1e-3 and record["data"]["train"]["direction"] == "BtoA"
    assert json.loads((new / "final" / "config.json").read_text())["inference"]["crop_size"] == 32


def test_config_run_config_refuses_model_flags(run, tmp_path):
    root, folder = run
    code = main(["train", "--config", str(folder / "run_config.json"), "--data",
                 str(root / "train"), "--output", str(tmp_path / "c"), "--base-channels", "8"])  # fmt: skip
    assert code == 2
    assert not (tmp_path / "c").exists()


def test_resume_refuses_changed_settings_listing_each(run, capsys):
    _, folder = run
    code = main(["train", "--resume", str(folder), "--lr", "0.001", "--beta1", "0.9",
                 "--generator", "resnet_9blocks", "--base-channels", "32"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "--beta1: 0.5 -> 0.9" in err
    assert "--generator: 'unet_128' -> 'resnet_9blocks'" in err
    assert "--base-channels: 4 -> 32" in err
    assert "--lr" not in err  # 0.001 is the run's own lr: no difference
    assert err.count("\n") == 1  # one line
    assert recorded_config(folder).beta1 == 0.5  # nothing written


def test_resume_applies_safe_changes_and_named_checkpoints(run):
    _, folder = run
    first = ckpt.list_checkpoints(folder)[0]
    assert first.name == "step-000001"
    # a named checkpoint resumes from itself, not from the run's newest one
    assert main(["train", "--resume", str(first), "--max-steps", "3", "--log-every", "2"]) == 0
    assert [p.name for p in ckpt.list_checkpoints(folder)][-1] == "step-000003"
    saved = recorded_config(folder)
    assert (saved.max_steps, saved.log_every, saved.lr) == (3, 2, 1e-3)


def test_a_damaged_run_config_is_refused_in_one_line(tmp_path, capsys):
    broken = tmp_path / "broken.json"
    broken.write_text("[1]")
    code = main(["train", "--config", str(broken), "--data", "x", "--output", str(tmp_path / "d")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "broken.json must hold a JSON object, not list" in err


def test_resume_recovers_a_damaged_run_config_from_the_checkpoint(run, caplog):
    _, folder = run
    latest = ckpt.list_checkpoints(folder)[-1]
    assert (latest / "run_config.json").is_file()  # every checkpoint keeps a copy
    (folder / "run_config.json").write_text("")
    assert main(["train", "--resume", str(folder), "--max-steps", "4"]) == 0
    assert f"using the copy in {latest}" in caplog.text
    # the resumed run writes its record again
    assert json.loads((folder / "run_config.json").read_text())["trainer"]["max_steps"] == 4


def test_fit_resume_refuses_a_changed_config(tmp_path):
    from pix2pix import PatchGANDiscriminator, Trainer, UNetGenerator

    def build(**changes):
        settings = {"device": "cpu", "progress_bar": False, "output_dir": str(tmp_path)}
        config = TrainerConfig(**{**settings, "max_steps": 1, **changes})
        data = SyntheticPairs(2, size=32)
        return Trainer(UNetGenerator(base_channels=4, num_downs=5),
                       PatchGANDiscriminator(base_channels=4), config, data)  # fmt: skip

    build().fit()
    with pytest.raises(ValueError, match=r"batch_size: 1 -> 2.*seed: 0 -> 3"):
        build(batch_size=2, seed=3, max_steps=2).fit(resume_from="latest")
    build(max_steps=2).fit(resume_from="latest")  # max_steps may change


@pytest.mark.parametrize("field", ["lr", "beta1", "lambda_l1", "ema_decay"])
@pytest.mark.parametrize("value", [math.inf, math.nan])
def test_config_refuses_non_finite_numbers(field, value):
    with pytest.raises(ValueError, match=f"{field}=.*finite"):
        TrainerConfig(**{field: value})
