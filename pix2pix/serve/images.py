"""Request bodies in, PNG bytes out: size limits checked before anything is read or decoded."""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
from PIL import Image, ImageOps
from starlette.requests import ClientDisconnect, Request

from pix2pix.serve.errors import ApiError

_FORMATS = ("PNG", "JPEG")
# modes the translator reads as they are; others are converted to the nearest of these
_KEPT_MODES = ("L", "LA", "RGB", "RGBA", "I;16", "I;16B", "I;16L")


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        f"The upload is larger than this server's limit of {limit:,} bytes; send a smaller "
        "image (or start the server with a larger --max-upload-mb).",
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The whole request body, refusing it with 413 as soon as it passes ``limit`` bytes.

    A declared ``Content-Length`` over the limit is refused before a byte is read; a body
    without one (chunked) is counted as it arrives, so memory never holds more than the limit.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        # ASCII digits only (str.isdigit() passes '²'); beyond 18 digits it is over any limit
        if not declared.isascii() or not declared.isdigit():
            raise ApiError(400, f"Content-Length {declared[:40]!r} is not a number.")
        if len(declared) > 18 or int(declared) > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect as e:  # gone, or closed by the server's body deadline
        raise ApiError(400, "The connection closed before the whole body arrived.") from e
    return b"".join(chunks)


async def _replay(body: bytes) -> Any:
    return {"type": "http.request", "body": body, "more_body": False}


async def image_bytes_from_request(request: Request, limit: int) -> bytes:
    """The image in a request: the raw body, or the first file of a multipart form.

    A multipart form may name its field ``image`` (preferred) or anything else; the first
    file part is used then.

    Raises:
        ApiError: 413 beyond ``limit``, 400 for an empty body or a form without a file.
    """
    body = await read_body(request, limit)
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        # parse the body already read and bounded, replayed as a fresh request
        replayed = Request(request.scope, receive=lambda: _replay(body))
        try:
            form = await replayed.form(max_files=4, max_fields=16)
        except Exception as e:  # python-multipart raises several types for broken forms
            raise ApiError(400, f"The multipart form could not be read: {e}.") from e
        files = [v for v in form.values() if hasattr(v, "read") and hasattr(v, "filename")]
        image = form.get("image")
        upload = image if hasattr(image, "read") else (files[0] if files else None)
        if upload is None:
            raise ApiError(400, "The form holds no file; send the image in a field 'image'.")
        body = await upload.read()
    if not body:
        raise ApiError(
            400, "The request has no body; send a PNG or JPEG image (or a form field 'image')."
        )
    return body


def decode_image(data: bytes, max_pixels: int) -> Image.Image:
    """Decode a PNG or JPEG after checking its pixel count from the header alone.

    ``Image.open`` reads only the header, so a decompression bomb (a small file that
    decodes to gigapixels) is refused before its pixels are allocated. JPEG orientation
    (EXIF) is applied, and palette/CMYK images become RGB(A) as the translator expects.

    Raises:
        ApiError: 400 for anything that is not a PNG or JPEG, 413 beyond ``max_pixels``.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data), formats=list(_FORMATS))
    except Image.DecompressionBombError as e:  # PIL's own, far higher, limit
        raise ApiError(
            413, f"The image has more pixels than this server's limit of {max_pixels:,}."
        ) from e
    except (Image.UnidentifiedImageError, OSError, ValueError) as e:
        raise ApiError(
            400, "The body is not a PNG or JPEG image; send the image file's bytes."
        ) from e
    width, height = image.size
    if width * height > max_pixels:
        raise ApiError(
            413,
            f"The image is {width}x{height} ({width * height:,} pixels), more than this "
            f"server's limit of {max_pixels:,}; send a smaller image (or start the server "
            "with a larger --max-pixels).",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.load()
            image = ImageOps.exif_transpose(image) or image
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise ApiError(400, f"The image is damaged and cannot be decoded: {e}.") from e
    if image.mode not in _KEPT_MODES:
        transparent = "transparency" in image.info or image.mode in ("PA", "RGBa", "La")
        gray = image.mode in ("1", "P") and _palette_is_gray(image)
        target = ("LA" if transparent else "L") if gray else ("RGBA" if transparent else "RGB")
        image = image.convert(target)
    return image


def _palette_is_gray(image: Image.Image) -> bool:
    if image.mode == "1":
        return True
    palette = image.getpalette() or []
    rgb = np.asarray(palette, dtype=np.int32).reshape(-1, 3)
    return bool((rgb == rgb[:, :1]).all())


def encode_png(image: Any) -> bytes:
    """PNG bytes of a translator result (a PIL image), fast compression (it is sent once)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
