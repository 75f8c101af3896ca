"""L1, PSNR and SSIM against known values and an independent numpy SSIM."""

import math

import numpy as np
import pytest
import torch

from pix2pix.metrics import gaussian_window, l1, psnr, ssim


def numpy_ssim(x, y, data_range, win=11, sigma=1.5, k1=0.01, k2=0.03):
    """Wang et al. 2004 SSIM, written directly: a 2-D Gaussian window (outer product, normalised)
    slid over every valid position with explicit weighted sums, per channel, in float64."""
    coords = np.arange(win) - (win - 1) / 2
    g = np.exp(-(coords**2) / (2 * sigma**2))
    w = np.outer(g, g)
    w /= w.sum()
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    values = []
    for xc, yc in zip(x, y):
        px = np.lib.stride_tricks.sliding_window_view(xc, (win, win))
        py = np.lib.stride_tricks.sliding_window_view(yc, (win, win))
        mx = (px * w).sum(axis=(-2, -1))
        my = (py * w).sum(axis=(-2, -1))
        vx = ((px - mx[..., None, None]) ** 2 * w).sum(axis=(-2, -1))
        vy = ((py - my[..., None, None]) ** 2 * w).sum(axis=(-2, -1))
        cxy = ((px - mx[..., None, None]) * (py - my[..., None, None]) * w).sum(axis=(-2, -1))
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
        values.append(s.mean())
    return float(np.mean(values))


def test_identical_images():
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert float(l1(x, x)) == 0.0
    assert math.isinf(float(psnr(x, x)))
    assert float(ssim(x, x)) == 1.0


def test_l1_and_psnr_of_a_known_error():
    x = torch.zeros(1, 3, 16, 16)
    y = x + 0.1
    assert float(l1(x, y)) == pytest.approx(0.1)
    # MSE 0.01 over a range of 2: 10 log10(4 / 0.01) = 26.0206 dB
    assert float(psnr(x, y)) == pytest.approx(10 * math.log10(4 / 0.01), abs=1e-4)
    assert float(psnr(x, y, data_range=1.0)) == pytest.approx(20.0, abs=1e-4)


def test_psnr_batch_is_mean_of_per_image_values():
    x = torch.zeros(2, 1, 8, 8)
    y = torch.stack([torch.full((1, 8, 8), 0.1), torch.full((1, 8, 8), 0.2)])
    per_image = psnr(x, y, reduction="none")
    assert per_image.shape == (2,)
    assert per_image.tolist() == pytest.approx(
        [10 * math.log10(4 / 0.01), 10 * math.log10(4 / 0.04)], abs=1e-4
    )
    assert float(psnr(x, y)) == pytest.approx(per_image.mean().item())
    assert float(psnr(x, y, reduction="sum")) == pytest.approx(per_image.sum().item())


def test_ssim_of_constant_images_is_the_luminance_term():
    # no variance: SSIM = (2ab + C1) / (a^2 + b^2 + C1) exactly, by hand
    a, b, data_range = 0.5, -0.25, 2.0
    c1 = (0.01 * data_range) ** 2
    expected = (2 * a * b + c1) / (a**2 + b**2 + c1)
    x, y = torch.full((1, 1, 16, 16), a), torch.full((1, 1, 16, 16), b)
    assert float(ssim(x, y)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("data_range, shape", [(2.0, (2, 3, 24, 20)), (1.0, (1, 1, 11, 11))])
def test_ssim_matches_an_independent_numpy_implementation(data_range, shape):
    g = torch.Generator().manual_seed(0)
    lo = -1.0 if data_range == 2.0 else 0.0
    x = torch.rand(shape, generator=g, dtype=torch.float64) * data_range + lo
    y = (x + 0.2 * torch.randn(shape, generator=g, dtype=torch.float64)).clamp(lo, lo + data_range)
    ours = ssim(x, y, data_range=data_range, reduction="none")
    for i in range(shape[0]):
        expected = numpy_ssim(x[i].numpy(), y[i].numpy(), data_range)
        assert float(ours[i]) == pytest.approx(expected, abs=1e-10)
    # float32 inputs agree to float32 precision
    ours32 = ssim(x.float(), y.float(), data_range=data_range, reduction="none")
    torch.testing.assert_close(ours32.double(), ours, rtol=0, atol=1e-5)
    assert 0.0 < float(ours.mean()) < 1.0


def test_ssim_drops_with_noise_and_is_symmetric():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, 32, 32, generator=g) * 2 - 1
    small = x + 0.05 * torch.randn(x.shape, generator=g)
    large = x + 0.5 * torch.randn(x.shape, generator=g)
    assert float(ssim(x, small)) > float(ssim(x, large))
    assert float(ssim(x, large)) == pytest.approx(float(ssim(large, x)), abs=1e-6)


def test_gaussian_window():
    w = gaussian_window(11, 1.5, dtype=torch.float64)
    assert w.shape == (11,) and float(w.sum()) == pytest.approx(1.0)
    assert int(w.argmax()) == 5 and torch.allclose(w, w.flip(0))


def test_three_dimensional_inputs_are_one_image():
    x = torch.zeros(3, 16, 16)
    assert float(psnr(x, x + 0.1)) == pytest.approx(float(psnr(x[None], x[None] + 0.1)))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: l1(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 5)), "same shape"),
        (lambda: psnr(torch.zeros(4, 4), torch.zeros(4, 4)), r"\[N, C, H, W\]"),
        (
            lambda: psnr(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), data_range=0),
            "data_range=0",
        ),
        (lambda: ssim(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8)), "at least 11x11"),
        (lambda: ssim(torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 16), window_size=4), "odd"),
        (
            lambda: l1(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), reduction="max"),
            "reduction",
        ),
        (lambda: l1([0.0], [0.0]), "two tensors"),
    ],
)
def test_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
