"""Reading a network's weights file (FID, LPIPS, the VGG loss) without running a pickle."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import torch


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
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # weights_only refuses a pickle of Python objects: never run it, say what to do
        raise ValueError(
            f"{flag} {path} is a pickle of Python objects, not a state dict of tensors; it was "
            f"refused unread. {how_to_save}"
        ) from None
    except (RuntimeError, OSError, ValueError, EOFError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ValueError(f"{path} does not hold {what}: {first}") from None
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
