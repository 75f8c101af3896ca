"""BestCheckpoint and EarlyStopping: decisions on scripted metric sequences, then real runs."""

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from pix2pix import Translator
from pix2pix.cli import main
from pix2pix.trainer import BestCheckpoint, EarlyStopping, Trainer, TrainerConfig
from pix2pix.trainer.callbacks import load_callback
from pix2pix.trainer.monitoring import config_callbacks, metric_mode

from helpers import make_data, tiny_config, tiny_models


def config(tmp_path, **changes):
    """Four epochs of 2 steps, validated after every step (the scripted metric's cadence)."""
    return tiny_config(tmp_path, **{"epochs": 4, "epochs_decay": 0, "val_every": 1, **changes})


SCRIPT = {1: 0.50, 2: 0.40, 3: 0.45, 4: 0.30, 5: 0.35, 6: 0.32, 7: 0.31, 8: 0.33}


class ScriptedTrainer(Trainer):
    """Validation gives ``L1 = SCRIPT[step]``: the decisions below do not depend on training."""

    def validation_step(self, batch):
        n = batch["source"].shape[0]
        return {"L1": torch.full((n,), SCRIPT[self.step])}


# ------------------------------------------------------------------ decisions
def test_metric_mode():
    assert metric_mode("val/L1") == "min" and metric_mode("val/PSNR") == "max"
    assert metric_mode("val/SSIM") == "max" and metric_mode("val/L1", "max") == "max"
    with pytest.raises(ValueError, match="mode='best'"):
        metric_mode("val/L1", "best")


def test_best_k_decisions_on_a_scripted_sequence():
    best = BestCheckpoint(k=2, metric="val/L1")
    decisions = []
    for step, value in [(1, 0.5), (2, 0.4), (3, 0.6), (4, 0.3), (5, 0.45), (6, 0.4)]:
        kept, dropped = best.update(step, value)
        decisions.append((kept, [e["step"] for e in dropped]))
    assert decisions == [
        (True, []),  # fewer than k kept
        (True, []),
        (False, []),  # worse than both
        (True, [1]),  # 0.3 beats 0.5: step 1 drops out
        (False, []),  # 0.45 does not beat 0.4
        (False, []),  # a tie does not replace the earlier model
    ]
    assert [(e["step"], e["value"]) for e in best.kept] == [(4, 0.3), (2, 0.4)]
    assert best.kept[0]["path"] == "best/step-000004"
    psnr = BestCheckpoint(k=1, metric="val/PSNR")
    assert [psnr.update(s, v)[0] for s, v in [(1, 20.0), (2, 19.0), (3, 21.0)]] == [
        True,
        False,
        True,
    ]
    state = best.state_dict()
    restored = BestCheckpoint(k=2, metric="val/L1")
    restored.load_state_dict(state)
    assert restored.kept == best.kept
    other = BestCheckpoint(k=2, metric="val/PSNR")
    other.load_state_dict(state)  # another metric: the ranking does not carry over
    assert other.kept == []
    with pytest.raises(ValueError, match="k=0"):
        BestCheckpoint(k=0)


def test_early_stopping_decisions_with_patience_and_min_delta():
    stopper = EarlyStopping("val/L1", patience=2, min_delta=0.01)
    values = [1.0, 0.995, 0.98, 0.975, 0.99]
    assert [stopper.update(i, v) for i, v in enumerate(values)] == [
        False,  # first value: the best so far
        False,  # 0.995 is within min_delta of 1.0: not an improvement (1 of 2)
        False,  # 0.98 improves by 0.02: patience resets
        False,  # 0.975 is within min_delta of 0.98 (1 of 2)
        True,  # 0.99 is worse (2 of 2): stop
    ]
    assert (stopper.best, stopper.best_step, stopper.bad_validations) == (0.98, 2, 2)
    up = EarlyStopping("val/PSNR", patience=1)
    assert [up.update(i, v) for i, v in enumerate([20.0, 21.0, 21.0])] == [False, False, True]
    again = EarlyStopping("val/L1", patience=2, min_delta=0.01)
    again.load_state_dict(stopper.state_dict())
    assert (again.best, again.bad_validations) == (0.98, 2)
    with pytest.raises(ValueError, match="patience=0"):
        EarlyStopping(patience=0)


