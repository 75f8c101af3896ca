"""benchmarks/paper_recipe.py: the docs' dry run end to end, the gate, the schedule, the files."""

import json
import re
import shlex
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import paper_recipe
import pytest
import recipe_outputs
from PIL import Image
from quality import gallery_pairs

from pix2pix import PatchGANDiscriminator, UNetGenerator
from pix2pix.trainer import Trainer, TrainerConfig

ROOT = Path(__file__).resolve().parents[1]
BLUR = ("sharpness", "hf_deficit_db", "color_emd")


def docs_smoke_command() -> list[str]:
    """The dry-run line of docs/src/performance.md, as arguments."""
    page = (ROOT / "docs" / "src" / "performance.md").read_text(encoding="utf-8")
    lines = [line for line in page.splitlines() if "paper_recipe.py" in line and "--smoke" in line]
    assert len(lines) == 1, lines
    argv = shlex.split(lines[0].split(" #")[0])
    assert argv[:2] == ["python", "benchmarks/paper_recipe.py"]
    return argv[2:]


def with_paths(argv: list[str], tmp_path: Path) -> list[str]:
    """``argv`` writing into ``tmp_path`` instead of the docs' /tmp folder."""
    argv = list(argv)
    argv[argv.index("--output") + 1] = str(tmp_path / "out")
    return [*argv, "--work-dir", str(tmp_path / "work")]


def test_the_docs_dry_run_writes_every_file_and_the_record(tmp_path):
    assert paper_recipe.main(with_paths(docs_smoke_command(), tmp_path)) == 0
    out = tmp_path / "out"
    facades, maps = out / "quality-facades-32-cpu-smoke", out / "quality-maps-32-cpu-smoke"
    assert sorted(p.name for p in facades.iterdir()) == [
        "gallery.png",
        "outputs-stochastic.zip",
        "outputs.zip",
        "recipe.json",
    ]
    assert sorted(p.name for p in maps.iterdir()) == ["gallery.png", "outputs.zip", "recipe.json"]
    assert recipe_outputs.check_returnable(out) == []

    record = json.loads((facades / "recipe.json").read_text())
    assert record["status"] == "ok" and record["command"].startswith("python benchmarks/")
    assert {"torch", "torch_cuda", "cpu"} <= set(record["machine"])
    training = record["training"]
    # 8 synthetic pairs, the whole (smoke) schedule of 2 epochs: 1 constant, 1 decaying to 0
    assert record["steps"] == training["steps"] == 16
    assert training["schedule"]["total_epochs"] == 2 and not training["schedule"]["shortened"]
    assert [point["lr"] for point in training["curve"]] == [2e-4, 1e-4]
    assert training["final_lr"] == 0.0 and not training["cut_off"]
    assert training["calibration"]["steps"] == 6 and not training["calibration"]["enforced"]
    assert record["loader"]["max_abs_diff_vs_files"] == 0.0
    assert record["reference_fp32"]["steps_per_s"] > 0
    for mode, test_mode in (("deterministic", "eval"), ("stochastic", "paper")):
        scores = record["eval"][mode]
        assert scores["count"] == 4 and scores["mode"] == test_mode
        assert all(isinstance(scores[key], float) for key in ("l1", "psnr", "ssim", *BLUR))
    assert record["eval"]["stochastic"]["seed"] == 0

    # the gallery shows the pairs quality.py's galleries show, and every output is archived
    args = SimpleNamespace(gallery_rows=4, direction="BtoA", load_size=36, size=32)
    picked = [name for name, _ in gallery_pairs(args, tmp_path / "work/data/facades/test")]
    assert record["eval"]["gallery_pairs"] == picked == ["0.jpg", "1.jpg", "2.jpg", "3.jpg"]
    with zipfile.ZipFile(facades / "outputs.zip") as archive:
        names = archive.namelist()
    assert names == [f"deterministic/{i}_fake_B.png" for i in range(4)]
    assert record["eval"]["deterministic"]["archive"]["format"] == "png"

    maps_record = json.loads((maps / "recipe.json").read_text())
    assert maps_record["status"] == "ok" and maps_record["direction"] == "AtoB"
    assert (maps_record["train_pairs"], maps_record["test_pairs"]) == (8, 2)


