"""The one downloader behind pretrained models and standard datasets (standard library only).

:func:`fetch` streams a URL to a file with a tqdm bar (size, speed, ETA), connect and read
timeouts, retries with exponential backoff, and resumes a partial file with an HTTP ``Range``
request. Bytes go to ``NAME.part`` beside the final file, which is renamed into place only once
complete and verified, so a process killed at any moment never leaves a half file under the
final name (the ``.part`` is resumed next time).

A resumed download continues only the same version of the file: the first response's
validator (a strong ``ETag``, else ``Last-Modified``) is kept beside the ``.part`` file and sent
as ``If-Range``, so a server whose file changed sends the whole new file instead of the rest of
it; a ``206`` naming another version, or a ``.part`` whose version is unknown, starts over.

Integrity is trust-on-first-use where no hash is known in advance: the sha256 and size of a file
are recorded in a small JSON manifest in the cache once it has passed its checks (the caller's
``check``: the archive extracts, the checkpoint converts), and checked on every later use and
every later download of the same entry. A file that fails any check is deleted and nothing is
recorded, so the next run downloads it again; a bad download never sticks.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import json
import os
import re
import shutil
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pix2pix._files import atomic_write_text, fsync_directory
from pix2pix.pretrained.cache import ENV_OFFLINE, is_offline
from pix2pix.pretrained.errors import (
    DiskSpaceError,
    HTTPStatusError,
    IntegrityError,
    NetworkError,
    OfflineError,
    RejectedFileError,
)
from pix2pix.pretrained.manifest import Manifest, verify_file
from pix2pix.version import __version__

# Module settings rather than arguments threaded through every caller; tests lower them.
RETRIES = 4
BACKOFF_SECONDS = 1.0
CONNECT_TIMEOUT = 15.0
READ_TIMEOUT = 60.0
CHUNK_BYTES = 1 << 20
# Room left on the disk beyond the download itself (metadata, the converted copy's headroom).
DISK_MARGIN_BYTES = 64 << 20


def fetch(
    url: str,
    destination: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    size: int | None = None,
    what: str | None = None,
    progress: bool = True,
    manifest: Manifest | None = None,
    check: Callable[[Path], None] | None = None,
    force: bool = False,
) -> Path:
    """Download ``url`` to ``destination`` unless a verified copy is already there.

    An existing ``destination`` is checked (:func:`verify_file`) and used without any request.
    Otherwise the file is downloaded to ``destination.part`` (resumed if a previous attempt
    left one of the same version), checked against the expected or recorded size and hash, and
    renamed into place. Then ``check`` runs on it; only a file that passes everything is
    recorded in the manifest. A file that fails is deleted and nothing is recorded, so the next
    call downloads it again.

    Args:
        url: What to download (``http://``, ``https://`` or ``file://``).
        destination: The final file; its folder is created.
        sha256: The expected hex sha256, when known in advance.
        size: The expected size in bytes, when known in advance.
        what: How to name the file in messages (default: its file name).
        progress: Show a tqdm progress bar.
        manifest: The manifest to record in (default: the cache's).
        check: Called with the file (cached or new); raises ``ValueError`` if its content is
            not what it should be (an archive that does not extract, a checkpoint that does
            not convert). Its work is the caller's: it runs on every call.
        force: Download again even if ``destination`` exists (it and any ``.part`` are
            deleted first; a recorded hash still applies to the new download).

    Returns:
        ``destination`` as a ``Path``.

    Raises:
        OfflineError: ``PIX2PIX_OFFLINE=1`` and the file is not there.
        NetworkError: The server cannot be reached after the retries.
        HTTPStatusError: The server answered 4xx, or 5xx after the retries.
        IntegrityError: The downloaded file fails its size or hash check (it is deleted).
        RejectedFileError: ``check`` refused the file (it is deleted); the message is the
            check's, with what was done.
        DiskSpaceError: The disk is too full (checked first when the size is known).
    """
    destination = Path(destination)
    manifest = manifest or Manifest()
    what = what or destination.name
    partial = destination.with_name(destination.name + ".part")
    if force:
        if is_offline():  # checked first: deleting the cached copy could not be undone
            raise OfflineError(
                f"{ENV_OFFLINE}=1 forbids downloading {what} again from {url}; the cached copy "
                f"({destination}) is kept. Unset {ENV_OFFLINE} to force a new download."
            )
        for stale in (destination, partial, _validator_path(partial)):
            stale.unlink(missing_ok=True)
    if destination.is_file():
        digest = verify_file(
            destination, sha256=sha256, size=size, manifest=manifest, url=url, record=False
        )
    else:
        if is_offline():
            raise OfflineError(
                f"{what} is not in the cache ({destination}) and {ENV_OFFLINE}=1 forbids "
                f"downloading it from {url}. Download it once online, or place the file there "
                "by hand."
            )
        destination.parent.mkdir(parents=True, exist_ok=True)
        _download_with_retries(url, partial, destination, what=what, progress=progress)
        checked = _PartialManifest(manifest, destination)
        try:
            digest = verify_file(
                partial, sha256=sha256, size=size, manifest=checked, url=url, record=False
            )
        except IntegrityError as error:
            message = str(error).replace(str(partial), f"{what} from {url}")
            raise IntegrityError(message, url=url) from None
        finally:
            _validator_path(partial).unlink(missing_ok=True)
        os.replace(partial, destination)
        fsync_directory(destination.parent)
    if check is not None:
        _run_check(check, destination, url)
    key = manifest.key(destination)
    if (manifest.get(key) or {}).get("sha256") != digest:
        manifest.record(key, sha256=digest, size=destination.stat().st_size, url=url)
    return destination


def _run_check(check: Callable[[Path], None], path: Path, url: str) -> None:
    try:
        check(path)
    except ValueError as error:
        html = _looks_like_html(path)
        path.unlink(missing_ok=True)
        hint = (
            " The server sent an HTML page, not the file (a login portal, a proxy, or a moved "
            "URL?)."
            if html
            else ""
        )
        raise RejectedFileError(
            f"{str(error).rstrip()}{hint} The download ({url}) was deleted and nothing was "
            "recorded, so the next run downloads it again.",
            url=url,
        ) from error


def _looks_like_html(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(1024).lstrip().lower()
    except OSError:
        return False
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml")) or b"<html" in head


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


def _validator_path(partial: Path) -> Path:
    """Where the version (validator) of a ``.part`` file is kept while it is incomplete."""
    return partial.with_name(partial.name + ".json")


def _read_validator(partial: Path, url: str) -> dict[str, Any] | None:
    try:
        data = json.loads(_validator_path(partial).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("url") != url or not data.get("if_range"):
        return None
    return data


def _validator(headers: Any) -> str | None:
    """What to send as ``If-Range``: a strong ``ETag``, else ``Last-Modified`` (RFC 9110
    13.1.5: a weak ETag never matches, so a server would always send the whole file)."""
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return str(etag)
    modified = headers.get("Last-Modified")
    return str(modified) if modified else None


def _range_start(headers: Any) -> int | None:
    match = re.match(r"bytes (\d+)-\d+/(\d+|\*)$", headers.get("Content-Range") or "")
    return int(match.group(1)) if match else None


def _download_once(
    url: str, partial: Path, destination: Path, *, what: str, progress: bool
) -> None:
    from tqdm.auto import tqdm

    start = partial.stat().st_size if partial.exists() else 0
    known = _read_validator(partial, url) if start else None
    if start and known is None:
        # which version of the file the partial bytes belong to is unknown: continuing could
        # splice two versions into one file, so start over
        partial.unlink()
        start = 0
    headers = {"User-Agent": f"pix2pix/{__version__}"}
    if known is not None:
        headers["Range"] = f"bytes={start}-"
        headers["If-Range"] = known["if_range"]
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
        if start and status == 206:
            same = _validator(response.headers) in (None, known["if_range"])  # type: ignore[index]
            if not same or _range_start(response.headers) != start:
                # a server that ignored If-Range, or sent another range: the rest would come
                # from another version of the file
                partial.unlink(missing_ok=True)
                _validator_path(partial).unlink(missing_ok=True)
                raise _ShortRead("the file changed on the server; restarting")
        elif start:
            start = 0  # the file changed (If-Range did not match) or Range was ignored: all of it
        if not start:
            # recorded before the first byte, so a kill at any moment leaves a .part whose
            # version is known
            validator = _validator(response.headers)
            if validator is None:
                _validator_path(partial).unlink(missing_ok=True)
            else:
                record = {"url": url, "if_range": validator}
                atomic_write_text(_validator_path(partial), json.dumps(record) + "\n")
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
