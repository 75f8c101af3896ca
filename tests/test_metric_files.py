"""Damaged metric files never stop a run; a failed append names the file and leaves no half line."""

import csv
import errno
import json
import os
import resource
import shutil
import signal
from pathlib import Path

import pytest

from pix2pix._files import WriteError
from pix2pix.trainer import Trainer
from pix2pix.trainer.errors import RunFolderWriteError
from pix2pix.trainer.loggers import CSVLogger, JSONLLogger
from pix2pix.trainer.metric_files import (
    MAX_LINE_WARNINGS,
    append_text,
    read_csv_table,
    read_jsonl,
)

from helpers import make_data, tiny_models
from helpers import tiny_config as config

LOGGER = "pix2pix.trainer.metric_files"


def csv_rows(path):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def jsonl_steps(path):
    return [json.loads(line)["step"] for line in Path(path).read_text().splitlines()]


def warned_lines(caplog, path):
    """The line numbers the warnings name for ``path``."""
    found = []
    for record in caplog.records:
        message = record.getMessage()
        prefix = f"{path} line "
        if message.startswith(prefix):
            found.append(int(message[len(prefix) :].split(":")[0]))
    return found


# ------------------------------------------------------------------ damaged metrics.jsonl
DAMAGED_JSONL = (
    b'{"step": 1, "G_L1": 1.0}\n'
    b'{"step": "x"}\n'  # 2: a step that is no integer (was a raw TypeError on resume)
    b"not json at all\n"  # 3
    b"[1, 2]\n"  # 4: JSON, not an object
    b'{"step": 2, "G_L1": \xff\xfe}\n'  # 5: not UTF-8 (was a UnicodeDecodeError naming no file)
    b"\n"  # 6: blank, ignored without a warning
    b'{"step": 2, "G_L1": 2.0}\n'
    b'{"G_L1": 9.0}\n'  # 8: no step
    b'{"step": true}\n'  # 9: a bool is not a step
    b'{"step": 3, "G_L1": 3.0}\n'
    b'{"step": 4, "G_'  # 11: cut short by a crash
)


def test_resume_over_a_damaged_jsonl_skips_each_bad_line_with_a_warning(tmp_path, caplog):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(DAMAGED_JSONL)
    with caplog.at_level("WARNING", logger=LOGGER):
        logger = JSONLLogger(tmp_path, resume_step=2)
    assert warned_lines(caplog, path) == [2, 3, 4, 5, 8]
    assert f"{path} line 5: not UTF-8" in caplog.text
    logger.log_scalars(3, {"G_L1": 30.0})
    assert jsonl_steps(path) == [1, 2, 3]  # the damage and the steps after 2 are gone


def test_read_jsonl_names_every_damaged_line_up_to_a_limit(tmp_path, caplog):
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(DAMAGED_JSONL)
    with caplog.at_level("WARNING", logger=LOGGER):
        records = read_jsonl(path)
    assert [r["step"] for r in records] == [1, 2, 3]
    assert warned_lines(caplog, path) == [2, 3, 4, 5, 8]  # the first MAX_LINE_WARNINGS
    assert MAX_LINE_WARNINGS == 5
    assert f"{path}: 2 more damaged lines skipped" in caplog.text
    assert "cut short" not in caplog.text  # line 11's warning is in the count
    path.write_bytes(b'{"step": 1}\n{"step": 2, "G_')
    caplog.clear()
    with caplog.at_level("WARNING", logger=LOGGER):
        assert [r["step"] for r in read_jsonl(path)] == [1]
    assert f"{path} line 2: cut short" in caplog.text
    assert read_jsonl(tmp_path / "missing.jsonl") == []


# ------------------------------------------------------------------ damaged metrics.csv
DAMAGED_CSV = (
    b"step,G_L1\n"
    b"1,1.0\n"
    b"x,1.5\n"  # 3: a step that is no integer
    b"2,\xff\n"  # 4: not UTF-8 (was a UnicodeDecodeError naming no file)
    b"2,2.0\n"
    b"3,3.0,extra\n"  # 6: more cells than the header
    b"3,3.0\n"
    b"4,0."  # 8: cut short; it used to be kept as the value 0.
)


def test_csv_over_damage_keeps_the_good_rows_and_names_the_bad_lines(tmp_path, caplog):
    path = tmp_path / "metrics.csv"
    path.write_bytes(DAMAGED_CSV)
    with caplog.at_level("WARNING", logger=LOGGER):
        logger = CSVLogger(tmp_path)  # a new run appending: the damage goes at once
    assert sorted(warned_lines(caplog, path)) == [3, 4, 6, 8]
    logger.log_scalars(5, {"G_L1": 5.0})
    rows = csv_rows(path)
    assert [(r["step"], r["G_L1"]) for r in rows] == [
        ("1", "1.0"),
        ("2", "2.0"),
        ("3", "3.0"),
        ("5", "5.0"),
    ]
    path.write_bytes(DAMAGED_CSV)
    CSVLogger(tmp_path, resume_step=2).log_scalars(3, {"G_L1": 30.0})
    assert [(r["step"], r["G_L1"]) for r in csv_rows(path)] == [
        ("1", "1.0"),
        ("2", "2.0"),
        ("3", "30.0"),
    ]


