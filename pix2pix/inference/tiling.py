"""Running a fully convolutional generator on any size: padding to a multiple, and tiling."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Forward = Callable[[torch.Tensor], torch.Tensor]


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad ``x`` ``[N, C, H, W]`` at the bottom/right to multiples of ``multiple``.

    Reflection padding keeps the border statistics natural; when the image is too small to
    reflect (the pad exceeds the side), edge replication is used instead.

    Returns:
        The padded tensor and the original ``(H, W)``.
    """
    height, width = x.shape[-2:]
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if pad_h or pad_w:
        mode = "reflect" if pad_h < height and pad_w < width else "replicate"
        x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
    return x, (height, width)


def pad_to_multiple_in_graph(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """:func:`pad_to_multiple` as tensor operations only, for exported graphs of any size.

    The same padding value for value (reflection, or edge replication when the image is too
    small to reflect), but the choice and the amounts are computed on tensors rather than in
    Python: an exported graph (``torch.export``/ONNX, TorchScript) whose height and width are
    free cannot branch on them. Each axis is gathered through an index vector; the input is
    copied even when no padding is needed, which is why eager code uses :func:`pad_to_multiple`.

    Returns:
        The padded tensor (the original size is ``x.shape[-2:]``, for the caller to crop back).
    """
    height, width = x.shape[-2], x.shape[-1]
    rows_reflected, rows_replicated = _pad_indices(height, multiple, x.device)
    cols_reflected, cols_replicated = _pad_indices(width, multiple, x.device)
    # pad_to_multiple reflects only when both pads are smaller than their sides, i.e. when no
    # reflected index falls below 0
    reflect = (rows_reflected.min() >= 0) & (cols_reflected.min() >= 0)
    rows = torch.where(reflect, rows_reflected.clamp(min=0), rows_replicated)
    cols = torch.where(reflect, cols_reflected.clamp(min=0), cols_replicated)
    return x.index_select(2, rows).index_select(3, cols)


def _pad_indices(
    length: int, multiple: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Source indices of one axis padded to ``multiple``: (reflected, edge-replicated)."""
    # ceil written with non-negative operands only: ONNX's Div truncates toward zero, so the
    # usual -(-length // multiple) would round the wrong way in the exported graph
    padded = (length + multiple - 1) // multiple * multiple
    index = torch.arange(padded, device=device)
    reflected = torch.where(index < length, index, 2 * (length - 1) - index)
    return reflected, index.clamp(max=length - 1)


def run_padded(forward: Forward, x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad to ``multiple``, run ``forward``, and crop back to the input size."""
    padded, (height, width) = pad_to_multiple(x, multiple)
    return forward(padded)[..., :height, :width]


def _ramp(length: int, overlap: int, device: torch.device) -> torch.Tensor:
    """A 1D blending weight: linear ramps of ``overlap`` pixels at both ends, 1 in between."""
    position = torch.arange(length, device=device, dtype=torch.float32) + 0.5
    ramp = torch.minimum(position, length - position) / max(overlap, 1)
    return ramp.clamp(1e-3, 1.0)


def _starts(size: int, tile: int, stride: int) -> list[int]:
    starts = list(range(0, max(size - tile, 0) + 1, stride))
    if starts[-1] + tile < size:
        starts.append(size - tile)
    return starts


def run_tiled(
    forward: Forward, x: torch.Tensor, multiple: int, tile: int, overlap: int
) -> torch.Tensor:
    """Translate ``x`` in overlapping ``tile`` x ``tile`` windows blended with linear ramps.

    Memory is bounded by the tile size rather than the image size. Overlapping outputs are
    averaged with weights that fall off linearly towards each tile's edges, which hides seams.

    Args:
        forward: The generator (``[N, C, t, t] -> [N, C', t, t]``).
        x: Input ``[N, C, H, W]``.
        multiple: Size multiple the generator needs; ``tile`` is rounded up to it.
        tile: Tile side in pixels.
        overlap: Pixels shared by neighbouring tiles.

    Returns:
        The output ``[N, C', H, W]``.

    Raises:
        ValueError: If ``tile`` or ``overlap`` are out of range.
    """
    if tile <= 0:
        raise ValueError(f"tile={tile!r} must be a positive number of pixels.")
    tile = -(-tile // multiple) * multiple
    if not 0 <= overlap < tile:
        raise ValueError(f"tile_overlap={overlap!r} must be in [0, tile) (tile is {tile}).")
    height, width = x.shape[-2:]
    if height <= tile and width <= tile:
        return run_padded(forward, x, multiple)
    # make both sides at least one tile, then cover the image with tiles
    padded, _ = pad_to_multiple(x, 1)
    pad_h, pad_w = max(tile - height, 0), max(tile - width, 0)
    if pad_h or pad_w:
        padded = F.pad(padded, (0, pad_w, 0, pad_h), mode="replicate")
    full_h, full_w = padded.shape[-2:]
    stride = tile - overlap
    output: torch.Tensor | None = None
    weights: torch.Tensor | None = None
    window = _ramp(tile, overlap, x.device)
    window = window[:, None] * window[None, :]
    for top in _starts(full_h, tile, stride):
        for left in _starts(full_w, tile, stride):
            piece = forward(padded[..., top : top + tile, left : left + tile]).float()
            if output is None or weights is None:  # the first tile (both are set together)
                output = piece.new_zeros(piece.shape[0], piece.shape[1], full_h, full_w)
                weights = piece.new_zeros(1, 1, full_h, full_w)
            output[..., top : top + tile, left : left + tile] += piece * window
            weights[..., top : top + tile, left : left + tile] += window
    assert output is not None and weights is not None  # _starts never returns an empty list
    return (output / weights)[..., :height, :width]
