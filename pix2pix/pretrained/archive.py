"""Safe extraction of tar archives (``.tar``, ``.tar.gz``, ...).

``tarfile.extractall`` trusts the archive: a member named ``../x`` or ``/etc/x``, or a symlink
pointing out and then written through, lands outside the target. :func:`safe_extract` checks
every member before writing it and refuses, naming the member:

* absolute paths and paths with a ``..`` component;
* symbolic and hard links, wherever they point (see below);
* device files, FIFOs and other special members;
* an unpacked total beyond ``max_bytes`` (a decompression bomb) or more than ``max_members``.

Links are refused outright rather than checked: the official dataset archives hold none, and a
link's text says nothing about where it leads once earlier links are on disk (``p -> .`` makes
``p/p/p/x -> ../../../../etc/passwd`` look inside while it points out), nor about links that
later members create. Refusing them is simpler than resolving every chain and cannot be fooled.

Files are created with ``O_EXCL | O_NOFOLLOW`` and their folder is resolved before each write,
so nothing is written through a link. Everything goes to a temporary folder beside the target,
renamed into place only when the whole archive is extracted; on any error it is removed and
the target is untouched.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import zlib
from pathlib import Path

from pix2pix._files import atomic_directory

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_MEMBERS", "UnsafeArchiveError", "safe_extract"]

# The largest official pix2pix archive (edges2handbags) is several GB of JPEGs, which do not
# shrink in the gzip; 64 GiB leaves room while still stopping a bomb before it fills a disk.
DEFAULT_MAX_BYTES = 64 << 30
DEFAULT_MAX_MEMBERS = 2_000_000

_CHUNK = 1 << 20


class UnsafeArchiveError(ValueError):
    """An archive member would escape the target or is not a plain file, folder or link."""


def _member_path(name: str, archive: Path) -> str:
    """The normalised relative path of a member, refusing absolute and ``..`` paths."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path; refused.")
    parts = [part for part in name.replace("\\", "/").split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(
            f"{archive}: member {name!r} climbs out of the target with '..'; refused."
        )
    return "/".join(parts)


def _inside(root: Path, path: str) -> bool:
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root + os.sep)


def safe_extract(
    archive: str | os.PathLike[str],
    target: str | os.PathLike[str],
    *,
    strip_prefix: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
) -> Path:
    """Extract ``archive`` into ``target`` safely and atomically.

    Args:
        archive: The tar file (any compression ``tarfile`` reads).
        target: The folder to create; an existing one is replaced only once extraction has
            succeeded.
        strip_prefix: A leading folder to drop from member names that start with it
            (``"facades"`` turns ``facades/train/1.jpg`` into ``train/1.jpg``), so the archive's
            own top folder does not nest inside ``target``.
        max_bytes: Refuse archives whose members add up to more bytes than this.
        max_members: Refuse archives with more members than this.

    Returns:
        ``target`` as a ``Path``.

    Raises:
        UnsafeArchiveError: Naming the first unsafe member, or the exceeded limit.
        ValueError: If the file is not a readable tar archive.
    """
    archive, target = Path(archive), Path(target)
    if not tarfile.is_tarfile(archive):
        raise ValueError(f"{archive} is not a readable tar archive (truncated or another format).")

    def extract(tmp: Path) -> None:
        try:
            with tarfile.open(archive, mode="r:*") as handle:
                _extract_members(handle, archive, tmp, strip_prefix, max_bytes, max_members)
        except (tarfile.TarError, EOFError, zlib.error) as error:
            raise ValueError(f"{archive} is damaged: {error}") from None

    return atomic_directory(target, extract)


def _extract_members(
    handle: tarfile.TarFile,
    archive: Path,
    root: Path,
    strip_prefix: str | None,
    max_bytes: int,
    max_members: int,
) -> None:
    total = 0
    count = 0
    prefix = strip_prefix.strip("/") if strip_prefix else None
    # members are read one by one while streaming, so a bomb is stopped at the member that
    # crosses the limit instead of after listing the whole archive
    for member in handle:
        count += 1
        if count > max_members:
            raise UnsafeArchiveError(
                f"{archive}: more than {max_members:,} members (at {member.name!r}); refused."
            )
        relative = _member_path(member.name, archive)
        if prefix is not None:
            if relative == prefix:
                continue
            if relative.startswith(prefix + "/"):
                relative = relative[len(prefix) + 1 :]
        if not relative:
            continue
        destination = root / relative
        if not _inside(root, str(destination.parent)):
            raise UnsafeArchiveError(
                f"{archive}: member {member.name!r} would be written through a link that "
                "leads outside the target; refused."
            )
        if member.isdir():
            destination.mkdir(parents=True, exist_ok=True)
        elif member.isfile():
            total += member.size
            if total > max_bytes:
                raise UnsafeArchiveError(
                    f"{archive}: unpacked size exceeds {max_bytes:,} bytes at member "
                    f"{member.name!r}; refused (a decompression bomb, or raise max_bytes)."
                )
            destination.parent.mkdir(parents=True, exist_ok=True)
            _write_member(handle, member, destination)
        elif member.issym() or member.islnk():
            kind = "symbolic link" if member.issym() else "hard link"
            raise UnsafeArchiveError(
                f"{archive}: member {member.name!r} is a {kind} (to {member.linkname!r}); "
                "refused: dataset archives hold only files and folders, and a link could lead "
                "outside the target."
            )
        else:
            kind = "device file" if (member.ischr() or member.isblk()) else "special file"
            raise UnsafeArchiveError(f"{archive}: member {member.name!r} is a {kind}; refused.")


def _write_member(handle: tarfile.TarFile, member: tarfile.TarInfo, destination: Path) -> None:
    source = handle.extractfile(member)
    if source is None:  # pragma: no cover - isfile() members always have data
        return
    if destination.is_file():
        destination.unlink()  # a later member of the same name replaces the earlier one
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(destination, flags, 0o666)
    with source, os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(source, out, _CHUNK)
