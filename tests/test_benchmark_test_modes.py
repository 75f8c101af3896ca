"""benchmarks/test_modes.py: one model scored in both test modes, on a tiny model (issue 31)."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from pix2pix.data import SyntheticPairs
from pix2pix.evaluation import evaluate
from pix2pix.models import UNetGenerator

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "test_modes.py"


@pytest.fixture(scope="module")
def test_modes():
    spec = importlib.util.spec_from_file_location("test_modes_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_variant_is_scored_and_shown(test_modes, tmp_path):
    torch.manual_seed(0)
    inference = {"direction": "BtoA", "crop_size": 64, "load_size": 72}
    model = UNetGenerator(base_channels=4, num_downs=6).save_pretrained(
        tmp_path / "m", inference=inference
    )
    data = SyntheticPairs(3, size=64).write(tmp_path / "test")
    out = tmp_path / "out"
    assert test_modes.main(["--model", str(model), "--data", str(data), "--output", str(out)]) == 0
    record = json.loads((out / "test_modes.json").read_text())
    variants = record["variants"]
    assert list(variants) == [
        "eval",
        "paper-seed0",
        "paper-seed1",
        "paper-seed2",
        "paper-no-dropout",
    ]
    # the numbers are evaluate's, in the mode named
    assert variants["eval"]["l1"] == evaluate(model, data, test_mode="eval", progress=False)["l1"]
    paper = evaluate(model, data, test_mode="paper", seed=1, progress=False)
    assert variants["paper-seed1"]["l1"] == paper["l1"] and variants["paper-seed1"]["seed"] == 1
    assert record["count"] == 3 and record["gallery"] == ["0.png", "1.png", "2.png"]
    assert set(record["mean_abs_difference"]) >= {"paper-seed0 vs eval"}
    assert all(value > 0 for value in record["mean_abs_difference"].values())
    assert (out / "comparison.png").is_file() and (out / "comparison-zoom.png").is_file()
