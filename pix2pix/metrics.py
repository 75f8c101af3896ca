"""Image-quality metrics on tensors: mean absolute error, PSNR and SSIM.

Inputs are ``[N, C, H, W]`` (or ``[C, H, W]``) tensors. By default they are assumed to be in
[-1, 1], the range the generator outputs, so ``data_range`` is 2; pass ``data_range=1.0`` for
[0, 1] images or ``255.0`` for 8-bit values. ``reduction="none"`` returns one value per image.

Examples:
    >>> import torch
    >>> from pix2pix.metrics import psnr, ssim
    >>> x = torch.zeros(1, 3, 16, 16)
    >>> float(psnr(x, x)), float(ssim(x, x))
    (inf, 1.0)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

REDUCTIONS = ("mean", "sum", "none")

__all__ = ["l1", "psnr", "ssim"]


def _prepare(prediction: torch.Tensor, target: torch.Tensor, name: str) -> tuple[torch.Tensor, ...]:
    if not isinstance(prediction, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise ValueError(
            f"{name} expects two tensors; got {type(prediction).__name__} and "
            f"{type(target).__name__}."
        )
    if prediction.shape != target.shape:
        raise ValueError(
            f"{name} needs prediction and target of the same shape; got "
            f"{tuple(prediction.shape)} and {tuple(target.shape)}."
        )
    if prediction.dim() == 3:
        prediction, target = prediction.unsqueeze(0), target.unsqueeze(0)
    if prediction.dim() != 4:
        raise ValueError(
            f"{name} expects [N, C, H, W] or [C, H, W] tensors; got {tuple(prediction.shape)}."
        )
    # metrics in half precision lose digits that matter for PSNR; float64 stays float64
    dtype = torch.promote_types(torch.promote_types(prediction.dtype, target.dtype), torch.float32)
    return prediction.to(dtype), target.to(dtype)


def _check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction={reduction!r} is not supported; choose one of {REDUCTIONS}.")


def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values


def _check_range(data_range: float) -> None:
    if not data_range > 0:
        raise ValueError(
            f"data_range={data_range!r} must be positive: 2.0 for [-1, 1] images, 1.0 for [0, 1]."
        )


def l1(prediction: torch.Tensor, target: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Mean absolute error per image (in the images' own units), then reduced over the batch.

    Args:
        prediction: ``[N, C, H, W]`` or ``[C, H, W]``.
        target: Same shape.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (one value per image).

    Examples:
        >>> float(l1(torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)))
        1.0
    """
    _check_reduction(reduction)
    prediction, target = _prepare(prediction, target, "l1")
    return _reduce((prediction - target).abs().flatten(1).mean(1), reduction)


def psnr(
    prediction: torch.Tensor,
    target: torch.Tensor,
    *,
    data_range: float = 2.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB: ``10 * log10(data_range**2 / MSE)`` per image.

    Identical images give ``inf``. The mean over a batch is the mean of the per-image values
    (as most papers report it), not the PSNR of the pooled MSE.

    Args:
        prediction: ``[N, C, H, W]`` or ``[C, H, W]``.
        target: Same shape.
        data_range: Max minus min of the value range (2 for [-1, 1]).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Examples:
        >>> round(float(psnr(torch.zeros(1, 1, 4, 4), torch.full((1, 1, 4, 4), 0.2))), 2)
        20.0
    """
    _check_range(data_range)
    _check_reduction(reduction)
    prediction, target = _prepare(prediction, target, "psnr")
    mse = (prediction - target).pow(2).flatten(1).mean(1)
    return _reduce(10.0 * torch.log10(data_range**2 / mse), reduction)


def gaussian_window(size: int = 11, sigma: float = 1.5, *, dtype: torch.dtype = torch.float32):
    """The normalised 1-D Gaussian used by SSIM (11 taps, sigma 1.5 in Wang et al. 2004).

    Examples:
        >>> round(float(gaussian_window().sum()), 6)
        1.0
    """
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    window = torch.exp(-(coords**2) / (2.0 * sigma**2))
    return (window / window.sum()).to(dtype)


def ssim(
    prediction: torch.Tensor,
    target: torch.Tensor,
    *,
    data_range: float = 2.0,
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    reduction: str = "mean",
) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) with a Gaussian window, per image.

    Local means, variances and covariance are Gaussian-weighted (``window_size`` x
    ``window_size``, ``sigma``) over every position where the window fits inside the image (no
    padding, as the reference MATLAB code's ``'valid'`` filtering); the SSIM map is averaged over
    positions and channels. ``C1 = (k1 * data_range)**2``, ``C2 = (k2 * data_range)**2``.

    Args:
        prediction: ``[N, C, H, W]`` or ``[C, H, W]``, at least ``window_size`` pixels a side.
        target: Same shape.
        data_range: Max minus min of the value range (2 for [-1, 1]).
        window_size: Side of the Gaussian window (odd).
        sigma: Standard deviation of the Gaussian window, in pixels.
        k1: Luminance stabiliser.
        k2: Contrast stabiliser.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Raises:
        ValueError: If the images are smaller than the window or arguments are out of range.

    Examples:
        >>> x = torch.rand(2, 3, 32, 32) * 2 - 1
        >>> float(ssim(x, x))
        1.0
    """
    _check_range(data_range)
    _check_reduction(reduction)
    if window_size < 1 or window_size % 2 == 0:
        raise ValueError(f"window_size={window_size!r} must be a positive odd integer.")
    if not sigma > 0:
        raise ValueError(f"sigma={sigma!r} must be positive.")
    prediction, target = _prepare(prediction, target, "ssim")
    height, width = prediction.shape[-2:]
    if height < window_size or width < window_size:
        raise ValueError(
            f"ssim needs images of at least {window_size}x{window_size} pixels; got "
            f"{height}x{width}. Pass a smaller odd window_size for tiny images."
        )
    channels = prediction.shape[1]
    g = gaussian_window(window_size, sigma, dtype=prediction.dtype).to(prediction.device)
    # separable filtering: a row pass then a column pass, one group per channel
    row = g.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)
    col = g.view(1, 1, -1, 1).repeat(channels, 1, 1, 1)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(x, row, groups=channels), col, groups=channels)

    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    mu_x, mu_y = blur(prediction), blur(target)
    sigma_xx = blur(prediction * prediction) - mu_x**2
    sigma_yy = blur(target * target) - mu_y**2
    sigma_xy = blur(prediction * target) - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + c1) * (2 * sigma_xy + c2)
    denominator = (mu_x**2 + mu_y**2 + c1) * (sigma_xx + sigma_yy + c2)
    return _reduce((numerator / denominator).flatten(1).mean(1), reduction)
