"""The one downloader behind pretrained models and standard datasets (standard library only).

:func:`fetch` streams a URL to a file with a tqdm bar (size, speed, ETA), connect and read
timeouts, retries with exponential backoff, and resumes a partial file with an HTTP ``Range``
request. Bytes go to ``NAME.part`` beside the final file, which is renamed into place only once
complete and verified, so a process killed at any moment never leaves a half file under the
final name (the ``.part`` is resumed next time).

Integrity is trust-on-first-use where no hash is known in advance: the sha256 and size of every
file are recorded in a small JSON manifest in the cache at its first download, and checked on
every later use and every later download of the same entry. A file that fails its check is
deleted, never kept.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import hashlib
import http.client
import json
import os
import shutil
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pix2pix._files import atomic_write_text, fsync_directory
from pix2pix.pretrained.cache import ENV_OFFLINE, cache_dir, is_offline
from pix2pix.version import __version__

__all__ = [
    "DiskSpaceError",
    "DownloadError",
    "HTTPStatusError",
    "IntegrityError",
    "Manifest",
    "NetworkError",
    "OfflineError",
    "fetch",
    "sha256_file",
    "verify_file",
]

# Module settings rather than arguments threaded through every caller; tests lower them.
RETRIES = 4
BACKOFF_SECONDS = 1.0
CONNECT_TIMEOUT = 15.0
READ_TIMEOUT = 60.0
CHUNK_BYTES = 1 << 20
# Room left on the disk beyond the download itself (metadata, the converted copy's headroom).
DISK_MARGIN_BYTES = 64 << 20

MANIFEST_NAME = "manifest.json"


class DownloadError(RuntimeError):
    """A download failed; ``url`` names what was asked for."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class NetworkError(DownloadError):
    """The server could not be reached (no network, DNS failure, refused, timed out)."""


class HTTPStatusError(DownloadError):
    """The server answered with an error status (``status``)."""

    def __init__(self, message: str, *, url: str, status: int) -> None:
        super().__init__(message, url=url)
        self.status = status


class IntegrityError(DownloadError):
    """A file's size or sha256 differs from the expected or recorded one; it was deleted."""


class DiskSpaceError(DownloadError):
    """Not enough free space, before starting or while writing (the message names the path)."""


class OfflineError(FileNotFoundError):
    """``PIX2PIX_OFFLINE=1`` and the entry is not in the cache."""


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
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
) -> str:
    """Check ``path`` against the expected hash/size, else against its manifest record.

    With no expectation and no record, the file's hash and size are recorded (its first use),
    so a file placed in the cache by hand is trusted once and checked from then on.

    Returns:
        The file's sha256.

    Raises:
        IntegrityError: On a mismatch; the file is deleted first.
    """
    path = Path(path)
    manifest = manifest or Manifest()
    key = manifest.key(path)
    record = manifest.get(key)
    actual_size = path.stat().st_size
    want_size = size if size is not None else (record or {}).get("size")
    if want_size is not None and actual_size != want_size:
        path.unlink(missing_ok=True)
        raise IntegrityError(
            f"{path} has {actual_size:,} bytes, expected {want_size:,}"
            f"{_source(sha256, record, manifest)}; it was deleted. Run again to download it "
            "afresh.",
            url=url,
        )
    actual = sha256_file(path)
    want = sha256 or (record or {}).get("sha256")
    if want is not None and actual != want:
        path.unlink(missing_ok=True)
        raise IntegrityError(
            f"{path} has sha256 {actual}, expected {want}{_source(sha256, record, manifest)}; "
            "the file is damaged or was changed on the server, and it was deleted. Run again to "
            "download it afresh; if the server's file legitimately changed, remove its entry "
            f"{key!r} from {manifest.path}.",
            url=url,
        )
    if record is None or record.get("sha256") != actual:
        manifest.record(key, sha256=actual, size=actual_size, url=url)
    return actual


def _source(sha256: str | None, record: Mapping[str, Any] | None, manifest: Manifest) -> str:
    if sha256 is not None or record is None:
        return ""
    return f" (recorded in {manifest.path} at its first download, {record.get('recorded')})"


