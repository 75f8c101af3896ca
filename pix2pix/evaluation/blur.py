"""Blur-aware statistics: what L1, PSNR and SSIM reward, seen from the other side.

L1, PSNR and SSIM all reward smooth outputs when the generator is unsure: a blurry, low-contrast
image is close, on average, to every plausible target. These statistics compare an output with
its target on what blur removes, and need no network weights:

* :func:`sharpness`: mean Sobel gradient magnitude of the output over that of the target (1.0
  ideal; below 1 the output has weaker edges than the target, above 1 stronger ones).
* :func:`high_frequency_deficit`: how much spectral power the output lacks in the upper half of
  the spectrum. Radially averaged power spectra (luma, mean removed, Hann window) of output and
  target, in decibels; the deficit is the mean of ``10 log10(P_target / P_output)`` over the
  radial frequencies from :data:`BAND_EDGE` (0.5, half the Nyquist frequency: periods of 2 to 4
  pixels) to the Nyquist frequency. 0 dB ideal; +3 dB means half the fine-detail power is
  missing, a negative value means excess detail (noise, checkerboard artefacts).
* :func:`color_emd`: earth mover's distance between the per-channel 256-bin histograms of
  output and target, in grey levels (0 ideal): how far the colour and tone distribution has
  moved, e.g. a washed-out, low-contrast output.

How they mislead: all three compare statistics, not content. Noise or checkerboard artefacts
raise gradient magnitude and high-frequency power, so sharpness near 1 and a small deficit do
not mean right details (read them beside L1 and the pictures); a sharpness above 1 is not
better. The spectrum is dominated by the texture of large regions (brick, glass), and JPEG
targets carry compression artefacts in the top band, which the deficit counts as detail. The
histogram distance ignores where colours are: a spatially scrambled image can score 0. Per-image
values on ~100 images are noisy; compare rows on the same test set only.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from pix2pix.constants import LUMA_WEIGHTS

#: Lower edge of the high-frequency band, as a fraction of the Nyquist frequency.
BAND_EDGE = 0.5

_EPS = 1e-12


def display_range(images: torch.Tensor) -> torch.Tensor:
    """``[N, C, H, W]`` in [-1, 1] to float64 in [0, 1]."""
    if images.dim() != 4:
        raise ValueError(f"images must be [N, C, H, W]; got shape {tuple(images.shape)}.")
    return ((images.double() + 1) / 2).clamp(0, 1)


def to_luma(images: torch.Tensor) -> torch.Tensor:
    """``[N, 1, H, W]`` luminance of display-range images (the mean for other channel counts)."""
    if images.shape[1] == 3:
        weights = torch.tensor(LUMA_WEIGHTS, dtype=images.dtype, device=images.device)
        return (images * weights.view(1, 3, 1, 1)).sum(1, keepdim=True)
    return images.mean(1, keepdim=True)


def check_pair(output: torch.Tensor, target: torch.Tensor) -> None:
    """Refuse an output and a target of different shapes, in one line."""
    if output.shape != target.shape:
        raise ValueError(
            f"output and target must have the same shape; got {tuple(output.shape)} and "
            f"{tuple(target.shape)}."
        )


def gradient_magnitude(images: torch.Tensor) -> torch.Tensor:
    """Mean Sobel gradient magnitude of each image's luma (display range), ``[N]``.

    The 3x3 Sobel filters run without padding, so image borders add nothing.

    Examples:
        >>> ramp = torch.linspace(-1, 1, 9).expand(1, 3, 9, 9)  # 1/8 of the range per pixel
        >>> round(float(gradient_magnitude(ramp)), 6)
        0.125
    """
    luma = to_luma(display_range(images))
    kx = torch.tensor(
        [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=luma.dtype, device=luma.device
    )
    kernels = torch.stack([kx, kx.T]).unsqueeze(1) / 8  # a unit step gives magnitude 1
    grad = F.conv2d(luma, kernels)
    return grad.square().sum(1).sqrt().flatten(1).mean(1)


def sharpness(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per image: mean gradient magnitude of ``output`` over that of ``target``, ``[N]``.

    1.0 ideal; below 1 blurrier (weaker edges) than the target. NaN for a flat target.

    Examples:
        >>> target = torch.rand(1, 3, 32, 32) * 2 - 1
        >>> blurred = torch.nn.functional.avg_pool2d(target, 5, 1, 2, count_include_pad=False)
        >>> bool(sharpness(blurred, target) < 1), float(sharpness(target, target))
        (True, 1.0)
    """
    check_pair(output, target)
    reference = gradient_magnitude(target)
    ratio = gradient_magnitude(output) / reference
    return torch.where(reference > _EPS, ratio, torch.full_like(ratio, math.nan))


