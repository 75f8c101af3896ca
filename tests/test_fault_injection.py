"""Fault injection: kills, full disks and a second run never cost more than the last step.

* SIGKILL of a training process (forked from this one, so no interpreter start-up per kill) at
  chosen moments (inside a step, while writing a checkpoint, before its rename, while pruning,
  while exporting, between the renames that replace ``final/``) and, in the slow part, at
  random moments. After every kill each remaining checkpoint is complete or absent, ``final/``
  is complete or absent, and the resumed run ends with the uninterrupted run's weights
  (``torch.equal``; fp32, CPU, ``num_workers=0``).
* ENOSPC injected into every writer (the writers of :mod:`pix2pix._files`, ``torch.save``,
  safetensors' ``save_file``): the previous checkpoint stays intact, no temporary is left,
  and the CLI says so in one line.
* Two runs started together on one folder: one trains, the other is refused.
"""

import errno
import hashlib
import multiprocessing
import os
import random
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest
import safetensors.torch
import torch
from safetensors.torch import load_file

import pix2pix._files
from pix2pix.cli import main
from pix2pix.data import SyntheticPairs
from pix2pix.models import load_pretrained
from pix2pix.trainer import Callback, Trainer
from pix2pix.trainer import checkpoint as ckpt
from pix2pix.trainer.errors import RunFolderWriteError
from pix2pix.trainer.lock import RunLockedError
from pix2pix.trainer.step import EagerStep

from helpers import make_data, tiny_config, tiny_models

FORK = multiprocessing.get_context("fork")
MAX_STEPS = 8  # 6 items at batch 2: three steps an epoch, so resumes cross epoch boundaries
REFUSED = 3  # exit code of a child refused by the lock


