"""Every logger's files read back; resumed runs log each step once in every logger."""

import csv
import json
import re
import shutil
import struct
import time
from pathlib import Path

import pytest
import torch

from pix2pix._extras import install_command
from pix2pix.cli import main
from pix2pix.trainer import Trainer, TrainerConfig
from pix2pix.trainer.loggers import (
    CSVLogger,
    JSONLLogger,
    Logger,
    TensorBoardLogger,
    WandbLogger,
    build_loggers,
)
from pix2pix.trainer.reporting import Reporter

from helpers import make_data, tiny_models
from helpers import tiny_config as config


def read_csv(path):
    with open(path, newline="") as file:
        reader = csv.DictReader(file)
        return reader.fieldnames, list(reader)


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def tensorboard_scalars(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    accumulator.Reload()
    return accumulator


# ------------------------------------------------------------------ the interface
def test_logger_base_is_a_no_op_and_build_orders_jsonl_first(tmp_path):
    base = Logger()
    base.log_scalars(1, {"a": 1.0})
    base.log_images(1, "x", torch.zeros(3, 2, 2))
    base.log_config({})
    base.close()
    built = build_loggers(["csv", "jsonl", "csv"], tmp_path)
    assert [type(x) for x in built] == [JSONLLogger, CSVLogger]
    with pytest.raises(ValueError, match="Unknown logger 'mlflow'"):
        build_loggers(["mlflow"], tmp_path)


def test_config_loggers_field(tmp_path):
    assert TrainerConfig().loggers == ("jsonl", "csv")
    assert TrainerConfig(loggers="csv, wandb").loggers == ("csv", "wandb")
    saved = TrainerConfig(loggers=["tensorboard"]).save(tmp_path / "new.json")
    assert json.loads(saved.read_text())["loggers"] == ["tensorboard"]
    assert TrainerConfig.load(saved) == TrainerConfig(loggers=("tensorboard",))
    with pytest.raises(ValueError, match="Unknown trainer config field.*tensorboard"):
        TrainerConfig.from_dict({"tensorboard": True})  # the flag beside loggers is gone
    with pytest.raises(ValueError, match="loggers='neptune' is not supported"):
        TrainerConfig(loggers=("neptune",))


def test_cli_logger_flag_parses_a_comma_list():
    from pix2pix.cli import build_parser

    args = build_parser().parse_args(["train", "--logger", "csv,tensorboard"])
    assert args.cfg_loggers == ("csv", "tensorboard")


# ------------------------------------------------------------------ JSONL and CSV
def test_csv_one_row_per_step_new_keys_widen_the_header(tmp_path):
    logger = CSVLogger(tmp_path)
    logger.log_scalars(1, {"G_L1": 2.0, "lr": 0.1})
    logger.log_scalars(2, {"G_L1": 1.5, "lr": 0.1})
    logger.log_scalars(2, {"val/L1": 0.4, "val/PSNR": float("inf")})  # same step: same row
    logger.log_scalars(3, {"G_L1": 1.0, "skipped_images": 1})  # a new key: rewritten header
    logger.close()
    header, rows = read_csv(tmp_path / "metrics.csv")
    assert header == ["step", "G_L1", "lr", "val/L1", "val/PSNR", "skipped_images"]
    assert [r["step"] for r in rows] == ["1", "2", "3"]
    assert rows[1]["val/L1"] == "0.4" and rows[1]["val/PSNR"] == "inf"
    assert rows[0]["val/L1"] == "" and rows[2]["skipped_images"] == "1"
    # a later logger (a resumed run) appends to the same file
    again = CSVLogger(tmp_path)
    again.log_scalars(4, {"G_L1": 0.5})
    assert [r["step"] for r in read_csv(tmp_path / "metrics.csv")[1]] == ["1", "2", "3", "4"]


def test_csv_losses_and_validation_with_epoch_share_one_row_written_at_once(tmp_path):
    # issue 22.4: the trainer logs {"epoch", losses} then {"epoch", val/*} at one step; the
    # shared "epoch" key used to start a second row for the validation
    logger = CSVLogger(tmp_path)
    logger.log_scalars(500, {"epoch": 0, "G_L1": 2.0})
    logger.log_scalars(1000, {"epoch": 1, "G_L1": 1.5})
    logger.log_scalars(1000, {"epoch": 1, "val/L1": 0.4})  # val/L1 first seen here
    # written at once, not held back for a later step: a kill now keeps the merged row
    header, rows = read_csv(tmp_path / "metrics.csv")
    assert header == ["step", "epoch", "G_L1", "val/L1"]
    assert [(r["step"], r["G_L1"], r["val/L1"]) for r in rows] == [
        ("500", "2.0", ""),
        ("1000", "1.5", "0.4"),
    ]
    logger.log_scalars(1000, {"val/L1": 0.3})  # a key given twice at one step: the last value
    logger.log_scalars(1100, {"epoch": 1, "G_L1": 1.0})
    rows = read_csv(tmp_path / "metrics.csv")[1]
    assert [(r["step"], r["val/L1"]) for r in rows] == [("500", ""), ("1000", "0.3"), ("1100", "")]
    # metrics.jsonl keeps one line per call
    jsonl = JSONLLogger(tmp_path)
    jsonl.log_scalars(1000, {"epoch": 1, "G_L1": 1.5})
    jsonl.log_scalars(1000, {"epoch": 1, "val/L1": 0.4})
    assert [r["step"] for r in read_jsonl(tmp_path / "metrics.jsonl")] == [1000, 1000]


def test_csv_a_new_run_in_the_folder_never_joins_the_old_runs_last_row(tmp_path):
    CSVLogger(tmp_path).log_scalars(2, {"G_L1": 1.0})
    CSVLogger(tmp_path).log_scalars(2, {"G_L1": 5.0})  # no resume: another run's step 2
    assert [r["G_L1"] for r in read_csv(tmp_path / "metrics.csv")[1]] == ["1.0", "5.0"]


def test_a_run_with_validation_has_one_csv_row_per_step(tmp_path):
    cfg = config(tmp_path, max_steps=4, log_every=2, val_every=2, loggers=("csv",))
    Trainer(*tiny_models(), cfg, make_data(8), make_data(2, seed=1)).fit()
    rows = read_csv(Path(cfg.output_dir) / "metrics.csv")[1]
    assert [r["step"] for r in rows] == ["2", "4"]
    assert all(r["G_L1"] and r["val/L1"] for r in rows)
    assert [r["step"] for r in read_jsonl(Path(cfg.output_dir) / "metrics.jsonl")] == [2, 2, 4, 4]


def test_jsonl_and_csv_drop_rows_after_the_resume_step(tmp_path):
    for step in (1, 2, 3, 4):
        for logger in (JSONLLogger(tmp_path), CSVLogger(tmp_path)):
            logger.log_scalars(step, {"G_L1": float(step)})
    with (tmp_path / "metrics.jsonl").open("a") as file:
        file.write('{"step": 5, "G_')  # a line cut short by a crash
    jsonl, csv_logger = JSONLLogger(tmp_path, resume_step=2), CSVLogger(tmp_path, resume_step=2)
    for step in (3, 4):
        jsonl.log_scalars(step, {"G_L1": step * 10.0})
        csv_logger.log_scalars(step, {"G_L1": step * 10.0})
    assert [(r["step"], r["G_L1"]) for r in read_jsonl(tmp_path / "metrics.jsonl")] == [
        (1, 1.0),
        (2, 2.0),
        (3, 30.0),
        (4, 40.0),
    ]
    rows = read_csv(tmp_path / "metrics.csv")[1]
    assert [(r["step"], r["G_L1"]) for r in rows] == [
        ("1", "1.0"),
        ("2", "2.0"),
        ("3", "30.0"),
        ("4", "40.0"),
    ]


# ------------------------------------------------------------------ TensorBoard
def test_tensorboard_scalars_images_config_and_purge_on_resume(tmp_path):
    pytest.importorskip("tensorboard")
    logger = TensorBoardLogger(tmp_path)
    logger.log_config({"lr": 0.0002, "loggers": ["tensorboard"]})
    for step in (1, 2, 3, 4):
        logger.log_scalars(step, {"G_L1": float(step), "note": "text is skipped"})
    logger.log_images(2, "samples", torch.rand(3, 8, 24))
    logger.close()
    resumed = TensorBoardLogger(tmp_path, resume_step=2)  # the crashed run's 3 and 4 go
    for step in (3, 4, 5):
        resumed.log_scalars(step, {"G_L1": step * 10.0})
    resumed.close()
    events = tensorboard_scalars(tmp_path / "tensorboard")
    assert [(e.step, e.value) for e in events.Scalars("G_L1")] == [
        (1, 1.0),
        (2, 2.0),
        (3, 30.0),
        (4, 40.0),
        (5, 50.0),
    ]
    assert [e.step for e in events.Images("samples")] == [2]
    assert events.Images("samples")[0].width == 24
    text = events.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert '"lr": 0.0002' in text


def test_tensorboard_missing_names_the_extra(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ImportError, match=re.escape(install_command("tensorboard"))):
        TensorBoardLogger(tmp_path)


# ------------------------------------------------------------------ Weights & Biases
def wandb_records(path):
    """The records of a ``run-ID.wandb`` file (LevelDB log format: 32 KiB blocks)."""
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B"
    pos, block, out, parts = 7, 32768, [], b""
    while pos + 7 <= len(data):
        left = block - pos % block
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7]) if left >= 7 else (0, 0, 0)
        if left < 7 or (kind == 0 and length == 0):
            pos += left
            continue
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 1:
            out.append(chunk)
        elif kind == 2:
            parts = chunk
        elif kind in (3, 4):
            parts += chunk
            if kind == 4:
                out.append(parts)
    return out


