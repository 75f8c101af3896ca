"""Safe extraction of tar archives (``.tar``, ``.tar.gz``, ...).

``tarfile.extractall`` trusts the archive: a member named ``../x`` or ``/etc/x``, or a symlink
pointing out and then written through, lands outside the target. :func:`safe_extract` checks
every member before writing it and refuses, naming the member:

* absolute paths and paths with a ``..`` component;
* symbolic and hard links, wherever they point (see below);
* device files, FIFOs and other special members;
* an unpacked total beyond ``max_bytes`` (a decompression bomb) or more than ``max_members``;
* a header bomb: a GNU long name or link over :data:`MAX_NAME_BYTES`, the extended headers
  (pax, long names, sparse maps) of one member over :data:`MAX_MEMBER_HEADER_BYTES`, all
  extended headers together over ``max_header_bytes``, and GNU sparse members.

``tarfile`` reads a long-name or pax header into memory whole, whatever its declared size (an
811 KB ``.tar.gz`` declaring a 768 MiB name took 3.85 GB). The checks run inside ``tarfile``'s
header parsing (a ``TarInfo`` subclass, its documented ``_proc_member`` hook) before any of
those bytes are read, and every name echoed in a message is cut to a few hundred characters.

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
from collections.abc import Callable
from pathlib import Path

from pix2pix._files import atomic_directory

# The largest official pix2pix archive (edges2handbags) is several GB of JPEGs, which do not
# shrink in the gzip; 64 GiB leaves room while still stopping a bomb before it fills a disk.
DEFAULT_MAX_BYTES = 64 << 30
DEFAULT_MAX_MEMBERS = 2_000_000
# Linux's PATH_MAX; the official archives' names are under 60 bytes.
MAX_NAME_BYTES = 4096
# Everything tarfile reads to parse one member's headers beyond its own 512-byte block: a pax
# header of a few hundred bytes is usual, a chain of them or a sparse map larger than this is not.
MAX_MEMBER_HEADER_BYTES = 64 << 10
# All extended headers of an archive together (global pax headers accumulate in memory).
DEFAULT_MAX_HEADER_BYTES = 64 << 20

_CHUNK = 1 << 20
_SHOWN = 200
_LONG_NAMES = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
_EXTENDED = (*_LONG_NAMES, tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)


class UnsafeArchiveError(ValueError):
    """An archive member would escape the target folder, is a link, or is not a plain file or
    folder; or the archive's headers are larger than any real archive's.

    Examples:
        >>> safe_extract("hostile.tar.gz", "data")  # doctest: +SKIP
        Traceback (most recent call last):
        UnsafeArchiveError: hostile.tar.gz: member 'facades/train/p' is a link; ...
    """


def show_name(name: str) -> str:
    """``repr(name)``, cut to its first characters and its length when it is long.

    A hostile archive's name can be hundreds of megabytes; an error line must stay a line.

    Examples:
        >>> show_name("a" * 1000)[-30:]
        "aaaaaaa'... (1,000 characters)"
    """
    if len(name) <= _SHOWN:
        return repr(name)
    return f"{name[: _SHOWN // 2]!r}... ({len(name):,} characters)"


def _member_path(name: str, archive: Path) -> str:
    """The normalised relative path of a member, refusing absolute and ``..`` paths."""
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        raise UnsafeArchiveError(
            f"{archive}: member {show_name(name)} has a name longer than {MAX_NAME_BYTES:,} "
            "bytes; refused."
        )
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(
            f"{archive}: member {show_name(name)} has an absolute path; refused."
        )
    parts = [part for part in name.replace("\\", "/").split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(
            f"{archive}: member {show_name(name)} climbs out of the target with '..'; refused."
        )
    return "/".join(parts)


class _BoundedReader:
    """Stands in for a ``TarFile``'s file while one member's headers are parsed: reading more
    than ``budget`` bytes is refused, so no header chain or sparse map can grow unbounded."""

    def __init__(self, raw: object, budget: int, archive: Path) -> None:
        self._raw, self._left, self._archive = raw, budget, archive

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size > self._left:
            raise UnsafeArchiveError(
                f"{self._archive}: the headers of one member take more than "
                f"{MAX_MEMBER_HEADER_BYTES:,} bytes (a header bomb); refused."
            )
        self._left -= size
        return self._raw.read(size)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self._raw, name)


def _checked_tarinfo(archive: Path, max_header_bytes: int) -> type[tarfile.TarInfo]:
    """A ``TarInfo`` class that refuses oversized headers before ``tarfile`` reads them."""
    seen = [0]  # extended-header bytes of the whole archive so far

    class CheckedTarInfo(tarfile.TarInfo):
        def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
            if self.type == tarfile.GNUTYPE_SPARSE:
                raise UnsafeArchiveError(
                    f"{archive}: member {show_name(self.name)} is a GNU sparse file; refused "
                    "(dataset archives hold plain files)."
                )
            if self.type not in _EXTENDED:
                return super()._proc_member(tarfile_)  # type: ignore[misc]
            limit = MAX_NAME_BYTES if self.type in _LONG_NAMES else MAX_MEMBER_HEADER_BYTES
            kind = "a GNU long name" if self.type in _LONG_NAMES else "an extended (pax) header"
            if self.size > limit:
                raise UnsafeArchiveError(
                    f"{archive}: {kind} of {self.size:,} bytes at offset {self.offset:,} "
                    f"(the limit is {limit:,}); refused (a header bomb)."
                )
            seen[0] += self.size
            if seen[0] > max_header_bytes:
                raise UnsafeArchiveError(
                    f"{archive}: its extended headers take more than {max_header_bytes:,} bytes "
                    "in all; refused (a header bomb, or raise max_header_bytes)."
                )
            if isinstance(tarfile_.fileobj, _BoundedReader):  # nested: the outer one counts
                return super()._proc_member(tarfile_)  # type: ignore[misc]
            raw = tarfile_.fileobj
            tarfile_.fileobj = _BoundedReader(raw, MAX_MEMBER_HEADER_BYTES, archive)  # type: ignore[assignment]
            try:
                return super()._proc_member(tarfile_)  # type: ignore[misc]
            finally:
                tarfile_.fileobj = raw

    return CheckedTarInfo


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
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
    check: Callable[[Path], None] | None = None,
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
        max_header_bytes: Refuse archives whose extended headers (pax, GNU long names) add
            up to more bytes than this.
        check: Called on the extracted temporary folder before it replaces ``target``; what
            it raises leaves ``target`` as it was (an archive that extracts but is not what was
            expected never replaces good data).

    Returns:
        ``target`` as a ``Path``.

    Raises:
        UnsafeArchiveError: Naming the first unsafe member, or the exceeded limit.
        ValueError: If the file is not a readable tar archive.
    """
    archive, target = Path(archive), Path(target)
    with _open_tar(archive, _checked_tarinfo(archive, max_header_bytes)) as handle:

        def extract(tmp: Path) -> None:
            try:
                _extract_members(handle, archive, tmp, strip_prefix, max_bytes, max_members)
            except (tarfile.TarError, EOFError, zlib.error) as error:
                raise ValueError(f"{archive} is damaged: {_cut(error)}") from None
            if check is not None:
                check(tmp)

        return atomic_directory(target, extract)


