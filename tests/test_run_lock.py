"""One run per run folder: the lock a run holds for its whole life (issue 12.2)."""

import errno
import json
import multiprocessing
import os
import socket
import subprocess
import sys

import pytest
import torch

from pix2pix.cli import main
from pix2pix.data import SyntheticPairs
from pix2pix.trainer import Callback, Trainer
from pix2pix.trainer.lock import LOCK_NAME, RunLock, RunLockedError, read_holder

from helpers import make_data, tiny_config, tiny_models

FORK = multiprocessing.get_context("fork")


def _hold(folder, ready, release):
    with RunLock(folder):
        ready.set()
        release.wait(60)


@pytest.fixture
def holder(tmp_path):
    """Another process holding ``tmp_path / "run"``; yields its PID."""
    ready, release = FORK.Event(), FORK.Event()
    process = FORK.Process(target=_hold, args=(tmp_path / "run", ready, release))
    process.start()
    assert ready.wait(60)
    yield process.pid
    release.set()
    process.join(60)


def test_a_second_run_is_refused_and_touches_nothing(tmp_path, holder):
    run = tmp_path / "run"
    # the holder's save in progress, which a second run used to delete as "stale"
    in_progress = run / "checkpoints" / f".step-000004.tmp-{holder}"
    in_progress.mkdir(parents=True)
    trainer = Trainer(*tiny_models(), tiny_config(tmp_path, max_steps=1), make_data(2))
    with pytest.raises(RunLockedError) as info:
        trainer.fit()
    message = str(info.value)
    assert str(run) in message and f"process {holder} on host {socket.gethostname()}" in message
    assert in_progress.is_dir()
    assert not (run / "run_config.json").exists() and not (run / "metrics.jsonl").exists()
    assert read_holder(run)["pid"] == holder  # the record is the holder's, not overwritten


def test_the_cli_says_so_in_one_line(tmp_path, holder, capsys):
    SyntheticPairs(2, size=32, seed=0).write(tmp_path / "train")
    code = main(["train", "--data", str(tmp_path / "train"), "--output", str(tmp_path / "run"),
                 "--generator", "unet_128", "--num-downs", "5", "--base-channels", "4",
                 "--load-size", "32", "--crop-size", "32", "--max-steps", "1",
                 "--no-check-data", "--no-progress-bar", "--device", "cpu"])  # fmt: skip
    assert code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "in use by another training run" in errors[0]
    assert f"process {holder}" in errors[0]
    assert not (tmp_path / "run" / "run_config.json").exists()


def test_held_for_the_whole_run_and_released(tmp_path):
    seen = []

    class Look(Callback):
        def on_step_end(self, trainer, losses):
            seen.append(read_holder(trainer.config.output_dir))

    config = tiny_config(tmp_path, max_steps=2)
    Trainer(*tiny_models(), config, make_data(4), callbacks=[Look()]).fit()
    assert [h["pid"] for h in seen] == [os.getpid()] * 2
    assert seen[0]["host"] == socket.gethostname() and isinstance(seen[0]["started"], float)
    assert not (tmp_path / "run" / LOCK_NAME).exists()


def test_released_when_the_run_fails(tmp_path):
    class Fail(Callback):
        def on_step_end(self, trainer, losses):
            raise ValueError("boom")

    trainer = Trainer(*tiny_models(), tiny_config(tmp_path), make_data(4), callbacks=[Fail()])
    with pytest.raises(ValueError, match="boom"):
        trainer.fit()
    with RunLock(tmp_path / "run"):  # free again
        pass


def test_a_dead_process_lock_is_taken_over_with_a_message(tmp_path, caplog):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run = tmp_path / "run"
    run.mkdir()
    record = {"pid": dead.pid, "host": socket.gethostname(), "started": 1.0}
    (run / LOCK_NAME).write_text(json.dumps(record))  # left by a kill -9
    with caplog.at_level("WARNING"):
        Trainer(*tiny_models(), tiny_config(tmp_path, max_steps=1), make_data(2)).fit()
    assert f"Taking over the lock of {run} from process {dead.pid}" in caplog.text
    assert (run / "final").is_dir()


