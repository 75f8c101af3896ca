"""Reading a weights file (a reference ``.pth``; FID, LPIPS, the VGG loss) without running a
pickle: every failure is one :class:`WeightsFileError` that says which kind it is."""

from __future__ import annotations

import hashlib
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
        kind: ``"objects"`` (a pickle of Python objects, refused unread), ``"not_torch"`` (no
            PyTorch file at all: empty, text, a web page) or ``"damaged"`` (truncated, corrupt).
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


def _parses_as_pickle(path: Path) -> bool:
    """Whether ``path`` (or the ``data.pkl`` of a zip-format file) is a well-formed pickle.

    :func:`pickletools.genops` reads opcodes without executing any.
    """
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.endswith("data.pkl")]
                data = archive.read(names[0]) if names else b""
        else:
            data = Path(path).read_bytes()
        for _ in pickletools.genops(data):
            pass
    except Exception:
        return False
    return bool(data)


def read_tensors(path: Path) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; every failure a WeightsFileError.

    The first bytes are checked before torch sees the file: a PyTorch file is a zip archive
    (``torch.save`` since 1.6) or a pickle (the legacy format), so anything else, such as the
    login page a download saved in place of the file, is named for what it is instead of being
    called a pickle of Python objects or failing deep inside the unpickler.
    """
    with open(path, "rb") as handle:
        head = handle.read(64)
    if not head:
        raise WeightsFileError("not_torch", "the file is empty")
    if not (head.startswith(b"PK\x03\x04") or head.startswith(b"\x80")):
        looks_like = " (it looks like a web page or text)" if head.lstrip()[:1] == b"<" else ""
        raise WeightsFileError("not_torch", f"not a PyTorch file{looks_like}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # torch's safe unpickler raises this both for a pickle it refuses (objects, or opcodes it
        # does not take) and for bytes that are no pickle at all: parsing the opcodes, which
        # runs nothing, tells them apart
        if _parses_as_pickle(path):
            raise WeightsFileError("objects", _first_sentence(error)) from None
        detail = "its contents are corrupt (not a readable pickle)"
        raise WeightsFileError("damaged", detail) from None
    except Exception as error:
        raise WeightsFileError("damaged", _first_sentence(error)) from None


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
