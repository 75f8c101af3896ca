"""Where downloads live, whether the network may be used, and which server to ask.

Every setting is read from the environment at call time (not at import), so a test or a
long-running process can change it with ``os.environ`` and the next call follows:

* ``PIX2PIX_HOME``: the cache folder; else ``$XDG_CACHE_HOME/pix2pix``; else
  ``~/.cache/pix2pix`` (the XDG base-directory convention).
* ``PIX2PIX_OFFLINE=1``: use only what is cached; a missing entry is an error naming it. It also
  implies ``HF_HUB_OFFLINE=1`` for Hugging Face Hub ids (see :func:`hub_offline`).
* ``PIX2PIX_DOWNLOAD_URL``: the base URL of the official pix2pix files (a mirror must keep the
  same layout: ``models-pytorch/NAME.pth``, ``datasets/NAME.tar.gz``).
* ``PIX2PIX_CYCLEGAN_URL``: the same for the CycleGAN generators
  (``pretrained_models/NAME.pth``), which live on another path of the same server.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ENV_HOME = "PIX2PIX_HOME"
ENV_OFFLINE = "PIX2PIX_OFFLINE"
ENV_BASE_URL = "PIX2PIX_DOWNLOAD_URL"
ENV_CYCLEGAN_URL = "PIX2PIX_CYCLEGAN_URL"

# Source: junyanz/pytorch-CycleGAN-and-pix2pix, scripts/download_pix2pix_model.sh and
# datasets/download_pix2pix_dataset.sh (URL=http://efrosgans.eecs.berkeley.edu/pix2pix/...).
DEFAULT_BASE_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix"
# Source: scripts/download_cyclegan_model.sh of the same repo (read from a fork's copy, the
# canonical one is not in our index): .../cyclegan/pretrained_models/$FILE.pth.
DEFAULT_CYCLEGAN_BASE_URL = "http://efrosgans.eecs.berkeley.edu/cyclegan"

_TRUE = ("1", "true", "yes", "on")


def cache_dir() -> Path:
    """The cache folder (not created here): ``$PIX2PIX_HOME``, ``$XDG_CACHE_HOME/pix2pix`` or
    ``~/.cache/pix2pix``.

    Examples:
        >>> os.environ["PIX2PIX_HOME"] = "/tmp/p2p"
        >>> cache_dir()
        PosixPath('/tmp/p2p')
        >>> del os.environ["PIX2PIX_HOME"]
    """
    home = os.environ.get(ENV_HOME)
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "pix2pix"
    return Path.home() / ".cache" / "pix2pix"


def models_dir() -> Path:
    """Converted models, one ``config.json`` + ``model.safetensors`` folder per name."""
    return cache_dir() / "models"


def downloads_dir() -> Path:
    """Files as downloaded (and their ``.part`` files while a download is under way)."""
    return cache_dir() / "downloads"


def is_offline() -> bool:
    """Whether ``PIX2PIX_OFFLINE`` is set to a true value (``1``, ``true``, ``yes``, ``on``)."""
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in _TRUE


def base_url() -> str:
    """The pix2pix base URL: ``$PIX2PIX_DOWNLOAD_URL`` or the official server."""
    return (os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL).rstrip("/")


def cyclegan_base_url() -> str:
    """The CycleGAN base URL: ``$PIX2PIX_CYCLEGAN_URL`` or the official server."""
    return (os.environ.get(ENV_CYCLEGAN_URL) or DEFAULT_CYCLEGAN_BASE_URL).rstrip("/")


@contextlib.contextmanager
def hub_offline(enabled: bool | None = None) -> Iterator[None]:
    """Make ``huggingface_hub`` offline for the duration when pix2pix is offline.

    ``huggingface_hub`` reads ``HF_HUB_OFFLINE`` once, at import, into
    ``huggingface_hub.constants``; setting the variable alone would not reach a process that has
    already imported it, so both are set and restored afterwards.

    Args:
        enabled: Force on or off; ``None`` follows :func:`is_offline`.
    """
    if not (is_offline() if enabled is None else enabled):
        yield
        return
    previous = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    constants: Any = None
    with contextlib.suppress(ImportError):
        import huggingface_hub.constants as constants
    saved = getattr(constants, "HF_HUB_OFFLINE", None)
    if constants is not None:
        constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = previous
        if constants is not None:
            constants.HF_HUB_OFFLINE = saved