def test_a_failed_calibration_stops_with_a_short_report(tmp_path):
    argv = ["--device", "cpu", "--smoke", "--tasks", "facades", "--gate", "enforce"]
    argv += ["--min-steps", "100000000"]
    assert paper_recipe.main(with_paths(["--output", "x", *argv], tmp_path)) == 2
    folder = tmp_path / "out" / "quality-facades-32-cpu-smoke"
    assert [p.name for p in folder.iterdir()] == ["recipe.json"]
    record = json.loads((folder / "recipe.json").read_text())
    assert record["status"] == "aborted" and record["steps"] == 6
    assert any(re.search(r"steps/s is under the [\d.]+ needed", r) for r in record["reasons"])
    assert record["training"]["calibration"]["passed"] is False


def test_cuda_graphs_without_a_cuda_device_is_refused_before_anything_runs(tmp_path, capsys):
    argv = ["--output", "x", "--device", "cpu", "--smoke", "--cuda-graphs"]
    with pytest.raises(SystemExit) as exit_:
        paper_recipe.main(with_paths(argv, tmp_path))
    assert exit_.value.code == 2
    assert "--cuda-graphs needs a CUDA --device, not 'cpu'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_compile_failure_at_the_first_step_retrains_without_compile(tmp_path, monkeypatch):
    original = Trainer.training_step

    def fails_when_compiled(self, batch):
        if self.config.compile:
            raise RuntimeError("inductor: no C++ compiler (simulated)")
        return original(self, batch)

    monkeypatch.setattr(Trainer, "training_step", fails_when_compiled)
    argv = ["--output", "x", "--device", "cpu", "--smoke", "--tasks", "facades"]
    assert paper_recipe.main(with_paths([*argv, "--compile", "on"], tmp_path)) == 0
    folder = tmp_path / "out" / "quality-facades-32-cpu-smoke"
    training = json.loads((folder / "recipe.json").read_text())["training"]
    assert "simulated" in training["compile_failed"]
    assert training["settings"]["compile"] is False and training["steps"] == 16


def test_out_of_time_it_stops_at_the_deadline_and_still_scores(tmp_path):
    argv = ["--output", "x", "--device", "cpu", "--smoke", "--budget", "9", "--eval-reserve", "9"]
    assert paper_recipe.main(with_paths(argv, tmp_path)) == 0
    out = tmp_path / "out"
    record = json.loads((out / "quality-facades-32-cpu-smoke" / "recipe.json").read_text())
    training = record["training"]
    assert training["cut_off"] and record["steps"] == training["steps"] == 1
    assert record["eval"]["deterministic"]["count"] == 4
    assert not (out / "quality-maps-32-cpu-smoke").exists()  # facades did not finish


def test_slower_than_calibrated_it_shortens_the_schedule_instead_of_cutting_it(
    tmp_path, monkeypatch
):
    original = Trainer.training_step

    def slower_after_calibration(self, batch):
        if self.step >= 6:  # the smoke calibration is 6 steps
            time.sleep(0.03)
        return original(self, batch)

    monkeypatch.setattr(Trainer, "training_step", slower_after_calibration)
    argv = ["--output", "x", "--device", "cpu", "--smoke", "--tasks", "facades"]
    argv += ["--paper-epochs", "40", "--budget", "10", "--eval-reserve", "5"]
    assert paper_recipe.main(with_paths(argv, tmp_path)) == 0
    folder = tmp_path / "out" / "quality-facades-32-cpu-smoke"
    training = json.loads((folder / "recipe.json").read_text())["training"]
    replans = training["replans"]
    assert replans and all(r["to"] < r["from"] for r in replans)
    assert training["schedule"]["total_epochs"] == replans[-1]["to"]
    assert training["schedule"]["shortened"]


