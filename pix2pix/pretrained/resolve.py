"""Decide what a model name is and return a local folder: the one resolver of the package.

Order (first match wins):

1. an existing local path, returned as is (a folder, a ``.safetensors`` file or a reference
   ``.pth``; the loader decides what to do with it);
2. a registry name (:func:`list_pretrained`): downloaded on first use, converted once to
   ``config.json`` + ``model.safetensors`` in the cache with its ``inference`` settings, and
   loaded from the cache afterwards;
3. a Hugging Face Hub id ``"owner/name"`` (:mod:`pix2pix.hub`);
4. otherwise ``FileNotFoundError``, listing the registry names and the close match for a typo.

This module imports :mod:`pix2pix.models` (downward); nothing in ``pix2pix.models`` imports it,
so the model classes and the resolver never import each other in a cycle.
"""

from __future__ import annotations

import difflib
import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from pix2pix import hub
from pix2pix._files import atomic_directory
from pix2pix.constants import CONFIG_NAME, WEIGHTS_NAME
from pix2pix.models.convert import load_reference_checkpoint, read_reference_checkpoint
from pix2pix.pretrained.cache import downloads_dir, hub_offline, models_dir
from pix2pix.pretrained.download import IntegrityError, Manifest, fetch, verify_file
from pix2pix.pretrained.registry import REGISTRY, PretrainedEntry

_CACHED_FILES = (CONFIG_NAME, WEIGHTS_NAME)


logger = logging.getLogger(__name__)


def list_pretrained(kind: str | None = None) -> list[str]:
    """The registry names, pix2pix models first (``kind="pix2pix"`` or ``"cyclegan"`` filters).

    Examples:
        >>> list_pretrained("pix2pix")[:2]
        ['facades_label2photo', 'sat2map']
    """
    return [name for name, entry in REGISTRY.items() if kind is None or entry.kind == kind]


def get_pretrained(name: str) -> PretrainedEntry:
    """The registry entry called ``name``.

    Raises:
        KeyError: Naming the close match, if there is one.

    Examples:
        >>> get_pretrained("facades_label2photo").direction
        'BtoA'
    """
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"No pretrained model {name!r}.{_suggestion(name)}") from None


def register_pretrained(entry: PretrainedEntry, *, replace: bool = False) -> PretrainedEntry:
    """Add an entry to the registry (tests register tiny models; a mirror may add its own).

    Raises:
        ValueError: If the name is taken and ``replace`` is false.

    Examples:
        >>> register_pretrained(my_entry)  # doctest: +SKIP
    """
    if entry.name in REGISTRY and not replace:
        raise ValueError(f"A pretrained model named {entry.name!r} is already registered.")
    REGISTRY[entry.name] = entry
    return entry


def unregister_pretrained(name: str) -> None:
    """Remove an entry added with :func:`register_pretrained` (no error if absent).

    Examples:
        >>> unregister_pretrained("my_model")  # doctest: +SKIP
    """
    REGISTRY.pop(name, None)


def cached_folder(name: str) -> Path:
    """Where the converted model ``name`` lives in the cache (it may not exist yet)."""
    return models_dir() / name


def is_cached(name: str) -> bool:
    """Whether the converted model is in the cache (its files present; not re-hashed here).

    Examples:
        >>> is_cached("facades_label2photo")  # doctest: +SKIP
        True
    """
    folder = cached_folder(name)
    return all((folder / file).is_file() for file in _CACHED_FILES)


