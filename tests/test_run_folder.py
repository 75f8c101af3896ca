"""One run per folder (issue 22): a new run never mixes with an old one, a finished run says so,
and what can be refused cheaply is refused before the data check."""

import importlib.util
import json
import multiprocessing
import os
from pathlib import Path

import pytest

from pix2pix._extras import install_command
from pix2pix.cli import main
from pix2pix.data import SyntheticPairs
from pix2pix.trainer import Trainer
from pix2pix.trainer import checkpoint as ckpt
from pix2pix.trainer.lock import LOCK_NAME, RunLock
from pix2pix.trainer.run_folder import RunExistsError, find_run

from helpers import make_data, tiny_config, tiny_models

FORK = multiprocessing.get_context("fork")
TINY = [
    "--generator", "unet_128", "--num-downs", "5", "--base-channels", "4",
    "--discriminator", "patchgan", "--n-layers-d", "2", "--disc-channels", "4",
    "--load-size", "36", "--crop-size", "32", "--device", "cpu", "--no-progress-bar",
    "--log-every", "1", "--checkpoint-every", "1",
]  # fmt: skip
DATA_CHECK_HEADLINE = "file(s) decoded"  # what the pre-flight data check prints


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    SyntheticPairs(4, size=32, seed=0).write(root / "train")
    return root / "train"


def _train(data, run, *extra):
    return main(["train", "--data", str(data), "--output", str(run), *TINY, *extra])


