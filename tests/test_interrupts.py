"""Ctrl-C at chosen moments: saves are never cut short; one right message names the way back.

Each test sends SIGINT to this process with ``os.kill`` from a hook at the moment it studies
(issue 12.4).
"""

import logging
import os
import signal
from pathlib import Path

import pytest

from pix2pix.cli import main
from pix2pix.data import SyntheticPairs
from pix2pix.models import load_pretrained
from pix2pix.trainer import Callback, Trainer
from pix2pix.trainer import checkpoint as ckpt
from pix2pix.trainer.checkpoint import layout
from pix2pix.trainer.step import EagerStep

from helpers import make_data, tiny_config, tiny_models

TINY = [
    "--generator", "unet_128", "--num-downs", "5", "--base-channels", "4",
    "--discriminator", "patchgan", "--n-layers-d", "2", "--disc-channels", "4",
    "--load-size", "32", "--crop-size", "32", "--device", "cpu", "--no-progress-bar",
    "--no-check-data", "--checkpoint-every", "2", "--no-flip",
]  # fmt: skip


def ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)


class CtrlCAt(Callback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, trainer, losses):
        if trainer.step == self.step:
            ctrl_c()


def ctrl_c_while_saving_state(monkeypatch, times=1):
    """Send ``times`` SIGINTs at the start of every trainer_state.pt write."""
    real = layout.save_state

    def save_state(path, state):
        for _ in range(times):
            ctrl_c()
        real(path, state)

    monkeypatch.setattr(layout, "save_state", save_state)


def interrupt_messages(caplog):
    return [r.getMessage() for r in caplog.records if "Interrupted" in r.getMessage()]


def test_second_ctrl_c_during_the_final_checkpoint_does_not_abort_it(tmp_path, monkeypatch):
    config = tiny_config(tmp_path, max_steps=5)
    trainer = Trainer(*tiny_models(), config, make_data(8), callbacks=[CtrlCAt(3)])
    ctrl_c_while_saving_state(monkeypatch)  # the second Ctrl-C, inside the final save
    assert trainer.fit() is None and trainer.interrupted and trainer.step == 3
    [saved] = ckpt.list_checkpoints(tmp_path / "run")
    assert saved.name == "step-000003" and ckpt.load_state(saved / "trainer_state.pt")["step"] == 3
    assert not list((tmp_path / "run" / "checkpoints").glob(".*"))  # no temporary left


def test_ctrl_c_during_the_final_export_finishes_it(tmp_path, monkeypatch):
    import pix2pix.trainer.checkpoint.contents as trainer_module

    real = trainer_module.save_model

    def save_model(model, folder, inference):
        ctrl_c()
        ctrl_c()  # twice: "stop at once" must not apply to a file half-written
        real(model, folder, inference)

    monkeypatch.setattr(trainer_module, "save_model", save_model)
    trainer = Trainer(*tiny_models(), tiny_config(tmp_path, max_steps=2), make_data(4))
    final = trainer.fit()
    assert final == tmp_path / "run" / "final" and not trainer.interrupted
    load_pretrained(final)  # complete


def test_three_ctrl_c_during_a_periodic_checkpoint(tmp_path, monkeypatch):
    config = tiny_config(tmp_path, max_steps=6, checkpoint_every=2)
    trainer = Trainer(*tiny_models(), config, make_data(8))
    ctrl_c_while_saving_state(monkeypatch, times=3)
    assert trainer.fit() is None and trainer.step == 2
    assert [p.name for p in ckpt.list_checkpoints(tmp_path / "run")] == ["step-000002"]


@pytest.fixture
def train_dir(tmp_path):
    SyntheticPairs(8, size=32, seed=0).write(tmp_path / "train")
    return tmp_path / "train"


def cli(train_dir, run, *extra):
    return main(["train", "--data", str(train_dir), "--output", str(run), "--max-steps", "6",
                 *TINY, *extra])  # fmt: skip


