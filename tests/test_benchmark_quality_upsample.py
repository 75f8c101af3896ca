"""benchmarks/quality.py's rows named for the generator's up-sampling (issue 28.1), tiny."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from pix2pix.data import SyntheticPairs

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "quality.py"


@pytest.fixture(scope="module")
def quality():
    spec = importlib.util.spec_from_file_location("quality_benchmark_upsample", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_upsampling_rows_share_all_but_their_up_convolutions_and_report_the_grid(quality, tmp_path):
    SyntheticPairs(3, size=32).write(tmp_path / "facades" / "train")
    SyntheticPairs(2, size=32, split="test").write(tmp_path / "facades" / "test")
    rows = ["paper", "paper-nearest", "paper-bilinear"]
    payload = quality.main(
        [
            "--data", str(tmp_path / "facades"), "--size", "32", "--base-channels", "4",
            "--max-steps", "1", "--seeds", "0", "--eval-modes", "deterministic",
            "--gallery-rows", "1", "--output", str(tmp_path / "out"),
            "--work-dir", str(tmp_path / "runs"), "--no-progress", "--rows", *rows,
        ]
    )  # fmt: skip
    runs = {run["row"]: run for run in payload["runs"]}
    assert runs["paper"]["shared_init"] == {"g": True, "d": True}
    up_convs = [f"decoder.{i}.conv.weight" for i in range(5)]
    for row in ("paper-nearest", "paper-bilinear"):
        # the up-sampling convolutions' shapes differ: they draw their own, the rest is shared
        assert runs[row]["shared_init"] == {
            "g": "all but the up-sampling convolutions",
            "g_own_draw": up_convs,
            "d": True,
        }
        config = json.loads((Path(runs[row]["model_dir"]) / "config.json").read_text())
        assert config["upsample"] == row.split("-")[1]
    # the checkerboard statistic is kept per run and shown in the tables
    for run in runs.values():
        assert isinstance(run["eval"]["deterministic"]["checkerboard"], float)
    table = (tmp_path / "out" / "quality.md").read_text()
    assert "checkerboard dB (0 ideal)" in table and "| paper-nearest | 1 |" in table


def test_partial_start_refuses_a_model_that_differs_elsewhere(quality):
    from pix2pix.models import UNetGenerator

    torch.manual_seed(0)
    shared = UNetGenerator(base_channels=4, num_downs=5).state_dict()
    nearest = UNetGenerator(base_channels=4, num_downs=5, upsample="nearest")
    own = quality.load_shared_init_but_upsampling(nearest, shared)
    assert own == [f"decoder.{i}.conv.weight" for i in range(5)]
    state = nearest.state_dict()
    assert all(torch.equal(state[k], v) for k, v in shared.items() if k not in own)
    wider = UNetGenerator(base_channels=8, num_downs=5, upsample="nearest")
    before = {k: v.clone() for k, v in wider.state_dict().items()}
    assert quality.load_shared_init_but_upsampling(wider, shared) is None
    assert all(torch.equal(before[k], v) for k, v in wider.state_dict().items())
