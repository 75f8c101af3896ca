"""Reading a weights file (a reference ``.pth``; FID, LPIPS, the VGG loss) without running a
pickle: every failure is one :class:`WeightsFileError` that says which kind it is."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import pickletools
import re
import zipfile
from pathlib import Path
from typing import Any

import torch


class WeightsFileError(ValueError):
    """A weights file :func:`read_tensors` could not read.

    Attributes:
        kind: ``"objects"`` (a pickle of Python objects, refused unread), ``"protocol"``
            (tensors pickled with opcodes the safe loader does not take), ``"not_torch"`` (no
            PyTorch file at all: empty, a web page, a Git LFS pointer, unreadable) or
            ``"damaged"`` (truncated, corrupt).
        detail: What was found, for the message.
    """

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def _first_sentence(error: BaseException) -> str:
    # torch raises EOFError() with no message for an empty file, and a zip failure as a
    # paragraph of advice: the first sentence names the problem
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip()
    sentence = re.split(r"(?<=[.:])\s", text.splitlines()[0] if text else "", maxsplit=1)[0]
    return sentence.rstrip(".:") or type(error).__name__


#: How many pickles the legacy format (``torch.save`` before 1.6) holds before its raw storage
#: bytes: the magic number, the protocol version, the system info, the object, the storage keys.
_LEGACY_PICKLES = 5


def _safe_global(name: str) -> bool:
    """Whether a pickle's global is one a state dict of tensors names (torch's own, OrderedDict)."""
    module = name.split(" ", 1)[0]
    return module == "torch" or module.startswith("torch.") or name == "collections OrderedDict"


def _globals_of_one_pickle(stream: io.BytesIO) -> set[str]:
    """The globals one pickle names, reading its opcodes up to its STOP.

    Protocol 4 names a global by pushing two strings (often fetched from the memo) and
    STACK_GLOBAL; the memo is followed so that the names are the ones it will import.
    """
    found: set[str] = set()
    memo: dict[Any, Any] = {}
    pushed: list[Any] = []  # what each opcode put on the stack, for STACK_GLOBAL's two names
    for opcode, arg, _position in pickletools.genops(stream):
        name = opcode.name
        if name in ("GLOBAL", "INST"):
            found.add(str(arg))
            pushed.append(None)
        elif name == "STACK_GLOBAL":
            module, attribute = pushed[-2:] if len(pushed) >= 2 else [None, None]
            found.add(f"{module} {attribute}")  # "None None" for what could not be followed
            pushed.append(None)
        elif name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else None
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = pushed[-1] if pushed else None
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            pushed.append(memo.get(arg))
        else:
            pushed.append(arg if isinstance(arg, str) else None)
    return found


def _pickle_globals(path: Path) -> set[str] | None:
    """The globals (``"module name"``) the pickles of ``path`` name, or ``None`` if unreadable.

    :func:`pickletools.genops` reads opcodes without executing any. A zip-format file's pickle
    is its ``data.pkl``; a legacy file is several pickles in a row, then raw bytes.
    """
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.endswith("data.pkl")]
                streams = [io.BytesIO(archive.read(names[0]))] if names else []
            count = 1
        else:
            streams, count = [io.BytesIO(Path(path).read_bytes())], _LEGACY_PICKLES
        if not streams:
            return None
        found: set[str] = set()
        stream = streams[0]
        size = len(stream.getbuffer())
        for _ in range(count):
            if stream.tell() >= size:  # a plain pickle: one, not the legacy format's five
                break
            found |= _globals_of_one_pickle(stream)
    except Exception:
        return None
    return found


def _refused(path: Path, error: pickle.UnpicklingError) -> WeightsFileError:
    """What torch's safe unpickler refused: objects, an opcode it does not read, or no pickle.

    It raises the same error for all three; its own reason and the opcodes, parsed without
    running anything, tell them apart.
    """
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    found = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    reason = found.group(1).strip().rstrip(".") if found else _first_sentence(error)
    names = _pickle_globals(path)
    if names is None:
        return WeightsFileError("damaged", "it is damaged or cut short (not a readable pickle)")
    unsafe = sorted(name for name in names if not _safe_global(name))
    if unsafe or re.search(r"Unsupported (global|class)|allowed global", reason):
        what = f"it names {', '.join(unsafe[:3])}" if unsafe else reason
        return WeightsFileError("objects", what)
    return WeightsFileError(
        "protocol",
        f"it holds only tensors, but pickled in a form torch's safe loader does not read "
        f"({reason}; a pickle_protocol above 2?); re-save it with torch.save(state_dict, path) "
        "and the default protocol",
    )


def read_tensors(path: Path) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; every failure a WeightsFileError.

    The first bytes are checked before torch sees the file, so that an empty file, a web page
    a download saved in place of the file, or a Git LFS pointer is named for what it is instead
    of failing deep inside the unpickler.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError as error:
        detail = f"it cannot be read ({error.strerror or error})"
        raise WeightsFileError("not_torch", detail) from None
    if not head:
        raise WeightsFileError("not_torch", "the file is empty")
    if head.startswith(b"version https://git-lfs"):
        raise WeightsFileError("not_torch", "it is a Git LFS pointer, not the file (git lfs pull)")
    if head.lstrip()[:1] == b"<":
        raise WeightsFileError("not_torch", "not a PyTorch file (it looks like a web page)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise _refused(path, error) from None
    except Exception as error:
        if not head.startswith((b"PK\x03\x04", b"\x80")) and _pickle_globals(path) is None:
            detail = "not a PyTorch file (neither a zip archive nor a pickle)"
            raise WeightsFileError("not_torch", detail) from None
        detail = f"it is damaged or cut short ({_first_sentence(error)})"
        raise WeightsFileError("damaged", detail) from None


def load_weights_file(
    path: Path, flag: str, what: str, how_to_save: str
) -> dict[str, torch.Tensor]:
    """The state dict of tensors in ``path``, read with ``torch.load(weights_only=True)``.

    Args:
        path: The weights file.
        flag: How the user named it (``"--fid-weights"``), for the messages.
        what: What it should hold (``"torchvision inception_v3 weights"``).
        how_to_save: The sentence that tells how to write a good file.

    Raises:
        ValueError: One line naming the file: a pickle of Python objects (refused unread, never
            run), an unreadable file, or something other than a dict of tensors.
    """
    try:
        state = read_tensors(path)
    except WeightsFileError as error:
        if error.kind == "objects":
            # weights_only refuses a pickle of Python objects: never run it, say what to do
            raise ValueError(
                f"{flag} {path} is a pickle of Python objects, not a state dict of tensors; it "
                f"was refused unread. {how_to_save}"
            ) from None
        raise ValueError(f"{path} does not hold {what}: {error.detail}. {how_to_save}") from None
    if not isinstance(state, dict) or not all(
        isinstance(value, torch.Tensor) for value in state.values()
    ):
        raise ValueError(f"{path} does not hold {what}: not a state dict of tensors. {how_to_save}")
    return state


def sha256_prefix(path: str | os.PathLike[str], length: int = 8) -> str:
    """The first ``length`` hex digits of the file's SHA-256 (torchvision's file-name suffix)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:length]
