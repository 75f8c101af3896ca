import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import Subset

from pix2pix.data import PairedImageDataset, SyntheticPairs
from pix2pix.evaluation import GalleryRow, evaluate, find_inception_weights, write_gallery
from pix2pix.evaluation.fid import frechet_distance
from pix2pix.evaluation.score import json_ready
from pix2pix.inference.translator import Translator
from pix2pix.models import UNetGenerator


def write_pairs(folder, a, b, count=3):
    """Aligned A|B files whose halves are the uint8 arrays ``a`` and ``b``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(np.concatenate([a, b], axis=1)).save(folder / f"{i}.png")
    return folder


class Constant(nn.Module):
    """A "generator" that outputs ``value`` everywhere (a known answer for the metrics)."""

    def __init__(self, value=0.0):
        super().__init__()
        self.value = value

    def forward(self, x):
        return torch.full_like(x, self.value)


@pytest.fixture
def synthetic(tmp_path):
    return SyntheticPairs(4, size=32).write(tmp_path / "data")


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = UNetGenerator(base_channels=4, num_downs=5)
    inference = {"direction": "BtoA", "crop_size": 32, "load_size": 36}
    return model.save_pretrained(tmp_path / "model", inference=inference)


def test_identity_on_identical_halves_is_perfect(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    folder = write_pairs(tmp_path / "same", image, image)
    result = evaluate(nn.Identity(), folder, output_dir=tmp_path / "out")
    assert result["count"] == 3
    assert result["l1"] == 0.0 and result["l1_std"] == 0.0
    assert result["psnr"] == math.inf
    assert result["ssim"] == pytest.approx(1.0, abs=1e-6)
    assert result["mode"] == "eval" and result["seed"] is None
    assert "native size" in result["resolution"]
    # strict JSON: the infinite PSNR is written as a string, not as Infinity
    text = (tmp_path / "out" / "metrics.json").read_text()
    written = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert written["psnr"] == "inf" and len(written["per_image"]) == 3


def test_constant_output_gives_the_known_values(tmp_path):
    # source black, target 0.75 gray (0.5 in [-1, 1]); the "generator" outputs 0 everywhere
    black = np.zeros((16, 16, 3), dtype=np.uint8)
    gray = np.full((16, 16, 3), 191, dtype=np.uint8)  # 191/255*2-1 = 0.498
    folder = write_pairs(tmp_path / "pairs", black, gray)
    result = evaluate(Constant(0.0), folder)
    target = 191 / 255 * 2 - 1
    assert result["l1"] == pytest.approx(target, abs=1e-6)
    assert result["psnr"] == pytest.approx(10 * math.log10(4 / target**2), abs=1e-4)
    c1 = (0.01 * 2) ** 2  # flat images: SSIM reduces to the luminance term
    assert result["ssim"] == pytest.approx(c1 / (target**2 + c1), rel=1e-4)


def test_saved_model_is_scored_at_its_training_crop_size(tmp_path, saved):
    SyntheticPairs(3, size=64).write(tmp_path / "big")
    result = evaluate(saved, tmp_path / "big", output_dir=tmp_path / "out", num_gallery=2)
    assert result["direction"] == "BtoA"  # from the model's inference settings
    assert "crop_size=32" in result["resolution"]
    assert result["model"]["path"] == str(saved)
    assert result["model"]["config"]["num_downs"] == 5
    # two rows of 32 px cells: (32 + 2) * 3 + 2 wide
    assert Image.open(tmp_path / "out" / "gallery.png").size[0] == 104
    page = (tmp_path / "out" / "gallery.html").read_text()
    assert "gallery.png" in page and "(eval)" in page


def test_eval_mode_is_repeatable_and_batch_independent(synthetic, saved):
    one = evaluate(saved, synthetic)
    again = evaluate(saved, synthetic, batch_size=3)
    for key in ("l1", "psnr", "ssim"):
        assert one[key] == pytest.approx(again[key], rel=1e-5)


def test_paper_mode_is_seeded_per_pair_batch_independent_and_reported(tmp_path):
    torch.manual_seed(0)
    # six levels: the fifth decoder block has dropout, the paper's test-time noise
    model = UNetGenerator(base_channels=4, num_downs=6)
    saved = model.save_pretrained(tmp_path / "m", inference={"direction": "BtoA"})
    data = SyntheticPairs(3, size=64).write(tmp_path / "data")
    first = evaluate(saved, data, test_mode="paper", seed=5, progress=False)
    second = evaluate(saved, data, test_mode="paper", seed=5, progress=False, batch_size=3)
    other = evaluate(saved, data, test_mode="paper", seed=6, progress=False)
    eval_mode = evaluate(saved, data, progress=False)
    assert first["mode"] == "paper" and first["seed"] == 5
    assert "dropout" in first["mode_note"] and "own batch statistics" in first["mode_note"]
    # a batch of 3 neither mixes the images' statistics nor changes their seeds
    assert [p["l1"] for p in first["per_image"]] == [p["l1"] for p in second["per_image"]]
    assert first["l1"] != other["l1"]
    assert first["l1"] != eval_mode["l1"] and eval_mode["mode"] == "eval"
    # pair i is translated with seed + i, as translate(..., seed=seed + i) alone
    translator = Translator.from_pretrained(saved, device="cpu")
    dataset = PairedImageDataset(
        data,
        direction="BtoA",
        train=False,
        preprocess="none",
        load_size=1,
        crop_size=1,
        size_multiple=1,
    )  # native size, as evaluate reads a model saved without a crop_size
    pair = dataset[2]
    alone = translator.translate(pair["source"][None], test_mode="paper", seed=7)
    l1 = (alone[0] - pair["target"]).abs().mean().item()
    assert first["per_image"][2]["l1"] == pytest.approx(l1, rel=1e-5)


def test_the_recorded_test_mode_is_the_default(tmp_path):
    torch.manual_seed(0)
    model = UNetGenerator(base_channels=4, num_downs=6)
    data = SyntheticPairs(2, size=64).write(tmp_path / "data")
    paper = model.save_pretrained(tmp_path / "p", inference={"test_mode": "paper"})
    result = evaluate(paper, data, progress=False)
    assert result["mode"] == "paper" and result["seed"] == 0
    again = evaluate(paper, data, test_mode="paper", seed=0, progress=False)
    assert result["l1"] == again["l1"]
    assert evaluate(paper, data, test_mode="eval", progress=False)["mode"] == "eval"
    with pytest.raises(ValueError, match="test_mode='stochastic' is not a test mode"):
        evaluate(paper, data, test_mode="stochastic")


def test_module_keeps_its_mode_and_dataset_objects_work():
    torch.manual_seed(0)
    model = UNetGenerator(base_channels=4, num_downs=5).train()
    result = evaluate(model, SyntheticPairs(3, size=32), num_gallery=0)
    assert model.training
    assert result["count"] == 3 and result["files"] == {}
    assert result["model"]["class"] == "UNetGenerator" and result["model"]["path"] is None


def test_translator_is_accepted(synthetic, saved):
    translator = Translator.from_pretrained(saved, device="cpu")
    assert evaluate(translator, synthetic)["l1"] == pytest.approx(evaluate(saved, synthetic)["l1"])
    with pytest.raises(ValueError, match="already has its device"):
        evaluate(translator, synthetic, device="cpu")


def test_fid_is_skipped_plainly_without_weights(synthetic, saved, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    assert find_inception_weights() is None
    result = evaluate(saved, synthetic)
    assert result["fid"] is None
    assert "not found" in result["fid_note"] and "--fid-weights" in result["fid_note"]
    assert result["lpips"] is None and "lpips" in result["lpips_note"]
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        evaluate(saved, synthetic, fid_weights=tmp_path / "nope.pth")


@pytest.mark.slow
def test_fid_with_local_inception_weights(synthetic, saved, tmp_path):
    from torchvision.models import inception_v3

    torch.manual_seed(0)
    weights = tmp_path / "inception_v3_google-test.pth"
    torch.save(
        inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(), weights
    )
    result = evaluate(saved, synthetic, fid_weights=weights)
    assert result["fid"] is not None and result["fid"] > 0
    assert "torchvision Inception-v3" in result["fid_note"]


def test_frechet_distance_known_values():
    torch.manual_seed(0)
    a = torch.randn(200, 3, dtype=torch.float64)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    shift = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    assert frechet_distance(a, a + shift) == pytest.approx(float(shift.square().sum()), rel=1e-9)
    # 1-D: b = s * a + c gives (mu_a - mu_b)^2 + var_a * (1 - s)^2
    x = torch.randn(500, 1, dtype=torch.float64)
    y = 3.0 * x + 2.0
    mean_gap = float(x.mean() - y.mean())
    expected = mean_gap**2 + float(x.var()) * (1 - 3.0) ** 2
    assert frechet_distance(x, y) == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match="N >= 2"):
        frechet_distance(torch.zeros(1, 3), torch.zeros(4, 3))


def test_write_gallery_grid_and_page(tmp_path):
    rows = [
        GalleryRow(
            "a<b>.png", [torch.zeros(3, 16, 16), torch.ones(1, 16, 16), -torch.ones(3, 8, 8)]
        )
    ]
    written = write_gallery(
        rows, tmp_path / "g" / "grid.png", tmp_path / "page.html", notes=["mode: deterministic"]
    )
    image = Image.open(written["png"])
    assert image.size == (3 * (16 + 2) + 2, 14 + 16 + 13 + 2 + 2)
    page = written["html"].read_text()
    assert "src='g/grid.png'" in page and "a&lt;b&gt;.png" in page and "deterministic" in page
    with pytest.raises(ValueError, match="2 image"):
        write_gallery([GalleryRow("x", [torch.zeros(3, 8, 8)] * 2)], tmp_path / "x.png")
    with pytest.raises(ValueError, match="at least one row"):
        write_gallery([], tmp_path / "x.png")


def test_errors_name_the_problem(tmp_path, synthetic, saved):
    with pytest.raises(FileNotFoundError, match="missing"):
        evaluate(saved, tmp_path / "missing")
    with pytest.raises(ValueError, match="direction='sideways'"):
        evaluate(saved, synthetic, direction="sideways")
    with pytest.raises(ValueError, match="batch_size=0"):
        evaluate(saved, synthetic, batch_size=0)
    jittering = PairedImageDataset(synthetic, direction="BtoA", load_size=36, crop_size=32)
    with pytest.raises(ValueError, match="train=False"):
        evaluate(saved, jittering)
    with pytest.raises(ValueError, match="train=False"):
        evaluate(saved, Subset(jittering, [0, 1]))
    steady = PairedImageDataset(synthetic, direction="BtoA", crop_size=32, train=False)
    with pytest.raises(ValueError, match="differs from the dataset"):
        evaluate(saved, steady, direction="AtoB")
    with pytest.raises(ValueError, match="Translator, a generator"):
        evaluate(42, synthetic)


def test_json_ready():
    assert json_ready({"a": [float("-inf"), 1.0], "b": float("nan")}) == {
        "a": ["-inf", 1.0],
        "b": "nan",
    }


def test_public_names_stay():
    import pix2pix.evaluation as module

    expected = {
        "GalleryRow",
        "evaluate",
        "find_inception_weights",
        "write_gallery",
    }
    assert expected <= set(module.__all__)
    for name in module.__all__:
        assert ">>>" in (getattr(module, name).__doc__ or ""), f"{name} has no example"


def test_progress_bar_is_on_by_default_and_can_be_turned_off(synthetic, saved, capsys):
    evaluate(saved, synthetic, num_gallery=0)
    assert "evaluate" in capsys.readouterr().err  # tqdm, on stderr
    evaluate(saved, synthetic, num_gallery=0, progress=False)
    assert capsys.readouterr().err == ""