def _open_tar(archive: Path, checked: type[tarfile.TarInfo]) -> tarfile.TarFile:
    # not tarfile.is_tarfile: it parses the first member's headers with the unchecked TarInfo
    try:
        return tarfile.open(archive, mode="r:*", tarinfo=checked)
    except tarfile.ReadError:
        raise ValueError(
            f"{archive} is not a readable tar archive (truncated or another format)."
        ) from None
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise ValueError(f"{archive} is damaged: {_cut(error)}") from None


def _cut(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 300 else text[:300] + "..."


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
                f"{archive}: more than {max_members:,} members (at {show_name(member.name)}); "
                "refused."
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
                f"{archive}: member {show_name(member.name)} would be written through a link that "
                "leads outside the target; refused."
            )
        if member.isdir():
            destination.mkdir(parents=True, exist_ok=True)
        elif member.isfile():
            total += member.size
            if total > max_bytes:
                raise UnsafeArchiveError(
                    f"{archive}: unpacked size exceeds {max_bytes:,} bytes at member "
                    f"{show_name(member.name)}; refused (a decompression bomb, or raise "
                    "max_bytes)."
                )
            destination.parent.mkdir(parents=True, exist_ok=True)
            _write_member(handle, member, destination)
        elif member.issym() or member.islnk():
            kind = "symbolic link" if member.issym() else "hard link"
            raise UnsafeArchiveError(
                f"{archive}: member {show_name(member.name)} is a {kind} (to "
                f"{show_name(member.linkname)}); "
                "refused: dataset archives hold only files and folders, and a link could lead "
                "outside the target."
            )
        else:
            kind = "device file" if (member.ischr() or member.isblk()) else "special file"
            raise UnsafeArchiveError(
                f"{archive}: member {show_name(member.name)} is a {kind}; refused."
            )


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
