"""Blur-aware statistics (sharpness, high-frequency deficit, colour EMD) and KID."""

import math

import pytest
import torch
import torch.nn.functional as F

from pix2pix.evaluation import evaluate
from pix2pix.evaluation.blur import (
    BAND_EDGE,
    blur_statistics,
    color_emd,
    gradient_magnitude,
    high_frequency_deficit,
    radial_power_spectrum,
    sharpness,
)
from pix2pix.evaluation.fid import fid_entries, kernel_inception_distance


def images(n=3, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    # smooth structure plus texture, like a photo
    base = F.interpolate(torch.rand(n, 3, size // 8, size // 8, generator=g), size=size)
    return (0.6 * base + 0.4 * torch.rand(n, 3, size, size, generator=g)) * 2 - 1


def blur(x, k=5):
    return F.avg_pool2d(x, k, 1, k // 2, count_include_pad=False)


def test_identical_images_are_ideal_on_every_statistic():
    x = images()
    stats = blur_statistics(x, x)
    assert torch.equal(stats["sharpness"], torch.ones(3, dtype=torch.float64))
    assert torch.equal(stats["hf_deficit_db"], torch.zeros(3, dtype=torch.float64))
    assert torch.equal(stats["color_emd"], torch.zeros(3, dtype=torch.float64))


def test_a_blurred_image_is_less_sharp_and_lacks_high_frequencies():
    target = images()
    soft, softer = blur(target, 3), blur(target, 7)
    assert (sharpness(soft, target) < 1).all()
    assert (sharpness(softer, target) < sharpness(soft, target)).all()
    assert (high_frequency_deficit(soft, target) > 3).all()  # over half the power is gone
    assert (high_frequency_deficit(softer, target) > high_frequency_deficit(soft, target)).all()


def test_added_noise_is_excess_detail_not_a_deficit():
    target = images()
    noisy = target + 0.3 * torch.randn(target.shape, generator=torch.Generator().manual_seed(1))
    noisy = noisy.clamp(-1, 1)
    assert (sharpness(noisy, target) > 1).all()
    assert (high_frequency_deficit(noisy, target) < 0).all()


def test_sobel_magnitude_of_a_unit_ramp_and_a_flat_target():
    # display range [0, 1]: a ramp rising 1/8 per pixel has gradient magnitude 1/8 everywhere
    ramp = torch.linspace(-1, 1, 17).expand(1, 3, 17, 17)
    assert gradient_magnitude(ramp).item() == pytest.approx(1 / 16)
    flat = torch.zeros(1, 3, 16, 16)
    assert math.isnan(sharpness(images(1, 16), flat).item())


def test_colour_emd_counts_grey_levels_and_ignores_sharpness():
    target = torch.zeros(2, 3, 16, 16)
    shifted = target + 10 / 127.5  # 10 grey levels brighter (display scale 0-255)
    assert color_emd(shifted, target).tolist() == pytest.approx([10.0, 10.0], abs=0.01)
    # contrast loss (a washed-out output) moves the distribution
    x = images()
    assert (color_emd(0.5 * x, x) > 5).all()
    # a permutation of the pixels keeps the histogram: EMD 0, whatever the content
    flat = x.flatten(2)
    scrambled = flat[:, :, torch.randperm(flat.shape[2])].view_as(x)
    assert torch.equal(color_emd(scrambled, x), torch.zeros(3, dtype=torch.float64))


def test_radial_spectrum_finds_a_sinusoid_at_its_frequency():
    size = 64
    cols = torch.arange(size, dtype=torch.float64)
    wave = torch.sin(2 * math.pi * cols * 0.25).expand(1, 3, size, size) * 0.5  # half Nyquist
    frequency, power = radial_power_spectrum(wave)
    assert frequency[power[0].argmax()].item() == pytest.approx(0.5, abs=1 / 32)
    assert frequency[0] == 0 and frequency[-1] == 1 and BAND_EDGE == 0.5


def test_band_edge_and_shapes_are_checked():
    x = images(1, 32)
    with pytest.raises(ValueError, match="band_edge"):
        high_frequency_deficit(x, x, band_edge=1.0)
    with pytest.raises(ValueError, match="same shape"):
        sharpness(x, images(1, 16))
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        gradient_magnitude(x[0])


def test_grayscale_images_work():
    x = images(2, 32)[:, :1]
    stats = blur_statistics(blur(x), x)
    assert (stats["sharpness"] < 1).all() and stats["color_emd"].shape == (2,)


def test_evaluate_reports_the_blur_statistics(tmp_path, unet):
    data = [{"source": images(1, 32, s)[0], "target": images(1, 32, s + 10)[0]} for s in range(3)]
    result = evaluate(unet, data, num_gallery=0, output_dir=tmp_path)
    for key in ("sharpness", "hf_deficit_db", "color_emd"):
        assert isinstance(result[key], float) and isinstance(result[f"{key}_std"], float)
        assert all(key in entry for entry in result["per_image"])
    assert "Sobel" in result["blur_note"]
    assert result["kid"] is None and "Inception" in result["kid_note"]
    assert "sharpness" in (tmp_path / "metrics.json").read_text()


def test_kid_is_unbiased_and_sees_a_shift():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(100, 16, generator=g, dtype=torch.float64)
    b = torch.randn(100, 16, generator=g, dtype=torch.float64)
    same = kernel_inception_distance(a, b)
    assert abs(same) < 0.05
    assert kernel_inception_distance(a, b + 0.5) > 10 * abs(same)
    # the formula, written out
    k = lambda x, y: (x @ y.T / 16 + 1) ** 3  # noqa: E731
    kaa, kbb, kab = k(a, a), k(b, b), k(a, b)
    expected = (
        (kaa.sum() - kaa.trace()) / (100 * 99)
        + (kbb.sum() - kbb.trace()) / (100 * 99)
        - 2 * kab.mean()
    )
    assert same == pytest.approx(float(expected), rel=1e-12)
    with pytest.raises(ValueError, match="N >= 2"):
        kernel_inception_distance(a[:1], b)


def test_kid_sits_beside_fid_under_the_same_condition(tmp_path):
    features = {"output": [torch.randn(5, 8)], "target": [torch.randn(5, 8)]}
    missing = fid_entries(features, None, 5)
    assert missing["fid"] is None and missing["kid"] is None
    assert missing["kid_note"] == missing["fid_note"]
    present = fid_entries(features, tmp_path / "weights.pth", 5)
    assert isinstance(present["fid"], float) and isinstance(present["kid"], float)
    assert fid_entries(features, tmp_path / "weights.pth", 1)["kid"] is None
