"""Reading and writing image files as arrays without losing bit depth or orientation.

Pillow decodes every format here except one case: it reduces 16-bit RGB(A) and gray+alpha PNGs
to 8 bits. Those go through ``torchvision.io.decode_image``, which keeps them as ``uint16``
(torchvision deprecated its decoders in 0.29, hence the warning filter and the Pillow fallback).
Pillow cannot *write* 16-bit colour PNGs either, so :func:`write_image` has a small PNG encoder
for them.
"""

from __future__ import annotations

import os
import re
import struct
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG colour types (IHDR byte 25) that Pillow cannot decode at 16 bits: gray+alpha, RGB, RGBA.
_PNG_COLOUR_TYPES_PILLOW_TRUNCATES = (2, 4, 6)
_PNG_COLOUR_TYPE_FOR_CHANNELS = {1: 0, 2: 4, 3: 2, 4: 6}
_JPEG_QUALITY = 95


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has one of :data:`IMAGE_EXTENSIONS` (any case).

    Examples:
        >>> is_image_file("facade.JPG"), is_image_file("notes.txt")
        (True, False)
    """
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def natural_sort_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders digit runs by value, so ``"2.jpg"`` comes before ``"10.jpg"``.

    Examples:
        >>> sorted(["10.jpg", "2.jpg", "1.jpg"], key=natural_sort_key)
        ['1.jpg', '2.jpg', '10.jpg']
    """
    # (0, number) sorts before (1, text) so "a1" < "a_"; ties fall back to the raw string below.
    parts = re.split(r"(\d+)", text.lower())
    key = tuple((0, int(part)) if part.isdigit() else (1, part) for part in parts if part)
    return (*key, (1, text))


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """The image files directly inside ``folder`` (not its subfolders), in natural order.

    Hidden files (names starting with ``.``) are ignored.

    Raises:
        FileNotFoundError: If ``folder`` does not exist.
        NotADirectoryError: If ``folder`` is a file.

    Examples:
        >>> [p.name for p in list_images("facades/train")][:3]  # doctest: +SKIP
        ['1.jpg', '2.jpg', '3.jpg']
    """
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"Folder not found: {folder}")
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file; expected a folder of images.")
    files = [
        entry
        for entry in folder.iterdir()
        if not entry.name.startswith(".") and is_image_file(entry) and entry.is_file()
    ]
    return sorted(files, key=lambda p: natural_sort_key(p.name))