def _snapshot(folder):
    """Every file under ``folder`` with its size and modification time."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _last_line(capsys):
    captured = capsys.readouterr()
    return captured, captured.err.strip().splitlines()[-1]


# ---------------------------------------------------------------- 22.1: one run per folder


def test_a_new_cli_run_into_a_folder_with_a_run_is_refused_before_the_data_check(
    data, tmp_path, capsys
):
    run = tmp_path / "run"
    assert _train(data, run, "--max-steps", "3") == 0
    before = _snapshot(run)
    capsys.readouterr()
    assert _train(data, run, "--max-steps", "1") == 2
    captured, line = _last_line(capsys)
    assert "already holds a run at step 3" in line
    assert f"pix2pix train --resume {run}" in line and "--overwrite" in line
    assert "new --output" in line
    assert DATA_CHECK_HEADLINE not in captured.out  # refused before the slow part
    assert _snapshot(run) == before  # nothing written, nothing interleaved


def test_overwrite_moves_the_old_run_aside_whole(data, tmp_path):
    run = tmp_path / "run"
    assert _train(data, run, "--max-steps", "3") == 0
    old_checkpoints = [p.name for p in ckpt.list_checkpoints(run)]
    assert _train(data, run, "--max-steps", "1", "--overwrite") == 0
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("run.old-")]
    assert len(aside) == 1
    assert [p.name for p in ckpt.list_checkpoints(aside[0])] == old_checkpoints
    assert [p.name for p in ckpt.list_checkpoints(run)] == ["step-000001"]
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").open()]
    assert steps == [1]  # only the new run's records
    # the interrupt message's command resumes the new run, not the old one
    assert main(["train", "--resume", str(run), "--max-steps", "2"]) == 0
    assert [p.name for p in ckpt.list_checkpoints(run)][-1] == "step-000002"


def test_an_existing_folder_without_a_run_is_fine(data, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("my experiment")
    assert find_run(run) is None
    assert _train(data, run, "--max-steps", "1") == 0
    assert (run / "notes.txt").read_text() == "my experiment"


def test_fit_refuses_a_folder_with_a_run_and_overwrite_moves_it(tmp_path):
    config = tiny_config(tmp_path, max_steps=2, checkpoint_every=1)
    assert Trainer(*tiny_models(), config, make_data(4)).fit() == tmp_path / "run" / "final"
    before = _snapshot(tmp_path / "run")
    with pytest.raises(RunExistsError, match="already holds a run at step 2") as info:
        Trainer(*tiny_models(), config, make_data(4)).fit()
    assert "fit(resume_from='latest')" in str(info.value)
    assert "overwrite=True" in str(info.value)
    assert _snapshot(tmp_path / "run") == before
    again = Trainer(*tiny_models(), config.replace(max_steps=1), make_data(4))
    assert again.fit(overwrite=True) == tmp_path / "run" / "final"
    assert [p.name for p in ckpt.list_checkpoints(tmp_path / "run")] == ["step-000001"]
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("run.old-")]
    assert [p.name for p in ckpt.list_checkpoints(aside[0])] == ["step-000001", "step-000002"]


def test_overwrite_in_the_current_folder_moves_the_run_beside_it(tmp_path, monkeypatch):
    """``output_dir="."``: the old run had no name to move to (a ValueError), and the folder's
    lock outlived the refusal, so every later run there was refused as busy."""
    work = tmp_path / "exp"
    (work / "data").mkdir(parents=True)
    (work / "data" / "0.png").write_bytes(b"the user's")
    (work / "train.py").write_text("# the user's script")
    monkeypatch.chdir(work)
    config = tiny_config(tmp_path, max_steps=1).replace(output_dir=".")
    Trainer(*tiny_models(), config, make_data(4)).fit()
    (work / "report.html").write_text("<html>")  # pix2pix report RUN: part of the run
    assert Trainer(*tiny_models(), config, make_data(4)).fit(overwrite=True) == Path("final")
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("exp.old-")]
    assert len(aside) == 1 and [c.name for c in ckpt.list_checkpoints(aside[0])] == ["step-000001"]
    assert (aside[0] / "report.html").is_file() and not (aside[0] / "data").exists()
    # only what a run writes moved: the user's data and script stay in the folder
    assert (work / "data" / "0.png").read_bytes() == b"the user's"
    assert (work / "train.py").read_text() == "# the user's script"


def test_a_refusal_of_any_kind_releases_the_folder(tmp_path, monkeypatch):
    from pix2pix.trainer import run_folder

    config = tiny_config(tmp_path, max_steps=1)
    Trainer(*tiny_models(), config, make_data(4)).fit()

    def fails(folder):
        raise ValueError("no name to move it to")

    monkeypatch.setattr(run_folder, "move_aside", fails)
    with pytest.raises(ValueError, match="no name to move it to"):
        Trainer(*tiny_models(), config, make_data(4)).fit(overwrite=True)
    monkeypatch.undo()
    # the lock was released (its file is gone), so another process may train there
    assert not (tmp_path / "run" / LOCK_NAME).exists()
    assert Trainer(*tiny_models(), config, make_data(4)).fit(resume_from="latest")


# ---------------------------------------------------------------- 22.2: a finished run


def test_resuming_a_finished_run_says_so_and_rewrites_nothing(data, tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(data, run, "--max-steps", "2") == 0
    before = _snapshot(run)
    capsys.readouterr()
    assert main(["train", "--resume", str(run)]) == 0
    captured = capsys.readouterr()
    last = captured.out.strip().splitlines()[-1]
    assert "finished at step 2" in last and "--max-steps M (M > 2)" in last
    assert "Done." not in captured.out + captured.err
    assert DATA_CHECK_HEADLINE not in captured.out
    assert _snapshot(run) == before  # final/ and everything else untouched
    # and a longer schedule trains further
    assert main(["train", "--resume", str(run), "--max-steps", "3"]) == 0
    assert [p.name for p in ckpt.list_checkpoints(run)][-1] == "step-000003"


def test_fit_on_a_finished_run_returns_its_model_untouched(tmp_path, caplog):
    config = tiny_config(tmp_path, max_steps=2, checkpoint_every=1)
    final = Trainer(*tiny_models(), config, make_data(4)).fit()
    before = _snapshot(final)
    with caplog.at_level("INFO"):
        again = Trainer(*tiny_models(), config, make_data(4)).fit(resume_from="latest")
    assert again == final and _snapshot(final) == before
    assert "finished at step 2" in caplog.text


def test_a_finished_run_killed_before_its_export_only_exports(tmp_path):
    config = tiny_config(tmp_path, max_steps=2, checkpoint_every=1)
    final = Trainer(*tiny_models(), config, make_data(4)).fit()
    for path in sorted(final.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    checkpoints = [p.name for p in ckpt.list_checkpoints(tmp_path / "run")]
    assert Trainer(*tiny_models(), config, make_data(4)).fit(resume_from="latest") == final
    assert (final / "model.safetensors").is_file()
    assert [p.name for p in ckpt.list_checkpoints(tmp_path / "run")] == checkpoints


# ---------------------------------------------------------------- 22.3: errors before anything slow


def _hold(folder, ready, release):
    with RunLock(folder):
        ready.set()
        release.wait(60)


@pytest.fixture
def holder(tmp_path):
    """Another process holding ``tmp_path / "run"``'s lock; yields its PID."""
    ready, release = FORK.Event(), FORK.Event()
    process = FORK.Process(target=_hold, args=(tmp_path / "run", ready, release))
    process.start()
    assert ready.wait(60)
    yield process.pid
    release.set()
    process.join(60)


def test_resume_of_an_active_run_names_the_process(tmp_path, holder, capsys):
    assert main(["train", "--resume", str(tmp_path / "run")]) == 2
    _, line = _last_line(capsys)
    assert "in use by another training run" in line and f"process {holder}" in line
    assert "No checkpoint" not in line


def test_a_busy_folder_is_refused_before_the_data_check(data, tmp_path, holder, capsys):
    assert _train(data, tmp_path / "run", "--max-steps", "1") == 2
    captured, line = _last_line(capsys)
    assert "in use by another training run" in line and f"process {holder}" in line
    assert DATA_CHECK_HEADLINE not in captured.out