def wandb_history(run_dir):
    from wandb.proto import wandb_internal_pb2 as pb

    runs, history, config = [], [], {}
    for path in sorted(Path(run_dir, "wandb").glob("offline-run-*/run-*.wandb")):
        for data in wandb_records(path):
            record = pb.Record()
            record.ParseFromString(data)
            kind = record.WhichOneof("record_type")
            if kind == "run":
                runs.append(record.run.run_id)
            elif kind == "history":
                history.append(
                    {i.key or "/".join(i.nested_key): i.value_json for i in record.history.item}
                )
            elif kind == "config":
                config.update({i.key: json.loads(i.value_json) for i in record.config.update})
    return runs, history, config


def settled_wandb_history(run_dir, runs, steps, timeout=15.0):
    """:func:`wandb_history` once the offline files hold ``runs`` runs and ``steps`` steps.

    ``run.finish()`` can return before W&B's service process has written the last records of
    an offline run (about one time in five here, the second run's file still empty), so the
    reader waits for them, a bounded time, rather than reading a file still being written.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = wandb_history(run_dir)
        if (len(found[0]) >= runs and len(found[1]) >= steps) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_wandb_offline_run_resumes_the_same_run_without_duplicate_steps(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    logger = WandbLogger(tmp_path)
    logger.log_config({"lr": 0.0002})
    for step in (1, 2, 3):
        logger.log_scalars(step, {"G_L1": float(step)})
    logger.log_images(3, "samples", torch.rand(3, 8, 8))
    logger.close()
    run_id = json.loads((tmp_path / "wandb_run.json").read_text())["id"]
    time.sleep(1.1)  # offline run folders are named by the second they start in
    resumed = WandbLogger(tmp_path, resume_step=1)  # steps 2 and 3 are redone
    for step in (2, 3, 4):
        resumed.log_scalars(step, {"G_L1": step * 10.0})
    resumed.close()
    runs, history, config = settled_wandb_history(tmp_path, runs=2, steps=4)
    assert runs == [run_id, run_id]  # one W&B run, continued
    steps = [int(h["_step"]) for h in history]
    assert steps == [1, 2, 3, 4]  # every step once
    assert json.loads(history[-1]["G_L1"]) == 40.0
    assert "samples/path" in history[2]
    assert config["lr"] == 0.0002
    # a new run (no resume) in the folder starts a new W&B run
    time.sleep(1.1)
    fresh = WandbLogger(tmp_path)
    assert fresh.run_id != run_id
    fresh.close()


def test_wandb_missing_names_the_extra(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(ImportError, match=re.escape(install_command("wandb"))):
        WandbLogger(tmp_path)


# ------------------------------------------------------------------ a real run, resumed
def test_a_crashed_run_resumed_logs_every_step_once_in_every_logger(tmp_path):
    pytest.importorskip("tensorboard")
    loggers = ("csv", "tensorboard")
    cfg = config(tmp_path, max_steps=6, checkpoint_every=3, loggers=loggers, sample_every=3)
    Trainer(*tiny_models(), cfg, make_data(8)).fit()
    run = Path(cfg.output_dir)
    before = [r["G_L1"] for r in read_jsonl(run / "metrics.jsonl")]
    # the crash: the checkpoint of step 6 never reached the disk, the logs of steps 4-6 did
    shutil.rmtree(run / "checkpoints/step-000006")
    shutil.rmtree(run / "final")
    trainer = Trainer(*tiny_models(), cfg, make_data(8))
    trainer.fit(resume_from="latest")
    records = read_jsonl(run / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert [r["G_L1"] for r in records] == pytest.approx(before)  # the redo is bit-exact
    header, rows = read_csv(run / "metrics.csv")
    assert [r["step"] for r in rows] == ["1", "2", "3", "4", "5", "6"]
    assert {"G_L1", "G_GAN", "D_real", "D_fake", "lr", "epoch", "img_per_s"} <= set(header)
    events = tensorboard_scalars(run / "tensorboard")
    assert [e.step for e in events.Scalars("G_L1")] == [1, 2, 3, 4, 5, 6]
    assert [e.step for e in events.Images("samples")] == [3, 6]
    assert "config/text_summary" in events.Tags()["tensors"]


def test_reporter_sends_to_every_logger_and_disabled_writes_nothing(tmp_path):
    reporter = Reporter(tmp_path / "a", loggers=("csv",))
    reporter.log_scalars(1, {"G_L1": 1.0})
    reporter.log_samples(1, torch.rand(3, 8, 8), "step-000001")
    reporter.close()
    assert (tmp_path / "a/metrics.csv").is_file() and (tmp_path / "a/metrics.jsonl").is_file()
    assert (tmp_path / "a/samples/step-000001.png").is_file()
    off = Reporter(tmp_path / "b", loggers=("csv",), enabled=False)
    off.log_scalars(1, {"G_L1": 1.0})
    assert off.log_samples(1, torch.rand(3, 8, 8), "x") is None
    assert not (tmp_path / "b").exists()


def test_cli_train_with_loggers(tmp_path):
    from PIL import Image

    data = tmp_path / "pairs"
    data.mkdir()
    for i in range(2):
        Image.new("RGB", (64, 32), (i * 60, 20, 200)).save(data / f"{i}.png")
    run = tmp_path / "run"
    code = main(
        ["train", "--data", str(data), "--output", str(run), "--logger", "csv",
         "--max-steps", "2", "--log-every", "1", "--load-size", "32", "--crop-size", "32",
         "--generator", "unet_128", "--num-downs", "5", "--base-channels", "4",
         "--disc-channels", "4", "--no-progress-bar", "--device", "cpu", "--no-check-data",
         "--sample-every", "0", "--val-every", "0", "--checkpoint-every", "0"]
    )  # fmt: skip
    assert code == 0
    assert [r["step"] for r in read_csv(run / "metrics.csv")[1]] == ["1", "2"]
    assert not (run / "tensorboard").exists()


def test_a_line_cut_short_by_a_crash_does_not_swallow_the_next_record(tmp_path):
    JSONLLogger(tmp_path).log_scalars(1, {"G_L1": 1.0})
    CSVLogger(tmp_path).log_scalars(1, {"G_L1": 1.0})
    with (tmp_path / "metrics.jsonl").open("a") as file:
        file.write('{"step": 2, "G')
    with (tmp_path / "metrics.csv").open("a") as file:
        file.write("2,0.")
    JSONLLogger(tmp_path).log_scalars(3, {"G_L1": 3.0})  # a new run appending, no resume
    CSVLogger(tmp_path).log_scalars(3, {"G_L1": 3.0})
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[-1]) == {"step": 3, "G_L1": 3.0}
    assert read_csv(tmp_path / "metrics.csv")[1][-1] == {"step": "3", "G_L1": "3.0"}