def config(run, **changes):
    values = dict(epochs=2, max_steps=MAX_STEPS, checkpoint_every=1, keep_checkpoints=2)
    values.update(ema_decay=0.9)
    return tiny_config(run.parent, output_dir=str(run), **{**values, **changes})


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def _install_kill(point, step):
    """In the child: SIGKILL this process at ``point`` (around step ``step``)."""
    from pix2pix.models import base
    from pix2pix.trainer.checkpoint import layout

    if point == "inside-step":
        real_g = EagerStep.generator_update

        def generator_update(self, *args, **kwargs):
            if self.trainer.step + 1 == step:  # D is updated, G not yet
                die()
            return real_g(self, *args, **kwargs)

        EagerStep.generator_update = generator_update
    elif point == "writing-state":
        real_save = layout.save_state

        def save_state(path, state):
            if state["step"] == step:
                Path(path).write_bytes(b"\x80half a pickle")
                die()
            real_save(path, state)

        layout.save_state = save_state
    elif point in ("before-rename", "between-final-renames"):
        real_rename = os.rename

        def rename(src, dst):
            name = Path(src).name
            if point == "before-rename" and name.startswith(f".{ckpt.checkpoint_name(step)}.tmp"):
                die()
            if point == "between-final-renames" and name == "final":
                real_rename(src, dst)  # the old final/ moved aside, the new one not yet in
                die()
            real_rename(src, dst)

        os.rename = rename
    elif point == "pruning":
        real_rmtree = shutil.rmtree

        def rmtree(path, *args, **kwargs):
            if ".old-" in Path(path).name:
                files = sorted(p for p in Path(path).rglob("*") if p.is_file())
                for file in files[: len(files) // 2]:
                    file.unlink()  # half deleted, like a kill inside rmtree
                die()
            real_rmtree(path, *args, **kwargs)

        shutil.rmtree = rmtree
    elif point == "exporting":
        real_save_file = base.save_file

        def save_file(tensors, filename, metadata=None):
            if ".final.tmp-" in str(filename):
                Path(filename).write_bytes(b"half")
                die()
            real_save_file(tensors, filename, metadata=metadata)

        base.save_file = save_file
    elif point is not None:
        raise ValueError(point)


def _child(run, point, step, start=None, export_only=False):
    torch.set_num_threads(1)  # OpenMP's pool does not survive a fork (DataLoader does the same)
    if point is not None:
        _install_kill(point, step)
    if start is not None:
        start.wait(60)
    if export_only:  # export the finished run's newest checkpoint again, over its final/
        trainer = Trainer(*tiny_models(), config(run), make_data(6))
        trainer.load_checkpoint(ckpt.list_checkpoints(run)[-1])
        trainer.save_pretrained(run / "final")
        return
    resume = "latest" if ckpt.list_checkpoints(run) else None
    try:
        # killed before its first checkpoint, the run starts again (moving its logs aside)
        trainer = Trainer(*tiny_models(), config(run), make_data(6))
        trainer.fit(resume_from=resume, overwrite=resume is None)
    except RunLockedError:
        sys.stdout.flush()
        os._exit(REFUSED)


def train_in_child(run, point=None, step=0, kill_after=None, export_only=False):
    """Train (resuming when there is a checkpoint) in a forked process; returns its exit code."""
    process = FORK.Process(target=_child, args=(run, point, step, None, export_only))
    process.start()
    if kill_after is not None:
        process.join(kill_after)
        if process.exitcode is None:
            os.kill(process.pid, signal.SIGKILL)
    process.join(120)
    assert process.exitcode is not None, "the training child hung"
    return process.exitcode


def assert_run_folder_sound(run):
    """Every checkpoint complete or absent; final/ complete or absent; temporaries aside."""
    folder = run / "checkpoints"
    steps = (
        sorted(p for p in folder.iterdir() if p.name.startswith("step-")) if folder.is_dir() else []
    )
    for path in steps:
        assert ckpt.layout.is_complete(path), f"{path} is incomplete"
        state = ckpt.load_state(path / "trainer_state.pt")
        assert state["step"] == int(path.name[5:])
        for model in ("generator", "discriminator", "ema"):
            load_file(path / model / "model.safetensors")
    assert ckpt.list_checkpoints(run) == steps
    if (run / "final").exists():
        load_pretrained(run / "final")  # config.json and weights, both whole


def weights(folder):
    return {
        f"{sub}/{k}": v
        for sub in ("generator", "discriminator", "ema")
        for k, v in load_file(folder / sub / "model.safetensors").items()
    }


def assert_same_weights(run, reference):
    last = ckpt.checkpoint_name(MAX_STEPS)
    a, b = weights(run / "checkpoints" / last), weights(reference / "checkpoints" / last)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    fa = load_file(run / "final" / "model.safetensors")
    fb = load_file(reference / "final" / "model.safetensors")
    assert fa.keys() == fb.keys() and all(torch.equal(fa[k], fb[k]) for k in fa)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    run = tmp_path_factory.mktemp("reference") / "run"
    assert train_in_child(run) == 0
    return run


# (kill point, step): each run of the chain dies at its point, the next one resumes
CHAIN = [
    ("inside-step", 2),
    ("writing-state", 3),
    ("before-rename", 4),
    ("pruning", 5),
    ("exporting", MAX_STEPS),
    (None, 0),  # a finished run without its export: exports only
]


def test_targeted_kills_leave_a_sound_folder_and_resume_bit_exactly(tmp_path, reference):
    run = tmp_path / "run"
    kills = 0
    for point, step in CHAIN:
        code = train_in_child(run, point, step)
        if point is None:
            assert code == 0
        else:
            assert code == -signal.SIGKILL, f"{point} at step {step} was not reached"
            kills += 1
        assert_run_folder_sound(run)
    assert kills == 5
    assert_same_weights(run, reference)
    leftovers = [p.name for p in run.rglob(".*")]
    assert leftovers == [], leftovers  # every temporary and trash folder was cleaned


def test_a_re_export_killed_between_its_renames_is_redone_on_resume(tmp_path, reference):
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    code = train_in_child(run, "between-final-renames", MAX_STEPS, export_only=True)
    assert code == -signal.SIGKILL, "the kill between the two renames was not reached"
    assert not (run / "final").exists()  # the old one aside, the new one not in
    assert_run_folder_sound(run)
    assert train_in_child(run) == 0  # the finished run only exports
    assert_same_weights(run, reference)
    assert [p.name for p in run.rglob(".*")] == []


def test_two_runs_started_together_one_is_refused(tmp_path, reference):
    run = tmp_path / "run"
    start = FORK.Event()
    children = [FORK.Process(target=_child, args=(run, None, 0, start)) for _ in range(2)]
    for child in children:
        child.start()
    start.set()
    for child in children:
        child.join(120)
    assert sorted(c.exitcode for c in children) == [0, REFUSED]
    assert_run_folder_sound(run)
    assert_same_weights(run, reference)  # the refused run changed nothing of the other's


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(5))
def test_random_kills(tmp_path, reference, seed):
    """SIGKILL at random moments until a run completes; the outcome is the uninterrupted one."""
    rng = random.Random(seed)
    run = tmp_path / "run"
    started = time.perf_counter()
    assert train_in_child(tmp_path / "timing") == 0
    duration = time.perf_counter() - started
    kills = tries = chains = 0
    while kills < 4 and tries < 20:
        code = train_in_child(run, kill_after=rng.uniform(0.02, 0.8) * duration)
        assert code in (0, -signal.SIGKILL)
        assert_run_folder_sound(run)
        kills += code == -signal.SIGKILL
        tries += 1
        if code == 0:  # it finished before its kill: check it, then start a fresh chain
            assert_same_weights(run, reference)
            chains += 1
            run = tmp_path / f"run-{chains}"
    assert train_in_child(run) == 0
    assert_run_folder_sound(run)
    assert_same_weights(run, reference)
    assert kills == 4
    print(f"random kills survived (seed {seed}): {kills} of {tries} runs")