def test_cli_after_a_step_one_message_naming_checkpoint_and_command(
    tmp_path, train_dir, monkeypatch, caplog, capsys
):
    monkeypatch.setattr(Trainer, "on_step_end", lambda self, losses: self.step == 3 and ctrl_c())
    run = tmp_path / "run"
    with caplog.at_level(logging.INFO):
        assert cli(train_dir, run) == 130
    [message] = interrupt_messages(caplog)
    assert message == (
        f"Interrupted after step 3: the last checkpoint is {run / 'checkpoints' / 'step-000003'}; "
        f"resume with: pix2pix train --resume {run}"
    )
    assert "Stopped at step" not in caplog.text + capsys.readouterr().err


def test_cli_second_ctrl_c_inside_a_step_one_right_message(
    tmp_path, train_dir, monkeypatch, caplog, capsys
):
    real = EagerStep.generator_update

    def generator_update(self, *args, **kwargs):
        if self.trainer.step == 3:  # step 4 is under way: D has been updated, G not yet
            ctrl_c()
            ctrl_c()
        return real(self, *args, **kwargs)

    monkeypatch.setattr(EagerStep, "generator_update", generator_update)
    run = tmp_path / "run"
    with caplog.at_level(logging.INFO):
        assert cli(train_dir, run) == 130
    [message] = interrupt_messages(caplog)
    assert message.startswith("Interrupted inside step 4; not checkpointing a half-done step")
    assert f"the last checkpoint is {run / 'checkpoints' / 'step-000002'}" in message
    assert message.endswith(f"resume with: pix2pix train --resume {run}")
    assert "Stopped at step" not in caplog.text + capsys.readouterr().err
    monkeypatch.undo()
    assert main(["train", "--resume", str(run), "--no-progress-bar"]) == 0
    assert ckpt.list_checkpoints(run)[-1].name == "step-000006"


def _children():
    pid = os.getpid()
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(p) for p in text]
    return found


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc")
def test_with_workers_the_message_comes_once(tmp_path):
    """A terminal's Ctrl-C reaches the workers too; they must neither speak nor decide."""
    log = tmp_path / "log.txt"
    handler = logging.FileHandler(log)  # forked workers inherit it: their lines would land here
    trainer_logger = logging.getLogger("pix2pix.trainer.trainer")
    trainer_logger.addHandler(handler)
    trainer_logger.setLevel(logging.INFO)

    class GroupCtrlC(Callback):
        def on_step_end(self, trainer, losses):
            if trainer.step == 3:
                workers = _children()
                assert len(workers) >= 2
                for pid in workers:  # what the terminal does: the whole process group
                    os.kill(pid, signal.SIGINT)
                ctrl_c()

    try:
        config = tiny_config(tmp_path, max_steps=8, num_workers=2, checkpoint_every=0)
        trainer = Trainer(*tiny_models(), config, make_data(16), callbacks=[GroupCtrlC()])
        assert trainer.fit() is None and trainer.step == 3
    finally:
        trainer_logger.removeHandler(handler)
        handler.close()
    lines = log.read_text().splitlines()
    announced = [line for line in lines if line.startswith("Interrupt:")]
    # once, from the main process (the workers' copies knew only the step at their fork)
    assert announced == [
        "Interrupt: stopping, then saving a checkpoint (Ctrl-C again to stop at once)."
    ], lines
    assert len([line for line in lines if line.startswith("Interrupted after step 3")]) == 1


def test_cli_ctrl_c_outside_the_window_still_names_the_way_back(
    tmp_path, train_dir, monkeypatch, capsys
):
    run = tmp_path / "run"
    assert main(["train", "--data", str(train_dir), "--output", str(run), "--max-steps", "2",
                 *TINY]) == 0  # fmt: skip

    def on_train_start(self):
        raise KeyboardInterrupt  # e.g. while the checkpoint is loaded, before the loop

    monkeypatch.setattr(Trainer, "on_train_start", on_train_start)
    assert main(["train", "--resume", str(run), "--max-steps", "4", "--no-progress-bar"]) == 130
    err = capsys.readouterr().err
    assert err.count("interrupted") == 1
    assert (
        f"pix2pix train: interrupted; the last checkpoint is {run / 'checkpoints' / 'step-000002'}"
        f"; continue with: pix2pix train --resume {run}"
    ) in err
