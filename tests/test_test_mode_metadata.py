"""A trained model records its test mode: the run's own, else eval; `pix2pix train` states one for
every run: --test-mode, else the preset's, else the one --config's run recorded, else paper (issue 31)."""

import json

import pytest
import torch

from pix2pix import Translator
from pix2pix.cli import main
from pix2pix.data import SyntheticPairs
from pix2pix.inference.modes import TEST_MODES
from pix2pix.presets import get_preset, preset_names
from pix2pix.trainer import Trainer

from helpers import make_data, tiny_config, tiny_models


def _trainer(tmp_path, **run_info):
    trainer = Trainer(*tiny_models(num_downs=6), tiny_config(tmp_path), make_data(2, size=64))
    trainer.run_info.update(run_info)
    return trainer


def test_every_preset_names_a_test_mode():
    for name in preset_names():
        assert get_preset(name)["test_mode"] in TEST_MODES, name
    # measured against eval on facades (docs/src/results.md): the paper's own test mode
    assert get_preset("paper")["test_mode"] == "paper"
    # the variants keep the paper's (only the paper's was measured)
    paper = get_preset("paper")["test_mode"]
    assert all(get_preset(name)["test_mode"] == paper for name in preset_names())


def test_the_run_s_mode_else_eval(tmp_path):
    assert _trainer(tmp_path).inference_metadata()["test_mode"] == "eval"
    # a preset's name is a record; the command line turns it into a test mode, the trainer not
    assert _trainer(tmp_path, preset="paper").inference_metadata()["test_mode"] == "eval"
    for mode in TEST_MODES:
        trainer = _trainer(tmp_path, preset="paper", test_mode=mode)
        assert trainer.inference_metadata()["test_mode"] == mode
    with pytest.raises(ValueError, match=r"run_info\[.test_mode.\]='noisy' is not a test mode"):
        _trainer(tmp_path, test_mode="noisy").inference_metadata()


def test_the_saved_model_is_translated_in_its_recorded_mode(tmp_path):
    trainer = _trainer(tmp_path, test_mode="paper")
    folder = trainer.save_pretrained(tmp_path / "final")
    config = json.loads((folder / "config.json").read_text())
    assert config["inference"]["test_mode"] == "paper"
    translator = Translator.from_pretrained(folder, device="cpu")
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    assert translator.test_mode == "paper"
    assert torch.equal(translator(x), translator(x, test_mode="paper", seed=0))


def _train(tmp_path, output, *flags):
    data = tmp_path / "data"
    if not data.exists():
        SyntheticPairs(2, size=32).write(data)
    args = ["train", "--data", str(data), "--output", str(tmp_path / output), *flags]
    args += ["--max-steps", "1", "--no-progress-bar"]
    if "--config" not in flags:
        args += ["--num-downs", "5", "--base-channels", "4", "--disc-channels", "4"]
        args += ["--load-size", "36", "--crop-size", "32"]
    assert main(args) == 0
    config = json.loads((tmp_path / output / "final" / "config.json").read_text())
    return config["inference"]["test_mode"]


def test_pix2pix_train_records_a_test_mode_for_every_run(tmp_path):
    # the defaults are the paper's recipe, translated as the canonical test.py does
    assert _train(tmp_path, "plain") == "paper"
    assert _train(tmp_path, "preset", "--preset", "paper") == get_preset("paper")["test_mode"]
    assert _train(tmp_path, "eval", "--preset", "paper", "--test-mode", "eval") == "eval"
    record = json.loads((tmp_path / "eval" / "run_config.json").read_text())
    assert record["info"]["preset"] == "paper"
    # a run started from another's record keeps its recipe's facts, unless told otherwise
    config = str(tmp_path / "eval" / "run_config.json")
    assert _train(tmp_path, "again", "--config", config) == "eval"
    record = json.loads((tmp_path / "again" / "run_config.json").read_text())
    assert record["info"]["preset"] == "paper"
    assert _train(tmp_path, "again-paper", "--config", config, "--test-mode", "paper") == "paper"


def test_a_resume_may_change_the_recorded_test_mode(tmp_path):
    assert _train(tmp_path, "run") == "paper"
    args = ["train", "--resume", str(tmp_path / "run"), "--max-steps", "2", "--test-mode", "eval"]
    assert main([*args, "--no-progress-bar"]) == 0
    config = json.loads((tmp_path / "run" / "final" / "config.json").read_text())
    assert config["inference"]["test_mode"] == "eval"


def test_test_mode_on_a_finished_run_is_refused_not_ignored(tmp_path, capsys):
    """It would reach no model: the run saves nothing again (reviewer)."""
    assert _train(tmp_path, "run") == "paper"
    capsys.readouterr()
    args = ["train", "--resume", str(tmp_path / "run"), "--test-mode", "eval"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "finished at step 1 and saves no model again" in err
    assert "final/config.json" in err
    config = json.loads((tmp_path / "run" / "final" / "config.json").read_text())
    assert config["inference"]["test_mode"] == "paper"


def test_a_resumed_run_that_names_only_its_preset_keeps_the_preset_s_mode(tmp_path):
    assert _train(tmp_path, "run", "--preset", "paper") == "paper"
    record = json.loads((tmp_path / "run" / "run_config.json").read_text())
    record["info"].pop("test_mode")
    (tmp_path / "run" / "run_config.json").write_text(json.dumps(record))
    args = ["train", "--resume", str(tmp_path / "run"), "--max-steps", "2", "--no-progress-bar"]
    assert main(args) == 0
    config = json.loads((tmp_path / "run" / "final" / "config.json").read_text())
    assert config["inference"]["test_mode"] == get_preset("paper")["test_mode"]


def test_a_config_record_with_a_bad_test_mode_is_refused_naming_the_file(tmp_path, capsys):
    assert _train(tmp_path, "run") == "paper"
    path = tmp_path / "run" / "run_config.json"
    record = json.loads(path.read_text())
    record["info"]["test_mode"] = "stochastic"
    path.write_text(json.dumps(record))
    capsys.readouterr()
    args = ["train", "--data", str(tmp_path / "data"), "--output", str(tmp_path / "new")]
    assert main([*args, "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: info[\"test_mode\"]='stochastic' is not a test mode" in err