def fetch(
    url: str,
    destination: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    size: int | None = None,
    what: str | None = None,
    progress: bool = True,
    manifest: Manifest | None = None,
) -> Path:
    """Download ``url`` to ``destination`` unless a verified copy is already there.

    An existing ``destination`` is checked (:func:`verify_file`) and returned without any
    request. Otherwise the file is downloaded to ``destination.part`` (resumed if a previous
    attempt left one), verified, recorded in the manifest and renamed into place.

    Args:
        url: What to download (``http://``, ``https://`` or ``file://``).
        destination: The final file; its folder is created.
        sha256: The expected hex sha256, when known in advance.
        size: The expected size in bytes, when known in advance.
        what: How to name the file in messages (default: its file name).
        progress: Show a tqdm progress bar.
        manifest: The manifest to record in (default: the cache's).

    Returns:
        ``destination`` as a ``Path``.

    Raises:
        OfflineError: ``PIX2PIX_OFFLINE=1`` and the file is not there.
        NetworkError: The server cannot be reached after the retries.
        HTTPStatusError: The server answered 4xx, or 5xx after the retries.
        IntegrityError: The downloaded file fails its size or hash check (it is deleted).
        DiskSpaceError: The disk is too full (checked first when the size is known).
    """
    destination = Path(destination)
    manifest = manifest or Manifest()
    what = what or destination.name
    if destination.is_file():
        verify_file(destination, sha256=sha256, size=size, manifest=manifest, url=url)
        return destination
    if is_offline():
        raise OfflineError(
            f"{what} is not in the cache ({destination}) and {ENV_OFFLINE}=1 forbids "
            f"downloading it from {url}. Download it once online, or place the file there by "
            "hand."
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".part")
    _download_with_retries(url, partial, destination, what=what, progress=progress)
    checked = _PartialManifest(manifest, destination)
    try:
        verify_file(partial, sha256=sha256, size=size, manifest=checked, url=url)
    except IntegrityError as error:
        message = str(error).replace(str(partial), f"{what} from {url}")
        raise IntegrityError(message, url=url) from None
    os.replace(partial, destination)
    fsync_directory(destination.parent)
    return destination


class _PartialManifest(Manifest):
    """Checks and records a ``.part`` file under the key of the final file it becomes."""

    def __init__(self, manifest: Manifest, final: Path) -> None:
        super().__init__(manifest.path)
        self._final_key = manifest.key(final)

    def key(self, file: str | os.PathLike[str]) -> str:
        return self._final_key


def _manual_hint(url: str, destination: Path) -> str:
    return (
        f"Check the connection (or set a mirror with PIX2PIX_DOWNLOAD_URL), or download {url} "
        f"by hand and place it at {destination}."
    )


def _download_with_retries(
    url: str, partial: Path, destination: Path, *, what: str, progress: bool
) -> None:
    last: BaseException | None = None
    for attempt in range(RETRIES + 1):
        if attempt:
            time.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
        try:
            _download_once(url, partial, destination, what=what, progress=progress)
            return
        except urllib.error.HTTPError as error:
            # 4xx will not change on retry (408 and 429 are the server asking to come back)
            if error.code < 500 and error.code not in (408, 429):
                raise HTTPStatusError(
                    f"Downloading {what} failed: {url} answered HTTP {error.code} "
                    f"{error.reason}. {_status_hint(error.code)}",
                    url=url,
                    status=error.code,
                ) from None
            last = error
        except (
            urllib.error.URLError,
            http.client.HTTPException,
            ConnectionError,
            TimeoutError,
            _ShortRead,
        ) as error:
            last = error
            if isinstance(getattr(error, "reason", None), socket.gaierror) and attempt:
                break  # a name that did not resolve twice will not resolve on a third try
    if isinstance(last, urllib.error.HTTPError):
        raise HTTPStatusError(
            f"Downloading {what} failed: {url} answered HTTP {last.code} {last.reason} "
            f"{RETRIES + 1} times. The server may be down; try later. "
            f"{_manual_hint(url, destination)}",
            url=url,
            status=last.code,
        )
    reason = getattr(last, "reason", last)
    kind = "could not reach the server"
    if isinstance(reason, socket.gaierror):
        kind = "the server's name could not be resolved (no network or DNS failure)"
    elif isinstance(reason, TimeoutError):
        kind = "the connection timed out"
    elif isinstance(last, (_ShortRead, http.client.HTTPException, ConnectionResetError)):
        kind = "the connection kept dropping"
    kept = f" The partial file {partial} is kept and resumes next time." if partial.exists() else ""
    raise NetworkError(
        f"Downloading {what} failed after {attempt + 1} attempts: {kind} ({reason}). URL: {url}. "
        f"{_manual_hint(url, destination)}{kept}",
        url=url,
    )


