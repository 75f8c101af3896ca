"""Reading image files into arrays without losing bit depth or orientation."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has one of :data:`IMAGE_EXTENSIONS` (any case)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def pil_to_array(image: Image.Image) -> np.ndarray:
    """Convert a PIL image to an ``HxWxC`` array, keeping 16-bit data as ``uint16``.

    Palette images become RGB (RGBA when they carry transparency), ``LA`` keeps its alpha,
    CMYK/YCbCr become RGB, 16/32-bit integer images become ``uint16`` (values above 65535 are
    clipped), float images are scaled from [0, 1] to ``uint16``.

    Returns:
        An ``uint8`` or ``uint16`` array with 1, 2 (gray + alpha), 3 or 4 channels.
    """
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        image = image.convert("RGB")
    elif mode == "1":
        image = image.convert("L")
    elif mode == "PA":
        image = image.convert("RGBA")
    mode = image.mode
    if mode.startswith("I;16"):
        array = np.asarray(image).astype(np.uint16)
    elif mode == "I":
        array = np.clip(np.asarray(image), 0, 65535).astype(np.uint16)
    elif mode == "F":
        array = (np.clip(np.asarray(image), 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16)
    else:
        array = np.asarray(image)
    if array.ndim == 2:
        array = array[:, :, None]
    return np.ascontiguousarray(array)


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as an ``HxWxC`` ``uint8`` or ``uint16`` array, EXIF orientation applied.

    Args:
        path: The image file.

    Returns:
        The pixels (see :func:`pil_to_array` for the channel rules).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file cannot be decoded, naming it.

    Example:
        >>> read_image("photo.png").shape  # doctest: +SKIP
        (256, 256, 3)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Image file not found: {path}")
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            return pil_to_array(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ValueError(
            f"Could not read image {path}: {error}. The file is corrupt or not an image."
        ) from None
