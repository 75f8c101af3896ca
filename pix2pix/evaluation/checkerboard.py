"""Checkerboard statistic: how much more period-2 grid the output has than its target.

A stride-2 transposed convolution whose kernel size is not a multiple of its stride paints a
period-2 grid over the image (Odena, Dumoulin and Olah, "Deconvolution and Checkerboard
Artifacts", Distill 2016), the most common complaint about pix2pix outputs. Any pattern that
repeats every 2 pixels is a sum of the constant and three Fourier components: the Nyquist
frequencies ``(pi, 0)`` (rows alternate), ``(0, pi)`` (columns alternate) and ``(pi, pi)`` (a
checkerboard). :func:`checkerboard` measures the share of an image's energy at those three
frequencies and compares the output's share with the target's.

Definition, per image (:func:`period2_energy_fraction`):

1. Luma of the display-range image (ITU-R BT.601; the channel mean for other channel counts),
   its mean removed, multiplied by a periodic 2-D Hann window, so the image border (not
   periodic) adds no energy along the axes, where ``(pi, 0)`` and ``(0, pi)`` lie.
2. ``P = |FFT2|^2``.
3. The fraction ``F = P[near] / P[all]``, where a bin is *near* a period-2 frequency when its
   distance to the Nyquist frequency is at most 1.5 frequency steps along one axis or both and,
   for ``(pi, 0)`` and ``(0, pi)``, its distance to 0 is at most 1 step along the other. The
   window spreads a pure frequency over ±1 step, so for even sizes a pure period-2 pattern
   lands in these bins exactly (``F = 1``); for odd sizes, where no bin sits at Nyquist, the
   1.5 steps take the two bins either side of it (``F`` > 0.99 for a pure pattern).

The statistic of a pair is ``10 log10((F_output + floor) / (F_target + floor))`` in dB, with
``floor`` :data:`FRACTION_FLOOR` (1e-7) so that a synthetic target with no period-2 energy at
all gives a finite number. 0 dB ideal (output and target have the same share); positive: the
output carries a grid the target lacks (+3 dB: twice the target's share); negative: the output
has less period-2 energy than the target, which blur also produces. Calibration on four
facades photos at 128 px: a 3x3 box blur gives -8.5 dB, a checkerboard of +-1 grey level added
+4.9 dB, +-2 levels +9.4 dB, +-4 levels +14.9 dB, a 2x upsampling by a 3x3 stride-2 transposed
convolution +22.8 dB (bilinear upsampling -32.6 dB), Gaussian noise of 4 grey levels +0.1 dB:
noise spreads its energy over every frequency, so unlike sharpness and the high-frequency
deficit this statistic barely moves with moderate noise (strong white noise raises it towards
white noise's share, 27 bins of the spectrum). Facades photos hold 3e-6 to 5e-3 of their energy at
these frequencies (median 8e-5 at 256 px, 3e-4 at 128 px). It is the *fraction* of energy, so
it does not depend on contrast: a faint, flat output with a grid scores high even when its
absolute grid energy is small.

Only period 2: that is what the last stride-2 layer leaves, at frequencies where natural images
have little energy. Deeper stride-2 layers leave periods 4, 8 ..., which fall where image
content is strong and would be drowned in it. Images under :data:`MIN_SIDE` pixels a side
(whose Nyquist and zero neighbourhoods would overlap) and flat images give NaN.
"""

from __future__ import annotations

import math

import torch

from pix2pix.evaluation.blur import check_pair, display_range, to_luma

#: Energy fraction below which period-2 energy counts as this value (-70 dB): keeps a target
#: with none at all finite; 35x below the least measured on facades photos (3.5e-6 at 256 px).
FRACTION_FLOOR = 1e-7

#: Least height and width measured; smaller images give NaN.
MIN_SIDE = 8

_NYQUIST_STEPS = 1.5  # bins within this many steps of Nyquist belong to it (odd sizes: 2 bins)
_ZERO_STEPS = 1  # bins within this many steps of 0: the Hann window's main lobe


def _near(size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks ``[size]`` of the FFT bins near the Nyquist frequency and near 0, in bin steps."""
    steps = (torch.fft.fftfreq(size, device=device, dtype=torch.float64) * size).round().abs()
    # size / 2 - |k| is exact in float64, so the 1.5 boundary is not a rounding accident
    return size / 2 - steps <= _NYQUIST_STEPS, steps <= _ZERO_STEPS


def period2_energy_fraction(images: torch.Tensor) -> torch.Tensor:
    """Per image: the share of its luma energy at the period-2 frequencies, ``[N]`` float64.

    See the module docstring for the definition; NaN for flat images and for images under
    :data:`MIN_SIDE` pixels a side.

    Examples:
        >>> y, x = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
        >>> grid = ((-1.0) ** (x + y)).expand(1, 3, 16, 16) * 0.5  # a pure checkerboard
        >>> round(float(period2_energy_fraction(grid)), 6)
        1.0
    """
    luma = to_luma(display_range(images))[:, 0]
    n, h, w = luma.shape
    if min(h, w) < MIN_SIDE:
        return torch.full((n,), math.nan, dtype=torch.float64, device=images.device)
    luma = luma - luma.mean(dim=(1, 2), keepdim=True)
    window = torch.outer(
        torch.hann_window(h, periodic=True, dtype=luma.dtype, device=luma.device),
        torch.hann_window(w, periodic=True, dtype=luma.dtype, device=luma.device),
    )
    power = torch.fft.fft2(luma * window).abs().square()
    nyquist_y, zero_y = _near(h, luma.device)
    nyquist_x, zero_x = _near(w, luma.device)
    # (pi, 0) and (pi, pi): rows near Nyquist; (0, pi): columns near Nyquist, rows near 0
    near = (nyquist_y[:, None] & (nyquist_x | zero_x)[None, :]) | (
        zero_y[:, None] & nyquist_x[None, :]
    )
    total = power.flatten(1).sum(1)
    fraction = power[:, near].sum(1) / total
    # a flat image has no energy to share out; float noise of a constant gives ~1e-30
    return torch.where(total > 1e-20 * h * w, fraction, torch.full_like(fraction, math.nan))


def checkerboard(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per image: output's period-2 energy share over the target's, in dB, ``[N]`` float64.

    ``10 log10((F_output + 1e-7) / (F_target + 1e-7))`` with ``F`` from
    :func:`period2_energy_fraction`. 0 dB ideal; positive when the output has a grid the
    target lacks, negative when it has less period-2 energy (blur). NaN for a flat image or
    one under :data:`MIN_SIDE` pixels a side.

    Examples:
        >>> target = torch.rand(1, 3, 32, 32) * 2 - 1
        >>> y, x = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
        >>> gridded = target + 0.1 * (-1.0) ** (x + y)
        >>> float(checkerboard(target, target)), bool(checkerboard(gridded, target) > 1)
        (0.0, True)
    """
    check_pair(output, target)
    ratio = (period2_energy_fraction(output) + FRACTION_FLOOR) / (
        period2_energy_fraction(target) + FRACTION_FLOOR
    )
    return 10 * torch.log10(ratio)
