"""Bad inputs and saved files: one clear line for every mistake, files others can read.

Each case names the input and the line the user sees; docs/src/reliability.md lists them.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import tempfile

import pytest
import torch

from pix2pix import Translator, UNetGenerator
from pix2pix._files import WriteError, atomic_write
from pix2pix.cli import main
from pix2pix.data import SyntheticPairs
from pix2pix.models import base as model_base
from pix2pix.models import load_pretrained


@pytest.fixture
def model_dir(tmp_path):
    return UNetGenerator(base_channels=4, num_downs=5).save_pretrained(tmp_path / "m")


@pytest.fixture
def image(tmp_path):
    from PIL import Image

    path = tmp_path / "in.png"
    Image.new("RGB", (32, 32), (10, 20, 30)).save(path)
    return path


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if "error:" in line]
    assert len(errors) == 1 and "Traceback" not in "\n".join(err), err
    return errors[0]


def test_saved_files_get_the_umask_permissions_not_0600(model_dir):
    mask = os.umask(0)
    os.umask(mask)
    for name in ("model.safetensors", "config.json", "README.md"):
        assert os.stat(model_dir / name).st_mode & 0o777 == 0o666 & ~mask, name


def test_torchscript_export_is_readable_by_others(model_dir, tmp_path):
    from pix2pix.export import export_torchscript

    out = export_torchscript(load_pretrained(model_dir), tmp_path / "g.pt", size=32)
    mask = os.umask(0)
    os.umask(mask)
    assert os.stat(out).st_mode & 0o777 == 0o666 & ~mask


@pytest.mark.parametrize(
    "failure",
    [
        OSError(28, "No space left on device"),
        RuntimeError("[enforce fail at inline_container.cc:778] . unexpected pos 64 vs 0"),
    ],
)
def test_a_full_disk_is_one_line_and_keeps_the_previous_file(tmp_path, failure):
    target = tmp_path / "weights.bin"
    target.write_text("previous")

    def write(path):
        with open(path, "wb") as handle:
            handle.write(b"partial")
        raise failure

    with pytest.raises(WriteError, match=r"Could not write .*weights\.bin: no space left"):
        atomic_write(target, write)
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["weights.bin"]  # no temporary left


def test_safetensors_failure_while_saving_is_one_line(tmp_path, monkeypatch, capsys):
    from safetensors import SafetensorError

    def full(*args, **kwargs):
        raise SafetensorError("Error while serializing: IoError(Os { code: 28 })")

    monkeypatch.setattr(model_base, "save_file", full)
    with pytest.raises(WriteError, match=r"Could not write .*model\.safetensors"):
        UNetGenerator(base_channels=4, num_downs=5).save_pretrained(tmp_path / "m")


def test_an_unwritable_output_folder_is_found_before_training(tmp_path, monkeypatch, capsys):
    SyntheticPairs(2, size=32).write(tmp_path / "data")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    code = main(["train", "--data", str(tmp_path / "data"), "--output", str(tmp_path / "run"),
                 "--base-channels", "4", "--num-downs", "5", "--crop-size", "32",
                 "--load-size", "36", "--device", "cpu"])  # fmt: skip
    assert code == 2
    line = _one_error_line(capsys)
    assert "Cannot write to the run folder" in line and "Permission denied" in line
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_read_only_folder_when_saving_is_one_line(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    (tmp_path / "m").mkdir()
    with pytest.raises(WriteError, match=r"Could not write .*: Permission denied"):
        UNetGenerator(base_channels=4, num_downs=5).save_pretrained(tmp_path / "m")


def test_an_empty_pth_is_one_line(image, tmp_path, capsys):
    (tmp_path / "empty.pth").write_bytes(b"")
    code = main(["translate", str(image), "--model", str(tmp_path / "empty.pth"),
                 "--output", str(tmp_path / "out")])  # fmt: skip
    assert code == 2
    assert "empty.pth: the file is empty. Download it again" in _one_error_line(capsys)


def test_inference_that_is_not_an_object_is_one_line(model_dir, image, tmp_path, capsys):
    config = json.loads((model_dir / "config.json").read_text())
    config["inference"] = "AtoB"
    (model_dir / "config.json").write_text(json.dumps(config))
    code = main(
        ["translate", str(image), "--model", str(model_dir), "--output", str(tmp_path / "o")]
    )
    assert code == 2
    line = _one_error_line(capsys)
    assert "config.json" in line and '"inference" must be a JSON object' in line


def test_a_huge_config_next_to_tiny_weights_is_refused_without_building_it(model_dir, monkeypatch):
    config = json.loads((model_dir / "config.json").read_text())
    config["base_channels"] = 256  # ~1 GB of parameters if it were built
    (model_dir / "config.json").write_text(json.dumps(config))
    devices = []
    real = model_base._construct

    def spy(cls, kwargs):
        devices.append(torch.empty(0).device.type)  # the default device while building
        return real(cls, kwargs)

    monkeypatch.setattr(model_base, "_construct", spy)
    with pytest.raises(ValueError, match="shape mismatches"):
        load_pretrained(model_dir)
    assert devices == ["meta"]  # checked against the safetensors header, never allocated


def test_fid_weights_that_are_a_pickle_are_refused_in_one_line(tmp_path):
    from pix2pix.evaluation.fid import InceptionFeatures

    class Payload:
        def __reduce__(self):
            return (shutil.rmtree, (str(tmp_path / "victim"),))

    (tmp_path / "victim").mkdir()
    path = tmp_path / "inception.pth"
    with open(path, "wb") as handle:
        pickle.dump({"x": Payload()}, handle)
    with pytest.raises(ValueError, match="is a pickle of Python objects.*refused unread"):
        InceptionFeatures(path)
    assert (tmp_path / "victim").is_dir()  # nothing ran


@pytest.fixture
def old_run(tmp_path):
    """A finished run folder, for tests that age its record."""
    SyntheticPairs(2, size=32).write(tmp_path / "data")
    run = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path / "data"), "--output", str(run), "--max-steps",
                 "1", "--base-channels", "4", "--num-downs", "5", "--disc-channels", "4",
                 "--crop-size", "32", "--load-size", "36", "--device", "cpu",
                 "--no-progress-bar"]) == 0  # fmt: skip
    return run


def test_a_run_of_an_older_record_format_is_refused_in_one_line(old_run, capsys):
    for path in [old_run / "run_config.json", *old_run.glob("checkpoints/*/run_config.json")]:
        record = json.loads(path.read_text())
        path.write_text(json.dumps({**record, "format": 1}))
    assert main(["train", "--resume", str(old_run), "--max-steps", "2"]) == 2
    line = _one_error_line(capsys)
    assert "run record of format 1" in line and "reads format 2" in line
    assert "final/" in line and "Translator.from_pretrained" in line
    Translator.from_pretrained(old_run / "final")  # as the message says


def test_a_run_from_before_run_records_is_refused_in_one_line(old_run, capsys):
    for path in [old_run / "run_config.json", *old_run.glob("checkpoints/*/run_config.json")]:
        path.unlink()
    (old_run / "train_args.json").write_text("{}")  # what runs wrote before run_config.json
    assert main(["train", "--resume", str(old_run), "--max-steps", "2"]) == 2
    line = _one_error_line(capsys)
    assert "has no run_config.json" in line and "final/" in line


@pytest.mark.parametrize(("text", "says"), [("", "is not valid JSON"), ("[1]", "not list")])
def test_a_damaged_run_record_without_a_copy_names_the_file(old_run, capsys, text, says):
    for path in old_run.glob("checkpoints/*/run_config.json"):
        path.unlink()
    (old_run / "run_config.json").write_text(text)
    assert main(["train", "--resume", str(old_run), "--max-steps", "2"]) == 2
    line = _one_error_line(capsys)
    assert "run_config.json" in line and says in line


@pytest.mark.parametrize(
    ("trainer", "says"),
    [({"lr": "fast"}, "lr"), ({"no_such_field": 1}, "no_such_field"), (None, "")],
)
def test_a_run_record_with_a_bad_trainer_section_is_refused_in_one_line(
    old_run, capsys, trainer, says
):
    for path in [old_run / "run_config.json", *old_run.glob("checkpoints/*/run_config.json")]:
        record = json.loads(path.read_text())
        if trainer is None:
            del record["trainer"]
        else:
            record["trainer"].update(trainer)
        path.write_text(json.dumps(record))
    assert main(["train", "--resume", str(old_run), "--max-steps", "2"]) == 2
    line = _one_error_line(capsys)
    assert f"{old_run / 'run_config.json'} is damaged" in line and says in line


def test_an_error_from_a_dataloader_worker_prints_as_its_own_line():
    from pix2pix.cli import _one_line

    raised = ValueError(
        "Caught ValueError in DataLoader worker process 0.\nOriginal Traceback (most recent call "
        'last):\n  File "x.py", line 1, in f\nValueError: Could not read image D/1.png: corrupt.'
    )
    assert _one_line(raised) == "Could not read image D/1.png: corrupt."
    assert _one_line(ValueError("plain")) == "plain"


@pytest.mark.parametrize(
    ("key", "value"),
    [("num_downs", 100_000), ("base_channels", 10**7), ("in_channels", 10**5)],
)
def test_a_config_json_beyond_any_model_is_refused_before_building(tmp_path, capsys, key, value):
    """Issue 23: ``"num_downs": 100000`` built a 100,000-level U-Net for minutes and 3.4 GB."""
    import time

    folder = tmp_path / "m"
    UNetGenerator(base_channels=4, num_downs=5).save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, key: value}))
    start = time.perf_counter()
    with pytest.raises(ValueError, match=rf"m/config.json: {key}={value} is larger than any model"):
        load_pretrained(folder)
    assert time.perf_counter() - start < 2.0
    from PIL import Image

    Image.new("RGB", (32, 32)).save(tmp_path / "x.png")
    code = main(["translate", str(tmp_path / "x.png"), "--model", str(folder), "--output",
                 str(tmp_path / "out"), "--device", "cpu"])  # fmt: skip
    assert code == 2 and f"{key}={value} is larger than any model" in _one_error_line(capsys)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"<html><body>Sign in to download</body></html>", "it looks like a web page"),
        (b"\x80\x02garbage that is no pickle", "damaged or cut short"),
        (b"", "the file is empty"),
        (None, "it cannot be read (Is a directory)"),
    ],
)
def test_a_weights_file_that_is_no_pytorch_file_is_named_for_what_it_is(tmp_path, content, says):
    """--vgg-weights, --lpips-weights and FID's weights share the reader: a saved login page was
    called 'a pickle of Python objects', garbage after a pickle's first byte a KeyError."""
    from pix2pix._weights_files import load_weights_file

    path = tmp_path / "vgg19.pth"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(says)) as raised:
        load_weights_file(path, "--vgg-weights", "torchvision vgg19 weights", "Save them so.")
    message = str(raised.value)
    assert message.startswith(f"{path} does not hold torchvision vgg19 weights: ")
    assert message.endswith("Save them so.") and "\n" not in message