# ------------------------------------------------------------------ ENOSPC in every writer
def _enospc(path):
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def _failing(name, real):
    """A writer that fails like a full disk: part of the data written, then ENOSPC."""
    if name == "atomic_write":
        return lambda final, write: real(final, lambda tmp: _partial_then_fail(tmp))
    if name == "atomic_write_text":
        return lambda final, text: pix2pix._files.atomic_write(final, _partial_then_fail)
    if name == "atomic_directory":

        def directory(folder, write):
            def half(tmp):
                (Path(tmp) / "partial").write_bytes(b"x")
                raise _enospc(tmp)

            return real(folder, half)

        return directory
    if name == "torch.save":
        return lambda obj, f, *a, **k: _partial_then_fail(f)
    if name == "save_file":
        return lambda tensors, filename, metadata=None: _partial_then_fail(filename)
    raise ValueError(name)


def _partial_then_fail(path):
    Path(path).write_bytes(b"\x00" * 100)
    raise _enospc(path)


WRITERS = ["atomic_write", "atomic_write_text", "atomic_directory", "torch.save", "save_file"]


def inject_enospc(monkeypatch, name):
    """Replace writer ``name`` everywhere pix2pix reaches it; returns the arming switch."""
    armed = {"on": False}
    if name == "torch.save":
        owners, real = [torch], torch.save
    elif name == "save_file":
        owners, real = [safetensors.torch], safetensors.torch.save_file
    else:
        owners, real = [pix2pix._files], getattr(pix2pix._files, name)
    owners += [m for n, m in list(sys.modules.items()) if n.startswith("pix2pix") and m]
    failing = _failing(name, real)

    def writer(*args, **kwargs):
        return (failing if armed["on"] else real)(*args, **kwargs)

    attr = name.split(".")[-1]
    for owner in owners:
        if getattr(owner, attr, None) is real:
            monkeypatch.setattr(owner, attr, writer)
    return armed