def test_config_fields_build_the_callbacks():
    assert config_callbacks(TrainerConfig()) == []
    built = config_callbacks(
        TrainerConfig(keep_best=3, best_metric="val/PSNR", early_stop_patience=4,
                      early_stop_min_delta=0.1)
    )  # fmt: skip
    assert [type(c).__name__ for c in built] == ["BestCheckpoint", "EarlyStopping"]
    assert (built[0].k, built[0].metric, built[0].mode) == (3, "val/PSNR", "max")
    assert (built[1].patience, built[1].min_delta, built[1].mode) == (4, 0.1, "max")
    with pytest.raises(ValueError, match="early_stop_patience=0"):
        TrainerConfig(early_stop_patience=0)
    with pytest.raises(ValueError, match="best_mode='up'"):
        TrainerConfig(best_mode="up")


# ------------------------------------------------------------------ real runs
def test_keep_best_and_early_stopping_in_a_real_run(tmp_path):
    cfg = config(tmp_path, keep_best=2, early_stop_patience=3, keep_checkpoints=1,
                 checkpoint_every=1)  # fmt: skip
    trainer = ScriptedTrainer(*tiny_models(), cfg, make_data(4), make_data(2, seed=1))
    final = trainer.fit()
    # L1 0.50 0.40 0.45 0.30 0.35 0.32 0.31: the best is step 4; 5, 6, 7 do not beat 0.30
    assert trainer.step == 7 and final is not None and (final / "config.json").is_file()
    run = Path(cfg.output_dir)
    index = json.loads((run / "best/best.json").read_text())
    assert [e["step"] for e in index["kept"]] == [4, 7]
    assert [e["value"] for e in index["kept"]] == pytest.approx([0.30, 0.31])
    assert sorted(p.name for p in (run / "best").iterdir()) == [
        "best.json",
        "step-000004",
        "step-000007",
    ]
    meta = json.loads((run / "best/step-000004/config.json").read_text())["inference"]
    assert meta["best"] == {"metric": "val/L1", "value": pytest.approx(0.3), "mode": "min",
                            "step": 4}  # fmt: skip
    assert meta["metrics"] == {"val/L1": pytest.approx(0.30)}
    Translator.from_pretrained(run / "best/step-000004")  # a usable model
    # checkpoint pruning never touches best/
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step-000007"]


def test_best_models_restored_on_resume_after_a_crash(tmp_path):
    cfg = config(tmp_path, keep_best=2, checkpoint_every=3, max_steps=6)
    ScriptedTrainer(*tiny_models(), cfg, make_data(4), make_data(2, seed=1)).fit()
    run = Path(cfg.output_dir)
    full = json.loads((run / "best/best.json").read_text())["kept"]
    assert [e["step"] for e in full] == [4, 6]
    # the crash: step 6's checkpoint was lost, best/ had been updated at steps 4 and 6
    shutil.rmtree(run / "checkpoints/step-000006")
    shutil.rmtree(run / "final")
    (run / "best/step-000006/marker").write_text("from the crashed run")
    # the checkpoint of step 3 restores the best-K list of step 3
    peek = ScriptedTrainer(*tiny_models(), cfg, make_data(4), make_data(2, seed=1))
    peek.load_checkpoint(run / "checkpoints/step-000003")
    assert [e["step"] for e in peek.callbacks[0].kept] == [2, 3]
    resumed = ScriptedTrainer(*tiny_models(), cfg, make_data(4), make_data(2, seed=1))
    resumed.fit(resume_from="latest")
    assert json.loads((run / "best/best.json").read_text())["kept"] == full
    assert not (run / "best/step-000006/marker").exists()  # rewritten by the redone step 6


def test_no_validation_data_warns(tmp_path, caplog):
    cfg = config(tmp_path, keep_best=1, max_steps=1)
    with caplog.at_level("WARNING"):
        Trainer(*tiny_models(), cfg, make_data(2)).fit()
    assert "never validates" in caplog.text


# ------------------------------------------------------------------ --callback
CALLBACK_SOURCE = """
from pathlib import Path
from pix2pix.trainer import Callback


class Marker(Callback):
    def on_train_start(self, trainer):
        with open(Path(trainer.config.output_dir) / "marker.txt", "a") as file:
            file.write(f"start {trainer.step}\\n")


class NotACallback:
    pass
"""


