"""Trust on first use: the sha256 and size of every file the cache has accepted, and the check.

:class:`Manifest` is a small JSON file in the cache; :func:`verify_file` checks a file against
an expected hash and size, else against its record, and deletes it on a mismatch.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pix2pix._files import atomic_write_text
from pix2pix.pretrained.cache import cache_dir
from pix2pix.pretrained.errors import IntegrityError

MANIFEST_NAME = "manifest.json"
_CHUNK_BYTES = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class Manifest:
    """The JSON record of sha256 and size for every file the cache has seen.

    Keys are paths relative to the cache folder when the file is inside it (so a cache moved as
    a whole stays valid), else absolute paths. Writes are atomic; the last writer wins when two
    processes record at once, which only loses a record, never corrupts the file.

    Args:
        path: The manifest file (default ``cache_dir()/manifest.json``).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else cache_dir() / MANIFEST_NAME

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            # a damaged manifest only loses the records; the files are checked afresh
            return {}
        return data if isinstance(data, dict) else {}

    def key(self, file: str | os.PathLike[str]) -> str:
        """The manifest key of ``file``."""
        path = Path(file).absolute()
        try:
            return path.relative_to(cache_dir().absolute()).as_posix()
        except ValueError:
            return str(path)

    def get(self, key: str) -> dict[str, Any] | None:
        """The record under ``key`` (``sha256``, ``size``, ``url``, ``recorded``), if any."""
        record = self._read().get(key)
        return record if isinstance(record, dict) else None

    def record(self, key: str, *, sha256: str, size: int, url: str | None = None) -> None:
        """Store ``sha256`` and ``size`` under ``key``."""
        data = self._read()
        data[key] = {"sha256": sha256, "size": size, "url": url, "recorded": _now()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def forget(self, key: str) -> None:
        """Remove the record under ``key`` (after a file is deliberately replaced)."""
        data = self._read()
        if data.pop(key, None) is not None:
            atomic_write_text(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def verify_file(
    path: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    size: int | None = None,
    manifest: Manifest | None = None,
    url: str | None = None,
    record: bool = True,
) -> str:
    """Check ``path`` against the expected hash/size, else against its manifest record.

    With no expectation and no record, the file's hash and size are recorded (its first use),
    so a file placed in the cache by hand is trusted once and checked from then on;
    ``record=False`` leaves that to the caller, once its own checks have passed.

    Returns:
        The file's sha256.

    Raises:
        IntegrityError: On a mismatch; the file is deleted first.
    """
    path = Path(path)
    manifest = manifest or Manifest()
    key = manifest.key(path)
    known = manifest.get(key)
    actual_size = path.stat().st_size
    want_size = size if size is not None else (known or {}).get("size")
    if want_size is not None and actual_size != want_size:
        path.unlink(missing_ok=True)
        raise IntegrityError(
            f"{path} has {actual_size:,} bytes, expected {want_size:,}"
            f"{_source(sha256, known, manifest)}; it was deleted. Run again to download it "
            f"afresh{_changed_hint(sha256, known, key, manifest)}.",
            url=url,
        )
    actual = sha256_file(path)
    want = sha256 or (known or {}).get("sha256")
    if want is not None and actual != want:
        path.unlink(missing_ok=True)
        raise IntegrityError(
            f"{path} has sha256 {actual}, expected {want}{_source(sha256, known, manifest)}; "
            "the file is damaged or was changed on the server, and it was deleted. Run again to "
            f"download it afresh{_changed_hint(sha256, known, key, manifest)}.",
            url=url,
        )
    if record and (known is None or known.get("sha256") != actual):
        manifest.record(key, sha256=actual, size=actual_size, url=url)
    return actual


def _source(sha256: str | None, record: Mapping[str, Any] | None, manifest: Manifest) -> str:
    if sha256 is not None or record is None:
        return ""
    return f" (recorded in {manifest.path} at its first download, {record.get('recorded')})"


def _changed_hint(
    sha256: str | None, record: Mapping[str, Any] | None, key: str, manifest: Manifest
) -> str:
    if sha256 is not None or record is None:
        return ""
    return (
        f"; if the server's file legitimately changed, remove its entry {key!r} from "
        f"{manifest.path}"
    )