@pytest.mark.parametrize("logger", ["tensorboard", "wandb"])
def test_a_missing_logger_package_is_one_line_before_the_data_check(
    data, tmp_path, capsys, monkeypatch, logger
):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == logger else real(name, *a)
    )
    assert _train(data, tmp_path / "run", "--max-steps", "1", "--logger", logger) == 2
    captured, line = _last_line(capsys)
    assert install_command(logger) in line and f"--logger {logger}" in line
    assert "Traceback" not in captured.err and DATA_CHECK_HEADLINE not in captured.out
    assert not (tmp_path / "run").exists()


def test_a_run_killed_before_its_first_checkpoint_says_how_to_start_again(data, tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(data, run, "--max-steps", "1") == 0
    for checkpoint in ckpt.list_checkpoints(run):  # as if killed before the first one
        for path in sorted(checkpoint.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        checkpoint.rmdir()
    assert main(["train", "--resume", str(run)]) == 2
    _, line = _last_line(capsys)
    assert "no checkpoint to resume from" in line and "--overwrite" in line


def test_the_lock_check_leaves_a_free_folder_free(tmp_path):
    from pix2pix.trainer.lock import ensure_free

    ensure_free(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()
    (tmp_path / "run").mkdir()
    ensure_free(tmp_path / "run")
    assert os.listdir(tmp_path / "run") == []


# ---------------------------------------------------------------- 27.1: no direction chosen silently


def test_a_run_without_direction_takes_the_datas_recorded_task_and_says_so(tmp_path, capsys):
    facades = tmp_path / "facades"
    SyntheticPairs(4, size=32, seed=0).write(facades / "train")
    (facades / ".pix2pix-dataset.json").write_text(json.dumps({"name": "facades"}))
    assert _train(facades / "train", tmp_path / "run", "--max-steps", "1") == 0
    out = capsys.readouterr().out
    assert "training BtoA (label map -> photo), the usual task that facades records" in out
    record = json.loads((tmp_path / "run" / "run_config.json").read_text())
    assert record["trainer"]["direction"] == "BtoA"
    assert record["data"]["train"]["direction"] == "BtoA"


def test_a_run_without_direction_on_unrecorded_data_says_which_half(data, tmp_path, capsys):
    assert _train(data, tmp_path / "run", "--max-steps", "1") == 0
    out = capsys.readouterr().out
    assert "training AtoB (A -> B" in out and "records no direction; pass --direction BtoA" in out
    assert _train(data, tmp_path / "other", "--max-steps", "1", "--direction", "BtoA") == 0
    assert "records no direction" not in capsys.readouterr().out  # a given direction is quiet


# ---------------------------------------------------------------- 27.2: a palette with the model


def _palette_of(run):
    return json.loads((run / "final" / "config.json").read_text())["inference"].get("palette")


def test_lossless_label_maps_record_their_colours_with_the_model(tmp_path, capsys):
    SyntheticPairs(4, size=32, seed=0).write(tmp_path / "labels")  # PNG label maps as B
    run = tmp_path / "run"
    assert _train(tmp_path / "labels", run, "--max-steps", "1", "--direction", "BtoA") == 0
    assert "the inputs are label maps of" in capsys.readouterr().out
    palette = _palette_of(run)
    assert palette and all(set(c) == {"name", "color"} for c in palette)
    colours = {tuple(c["color"]) for c in palette}
    from pix2pix.data.synthetic import LABEL_COLOURS

    assert colours <= {tuple(int(v) for v in c) for c in LABEL_COLOURS}
    # photos as inputs: no palette
    assert _train(tmp_path / "labels", tmp_path / "photos", "--max-steps", "1",
                  "--direction", "AtoB") == 0  # fmt: skip
    assert _palette_of(tmp_path / "photos") is None


def test_a_known_dataset_records_its_classes_and_a_file_overrides(tmp_path, capsys):
    facades = tmp_path / "facades"
    SyntheticPairs(4, size=32, seed=0).write(facades / "train")
    (facades / ".pix2pix-dataset.json").write_text(json.dumps({"name": "facades"}))
    assert _train(facades / "train", tmp_path / "run", "--max-steps", "1", "--no-check-data") == 0
    assert "recording facades's 12 label classes" in capsys.readouterr().out
    assert [c["name"] for c in _palette_of(tmp_path / "run")][:3] == [
        "background",
        "facade",
        "window",
    ]
    given = tmp_path / "palette.json"
    given.write_text(json.dumps([{"name": "sky", "color": [0, 0, 223]}]))
    assert (
        _train(facades / "train", tmp_path / "mine", "--max-steps", "1", "--palette", str(given))
        == 0
    )
    assert _palette_of(tmp_path / "mine") == [{"name": "sky", "color": [0, 0, 223]}]
    given.write_text(json.dumps([{"name": "sky", "color": [0, 0]}]))
    assert (
        _train(facades / "train", tmp_path / "bad", "--max-steps", "1", "--palette", str(given))
        == 2
    )
    assert "class 1's color is not three integers" in capsys.readouterr().err