def _suggestion(name: str) -> str:
    close = difflib.get_close_matches(name, list(REGISTRY), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def resolve_model(name_or_path: str | os.PathLike[str], *, progress: bool = True) -> Path:
    """Return a local path for a model: a local path, a registry name or a Hub id.

    Args:
        name_or_path: An existing path, a name from :func:`list_pretrained`, or ``"owner/name"``.
        progress: Show a progress bar while downloading.

    Returns:
        The path as given when it exists, else a folder with ``config.json`` and
        ``model.safetensors``.

    Raises:
        FileNotFoundError: For a name that is none of the three (the message lists the registry
            names), a Hub repo that does not exist, or a registry entry missing from the cache
            while ``PIX2PIX_OFFLINE=1``.
        pix2pix.pretrained.download.DownloadError: When the download fails (network, HTTP
            status, disk space, hash).
        ValueError: When the downloaded file does not convert into the declared architecture.

    Examples:
        >>> folder = resolve_model("facades_label2photo")  # doctest: +SKIP
        >>> sorted(p.name for p in folder.iterdir())  # doctest: +SKIP
        ['README.md', 'config.json', 'model.safetensors']
    """
    path = Path(name_or_path)
    if path.exists():
        return path
    name = os.fspath(name_or_path)
    if name in REGISTRY:
        return ensure_pretrained(REGISTRY[name], progress=progress)
    if hub.looks_like_repo_id(name):
        with hub_offline():
            return hub.resolve_model_path(name)
    known = ", ".join(REGISTRY)
    raise FileNotFoundError(
        f"No model found at {name}: the path does not exist, and it is neither a pretrained "
        f"model name nor a Hugging Face Hub id ('owner/name').{_suggestion(name)} Pretrained "
        f"models: {known} (see `pix2pix models`)."
    )


def ensure_pretrained(entry: PretrainedEntry, *, progress: bool = True) -> Path:
    """Return the converted cache folder of ``entry``, downloading and converting it if needed.

    The converted files' sha256 and size are recorded at conversion and checked on every call;
    a damaged cache folder is removed and reported. The downloaded ``.pth`` is deleted once it
    has converted (its hash stays in the manifest, so a later download is checked against it);
    one that does not convert is deleted without recording its hash.

    Raises:
        See :func:`resolve_model`.
    """
    folder = cached_folder(entry.name)
    manifest = Manifest()
    if is_cached(entry.name):
        try:
            for file in _CACHED_FILES:
                verify_file(folder / file, manifest=manifest)
        except IntegrityError as error:
            shutil.rmtree(folder, ignore_errors=True)
            raise IntegrityError(
                f"The cached copy of {entry.name} was damaged and has been removed ({error}). "
                "Run again to download and convert it afresh.",
                url=entry.url(),
            ) from None
        return folder
    download = downloads_dir() / f"{entry.name}.pth"
    converted: list[Any] = []
    # the conversion is fetch's check: a file that does not convert is deleted and its hash is
    # never recorded, so a fixed file on the server is not refused as "changed" afterwards
    fetch(
        entry.url(),
        download,
        sha256=entry.sha256,
        size=entry.size,
        what=f"{entry.name}.pth",
        progress=progress,
        manifest=manifest,
        check=lambda path: converted.append(convert_entry(entry, path)),
    )
    _save(converted[0], folder, entry.inference())
    for file in _CACHED_FILES:
        manifest.forget(manifest.key(folder / file))
        verify_file(folder / file, manifest=manifest)  # records the new hashes
    download.unlink(missing_ok=True)
    logger.info("Converted %s into %s (the downloaded .pth was removed).", entry.name, folder)
    return folder


def convert_entry(entry: PretrainedEntry, checkpoint: str | os.PathLike[str]) -> Any:
    """Convert a downloaded reference ``.pth`` and check it is the declared architecture.

    Raises:
        ValueError: If it cannot be read safely or converts into another architecture (it is
            not the model the registry describes; :func:`ensure_pretrained` deletes it).
    """
    checkpoint = Path(checkpoint)
    try:
        state = _fill_batchnorm_counters(read_reference_checkpoint(checkpoint))
        model = load_reference_checkpoint(state)
    except ValueError as error:
        raise ValueError(
            f"The file downloaded for {entry.name} ({entry.url()}) is not a usable reference "
            f"checkpoint: {error}"
        ) from None
    found = {"model_type": type(model).__name__, **model.config}
    wrong = {k: (v, found.get(k)) for k, v in entry.architecture.items() if found.get(k) != v}
    if wrong:
        details = ", ".join(f"{k}: declared {v!r}, file has {f!r}" for k, (v, f) in wrong.items())
        raise ValueError(
            f"The file downloaded for {entry.name} ({entry.url()}) converts into "
            f"{_describe(found)}, not the declared {_describe(entry.architecture)} ({details}); "
            "nothing was cached."
        )
    return model


def _describe(config: Mapping[str, Any]) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in config.items() if k != "model_type")
    return f"{config.get('model_type')}({args})"


def _fill_batchnorm_counters(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # Checkpoints saved before PyTorch 0.4.1 have BatchNorm running statistics but no
    # num_batches_tracked, which our strict loader would report as missing. The counter only
    # matters for momentum=None, which neither implementation uses, so 0 is a faithful value.
    filled = dict(state)
    for key in state:
        if key.endswith(".running_mean"):
            counter = key[: -len("running_mean")] + "num_batches_tracked"
            filled.setdefault(counter, torch.tensor(0, dtype=torch.long))
    return filled


def _save(model: Any, folder: Path, inference: Mapping[str, Any]) -> None:
    # the whole folder appears at once, so a kill mid-save never leaves a config without weights
    atomic_directory(folder, lambda tmp: model.save_pretrained(tmp, inference=inference))
