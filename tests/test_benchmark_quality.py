"""benchmarks/quality.py at a tiny size: the protocol runs end to end and its rows are fair."""

import importlib.util
import json
import math
import re
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
    assert ref["mode"] == "eval" and ref["count"] == 3

    out = tmp_path / "out"
    written = json.loads((out / "quality.json").read_text())
    assert written["summary"]["paper"]["deterministic"]["l1"]["seeds"] == [ours["l1"]]
    assert "one seed" in written["verdicts"]["note"]
    table = (out / "quality.md").read_text()
    assert "SMOKE RUN" in table and "| hinge-sn | 2 |" in table
    assert (out / "comparison-seed0.png").is_file()
    assert (out / "galleries" / "paper-seed0" / "gallery.png").is_file()
    # every row's gallery shows the same pairs, spread over the test set (first and last of
    # three), not each run's own best/median/worst
    shown = {
        row: json.loads((out / "galleries" / f"{row}-seed0" / "metrics.json").read_text())[
            "gallery"
        ]
        for row in ("reference", "paper", "hinge-sn")
    }
    names = sorted(p.name for p in (tmp_path / "facades" / "test").iterdir())
    assert shown == {row: [names[0], names[2]] for row in shown}
    assert [names[0], names[2]] == [
        name for name in names if name in (out / "comparison-seed0.html").read_text()
    ]
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


def test_reuse_takes_runs_from_several_files_first_one_wins(quality, tmp_path):
    # rows trained in earlier sessions keep their recorded metrics; a statistic added to the
    # evaluation since is shown as a gap for those seeds, not dropped for the whole row
    args = quality.parse_args(["--data", "d", "--seeds", "0", "--rows", "paper"])
    protocol = quality.protocol_key(args)

    def run(row, seed, l1, sharpness=None):
        scores = {"l1": l1, "psnr": 15.0, "ssim": 0.1}
        if sharpness is not None:
            scores["sharpness"] = sharpness
        return {
            "row": row,
            "seed": seed,
            "steps": 8,
            "train_time_s": 1.0,
            "eval": {"deterministic": scores},
        }

    def write(name, runs, cpu):
        path = tmp_path / name
        path.write_text(json.dumps({"protocol": protocol, "machine": {"cpu": cpu}, "runs": runs}))
        return str(path)

    newer = write("newer.json", [run("lsgan", 0, 0.30, sharpness=0.5)], "B")
    older = write(
        "older.json",
        [run("lsgan", 0, 0.99), run("lsgan", 1, 0.32), run("paper", 0, 0.99), run("ema", 0, 0.4)],
        "A",
    )
    trained_here = [run("paper", 0, 0.35, sharpness=0.6)]
    args.reuse_json, args.reuse_rows = [newer, older], ["lsgan", "paper"]
    kept, sources = quality.reused_runs(args, trained_here)
    assert [(r["row"], r["seed"], r["eval"]["deterministic"]["l1"]) for r in kept] == [
        ("lsgan", 0, 0.30),
        ("lsgan", 1, 0.32),
    ]
    assert [r["reused_from"] for r in kept] == [newer, older]
    assert [(s["path"], s["runs"], s["machine"]["cpu"]) for s in sources] == [
        (newer, 1, "B"),
        (older, 1, "A"),
    ]

    # seed 1 first, as runs gathered from files can come: the tables still read "seed 0 / 1"
    summary = quality.summarise([*kept[::-1], *trained_here], ["lsgan", "paper"], ["deterministic"])
    sharp = summary["lsgan"]["deterministic"]["sharpness"]
    assert (sharp["mean"], sharp["seeds"], sharp["spread"]) == (0.5, [0.5, None], 0.0)
    payload = {
        "protocol": {
            **protocol,
            "seeds": [0, 1],
            "rows": ["lsgan", "paper"],
            "reused_from": sources,
            "eval_modes": ["deterministic"],
            "train_pairs": 4,
            "test_pairs": 2,
            "steps_per_epoch": 2,
            "steps_per_run": 8,
            "smoke": False,
        },
        "machine": {"cpu": "C", "torch_threads": 2},
        "summary": summary,
        "verdicts": {},
    }
    table = quality.markdown(payload)
    assert "| lsgan | 8 | 0.3100 (0.3000 / 0.3200) |" in table
    assert "| 0.5000 (0.5000 / –) |" in table
    assert f"1 run(s) reused from {newer}" in table and f"1 run(s) reused from {older}" in table

    other = write("other.json", [], "A")
    args.reuse_json = [other]
    changed = json.loads(Path(other).read_text())
    changed["protocol"]["size"] = 64
    Path(other).write_text(json.dumps(changed))
    with pytest.raises(ValueError, match=r"another protocol \({'size': \(64, 128\)}\)"):
        quality.reused_runs(args, trained_here)


