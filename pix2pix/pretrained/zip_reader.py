"""Bounded reading of zip archives, as safe as :func:`~pix2pix.pretrained.archive.safe_extract`.

Nothing here writes a path taken from the archive: callers pick members by a pattern and name
their outputs themselves, so no member can escape a folder. What is bounded:

* the central directory: ``zipfile`` reads it whole, and a ``ZipInfo`` per entry, as soon as
  the file is opened; its size and entry count are read from the end record first
  (:func:`open_zip`) and a directory over ``max_directory_bytes`` or ``max_members`` is refused;
* names: over :data:`~pix2pix.pretrained.archive.MAX_NAME_BYTES` refused, and cut in messages;
* members: :func:`read_member` refuses one declaring more than ``max_bytes`` and never reads
  past that (``zipfile`` itself stops at the declared size and checks the CRC).
"""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from pathlib import Path

from pix2pix.pretrained.archive import (
    DEFAULT_MAX_MEMBERS,
    MAX_NAME_BYTES,
    UnsafeArchiveError,
    show_name,
)

# The official Cityscapes zips list ~25k entries in ~3 MB; 64 MiB is room for ~600k entries.
DEFAULT_MAX_DIRECTORY_BYTES = 64 << 20

_END = b"PK\x05\x06"  # end of central directory record, 22 bytes + a comment
_END64_LOCATOR = b"PK\x06\x07"  # 20 bytes, just before the end record
_END64 = b"PK\x06\x06"  # 56 bytes


def _directory_size(path: Path) -> tuple[int, int] | None:
    """``(entries, bytes)`` of the central directory, from the end record as ``zipfile`` finds
    it (the last 22 bytes, else the last signature in the final 64 KiB); ``None`` if absent."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        window = min(size, 22 + 0xFFFF)
        handle.seek(size - window)
        tail = handle.read(window)
        at = len(tail) - 22 if tail[-22:-18] == _END else tail.rfind(_END)
        if at < 0 or len(tail) - at < 22:
            return None
        fields = struct.unpack("<4s4H2LH", tail[at : at + 22])
        entries, directory = fields[4], fields[5]  # entries in all, directory bytes
        if (entries == 0xFFFF or directory == 0xFFFFFFFF) and at >= 20:
            locator = tail[at - 20 : at]
            if locator[:4] == _END64_LOCATOR:
                offset = struct.unpack("<4sLQL", locator)[2]
                handle.seek(offset)
                record = handle.read(56)
                if len(record) == 56 and record[:4] == _END64:
                    zip64 = struct.unpack("<4sQ2H2L4Q", record)
                    entries, directory = zip64[7], zip64[8]
    return entries, directory


def open_zip(
    path: str | os.PathLike[str],
    *,
    max_members: int = DEFAULT_MAX_MEMBERS,
    max_directory_bytes: int = DEFAULT_MAX_DIRECTORY_BYTES,
) -> zipfile.ZipFile:
    """Open a zip for reading once its central directory is known to be of a sane size.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        UnsafeArchiveError: For an oversized directory or a name over the limit.
        ValueError: If it is not a readable zip archive.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist (or is not a file).")
    found = _directory_size(path)
    if found is not None:
        entries, directory = found
        if entries > max_members or directory > max_directory_bytes:
            raise UnsafeArchiveError(
                f"{path}: its central directory declares {entries:,} entries in "
                f"{directory:,} bytes (the limits are {max_members:,} and "
                f"{max_directory_bytes:,}); refused."
            )
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, struct.error) as error:
        raise ValueError(
            f"{path} is not a readable zip archive (truncated or another format: {error})."
        ) from None
    for info in archive.infolist():
        if len(info.filename.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
            archive.close()
            raise UnsafeArchiveError(
                f"{path}: member {show_name(info.filename)} has a name longer than "
                f"{MAX_NAME_BYTES:,} bytes; refused."
            )
    return archive


def read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, max_bytes: int, label: str | None = None
) -> bytes:
    """The bytes of one member, refusing one that declares (or yields) more than ``max_bytes``.

    Args:
        archive: An archive from :func:`open_zip`.
        info: The member.
        max_bytes: The most it may hold.
        label: How to name the archive in messages (default: its file name).

    Raises:
        UnsafeArchiveError: Over ``max_bytes``.
        ValueError: A damaged (CRC, truncated), encrypted or unsupported member.
    """
    where = label or str(archive.filename)
    if info.file_size > max_bytes:
        raise UnsafeArchiveError(
            f"{where}: member {show_name(info.filename)} declares {info.file_size:,} bytes "
            f"(the limit is {max_bytes:,}); refused."
        )
    try:
        with archive.open(info) as member:
            data = member.read(max_bytes + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as error:
        # RuntimeError: encrypted; NotImplementedError: a compression zipfile lacks
        raise ValueError(
            f"{where}: member {show_name(info.filename)} could not be read ({error}); the zip "
            "is damaged or was not written by a standard tool. Download it again."
        ) from None
    if len(data) > max_bytes:  # pragma: no cover - zipfile stops at the declared size
        raise UnsafeArchiveError(
            f"{where}: member {show_name(info.filename)} holds more than {max_bytes:,} bytes; "
            "refused."
        )
    return data