def digest(folder):
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("writer", WRITERS)
def test_enospc_in_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch, writer):
    armed = inject_enospc(monkeypatch, writer)
    saved = {}

    class ArmAfterFirst(Callback):
        def on_checkpoint(self, trainer, path):
            saved["path"], saved["digest"] = path, digest(path)
            armed["on"] = True

    run = tmp_path / "run"
    trainer = Trainer(*tiny_models(), config(run), make_data(6), callbacks=[ArmAfterFirst()])
    with pytest.raises(RunFolderWriteError) as info:
        trainer.fit()
    message = str(info.value)
    assert "no space left" in message.lower() and "step-000001" in message
    assert "\n" not in message
    armed["on"] = False
    assert ckpt.list_checkpoints(run) == [saved["path"]]
    assert digest(saved["path"]) == saved["digest"]  # untouched
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step-000001"]
    assert not (run / "final").exists()
    resumed = Trainer(*tiny_models(), config(run, max_steps=2), make_data(6))
    assert resumed.fit(resume_from="latest") == run / "final"


def test_torchs_own_full_disk_message_names_the_file_and_the_way_on(tmp_path, monkeypatch):
    """torch.save on a full disk says "[enforce fail at inline_container.cc:672] . unexpected
    pos": the user gets the file, the last good checkpoint and the resume command instead."""
    from pix2pix.trainer.checkpoint import layout

    real = torch.save

    def full_disk(obj, f, *args, **kwargs):
        if "step-000002" in str(f):
            Path(f).write_bytes(b"\x00" * 100)
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")
        return real(obj, f, *args, **kwargs)

    monkeypatch.setattr(layout.torch, "save", full_disk)
    run = tmp_path / "run"
    trainer = Trainer(*tiny_models(), config(run, checkpoint_every=1), make_data(6))
    trainer.resume_hint = f"pix2pix train --resume {run}"
    with pytest.raises(RunFolderWriteError) as info:
        trainer.fit()
    message = str(info.value)
    assert f"Could not write {run / 'checkpoints' / 'step-000002' / 'trainer_state.pt'}" in message
    assert "no space left on the device" in message and "enforce fail" not in message
    assert f"the last checkpoint is {run / 'checkpoints' / 'step-000001'}" in message
    assert f"resume with: pix2pix train --resume {run}" in message and "\n" not in message
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step-000001"]


@pytest.mark.parametrize("writer", ["atomic_write", "atomic_directory", "save_file"])
def test_enospc_in_the_export_keeps_the_previous_final(tmp_path, monkeypatch, writer):
    run = tmp_path / "run"
    Trainer(*tiny_models(), config(run, max_steps=2), make_data(6)).fit()
    before = digest(run / "final")
    armed = inject_enospc(monkeypatch, writer)

    class ArmAtTheEnd(Callback):
        def on_checkpoint(self, trainer, path):
            armed["on"] = trainer.step == 3

    trainer = Trainer(*tiny_models(), config(run, max_steps=3), make_data(6), None, [ArmAtTheEnd()])
    with pytest.raises(RunFolderWriteError, match="(?i)no space left"):
        trainer.fit(resume_from="latest")
    assert digest(run / "final") == before
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    SyntheticPairs(6, size=32, seed=0).write(root / "train")
    return root


TINY = [
    "--generator", "unet_128", "--num-downs", "5", "--base-channels", "4",
    "--discriminator", "patchgan", "--n-layers-d", "2", "--disc-channels", "4",
    "--load-size", "32", "--crop-size", "32", "--device", "cpu", "--no-progress-bar",
    "--no-check-data", "--checkpoint-every", "1",
]  # fmt: skip


def one_error_line(capsys):
    lines = [line for line in capsys.readouterr().err.splitlines() if "error" in line.lower()]
    assert len(lines) == 1, lines
    return lines[0]


