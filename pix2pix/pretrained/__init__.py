"""Official pretrained models, one line away, and the downloader behind them and the datasets.

``resolve_model(name_or_path)`` turns a local path, a registry name (``"facades_label2photo"``)
or a Hugging Face Hub id into a local folder; :func:`list_pretrained` names the registry
entries. Downloads go to :func:`cache_dir` (``$PIX2PIX_HOME``, ``$XDG_CACHE_HOME/pix2pix`` or
``~/.cache/pix2pix``); ``PIX2PIX_OFFLINE=1`` uses only the cache; ``PIX2PIX_DOWNLOAD_URL`` points
at a mirror.

Examples:
    >>> from pix2pix.pretrained import list_pretrained
    >>> "facades_label2photo" in list_pretrained()
    True
"""

from pix2pix.models import base as _base
from pix2pix.pretrained.archive import UnsafeArchiveError
from pix2pix.pretrained.cache import cache_dir
from pix2pix.pretrained.errors import DownloadError, OfflineError
from pix2pix.pretrained.registry import PaletteClass, PretrainedEntry
from pix2pix.pretrained.resolve import (
    get_pretrained,
    is_cached,
    list_pretrained,
    register_pretrained,
    resolve_model,
    unregister_pretrained,
)

__all__ = [
    "DownloadError",
    "OfflineError",
    "PaletteClass",
    "PretrainedEntry",
    "UnsafeArchiveError",
    "cache_dir",
    "get_pretrained",
    "is_cached",
    "list_pretrained",
    "register_pretrained",
    "resolve_model",
    "unregister_pretrained",
]

# let ModelMixin.from_pretrained / load_pretrained take registry names too (see models.base)
_base.register_path_resolver(resolve_model)
