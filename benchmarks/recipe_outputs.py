"""What ``paper_recipe.py`` brings back from a GPU machine: folder names, archives, size limits.

The machine returns at most 8 files of at most 16 MiB each, so the trained weights (218 MB)
stay there and the pictures and the test outputs are the record: every test output goes into
one archive, lossless if it fits (PNG, then lossless WebP), JPEG at quality 95 only if nothing
lossless fits (and then the archive's entry says so).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

from PIL import Image, features

from pix2pix._files import atomic_write_text
from pix2pix.evaluation.score import json_ready

MAX_FILES = 8  # files the device machine returns
MAX_FILE_BYTES = 16 * 2**20  # per file
ARCHIVE_LIMIT = 15 * 2**20  # what an archive may reach: a margin under MAX_FILE_BYTES


def card_slug(name: str | None) -> str:
    """``"h100"`` for ``"NVIDIA H100 80GB HBM3"``, ``"h200"`` for ``"NVIDIA H200"``; else a slug.

    Example:
        >>> card_slug("NVIDIA H100 80GB HBM3"), card_slug("NVIDIA GeForce RTX 4090")
        ('h100', 'geforce-rtx-4090')
    """
    if not name:
        return "cpu"
    match = re.search(r"\b([A-Z]\d{2,4}[A-Z]?)\b", name.replace("NVIDIA", ""))
    if match and name.upper().startswith(("NVIDIA A", "NVIDIA H", "NVIDIA B", "NVIDIA L")):
        return match.group(1).lower()
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower().replace("nvidia", "")).strip("-")
    return slug or "gpu"


def results_folder(task: str, size: int, card: str, smoke: bool) -> str:
    """``quality-facades-256-gpu-h100`` (or ``quality-facades-32-cpu-smoke`` for a dry run)."""
    where = f"gpu-{card}" if card != "cpu" else "cpu"
    return f"quality-{task}-{size}-{where}" + ("-smoke" if smoke else "")


def _encode(path: Path, fmt: str) -> tuple[str, bytes]:
    """``path`` (a PNG) as ``fmt``: the same name with the format's extension, and the bytes."""
    if fmt == "png":
        return path.name, path.read_bytes()
    with Image.open(path) as image:
        buffer = io.BytesIO()
        if fmt == "webp":
            image.save(buffer, "WEBP", lossless=True, quality=100, method=4)
        else:
            image.convert("RGB").save(buffer, "JPEG", quality=95, subsampling=0)
    suffix = {"webp": ".webp", "jpeg": ".jpg"}[fmt]
    return path.with_suffix(suffix).name, buffer.getvalue()


def pack_images(
    files: list[Path], archive: Path, *, folder: str = "", limit: int = ARCHIVE_LIMIT
) -> dict[str, Any]:
    """Zip ``files`` (PNGs) into ``archive`` (stored, not deflated: images are compressed).

    Tries PNG as written, then lossless WebP, then JPEG 95, and keeps the first that fits in
    ``limit`` bytes (the last one whatever its size). Returns the archive's record: file,
    format, lossless, count, bytes, within_limit.
    """
    formats = ["png", *(["webp"] if features.check("webp") else []), "jpeg"]
    for fmt in formats:
        encoded = [_encode(path, fmt) for path in files]
        # the zip's own overhead is ~100 bytes per entry
        if sum(len(data) + 200 for _, data in encoded) <= limit or fmt == formats[-1]:
            break
    archive.parent.mkdir(parents=True, exist_ok=True)
    tmp = archive.with_name(archive.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in encoded:
            zf.writestr(f"{folder}/{name}" if folder else name, data)
    tmp.replace(archive)
    size = archive.stat().st_size
    return {
        "file": archive.name,
        "format": fmt,
        "lossless": fmt != "jpeg",
        "count": len(encoded),
        "bytes": size,
        "within_limit": size <= limit,  # False only when not even JPEG fits
    }


def write_json(path: Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` atomically (a kill leaves the previous version, never half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, json.dumps(json_ready(payload), indent=2, default=str) + "\n")


def check_returnable(output: Path) -> list[str]:
    """Problems that would keep files under ``output`` from coming back (empty: none)."""
    files = sorted(p for p in output.rglob("*") if p.is_file())
    problems = []
    if len(files) > MAX_FILES:
        problems.append(f"{len(files)} files under {output}; only {MAX_FILES} come back")
    for path in files:
        if path.stat().st_size > MAX_FILE_BYTES:
            problems.append(f"{path} is {path.stat().st_size / 2**20:.1f} MiB, over 16 MiB")
        if len(path.relative_to(output).parts) > 3:
            problems.append(f"{path} is too deep to come back")
    return problems