def test_a_row_can_run_on_some_of_the_seeds(quality, tmp_path, capsys):
    # the ablation's shape: a one-seed sweep beside the two-seed rows, in one command
    SyntheticPairs(3, size=32).write(tmp_path / "facades" / "train")
    SyntheticPairs(2, size=32, split="test").write(tmp_path / "facades" / "test")
    args = tiny_args(tmp_path, tmp_path / "facades", "--rows", "paper", "lsgan:1")
    args[args.index("--seeds") + 1 : args.index("--seeds") + 2] = ["0", "1"]
    payload = quality.main(args)
    assert sorted((r["row"], r["seed"]) for r in payload["runs"]) == [
        ("lsgan", 1),
        ("paper", 0),
        ("paper", 1),
    ]
    assert payload["protocol"]["row_seeds"] == {"paper": [0, 1], "lsgan": [1]}
    assert payload["summary"]["lsgan"]["seeds"] == [1]
    # the comparison gallery (seed 0) shows the rows run with seed 0
    assert "lsgan" not in (tmp_path / "out" / "comparison-seed0.html").read_text()
    for bad, message in [
        (["--rows", "paper:2"], r"seeds \[2\] are not all in --seeds \[0\]"),
        (["--rows", "paper:x"], "must be integers, like paper:0,1"),
        (["--rows", "nope"], "'nope' is not one of"),
    ]:
        with pytest.raises(SystemExit):
            quality.parse_args(["--data", "d", "--seeds", "0", *bad])
        assert re.search(message, capsys.readouterr().err), bad


SHARED_MAPS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "maps"


@pytest.mark.skipif(not (SHARED_MAPS / "train").is_dir(), reason="no ../shared datasets")
def test_maps_smoke_with_the_pix2pixhd_rows_on_the_real_pairs(quality, tmp_path):
    # maps rows need a GPU budget (1,600 steps learn no maps); on the CPU the real 1200x600
    # pairs go through the multi-scale and feature-matching rows for two steps at 128 px
    args = tiny_args(
        tmp_path, SHARED_MAPS, "--dataset", "maps", "--size", "128", "--test-limit", "2"
    )
    payload = quality.main([*args, "--rows", "paper", "lsgan-ema-msd-fm"])
    assert payload["protocol"]["direction"] == "AtoB" and payload["protocol"]["test_pairs"] == 2
    runs = {run["row"]: run for run in payload["runs"]}
    assert runs["lsgan-ema-msd-fm"]["steps"] == 2
    assert runs["lsgan-ema-msd-fm"]["shared_init"] == {
        "g": True,
        "d": True,
        "d_scope": "scale 0 of 3",
    }
    scores = runs["lsgan-ema-msd-fm"]["eval"]["deterministic"]
    assert all(math.isfinite(scores[k]) for k in ("l1", "psnr", "sharpness", "color_emd"))


def test_a_resume_with_another_thread_count_is_said_and_recorded(quality, tmp_path, capsys):
    """Runs repeat bit for bit only at one thread count: a resume that changes it is marked."""
    import torch

    run_dir = tmp_path / "run"
    assert quality._thread_counts(run_dir, resumed=False) == [torch.get_num_threads()]
    assert quality._thread_counts(run_dir, resumed=True) == [torch.get_num_threads()]
    assert "resumed with" not in capsys.readouterr().err
    before = torch.get_num_threads()
    (run_dir / "torch_threads.json").write_text(json.dumps([before + 1]))
    assert quality._thread_counts(run_dir, resumed=True) == [before + 1, before]
    assert f"resumed with {before} torch threads where it trained with {before + 1}" in (
        capsys.readouterr().err
    )
    # a new run starts its own record
    assert quality._thread_counts(run_dir, resumed=False) == [before]