def _status_hint(status: int) -> str:
    if status == 404:
        return "The file does not exist there (a wrong name, or a mirror with another layout)."
    if status in (401, 403):
        return "The server refuses access."
    return ""


class _ShortRead(Exception):
    """The body ended before its announced length (a dropped connection)."""


def _download_once(
    url: str, partial: Path, destination: Path, *, what: str, progress: bool
) -> None:
    from tqdm.auto import tqdm

    start = partial.stat().st_size if partial.exists() else 0
    headers = {"User-Agent": f"pix2pix/{__version__}"}
    if start:
        headers["Range"] = f"bytes={start}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=CONNECT_TIMEOUT)
    except urllib.error.HTTPError as error:
        if error.code == 416 and start:
            # the partial file is not a prefix the server can continue: start over
            partial.unlink(missing_ok=True)
            raise _ShortRead("the server refused to resume; restarting") from None
        raise
    with contextlib.closing(response):
        _set_read_timeout(response)
        status = getattr(response, "status", 200)
        if start and status != 206:
            start = 0  # the server ignored the Range header and sends the whole file
        length = response.headers.get("Content-Length")
        remaining = int(length) if length and length.isdigit() else None
        total = start + remaining if remaining is not None else None
        if remaining is not None:
            _check_disk_space(destination, remaining)
        mode = "ab" if start else "wb"
        received = 0
        bar = tqdm(
            total=total,
            initial=start,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=what,
            disable=not progress,
            leave=False,
        )
        try:
            with bar, open(partial, mode) as out:
                while True:
                    chunk = response.read(CHUNK_BYTES)
                    if not chunk:
                        break
                    try:
                        out.write(chunk)
                    except OSError as error:
                        if error.errno in (errno.ENOSPC, errno.EDQUOT):
                            raise DiskSpaceError(
                                f"The disk is full: writing {partial} failed after "
                                f"{start + received:,} bytes of {what}. Free some space (or "
                                "set PIX2PIX_HOME to a larger disk) and run again; the download "
                                "resumes.",
                                url=url,
                            ) from None
                        raise
                    received += len(chunk)
                    bar.update(len(chunk))
        except http.client.IncompleteRead as error:
            raise _ShortRead(f"connection dropped after {start + received:,} bytes") from error
    if remaining is not None and received < remaining:
        raise _ShortRead(f"connection dropped after {start + received:,} of {total:,} bytes")


def _set_read_timeout(response: Any) -> None:
    # urlopen's timeout covers the connection; the socket of the response then gets the (longer)
    # read timeout, where the standard library exposes it
    sock = getattr(getattr(getattr(response, "fp", None), "raw", None), "_sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.settimeout(READ_TIMEOUT)


def _check_disk_space(destination: Path, needed: int) -> None:
    try:
        free = shutil.disk_usage(destination.parent).free
    except OSError:
        return
    if free < needed + DISK_MARGIN_BYTES:
        raise DiskSpaceError(
            f"Not enough disk space for {destination.name} in {destination.parent}: it needs "
            f"{_mb(needed)} (plus {_mb(DISK_MARGIN_BYTES)} headroom), {_mb(free)} is free. Free "
            "some space or choose another folder (PIX2PIX_HOME, or --root for datasets)."
        )


def _mb(count: int) -> str:
    return f"{count / 2**20:,.0f} MiB"
