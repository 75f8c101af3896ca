"""Share models through the Hugging Face Hub (needs the ``hub`` extra: huggingface_hub).

A Hub repo holds exactly what ``save_pretrained`` writes: ``config.json``, ``model.safetensors``
and the model card ``README.md``. Downloads go through ``huggingface_hub``'s cache, so they follow
its settings: ``HF_HOME``/``HF_HUB_CACHE`` for the location and ``HF_HUB_OFFLINE=1`` to use only
what is cached. ``huggingface_hub`` is imported only when the Hub is used.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from pix2pix._extras import install_command
from pix2pix.constants import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME
from pix2pix.version import __version__

__all__ = ["download_pretrained", "push_to_hub"]

HUB_FILES = (CONFIG_NAME, WEIGHTS_NAME, CARD_NAME)

# "owner/name": one slash, Hub-legal characters, not starting with "." (so "./x" and "../x"
# stay local paths).
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")

# Names that are clearly files: a missing "runs/net_G.pth" is a typo, not a Hub repo.
_FILE_SUFFIXES = (".pth", ".pt", ".safetensors", ".json", ".onnx")


def _import_hub() -> ModuleType:
    try:
        import huggingface_hub
    except ImportError:
        raise ImportError(
            f"Using the Hugging Face Hub needs huggingface_hub: {install_command('hub')}"
        ) from None
    return huggingface_hub


def looks_like_repo_id(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a string like ``"owner/name"`` that names no local file or folder.

    Examples:
        >>> looks_like_repo_id("owner/facades"), looks_like_repo_id("./runs/final")
        (True, False)
    """
    return (
        isinstance(path, str)
        and _REPO_ID.match(path) is not None
        and not path.endswith(_FILE_SUFFIXES)
        and not os.path.exists(path)
    )


