"""Conversions between user image types and model tensors, with the channel rules.

Every supported input (PIL image, file path, numpy array, torch tensor) becomes a float tensor
``[1, C, H, W]`` in [-1, 1] with the model's channel count, plus what is needed to turn the
model's output back into the same kind of object (:class:`ImageSpec`).

Channel rules (model input side), applied to images (not to tensors, which must already match):

* an alpha channel (2- or 4-channel images, unless the model takes 4 channels) is set aside
  and re-attached to the output unchanged;
* gray to a 3-channel model: the gray value is repeated on R, G and B;
* RGB to a 1-channel model: luminance ``0.299 R + 0.587 G + 0.114 B`` (ITU-R BT.601, as PIL);
* anything else that differs raises ``ValueError`` naming expected and actual channels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from pix2pix.constants import LUMA_WEIGHTS
from pix2pix.data.io import pil_to_array, read_image


@dataclass
class ImageSpec:
    """How an input was given, so the output can be returned in the same form."""

    kind: str  # "pil", "numpy" or "tensor"
    dtype: Any = None  # numpy dtype or torch dtype of the input
    squeeze: bool = False  # numpy HxW input, or tensor CxHxW input
    device: torch.device | None = None
    alpha: torch.Tensor | None = None  # [1, 1, H, W] in [0, 1]


def _array_to_unit_float(array: np.ndarray, source: str) -> np.ndarray:
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if array.dtype == np.uint16:
        return array.astype(np.float32) / 65535.0
    if np.issubdtype(array.dtype, np.floating):
        low, high = float(np.nanmin(array)), float(np.nanmax(array))
        if low < -1e-3 or high > 1 + 1e-3 or np.isnan(low):
            raise ValueError(
                f"{source}: float arrays must hold values in [0, 1]; got the range "
                f"[{low:.4g}, {high:.4g}]. Divide by 255 (8-bit) or 65535 (16-bit) first."
            )
        return np.clip(array, 0.0, 1.0).astype(np.float32)
    raise ValueError(
        f"{source}: unsupported array dtype {array.dtype}; use uint8, uint16 or float in [0, 1]."
    )


def _match_channels(
    image: torch.Tensor, channels: int, source: str
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Apply the channel rules to ``image`` ``[1, C, H, W]`` in [0, 1]."""
    have = image.shape[1]
    alpha = None
    if have != channels and have in (2, 4):
        image, alpha = image[:, :-1], image[:, -1:]
        have -= 1
    if have == channels:
        return image, alpha
    if have == 1 and channels == 3:
        return image.expand(-1, 3, -1, -1), alpha
    if have == 3 and channels == 1:
        weights = torch.tensor(LUMA_WEIGHTS, dtype=image.dtype).view(1, 3, 1, 1)
        return (image * weights).sum(1, keepdim=True), alpha
    raise ValueError(
        f"{source}: the model expects {channels} input channel(s); got an image with "
        f"{image.shape[1]}. Convert the image (e.g. PIL's .convert('RGB')) or use a model "
        f"trained on {image.shape[1]}-channel inputs."
    )


def to_model_input(x: Any, channels: int) -> tuple[torch.Tensor, ImageSpec]:
    """Convert one image-like object to ``([1 or N, channels, H, W] in [-1, 1], spec)``.

    Raises:
        FileNotFoundError: For a path that does not exist.
        ValueError: For unsupported types, shapes, dtypes, value ranges or channel counts.
    """
    if isinstance(x, (str, os.PathLike)):
        array, source, spec = read_image(x), str(x), ImageSpec("pil")
        spec.dtype = array.dtype
    elif isinstance(x, Image.Image):
        array, source, spec = pil_to_array(x), "PIL image", ImageSpec("pil")
        spec.dtype = array.dtype
    elif isinstance(x, np.ndarray):
        source = f"array of shape {x.shape}"
        if x.ndim not in (2, 3):
            raise ValueError(f"{source}: expected HxW or HxWxC; got {x.ndim} dimensions.")
        spec = ImageSpec("numpy", dtype=x.dtype, squeeze=x.ndim == 2)
        array = x[:, :, None] if x.ndim == 2 else x
    elif isinstance(x, torch.Tensor):
        return _tensor_input(x, channels)
    else:
        raise ValueError(
            f"Cannot translate an object of type {type(x).__name__}; pass a PIL image, a file "
            "path, a numpy array (HxWxC), a torch tensor (CxHxW or NxCxHxW) or a list of these."
        )
    unit = torch.from_numpy(np.ascontiguousarray(_array_to_unit_float(array, source)))
    unit = unit.permute(2, 0, 1).unsqueeze(0)
    unit, spec.alpha = _match_channels(unit, channels, source)
    return unit * 2.0 - 1.0, spec


