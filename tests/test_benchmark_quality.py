"""benchmarks/quality.py at a tiny size: the protocol runs end to end and its rows are fair."""

import importlib.util
import json
from pathlib import Path

import pytest

from pix2pix.data import SyntheticPairs

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "quality.py"


@pytest.fixture(scope="module")
def quality():
    spec = importlib.util.spec_from_file_location("quality_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_args(tmp_path, data, *extra):
    return [
        "--data",
        str(data),
        "--size",
        "32",
        "--base-channels",
        "4",
        "--max-steps",
        "2",
        "--seeds",
        "0",
        "--eval-modes",
        "deterministic",
        "--gallery-rows",
        "2",
        "--output",
        str(tmp_path / "out"),
        "--work-dir",
        str(tmp_path / "runs"),
        "--no-progress",
        *extra,
    ]


def test_facades_protocol_end_to_end(quality, tmp_path, capsys):
    SyntheticPairs(4, size=32).write(tmp_path / "facades" / "train")
    SyntheticPairs(3, size=32, split="test").write(tmp_path / "facades" / "test")
    args = tiny_args(tmp_path, tmp_path / "facades", "--rows", "reference", "paper", "hinge-sn")
    payload = quality.main(args)

    protocol = payload["protocol"]
    assert protocol["smoke"] and protocol["steps_per_run"] == 2
    assert (protocol["direction"], protocol["load_size"]) == ("BtoA", 36)
    assert (protocol["train_pairs"], protocol["test_pairs"]) == (4, 3)
    runs = {run["row"]: run for run in payload["runs"]}
    assert all(run["steps"] == 2 for run in runs.values())
    # every row starts from the reference's initial weights (spectral norm included)
    assert runs["paper"]["shared_init"] == {"g": True, "d": True}
    assert runs["hinge-sn"]["shared_init"] == {"g": True, "d": True}
    # same start, same batches, same dropout: the paper preset is the reference algorithm
    ours, ref = runs["paper"]["eval"]["deterministic"], runs["reference"]["eval"]["deterministic"]
    for key in ("l1", "psnr", "ssim"):
        assert ours[key] == pytest.approx(ref[key], abs=1e-3), key
    assert ref["mode"] == "deterministic" and ref["count"] == 3

    out = tmp_path / "out"
    written = json.loads((out / "quality.json").read_text())
    assert written["summary"]["paper"]["deterministic"]["l1"]["seeds"] == [ours["l1"]]
    assert "one seed" in written["verdicts"]["note"]
    table = (out / "quality.md").read_text()
    assert "SMOKE RUN" in table and "| hinge-sn | 2 |" in table
    assert (out / "comparison-seed0.png").is_file()
    assert (out / "galleries" / "paper-seed0" / "gallery.png").is_file()
    assert "| reference |" in capsys.readouterr().out

    # a second call reuses the finished runs instead of training again
    again = quality.main(args)
    assert all(run["reused"] for run in again["runs"])
    assert again["runs"][1]["eval"]["deterministic"]["l1"] == ours["l1"]


def test_maps_holds_out_the_last_pairs(quality, tmp_path):
    SyntheticPairs(5, size=32).write(tmp_path / "maps" / "train")
    args = tiny_args(tmp_path, tmp_path / "maps", "--dataset", "maps", "--maps-test", "2")
    payload = quality.main([*args, "--rows", "paper"])
    assert payload["protocol"]["direction"] == "AtoB"
    assert (payload["protocol"]["train_pairs"], payload["protocol"]["test_pairs"]) == (3, 2)
    with pytest.raises(ValueError, match="--maps-test 5"):
        quality.main([*args, "--rows", "paper", "--maps-test", "5"])


def test_verdicts_use_the_seed_spread(quality):
    def entry(l1, psnr, ssim):
        metrics = {"l1": l1, "psnr": psnr, "ssim": ssim}
        return {
            "seeds": [0, 1],
            "deterministic": {
                k: {"mean": sum(v) / 2, "seeds": v, "spread": max(v) - min(v)}
                for k, v in metrics.items()
            },
        }

    summary = {
        "reference": entry([0.30, 0.32], [15.0, 15.4], [0.30, 0.32]),
        "paper": entry([0.31, 0.32], [15.1, 15.3], [0.31, 0.32]),
        "better": entry([0.20, 0.21], [17.0, 17.2], [0.40, 0.41]),
        "mixed": entry([0.20, 0.21], [15.0, 15.2], [0.40, 0.41]),
    }
    result = quality.verdicts(summary, ["deterministic"])["deterministic"]
    assert result["noise"]["l1"] == pytest.approx(0.02)
    assert result["paper_vs_reference"]["within_noise"]
    assert result["better_vs_paper"]["beats_paper"]
    assert not result["mixed_vs_paper"]["beats_paper"]
    assert result["mixed_vs_paper"]["better_beyond_noise"]["l1"]
