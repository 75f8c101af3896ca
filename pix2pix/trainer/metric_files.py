"""Reading and appending a run's metric files (``metrics.jsonl``, ``metrics.csv``), damage and all.

A run resumes over files that a crash cut short, a full disk left half-written or a person
edited by hand, so reading never stops at a bad line: a line that is not a record (not UTF-8,
not JSON, no integer ``step``, a CSV row wider or narrower than the header) is skipped with a
warning naming the file and the line number. Appending is all or nothing: a failed append
(a full disk) truncates the file back to what it held and raises
:class:`~pix2pix._files.WriteError`, which names the file.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pix2pix._files import WriteError

logger = logging.getLogger(__name__)

#: Damaged lines warned about one by one; the rest of a file's are counted in one more line.
MAX_LINE_WARNINGS = 5


class _Damage:
    """The damaged lines of one file: the first few warned about each, then a count."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0

    def skip(self, line: int, reason: str) -> None:
        self.count += 1
        if self.count <= MAX_LINE_WARNINGS:
            logger.warning("%s line %d: %s; the line is skipped.", self.path, line, reason)

    def finish(self) -> None:
        if self.count > MAX_LINE_WARNINGS:
            logger.warning(
                "%s: %d more damaged lines skipped.", self.path, self.count - MAX_LINE_WARNINGS
            )


def _lines(data: bytes, damage: _Damage, first: int = 1) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of each UTF-8 line of ``data``, numbered from ``first``; lines
    that are not UTF-8 go to ``damage``."""
    raw_lines = data.split(b"\n")
    if raw_lines[-1] == b"":
        raw_lines.pop()  # the file ends with a newline
    for number, raw in enumerate(raw_lines, start=first):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            damage.skip(number, f"not UTF-8 text (byte {error.start + 1} is {raw[error.start]:#x})")
            continue
        yield number, text.removesuffix("\r")


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl``: JSON objects with an integer ``step``, in file order.

    Blank lines are ignored; any other line that is not such a record is skipped with a warning
    naming the file and line number. A missing file has no records.

    Examples:
        >>> [r["step"] for r in read_jsonl("runs/facades/metrics.jsonl")]  # doctest: +SKIP
        [100, 200, 200, 300]
    """
    return [record for _, record in jsonl_records(path)]


def jsonl_records(path: str | os.PathLike[str]) -> list[tuple[str, dict[str, Any]]]:
    """``(line text, record)`` of each record of ``path``; see :func:`read_jsonl`."""
    path = Path(path)
    if not path.is_file():
        return []
    damage = _Damage(path)
    data = path.read_bytes()
    last = data.count(b"\n") + 1  # the number of a last line without a newline
    records = []
    for number, text in _lines(data, damage):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError:
            cut = number == last
            damage.skip(number, "cut short (no newline at the end)" if cut else "not valid JSON")
            continue
        step = record.get("step") if isinstance(record, dict) else None
        if not isinstance(step, int) or isinstance(step, bool):
            damage.skip(number, f"not a record with an integer step: {text[:60]!r}")
            continue
        records.append((text, record))
    damage.finish()
    return records


def read_csv_table(path: str | os.PathLike[str]) -> tuple[list[str], list[dict[str, str]], int]:
    """The header, the rows and the number of damaged lines of a ``metrics.csv``.

    A row is damaged, and skipped with a warning naming the file and line number, when it is
    not UTF-8, its ``step`` is not an integer, it has more or fewer cells than the header, or it
    is the last line and has no newline (a write cut short). A header that is not UTF-8 is read
    with replacement characters (and a warning) so that the rows below it are kept. A missing or
    empty file gives ``(["step"], [], 0)``.
    """
    path = Path(path)
    data = path.read_bytes() if path.is_file() else b""
    if not data.strip():
        return ["step"], [], 0
    damage = _Damage(path)
    cut_line = None if data.endswith(b"\n") else data.count(b"\n") + 1
    data = data[: data.rfind(b"\n") + 1]
    first, _, body = data.partition(b"\n")
    try:
        header = first.decode("utf-8")
    except UnicodeDecodeError:
        header = first.decode("utf-8", errors="replace")
        damage.count += 1
        logger.warning("%s line 1: the header is not UTF-8; read with replacement characters", path)
    columns = next(csv.reader([header.removesuffix("\r")]), None) or ["step"]
    current = [1]  # the line the csv reader took last (a quoted cell may span several)

    def texts() -> Iterator[str]:
        for number, text in _lines(body, damage, first=2):
            current[0] = number
            yield text

    rows = []
    for cells in csv.reader(texts()):
        if not cells:
            continue  # a blank line
        if len(cells) != len(columns):
            damage.skip(current[0], f"{len(cells)} cells where the header has {len(columns)}")
            continue
        row = dict(zip(columns, cells))
        try:
            int(row.get("step", ""))
        except ValueError:
            damage.skip(current[0], f"the step {row.get('step')!r} is not an integer")
            continue
        rows.append(row)
    if cut_line is not None:
        damage.skip(cut_line, "cut short (no newline at the end)")
    damage.finish()
    return columns, rows, damage.count


def append_text(path: str | os.PathLike[str], text: str) -> None:
    """Append ``text`` (UTF-8) to ``path``, creating it; all of it or, on failure, none of it.

    Raises:
        WriteError: If the write fails (a full disk, a read-only folder); it names ``path``,
            keeps the ``errno``, and the file holds what it held before.
    """
    path = Path(path)
    data = text.encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except FileNotFoundError:
        raise  # the folder is missing: the caller's error, with its own message
    except OSError as error:
        raise WriteError(path, error) from None
    try:
        start = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except OSError as error:
            with contextlib.suppress(OSError):  # a partial line would read as damage: undo it
                os.ftruncate(fd, start)
            raise WriteError(path, error) from None
    finally:
        os.close(fd)