def radial_power_spectrum(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(frequency, power)``: radially averaged power spectrum of each image's luma.

    The luma (display range) has its mean removed and is multiplied by a 2-D Hann window (so the
    image border is not counted as an edge), then ``|FFT|^2`` is averaged over rings one
    frequency step wide. ``frequency`` ``[B]`` is the ring's radius as a fraction of the Nyquist
    frequency (0 to 1; the corners beyond Nyquist are left out); ``power`` is ``[N, B]``.

    Examples:
        >>> freq, power = radial_power_spectrum(torch.rand(2, 3, 32, 32))
        >>> freq.shape, power.shape, float(freq[-1])
        (torch.Size([17]), torch.Size([2, 17]), 1.0)
    """
    luma = to_luma(display_range(images))[:, 0]
    n, h, w = luma.shape
    luma = luma - luma.mean(dim=(1, 2), keepdim=True)
    window = torch.outer(
        torch.hann_window(h, periodic=False, dtype=luma.dtype, device=luma.device),
        torch.hann_window(w, periodic=False, dtype=luma.dtype, device=luma.device),
    )
    power = torch.fft.fft2(luma * window).abs().square()
    fy = torch.fft.fftfreq(h, dtype=luma.dtype, device=luma.device)
    fx = torch.fft.fftfreq(w, dtype=luma.dtype, device=luma.device)
    radius = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2) / 0.5  # 1 = Nyquist
    steps = min(h, w) // 2
    ring = torch.round(radius * steps).long().flatten()
    keep = ring <= steps
    sums = torch.zeros(n, steps + 1, dtype=luma.dtype, device=luma.device)
    sums.index_add_(1, ring[keep], power.flatten(1)[:, keep])
    counts = torch.bincount(ring[keep], minlength=steps + 1).to(luma.dtype)
    frequency = torch.arange(steps + 1, dtype=luma.dtype, device=luma.device) / steps
    return frequency, sums / counts.clamp(min=1)


def high_frequency_deficit(
    output: torch.Tensor, target: torch.Tensor, band_edge: float = BAND_EDGE
) -> torch.Tensor:
    """Per image: mean of ``10 log10(P_target / P_output)`` over the upper band, in dB, ``[N]``.

    ``P`` is :func:`radial_power_spectrum`; the band is the rings from ``band_edge`` x Nyquist
    to Nyquist. 0 dB for identical images; positive when the output lacks fine detail (blur),
    negative when it has more than the target (noise, artefacts).

    Examples:
        >>> target = torch.rand(1, 3, 32, 32) * 2 - 1
        >>> blurred = torch.nn.functional.avg_pool2d(target, 3, 1, 1, count_include_pad=False)
        >>> deficit = high_frequency_deficit(blurred, target)
        >>> float(high_frequency_deficit(target, target)), bool(deficit > 3)
        (0.0, True)
    """
    check_pair(output, target)
    if not 0.0 <= band_edge < 1.0:
        raise ValueError(f"band_edge={band_edge!r} must be in [0, 1) (a fraction of Nyquist).")
    frequency, p_out = radial_power_spectrum(output)
    _, p_target = radial_power_spectrum(target)
    band = frequency >= band_edge
    ratio = 10 * (torch.log10(p_target[:, band] + _EPS) - torch.log10(p_out[:, band] + _EPS))
    return ratio.mean(1)


def color_emd(output: torch.Tensor, target: torch.Tensor, bins: int = 256) -> torch.Tensor:
    """Per image: earth mover's distance of the per-channel histograms, in grey levels, ``[N]``.

    Each channel is quantised to ``bins`` levels of the display range; the 1-D EMD is the area
    between the two cumulative histograms, scaled to 0-255 grey levels, and averaged over
    channels. 0 for equal distributions; shifting every pixel by ``k`` levels gives ``k``.

    Examples:
        >>> a = torch.zeros(1, 3, 8, 8)
        >>> float(color_emd(a, a)), round(float(color_emd(a + 20 / 127.5, a)), 3)
        (0.0, 20.0)
    """
    check_pair(output, target)
    n, c = output.shape[:2]

    def histograms(images: torch.Tensor) -> torch.Tensor:
        levels = torch.round(display_range(images) * (bins - 1)).long().flatten(2)  # [N, C, HW]
        counts = torch.zeros(n, c, bins, dtype=torch.float64, device=images.device)
        counts.scatter_add_(2, levels, torch.ones_like(levels, dtype=torch.float64))
        return counts / levels.shape[2]

    cdf_gap = (histograms(output).cumsum(2) - histograms(target).cumsum(2)).abs().sum(2)
    return (cdf_gap * 255.0 / (bins - 1)).mean(1)


def blur_statistics(
    output: torch.Tensor, target: torch.Tensor, band_edge: float = BAND_EDGE
) -> dict[str, torch.Tensor]:
    """``sharpness``, ``hf_deficit_db`` and ``color_emd`` of each pair, each ``[N]`` float64.

    Examples:
        >>> a = torch.rand(2, 3, 32, 32) * 2 - 1
        >>> {k: v.tolist() for k, v in blur_statistics(a, a).items()}
        {'sharpness': [1.0, 1.0], 'hf_deficit_db': [0.0, 0.0], 'color_emd': [0.0, 0.0]}
    """
    return {
        "sharpness": sharpness(output, target),
        "hf_deficit_db": high_frequency_deficit(output, target, band_edge),
        "color_emd": color_emd(output, target),
    }