def test_a_schedule_set_mid_run_decays_to_zero_over_its_own_length():
    trainer = Trainer(
        UNetGenerator(base_channels=4, num_downs=5),
        PatchGANDiscriminator(base_channels=4),
        TrainerConfig(epochs=100, epochs_decay=100, device="cpu", progress_bar=False),
    )
    trainer.setup()
    trainer.epoch = 3  # three epochs already done at the provisional schedule
    paper_recipe.set_schedule(trainer, 6)
    assert (trainer.config.epochs, trainer.config.epochs_decay) == (3, 3)
    lrs = []
    for _ in range(3):
        lrs.append(trainer.optimizer_d.param_groups[0]["lr"])
        trainer.scheduler_g.step()
        trainer.scheduler_d.step()
    lrs.append(trainer.optimizer_g.param_groups[0]["lr"])
    assert lrs == pytest.approx([2e-4 * f for f in (3 / 4, 2 / 4, 1 / 4, 0.0)])


@pytest.mark.parametrize(
    ("rate", "seconds", "done", "expected"),
    [
        (170.0, 450.0, 400, 192),  # 76,900 steps fit: 192 whole epochs, an even number
        (400.0, 450.0, 400, 200),  # more fits than the paper's 200: the paper's
        (60.0, 400.0, 400, 60),  # 24,400 steps: 61 epochs -> 60 (30 + 30)
        (1.0, 1.0, 400, 2),  # nothing fits: still a schedule of 2 (1 + 1)
        (1.0, 1.0, 1200, 4),  # 3 epochs already done: one more, at least
    ],
)
def test_the_schedule_fits_the_clock_in_whole_even_epochs(rate, seconds, done, expected):
    assert paper_recipe.plan_epochs(rate, seconds, done, 400, 200) == expected


def test_the_gate_names_each_failure():
    falling = [60.0] * 50 + [40.0] * 150
    assert paper_recipe.gate(falling, True, 150.0, 47.0)["reasons"] == []
    reasons = paper_recipe.gate([40.0] * 200, False, 30.0, 47.0)["reasons"]
    assert len(reasons) == 3
    assert "NaN or infinite" in reasons[0] and "did not fall" in reasons[1]
    assert "30.0 steps/s is under the 47.0 needed" in reasons[2]


def test_archives_fall_back_to_smaller_formats_to_fit(tmp_path):
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:64, 0:64]
    smooth = np.stack([x * 4 % 256, y * 4 % 256, (x + y) * 2 % 256], -1)
    files = []
    for index in range(3):
        path = tmp_path / f"{index}_fake_B.png"
        pixels = (smooth + rng.integers(0, 3, smooth.shape)).clip(0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(path)
        files.append(path)
    png = sum(p.stat().st_size for p in files)
    record = recipe_outputs.pack_images(files, tmp_path / "a.zip", limit=png + 3000)
    assert (record["format"], record["lossless"], record["count"]) == ("png", True, 3)
    record = recipe_outputs.pack_images(files, tmp_path / "b.zip", limit=int(png * 0.9))
    assert (record["format"], record["lossless"], record["within_limit"]) == ("webp", True, True)
    with (  # lossless: the same pixels
        zipfile.ZipFile(tmp_path / "b.zip") as archive,
        archive.open("1_fake_B.webp") as stored,
        Image.open(stored) as image,
    ):
        assert np.array_equal(np.asarray(image), np.asarray(Image.open(files[1])))
    record = recipe_outputs.pack_images(files, tmp_path / "c.zip", folder="x", limit=png // 3)
    assert (record["format"], record["lossless"]) == ("jpeg", False)
    with zipfile.ZipFile(tmp_path / "c.zip") as archive:
        assert archive.namelist() == [f"x/{i}_fake_B.jpg" for i in range(3)]


def test_results_folders_say_the_card():
    assert recipe_outputs.card_slug("NVIDIA H100 80GB HBM3") == "h100"
    assert recipe_outputs.card_slug("NVIDIA H200") == "h200"
    name = recipe_outputs.results_folder("facades", 256, "h100", smoke=False)
    assert name == "quality-facades-256-gpu-h100"