def test_a_lock_from_another_host_is_never_taken(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    record = {"pid": 4242, "host": "gpu-node-7", "started": 1.0}
    (run / LOCK_NAME).write_text(json.dumps(record))
    trainer = Trainer(*tiny_models(), tiny_config(tmp_path, max_steps=1), make_data(2))
    with pytest.raises(RunLockedError) as info:
        trainer.fit()
    message = str(info.value)
    assert "process 4242 on host gpu-node-7" in message
    assert f"delete {run / LOCK_NAME}" in message  # the documented way to clear it
    assert json.loads((run / LOCK_NAME).read_text()) == record
    assert not (run / "run_config.json").exists()
    (run / LOCK_NAME).unlink()  # as documented
    assert trainer.fit() == run / "final"


def test_reentrant_in_one_process_exclusive_across(tmp_path):
    with RunLock(tmp_path) as outer:
        with RunLock(tmp_path):
            pass
        assert outer.held and (tmp_path / LOCK_NAME).exists()
        result = FORK.Queue()

        def other():
            try:
                RunLock(tmp_path).acquire()
                result.put("acquired")
            except RunLockedError as error:
                result.put(str(error))

        child = FORK.Process(target=other)
        child.start()
        child.join(60)
        assert "in use by another training run" in result.get(timeout=5)
    assert not (tmp_path / LOCK_NAME).exists()


def _rank(rank, port, run, results):
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
        WORLD_SIZE="2", LOCAL_WORLD_SIZE="2",
    )  # fmt: skip
    from pix2pix.trainer.distributed import cleanup_distributed

    torch.set_num_threads(1)  # OpenMP's pool does not survive a fork (DataLoader does the same)
    seen = []

    class Look(Callback):
        def on_step_end(self, trainer, losses):
            seen.append(read_holder(run)["pid"])

    g, d = tiny_models(norm="instance", dropout=0.0)
    config = tiny_config(run.parent, output_dir=str(run), max_steps=2)
    try:
        Trainer(g, d, config, make_data(8), callbacks=[Look()]).fit()
        results.put((rank, "trained", seen))
    except RunLockedError as error:
        results.put((rank, "refused", str(error)))
    finally:
        cleanup_distributed()


def _ddp(run):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    results = FORK.Queue()
    ranks = [FORK.Process(target=_rank, args=(r, port, run, results)) for r in (0, 1)]
    for process in ranks:
        process.start()
    outcome = dict((rank, rest) for rank, *rest in (results.get(timeout=120) for _ in ranks))
    for process in ranks:
        process.join(60)
    return ranks, outcome


def test_with_ddp_rank_0_holds_it(tmp_path):
    ranks, outcome = _ddp(tmp_path / "run")
    assert outcome[0][0] == outcome[1][0] == "trained"
    assert outcome[0][1] == outcome[1][1] == [ranks[0].pid] * 2  # rank 0's PID, all along
    assert not (tmp_path / "run" / LOCK_NAME).exists()


def test_with_ddp_a_held_folder_stops_every_rank(tmp_path, holder):
    _, outcome = _ddp(tmp_path / "run")  # no rank hangs waiting for the refused rank 0
    assert outcome[0][0] == outcome[1][0] == "refused"
    assert f"process {holder}" in outcome[0][1] and "Rank 0 could not take" in outcome[1][1]


def test_without_flock_the_record_decides(tmp_path, monkeypatch):
    """A file system that refuses flock (some NFS): a live recorded holder still blocks."""
    import fcntl

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    record = {"pid": os.getppid(), "host": socket.gethostname(), "started": 1.0}
    (tmp_path / LOCK_NAME).write_text(json.dumps(record))
    with pytest.raises(RunLockedError, match=f"process {os.getppid()} on host"):
        RunLock(tmp_path).acquire()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK_NAME).write_text(json.dumps({**record, "pid": dead.pid}))
    with RunLock(tmp_path):
        assert read_holder(tmp_path)["pid"] == os.getpid()