def pil_to_array(image: Image.Image) -> np.ndarray:
    """Convert a PIL image to an ``HxWxC`` array, keeping 16-bit data as ``uint16``.

    Palette images become RGB (RGBA when they carry transparency), ``LA`` keeps its alpha,
    CMYK/YCbCr become RGB, 16/32-bit integer images become ``uint16`` (values above 65535 are
    clipped), float images are scaled from [0, 1] to ``uint16``.

    Returns:
        An ``uint8`` or ``uint16`` array with 1, 2 (gray + alpha), 3 or 4 channels.

    Examples:
        >>> pil_to_array(Image.new("L", (4, 2))).shape
        (2, 4, 1)
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
    if not array.flags.writeable:  # np.asarray shares Pillow's read-only bytes
        return np.array(array, order="C")
    return np.ascontiguousarray(array)


def _is_16bit_colour_png(path: Path) -> bool:
    """Whether ``path`` is a PNG that Pillow would reduce to 8 bits (reads 26 header bytes).

    Raises:
        PIL.Image.DecompressionBombError: If it is one and its header declares more pixels than
            Pillow's limit, which torchvision's decoder does not check.
    """
    with open(path, "rb") as file:
        header = file.read(26)
    if not (
        len(header) == 26
        and header.startswith(_PNG_SIGNATURE)
        and header[24] == 16
        and header[25] in _PNG_COLOUR_TYPES_PILLOW_TRUNCATES
    ):
        return False
    width, height = struct.unpack(">II", header[16:24])
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > 2 * limit:
        raise Image.DecompressionBombError(  # Pillow's own wording
            f"Image size ({width * height} pixels) exceeds limit of {2 * limit} pixels, could "
            "be decompression bomb DOS attack."
        )
    return True


def _decode_16bit_png(path: Path) -> np.ndarray | None:
    """Decode a 16-bit colour PNG with torchvision; ``None`` when torchvision cannot."""
    try:
        from torchvision.io import ImageReadMode, decode_image
    except ImportError:  # a future torchvision without image decoders
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        tensor = decode_image(str(path), mode=ImageReadMode.UNCHANGED, apply_exif_orientation=True)
    return np.ascontiguousarray(tensor.permute(1, 2, 0).numpy())


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as an ``HxWxC`` ``uint8`` or ``uint16`` array, EXIF orientation applied.

    16-bit PNGs (gray or colour) come back as ``uint16`` with their full range; everything else
    as ``uint8``. Channels follow the file: 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA).

    Args:
        path: The image file.

    Returns:
        The pixels (see :func:`pil_to_array` for the channel rules).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file cannot be decoded, naming it; also for an image with more
            pixels than Pillow's decompression-bomb limit (``2 * PIL.Image.MAX_IMAGE_PIXELS``),
            16-bit colour PNGs included.

    Examples:
        >>> read_image("photo.png").shape  # doctest: +SKIP
        (256, 256, 3)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Image file not found: {path}")
    try:
        if path.suffix.lower() == ".png" and _is_16bit_colour_png(path):
            array = _decode_16bit_png(path)
            if array is not None:
                return array
            warnings.warn(
                f"{path} is a 16-bit colour PNG but this torchvision cannot decode it; reading it "
                "with Pillow, which reduces it to 8 bits.",
                stacklevel=2,
            )
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            return pil_to_array(image)
    except Image.DecompressionBombError as error:  # not an OSError: it would escape "skip"
        raise ValueError(
            f"Could not read image {path}: {error} If you trust the file, raise "
            "PIL.Image.MAX_IMAGE_PIXELS (None turns the check off) before reading it, or "
            "downscale the image."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, RuntimeError) as error:
        raise ValueError(
            f"Could not read image {path}: {error}. The file is corrupt or not an image."
        ) from None


def _png_bytes_16bit(array: np.ndarray) -> bytes:
    """Encode an ``HxWxC`` ``uint16`` array (C in 1..4) as a 16-bit PNG."""
    height, width, channels = array.shape
    rows = np.ascontiguousarray(array.astype(">u2")).view(np.uint8).reshape(height, -1)
    # Every scanline starts with filter type 0 (None); zlib does the compression.
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    colour_type = _PNG_COLOUR_TYPE_FOR_CHANNELS[channels]
    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return (
        _PNG_SIGNATURE
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + chunk(b"IEND", b"")
    )


def write_image(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """Write an ``HxWxC`` (or ``HxW``) ``uint8``/``uint16`` array; the format follows the suffix.

    ``uint16`` arrays are written as 16-bit PNGs (any of 1-4 channels). JPEGs are written at
    quality 95 and cannot hold alpha or 16 bits.

    Args:
        path: Destination file; its suffix picks the format.
        array: The pixels.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: If the array cannot be stored in that format, saying which format can.

    Examples:
        >>> write_image("/tmp/gray.png", np.zeros((8, 8), np.uint16))
        PosixPath('/tmp/gray.png')
    """
    path = Path(path)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or not 1 <= array.shape[2] <= 4:
        raise ValueError(
            f"Cannot write {path}: expected HxWxC with 1-4 channels, got shape {array.shape}"
        )
    suffix = path.suffix.lower()
    if array.dtype == np.uint16:
        if suffix != ".png":
            raise ValueError(
                f"Cannot write {path}: 16-bit images can only be written as PNG here; use a "
                ".png name (or --ext png)."
            )
        path.write_bytes(_png_bytes_16bit(array))
        return path
    if array.dtype != np.uint8:
        raise ValueError(f"Cannot write {path}: expected uint8 or uint16 pixels, got {array.dtype}")
    if suffix in (".jpg", ".jpeg") and array.shape[2] in (2, 4):
        raise ValueError(
            f"Cannot write {path}: JPEG has no alpha channel; use a .png name (or --ext png)."
        )
    # Pillow infers L / LA / RGB / RGBA from the shape of a uint8 array.
    image = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    options: dict[str, Any] = (
        {"quality": _JPEG_QUALITY} if suffix in (".jpg", ".jpeg", ".webp") else {}
    )
    image.save(path, **options)
    return path
