"""The checkerboard statistic: period-2 energy share of the output over the target's, in dB."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from pix2pix.cli import main
from pix2pix.data import SyntheticPairs
from pix2pix.evaluation import evaluate
from pix2pix.evaluation.checkerboard import (
    FRACTION_FLOOR,
    checkerboard,
    period2_energy_fraction,
)


def images(n=3, height=64, width=None, seed=0):
    """Smooth structure plus a little texture, like a photo, in [-1, 1]."""
    width = width or height
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, max(1, height // 8), max(1, width // 8), generator=g)
    base = F.interpolate(coarse, (height, width))
    base = F.avg_pool2d(base, 5, 1, 2, count_include_pad=False)
    return (0.8 * base + 0.2 * torch.rand(n, 3, height, width, generator=g)) * 2 - 1


def grid(height, width, kind):
    """A +-1 period-2 pattern: rows alternate, columns alternate, or a checkerboard."""
    y, x = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    return (-1.0) ** {"rows": y, "columns": x, "checker": x + y}[kind]


@pytest.mark.parametrize("size", [(64, 64), (63, 65), (33, 32)])
@pytest.mark.parametrize("kind", ["rows", "columns", "checker"])
def test_an_added_period2_grid_scores_clearly_higher(size, kind):
    clean = images(3, *size)
    # 0.05 in [-1, 1] units: +-6 grey levels, faint beside the image's contrast and texture
    gridded = clean + 0.05 * grid(*size, kind)
    score = checkerboard(gridded, clean)
    assert (score > 6).all(), score
    assert torch.equal(checkerboard(clean, clean), torch.zeros(3, dtype=torch.float64))


def test_identical_images_give_the_neutral_value():
    x = images(2, 40, 37)
    assert checkerboard(x, x).tolist() == [0.0, 0.0]


def test_a_pure_period2_pattern_is_all_period2_energy():
    for kind in ("rows", "columns", "checker"):
        even = (0.5 * grid(32, 48, kind)).expand(1, 3, 32, 48)
        assert float(period2_energy_fraction(even)) == pytest.approx(1.0, abs=1e-12)
        odd = (0.5 * grid(33, 31, kind)).expand(1, 3, 33, 31)
        assert float(period2_energy_fraction(odd)) > 0.99


def test_transposed_convolution_artefacts_score_above_bilinear_upsampling():
    target = images(2, 64)
    small = F.avg_pool2d(target, 2)
    # a 3x3, stride-2 transposed convolution overlaps unevenly: the Odena et al. grid
    kernel = torch.ones(3, 1, 3, 3) / 2.25
    deconv = F.conv_transpose2d(small, kernel, stride=2, padding=1, output_padding=1, groups=3)
    bilinear = F.interpolate(small, scale_factor=2, mode="bilinear", align_corners=False)
    assert (checkerboard(deconv, target) > 10).all()
    assert (checkerboard(bilinear, target) < 0).all()  # smoother than the target: negative


def test_blur_scores_below_zero():
    x = images(3, 64)
    assert (checkerboard(F.avg_pool2d(x, 3, 1, 1, count_include_pad=False), x) < -3).all()


def test_flat_tiny_and_mismatched_images():
    flat = torch.zeros(1, 3, 16, 16)
    assert math.isnan(float(period2_energy_fraction(flat)))
    assert math.isnan(float(checkerboard(images(1, 16), flat)))
    assert math.isnan(float(checkerboard(images(1, 7, 16), images(1, 7, 16, seed=1))))
    # a target without period-2 energy stays finite through the floor
    smooth = torch.linspace(-1, 1, 32).expand(1, 3, 32, 32)
    value = float(checkerboard(smooth + 0.1 * grid(32, 32, "checker"), smooth))
    assert math.isfinite(value) and value > 50
    assert FRACTION_FLOOR == 1e-7
    with pytest.raises(ValueError, match="same shape"):
        checkerboard(images(1, 16), images(1, 32))


def test_evaluate_and_the_cli_report_checkerboard(tmp_path, unet, capsys):
    data = [
        {"source": images(1, 32, seed=s)[0], "target": images(1, 32, seed=s + 9)[0]}
        for s in range(3)
    ]
    result = evaluate(unet, data, num_gallery=0, output_dir=tmp_path / "py", progress=False)
    assert isinstance(result["checkerboard"], float)
    assert isinstance(result["checkerboard_std"], float)
    assert "period-2" in result["checkerboard_note"]
    assert all(isinstance(entry["checkerboard"], float) for entry in result["per_image"])
    written = json.loads((tmp_path / "py" / "metrics.json").read_text())
    assert written["checkerboard"] == pytest.approx(result["checkerboard"])

    model = unet.save_pretrained(tmp_path / "model", inference={"crop_size": 32})
    folder = SyntheticPairs(2, size=32).write(tmp_path / "test")
    args = ["evaluate", "--model", str(model), "--data", str(folder), "--num-gallery", "0"]
    assert main([*args, "--no-progress", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert isinstance(printed["checkerboard"], float)
    assert main([*args, "--no-progress"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "checkerboard" in line)
    assert row.split()[2:5] == [f"{printed['checkerboard']:.2f}", "±",
                                f"{printed['checkerboard_std']:.2f}"]  # fmt: skip