def test_csv_a_header_that_is_not_utf8_keeps_its_rows(tmp_path, caplog):
    path = tmp_path / "metrics.csv"
    path.write_bytes(b"step,G_\xffL1\n1,1.0\n")
    with caplog.at_level("WARNING", logger=LOGGER):
        columns, rows, damaged = read_csv_table(path)
    assert columns == ["step", "G_\ufffdL1"] and rows == [{"step": "1", "G_\ufffdL1": "1.0"}]
    assert damaged == 1 and f"{path} line 1: the header is not UTF-8" in caplog.text
    assert read_csv_table(tmp_path / "missing.csv") == (["step"], [], 0)


def test_a_crashed_run_resumes_over_damaged_metric_files(tmp_path, caplog):
    cfg = config(tmp_path, max_steps=4, checkpoint_every=2, loggers=("csv",))
    Trainer(*tiny_models(), cfg, make_data(8)).fit()
    run = Path(cfg.output_dir)
    shutil.rmtree(run / "checkpoints/step-000004")  # the crash: steps 3-4 logged, not saved
    shutil.rmtree(run / "final")
    with (run / "metrics.jsonl").open("ab") as file:
        file.write(b'{"step": "x"}\n\xff\xfe\n{"step": 5, "G_')
    with (run / "metrics.csv").open("ab") as file:
        file.write(b"\xff,\xfe\n")
    with caplog.at_level("WARNING", logger=LOGGER):
        Trainer(*tiny_models(), cfg, make_data(8)).fit(resume_from="latest")
    assert f"{run / 'metrics.jsonl'} line 5: " in caplog.text  # the first damaged line
    assert jsonl_steps(run / "metrics.jsonl") == [1, 2, 3, 4]
    assert [r["step"] for r in csv_rows(run / "metrics.csv")] == ["1", "2", "3", "4"]


# ------------------------------------------------------------------ a full disk
def test_append_past_the_file_size_limit_names_the_file_and_leaves_no_half_line(tmp_path):
    # a real kernel refusal: RLIMIT_FSIZE makes write() stop part-way, then fail with EFBIG
    path = tmp_path / "metrics.jsonl"
    logger = JSONLLogger(tmp_path)
    logger.log_scalars(1, {"G_L1": 1.0})
    before = path.read_bytes()
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) + 10, old_limit[1]))
        with pytest.raises(WriteError) as info:
            logger.log_scalars(2, {"G_L1": 2.0, "G_GAN": 0.5})
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert info.value.errno == errno.EFBIG
    assert str(path) in str(info.value)
    assert path.read_bytes() == before  # the 10 bytes that fitted were taken back


def failing_writes(monkeypatch, name, after=0):
    """Make writes to a file called ``name`` write ``after`` bytes in all, then fail: ENOSPC."""
    real_write, room = os.write, [after]

    def write(fd, data):
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")) != name:
            return real_write(fd, data)
        if room[0]:
            written = real_write(fd, bytes(data[: room[0]]))
            room[0] -= written
            return written
        raise OSError(errno.ENOSPC, "No space left on device")

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to tell which file a write goes to")
    monkeypatch.setattr(os, "write", write)


@pytest.mark.parametrize("logger_class", [JSONLLogger, CSVLogger])
def test_a_full_disk_while_appending_names_the_file(tmp_path, monkeypatch, logger_class):
    logger = logger_class(tmp_path)
    logger.log_scalars(1, {"G_L1": 1.0})
    path = logger.path
    before = path.read_bytes()
    failing_writes(monkeypatch, path.name, after=3)
    with pytest.raises(WriteError, match="no space left on the device") as info:
        logger.log_scalars(2, {"G_L1": 2.0})
    assert info.value.errno == errno.ENOSPC and info.value.path == path
    assert str(info.value).startswith(f"Could not write {path}: ")
    assert path.read_bytes() == before


def test_append_text_creates_the_file_and_refuses_a_missing_folder(tmp_path):
    append_text(tmp_path / "a.txt", "é\n")
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "é\n"
    with pytest.raises(FileNotFoundError):
        append_text(tmp_path / "missing" / "a.txt", "x\n")


def test_a_full_disk_on_metrics_jsonl_stops_training_with_one_line_naming_it(tmp_path, monkeypatch):
    cfg = config(tmp_path, max_steps=2)
    trainer = Trainer(*tiny_models(), cfg, make_data(4))
    failing_writes(monkeypatch, "metrics.jsonl")
    with pytest.raises(RunFolderWriteError) as info:
        trainer.fit()
    message = str(info.value)
    assert f"Could not write {Path(cfg.output_dir) / 'metrics.jsonl'}: no space left" in message