def _tensor_input(x: torch.Tensor, channels: int) -> tuple[torch.Tensor, ImageSpec]:
    source = f"tensor of shape {tuple(x.shape)}"
    if x.dim() not in (3, 4):
        raise ValueError(f"{source}: expected CxHxW or NxCxHxW.")
    if not x.is_floating_point():
        raise ValueError(f"{source}: expected a float tensor in [-1, 1]; got {x.dtype}.")
    batch = x.unsqueeze(0) if x.dim() == 3 else x
    if batch.shape[1] != channels:
        raise ValueError(
            f"{source}: the model expects {channels} input channel(s); got {batch.shape[1]}."
        )
    spec = ImageSpec("tensor", dtype=x.dtype, squeeze=x.dim() == 3, device=x.device)
    return batch, spec


def from_model_output(y: torch.Tensor, spec: ImageSpec) -> Any:
    """Turn a model output ``[N, C, H, W]`` in [-1, 1] back into the input's kind."""
    if spec.kind == "tensor":
        tensor = y.to(device=spec.device, dtype=spec.dtype)
        return tensor[0] if spec.squeeze else tensor
    unit = ((y.float().cpu() + 1.0) / 2.0).clamp(0.0, 1.0)
    if spec.alpha is not None and unit.shape[1] in (1, 3):
        unit = torch.cat([unit, spec.alpha], dim=1)
    array = unit[0].permute(1, 2, 0).numpy()
    if spec.kind == "numpy" and np.issubdtype(spec.dtype, np.floating):
        out = array.astype(spec.dtype)
    else:
        deep = spec.dtype == np.uint16
        scale, dtype = (65535.0, np.uint16) if deep else (255.0, np.uint8)
        out = np.round(array * scale).astype(dtype)
    if spec.kind == "numpy":
        return out[:, :, 0] if spec.squeeze and out.shape[2] == 1 else out
    return array_to_pil(out)


def array_to_pil(array: np.ndarray) -> Image.Image:
    """Make a PIL image from an ``HxWxC`` ``uint8``/``uint16`` array (16-bit gray stays 16-bit)."""
    channels = array.shape[2]
    if array.dtype == np.uint16:
        if channels == 1:
            return Image.fromarray(array[:, :, 0])  # uint16 2-D arrays are read as I;16
        array = (array // 257).astype(np.uint8)  # PIL has no 16-bit colour mode
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}.get(channels)
    if mode is None:
        raise ValueError(f"Cannot make a PIL image with {channels} channels; ask for a tensor.")
    return Image.fromarray(array[:, :, 0] if channels == 1 else array, mode=mode)


def is_single_image(x: Any) -> bool:
    """Whether ``x`` is one image (as opposed to a list of them)."""
    return not isinstance(x, (list, tuple))


def as_path(x: Any) -> Path | None:
    """``x`` as a ``Path`` when it is a path, else ``None``."""
    return Path(x) if isinstance(x, (str, os.PathLike)) else None


def to_display(images: torch.Tensor) -> torch.Tensor:
    """Map ``[N, C, H, W]`` images in [-1, 1] to 3-channel [0, 1] for viewing.

    One channel is repeated to gray RGB; two channels (gray + alpha) show the gray; four or
    more show the first three.
    """
    images = images.detach().float().cpu()
    channels = images.shape[1]
    if channels < 3:
        images = images[:, :1].repeat(1, 3, 1, 1)
    elif channels > 3:
        images = images[:, :3]
    return ((images + 1.0) / 2.0).clamp(0.0, 1.0)