def test_cli_enospc_during_training_is_one_line(cli_run, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    armed = inject_enospc(monkeypatch, "torch.save")
    monkeypatch.setattr(Trainer, "on_checkpoint", lambda self, path: armed.update(on=True))
    args = ["train", "--data", str(cli_run / "train"), "--output", str(run), "--max-steps", "3"]
    assert main([*args, *TINY]) == 2
    line = one_error_line(capsys)
    assert line.startswith("pix2pix train: error: Could not write")
    assert "no space left" in line.lower() and f"pix2pix train --resume {run}" in line
    assert [p.name for p in ckpt.list_checkpoints(run)] == ["step-000001"]


def test_cli_enospc_writing_the_run_record_is_one_line(cli_run, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    args = ["train", "--data", str(cli_run / "train"), "--output", str(run), "--max-steps", "1"]
    assert main([*args, *TINY]) == 0
    record = (run / "run_config.json").read_bytes()
    armed = inject_enospc(monkeypatch, "atomic_write_text")
    armed["on"] = True
    assert main(["train", "--resume", str(run), "--max-steps", "2", "--no-progress-bar"]) == 2
    line = one_error_line(capsys)
    assert "run_config.json" in line and "no space left" in line.lower()
    assert (run / "run_config.json").read_bytes() == record
    assert [p.name for p in run.iterdir() if p.name.startswith(".")] == []


# ------------------------------------------------------------------ what a start cleans and checks
def test_an_incomplete_checkpoint_is_never_offered_and_is_cleaned(tmp_path, caplog):
    run = tmp_path / "run"
    Trainer(*tiny_models(), config(run, max_steps=3, keep_checkpoints=0), make_data(6)).fit()
    step2, step3 = run / "checkpoints" / "step-000002", run / "checkpoints" / "step-000003"
    (step3 / "generator" / "model.safetensors").unlink()  # e.g. a copy cut short
    (step2 / "trainer_state.pt").unlink()  # e.g. a deletion by an older version, killed
    assert [p.name for p in ckpt.list_checkpoints(run)] == ["step-000001"]
    assert ckpt.resolve_checkpoint("latest", run).name == "step-000001"
    trainer = Trainer(*tiny_models(), config(run, max_steps=3, keep_checkpoints=0), make_data(6))
    with caplog.at_level("WARNING"):
        trainer.fit(resume_from="latest")
    assert f"Removing {step3}: an incomplete checkpoint" in caplog.text
    assert [p.name for p in ckpt.list_checkpoints(run)] == [f"step-00000{i}" for i in (1, 2, 3)]
    assert_run_folder_sound(run)


def test_pruning_renames_before_deleting(tmp_path, monkeypatch):
    run = tmp_path / "run"
    Trainer(*tiny_models(), config(run, max_steps=2, keep_checkpoints=0), make_data(6)).fit()
    monkeypatch.setattr(shutil, "rmtree", lambda *a, **k: None)  # a kill before any deletion
    ckpt.layout.prune_checkpoints(run, 1)
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == [f".step-000001.old-{os.getpid()}", "step-000002"]  # whole, or moved away
    monkeypatch.undo()
    ckpt.layout.remove_stale_temporaries(run)
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step-000002"]


def test_final_as_a_file_is_found_before_training(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "final").write_text("not a folder")
    trainer = Trainer(*tiny_models(), config(run), make_data(6))
    with pytest.raises(FileExistsError, match="final is a file"):
        trainer.fit()
    assert trainer.step == 0 and not (run / "checkpoints").exists()


def test_leftovers_of_a_killed_export_are_cleaned_on_start(tmp_path):
    run = tmp_path / "run"
    (run / ".final.tmp-999999").mkdir(parents=True)
    (run / ".final.tmp-999999" / "model.safetensors").write_bytes(b"half")
    (run / ".final.old-999999").mkdir()
    (run / ".run_config.json.k2j3h4.tmp").write_text("{")
    Trainer(*tiny_models(), config(run, max_steps=1), make_data(6)).fit()
    assert sorted(p.name for p in run.iterdir() if p.name.startswith(".")) == []
    load_pretrained(run / "final")


def test_each_checkpoint_keeps_copies_of_the_run_level_json(cli_run, tmp_path):
    run = tmp_path / "run"
    args = ["train", "--data", str(cli_run / "train"), "--output", str(run), "--max-steps", "2"]
    assert main([*args, *TINY]) == 0
    for path in ckpt.list_checkpoints(run):
        assert (path / "run_config.json").read_bytes() == (run / "run_config.json").read_bytes()
    assert not list(run.rglob("trainer_config.json"))  # one record of the run