def test_load_callback_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "user_cbs.py").write_text(CALLBACK_SOURCE)
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert type(load_callback("user_cbs:Marker")).__name__ == "Marker"
    with pytest.raises(ValueError, match="not a pix2pix.trainer.Callback"):
        load_callback("user_cbs:NotACallback")
    with pytest.raises(ValueError, match="has no attribute 'Nope'"):
        load_callback("user_cbs:Nope")
    with pytest.raises(ValueError, match="cannot import"):
        load_callback("no_such_module_xyz:Marker")
    with pytest.raises(ValueError, match="use module:Class"):
        load_callback("Marker")
    # the module's own failure, found in the current folder too, is one line
    (tmp_path / "broken_cbs.py").write_text("class Marker(:\n")
    with pytest.raises(ValueError, match=r"importing broken_cbs failed: SyntaxError"):
        load_callback("broken_cbs:Marker")
    (tmp_path / "raising_cbs.py").write_text("raise RuntimeError('no token set')\n")
    with pytest.raises(ValueError, match=r"raising_cbs failed: RuntimeError: no token set"):
        load_callback("raising_cbs:Marker")


def test_cli_callback_is_recorded_and_attached_again_only_when_named(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "run_cbs.py").write_text(CALLBACK_SOURCE)
    data = tmp_path / "pairs"
    data.mkdir()
    for i in range(2):
        Image.new("RGB", (64, 32), (i * 60, 20, 200)).save(data / f"{i}.png")
    run = tmp_path / "run"
    common = ["--max-steps", "2", "--device", "cpu", "--no-progress-bar", "--no-check-data"]
    code = main(
        ["train", "--data", str(data), "--output", str(run), "--callback", "run_cbs:Marker",
         "--load-size", "32", "--crop-size", "32", "--generator", "unet_128", "--num-downs", "5",
         "--base-channels", "4", "--disc-channels", "4", "--sample-every", "0",
         "--val-every", "0", "--checkpoint-every", "1", "--license", "cc-by-4.0", *common]
    )  # fmt: skip
    assert code == 0
    record = json.loads((run / "run_config.json").read_text())
    assert record["callbacks"] == ["run_cbs:Marker"]
    card = (run / "final/README.md").read_text()
    assert 'license: "cc-by-4.0"' in card
    capsys.readouterr()
    # a run folder may come from someone else: its record never runs code by itself
    assert main(["train", "--resume", str(run), "--max-steps", "3", *common[2:]]) == 0
    assert (run / "marker.txt").read_text() == "start 0\n"
    out = capsys.readouterr().out
    assert "recorded the callbacks run_cbs:Marker" in out and "--trust-callbacks" in out
    # the record keeps it, so naming it again (or trusting the folder) attaches it
    assert json.loads((run / "run_config.json").read_text())["callbacks"] == ["run_cbs:Marker"]
    resume = ["train", "--resume", str(run), *common[2:]]
    assert main([*resume, "--max-steps", "4", "--callback", "run_cbs:Marker"]) == 0
    assert main([*resume, "--max-steps", "5", "--trust-callbacks"]) == 0
    assert (run / "marker.txt").read_text() == "start 0\nstart 3\nstart 4\n"


def test_a_recorded_callback_module_is_never_imported_on_resume(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    data = tmp_path / "pairs"
    data.mkdir()
    Image.new("RGB", (64, 32), (60, 20, 200)).save(data / "0.png")
    run = tmp_path / "run"
    common = ["--device", "cpu", "--no-progress-bar", "--no-check-data"]
    assert main(["train", "--data", str(data), "--output", str(run), "--max-steps", "1",
                 "--load-size", "32", "--crop-size", "32", "--generator", "unet_128",
                 "--num-downs", "5", "--base-channels", "4", "--disc-channels", "4",
                 "--checkpoint-every", "1", *common]) == 0  # fmt: skip
    # someone edits the record to name their module, whose import has a side effect
    (tmp_path / "evil.py").write_text("open('pwned', 'w').close()\n")
    record = json.loads((run / "run_config.json").read_text())
    record["callbacks"] = ["evil:Anything", "os:abort", "builtins:input"]
    (run / "run_config.json").write_text(json.dumps(record))
    assert main(["train", "--resume", str(run), "--max-steps", "2"]) == 0
    assert not (tmp_path / "pwned").exists()
    assert "evil:Anything, os:abort, builtins:input" in capsys.readouterr().out
    # named on the command line, a callback must be a Callback before anything of it is called
    assert main(["train", "--resume", str(run), "--max-steps", "3", "--callback", "os:abort"]) == 2
    assert "abort is not a pix2pix.trainer.Callback subclass" in capsys.readouterr().err
