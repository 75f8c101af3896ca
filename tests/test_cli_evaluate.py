import json

import pytest
import torch

from pix2pix.cli import SUBCOMMAND_MODULES, build_parser, main
from pix2pix.data import SyntheticPairs
from pix2pix.models import UNetGenerator


@pytest.fixture
def model_dir(tmp_path):
    torch.manual_seed(0)
    inference = {"direction": "BtoA", "crop_size": 32, "load_size": 36}
    return UNetGenerator(base_channels=4, num_downs=5).save_pretrained(
        tmp_path / "model", inference=inference
    )


@pytest.fixture
def data_dir(tmp_path):
    return SyntheticPairs(3, size=32).write(tmp_path / "test")


def test_evaluate_is_registered():
    assert "evaluate" in SUBCOMMAND_MODULES
    assert "evaluate" in build_parser().format_help()


def test_evaluate_writes_metrics_and_gallery(tmp_path, model_dir, data_dir, capsys):
    out = tmp_path / "eval"
    code = main(
        ["evaluate", "--model", str(model_dir), "--data", str(data_dir), "--output", str(out)]
    )
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["count"] == 3 and printed["mode"] == "deterministic"
    assert printed["direction"] == "BtoA" and "per_image" not in printed
    written = json.loads((out / "metrics.json").read_text())
    assert written["l1"] == pytest.approx(printed["l1"])
    assert len(written["per_image"]) == 3
    assert (out / "gallery.png").is_file() and (out / "gallery.html").is_file()
    assert written["fid"] is None or "fid_note" in written


def test_evaluate_stochastic_and_direction_flags(model_dir, data_dir, capsys):
    args = ["evaluate", "--model", str(model_dir), "--data", str(data_dir), "--stochastic"]
    assert main([*args, "--seed", "3", "--num-gallery", "0", "--per-image"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["mode"] == "stochastic" and printed["seed"] == 3
    assert len(printed["per_image"]) == 3
    assert main([*args, "--direction", "AtoB"]) == 0
    assert json.loads(capsys.readouterr().out)["direction"] == "AtoB"


def test_evaluate_errors_are_one_line(tmp_path, model_dir, capsys):
    code = main(["evaluate", "--model", str(model_dir), "--data", str(tmp_path / "nope")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("pix2pix evaluate: error:") and "nope" in err
    assert main(["evaluate", "--model", str(tmp_path / "none"), "--data", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