def resolve_model_path(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as a local path, downloading it first when it is a Hub repo id.

    A string ``"owner/name"`` (exactly one slash) that is not a local file or folder is
    downloaded with :func:`download_pretrained`; anything else is returned as a ``Path``
    unchanged, so local paths keep their own error messages.

    Raises:
        FileNotFoundError: If ``path`` looks like a repo id and huggingface_hub is missing, or
            the repo cannot be found (online) or is not cached (offline).

    Examples:
        >>> resolve_model_path("runs/facades/final/")
        PosixPath('runs/facades/final')
    """
    if not looks_like_repo_id(path):
        return Path(path)
    try:
        _import_hub()
    except ImportError:
        # It may be a mistyped local path just as well as a Hub id: say both.
        raise FileNotFoundError(
            f"No model found at {path}: the path does not exist. To load it from the Hugging "
            f"Face Hub instead, install huggingface_hub: {install_command('hub')}"
        ) from None
    return download_pretrained(str(path))


def download_pretrained(
    repo_id: str, *, revision: str | None = None, cache_dir: str | os.PathLike[str] | None = None
) -> Path:
    """Download a model from the Hugging Face Hub (or find it in the cache) and return its folder.

    Only ``config.json``, ``model.safetensors`` and ``README.md`` are fetched. The files live in
    the Hugging Face cache (``cache_dir``, else ``HF_HUB_CACHE``/``HF_HOME``); with
    ``HF_HUB_OFFLINE=1`` nothing is downloaded and the cached snapshot is used.

    Args:
        repo_id: ``"owner/name"``.
        revision: A branch, tag or commit (default: the main branch).
        cache_dir: Cache folder to use instead of the Hugging Face default.

    Returns:
        The local snapshot folder, ready for ``from_pretrained``.

    Raises:
        ImportError: If huggingface_hub is not installed.
        FileNotFoundError: If the repo or revision does not exist, or is not cached while offline.

    Examples:
        >>> folder = download_pretrained("owner/facades")  # doctest: +SKIP
        >>> Translator.from_pretrained(folder)  # doctest: +SKIP
    """
    hub = _import_hub()
    from huggingface_hub import utils as errors  # where every supported version exports them

    try:
        folder = hub.snapshot_download(
            repo_id,
            revision=revision,
            cache_dir=cache_dir,
            allow_patterns=list(HUB_FILES),
            library_name="pix2pix",
            library_version=__version__,
        )
    except (errors.RepositoryNotFoundError, errors.RevisionNotFoundError) as error:
        raise FileNotFoundError(
            f"No model found at {repo_id}: it is not a local path, and the Hugging Face Hub has "
            f"no such repo or revision (or it is private: log in with `hf auth login`). {error}"
        ) from error
    except errors.LocalEntryNotFoundError as error:
        raise FileNotFoundError(
            f"{repo_id} is not in the Hugging Face cache and the Hub cannot be reached "
            "(HF_HUB_OFFLINE=1, or no connection). Download it once online, or pass a local "
            f"folder. {error}"
        ) from error
    folder = Path(folder)
    if not (folder / CONFIG_NAME).is_file():
        raise FileNotFoundError(
            f"{repo_id} (revision {revision or 'main'}) has no config.json: it is not a pix2pix "
            "model repo (push one with push_to_hub)."
        )
    return folder


def push_to_hub(
    model_or_translator: Any,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload pix2pix model",
    inference: Mapping[str, Any] | None = None,
) -> str:
    """Save a model (or a :class:`~pix2pix.Translator`'s generator) and upload it to the Hub.

    The repo is created if needed. It receives the files of ``save_pretrained``: ``config.json``,
    ``model.safetensors`` and the model card ``README.md`` (whose usage snippet names
    ``repo_id``), written to a temporary folder first.

    Args:
        model_or_translator: A pix2pix model, or a Translator (its inference settings are kept).
        repo_id: ``"owner/name"``.
        private: Create the repo as private (ignored when it exists).
        token: A Hugging Face token (default: the logged-in one, or ``HF_TOKEN``).
        commit_message: The commit message.
        inference: Settings to store with a model (a Translator brings its own).

    Returns:
        The URL of the commit.

    Raises:
        ImportError: If huggingface_hub is not installed.
        ValueError: For a repo id that is not ``"owner/name"``, or ``inference`` with a
            Translator.

    Examples:
        >>> push_to_hub(generator, "me/facades-label2photo")  # doctest: +SKIP
        'https://huggingface.co/me/facades-label2photo/commit/...'
    """
    hub = _import_hub()
    if not isinstance(repo_id, str) or _REPO_ID.match(repo_id) is None:
        raise ValueError(f"repo_id={repo_id!r} must look like 'owner/name'.")
    if not hasattr(model_or_translator, "save_pretrained"):
        raise ValueError(
            "push_to_hub needs a pix2pix model or Translator; got "
            f"{type(model_or_translator).__name__}."
        )
    is_model = hasattr(model_or_translator, "config")
    if inference is not None and not is_model:
        raise ValueError(
            "inference= is only for models: a Translator uploads its own settings "
            "(set translator.inference instead)."
        )
    module = model_or_translator if is_model else model_or_translator.generator
    with tempfile.TemporaryDirectory(prefix="pix2pix-hub-") as tmp:
        if is_model:
            folder = model_or_translator.save_pretrained(tmp, inference=inference)
        else:
            folder = model_or_translator.save_pretrained(tmp)
        _write_card_for_repo(Path(folder), repo_id, sum(p.numel() for p in module.parameters()))
        api = hub.HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        commit = api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            commit_message=commit_message,
            repo_type="model",
        )
    return str(getattr(commit, "commit_url", commit))


def _write_card_for_repo(folder: Path, repo_id: str, num_parameters: int) -> None:
    """Rewrite the folder's model card so its usage snippet loads from ``repo_id``."""
    from pix2pix.models.card import model_card

    config = json.loads((folder / CONFIG_NAME).read_text())
    card = model_card(config, num_parameters=num_parameters, repo_id=repo_id)
    (folder / CARD_NAME).write_text(card)
