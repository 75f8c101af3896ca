"""Configuration capture and safetensors save/load shared by every model.

A model records its constructor arguments as ``.config`` (plain JSON values). ``save_pretrained``
writes them to ``config.json`` next to the weights in ``model.safetensors``; ``from_pretrained``
rebuilds the model from the two. The class to build is stored in the config, so
:func:`load_pretrained` can load any saved model without knowing its type.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from pix2pix import hub
from pix2pix._files import atomic_write, atomic_write_text
from pix2pix.constants import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME
from pix2pix.models.card import model_card
from pix2pix.version import __version__

_MODEL_CLASSES: dict[str, type[ModelMixin]] = {}

M = TypeVar("M", bound="ModelMixin")


class ModelMixin(nn.Module):
    """Base class of every pix2pix network: ``.config``, ``save_pretrained``, ``from_pretrained``.

    A subclass's constructor arguments are recorded as :attr:`config` from its signature
    (diffusers' ``register_to_config`` idea), so a new argument cannot be forgotten: every
    parameter, with its default when not given. Parameters named in ``config_omit_defaults``
    are left out while they equal their default, so configs saved before such an option
    existed keep their exact keys. Every subclass is registered by class name so a saved
    folder can be loaded generically.

    Examples:
        >>> class Tiny(ModelMixin):
        ...     def __init__(self, channels: int = 3, bias: bool = True):
        ...         super().__init__()
        ...         self.conv = nn.Conv2d(channels, channels, 1, bias=bias)
        >>> Tiny(4).config
        {'channels': 4, 'bias': True}
    """

    #: Parameters recorded in :attr:`config` only when they differ from their default.
    config_omit_defaults: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _MODEL_CLASSES[cls.__name__] = cls
        if "__init__" in cls.__dict__:
            cls.__init__ = _recording_config(cls, cls.__dict__["__init__"])  # type: ignore[method-assign]

    def register_config(self, **kwargs: Any) -> None:
        """Record ``kwargs`` as the config instead of the constructor's arguments.

        Only for a subclass whose config must differ from its signature; values must be JSON.
        """
        json.dumps(kwargs)  # fail at construction, not at save time
        self._config = dict(kwargs)
        self._config_explicit = True

    @property
    def config(self) -> dict[str, Any]:
        """A copy of the constructor arguments, as plain JSON values."""
        return dict(getattr(self, "_config", {}))

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this; every model class declares it.

        The :class:`~pix2pix.Translator` pads to it, exports record it, and training refuses
        crops that are not multiples of it.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must declare size_multiple (1 when any size will do)."
        )

    def save_pretrained(
        self, save_directory: str | os.PathLike[str], *, inference: Mapping[str, Any] | None = None
    ) -> Path:
        """Write ``config.json``, ``model.safetensors`` and a model card to ``save_directory``.

        Each file is written to a temporary name and renamed into place, so an interrupted save
        never leaves a half-written file under the final name. The model card (``README.md``,
        see :func:`pix2pix.models.card.model_card`) describes the architecture and whatever
        ``inference`` records; it replaces a ``README.md`` already in the folder.

        Args:
            save_directory: Folder to create (or overwrite files in).
            inference: Optional settings for :class:`~pix2pix.Translator` (for example the
                training direction and crop size), stored under ``"inference"`` in the config.

        Returns:
            The folder path.

        Examples:
            >>> from pix2pix.models import UNetGenerator
            >>> UNetGenerator(base_channels=4, num_downs=5).save_pretrained("/tmp/unet")
            PosixPath('/tmp/unet')
        """
        folder = Path(save_directory)
        folder.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "model_type": type(self).__name__,
            "pix2pix_version": __version__,
            **self.config,
        }
        if inference:
            config["inference"] = dict(inference)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        atomic_write(
            folder / WEIGHTS_NAME, lambda path: save_file(state, path, metadata={"format": "pt"})
        )
        atomic_write_text(folder / CONFIG_NAME, json.dumps(config, indent=2) + "\n")
        card = model_card(config, num_parameters=sum(p.numel() for p in self.parameters()))
        atomic_write_text(folder / CARD_NAME, card)
        return folder

    def push_to_hub(
        self,
        repo_id: str,
        *,
        inference: Mapping[str, Any] | None = None,
        private: bool = False,
        token: str | None = None,
        commit_message: str = "Upload pix2pix model",
    ) -> str:
        """Upload the model to the Hugging Face Hub (needs the ``hub`` extra).

        See :func:`pix2pix.hub.push_to_hub`; the repo gets what :meth:`save_pretrained` writes.

        Returns:
            The URL of the commit.

        Examples:
            >>> generator.push_to_hub("me/facades")  # doctest: +SKIP
        """
        return hub.push_to_hub(
            self,
            repo_id,
            inference=inference,
            private=private,
            token=token,
            commit_message=commit_message,
        )

    @classmethod
    def from_pretrained(
        cls: type[M], path: str | os.PathLike[str], *, device: str | torch.device | None = None
    ) -> M:
        """Build a model from a folder written by :meth:`save_pretrained`, or from the Hub.

        Args:
            path: The folder, or a ``.safetensors`` file with ``config.json`` beside it, a
                pretrained model name (:func:`pix2pix.list_pretrained`), or a
                Hugging Face Hub repo id ``"owner/name"`` (a string with exactly one slash that
                is no local path; needs the ``hub`` extra, uses the HF cache).
            device: Where to put the weights (default CPU).

        Returns:
            The model with its weights, in training mode like a freshly built one.

        Raises:
            FileNotFoundError: If the folder, config or weights file is missing, or the Hub repo
                cannot be found.
            ValueError: If the config names another class, or the weights are unreadable or do
                not fit the config (missing/unexpected keys, wrong shapes).
        """
        config_path, weights_path = resolve_pretrained_files(_path_resolver(path))
        config = read_config(config_path)
        model_type = config.get("model_type")
        if cls is not ModelMixin and model_type != cls.__name__:
            raise ValueError(
                f"{config_path} describes a {model_type!r}, not a {cls.__name__}; "
                "load it with pix2pix.models.load_pretrained() or the matching class."
            )
        try:
            return build_from_config(config, weights_path, device=device)  # type: ignore[return-value]
        except ValueError as error:
            if str(weights_path) in str(error):  # a weights error names its file already
                raise
            raise ValueError(f"{config_path}: {error}") from None


def size_multiple_of(module: nn.Module) -> int:
    """What ``module``'s input sides must be multiples of: the one rule for the Translator, the
    exports and training.

    A pix2pix model declares it (:attr:`ModelMixin.size_multiple`); another module may declare
    a ``size_multiple`` attribute too, and one that declares none takes every size (1).

    Examples:
        >>> size_multiple_of(nn.Conv2d(3, 3, 1))
        1
    """
    multiple = getattr(module, "size_multiple", 1)
    if isinstance(multiple, bool) or not isinstance(multiple, int) or multiple < 1:
        raise ValueError(
            f"{type(module).__name__}.size_multiple is {multiple!r}; it must be a positive "
            "integer (the side every input must be a multiple of)."
        )
    return multiple


# How from_pretrained turns a name into a folder. The models sit below pix2pix.pretrained (which
# converts official checkpoints by building models), so they never import it; it installs its
# resolver here when imported (pix2pix/__init__ does), adding registry names to local paths
# and Hub ids.
_path_resolver: Callable[[str | os.PathLike[str]], Path] = hub.resolve_model_path


def register_path_resolver(resolver: Callable[[str | os.PathLike[str]], Path]) -> None:
    """Make ``from_pretrained`` resolve names with ``resolver`` (``pix2pix.pretrained``'s own).

    The one way a higher layer extends name resolution: the models never import it.
    """
    global _path_resolver
    _path_resolver = resolver


def _recording_config(cls: type[ModelMixin], init: Any) -> Any:
    """Wrap ``cls.__init__`` so that the arguments of the most derived class become its config."""
    signature = inspect.signature(init)
    if any(p.kind is p.VAR_POSITIONAL for p in signature.parameters.values()):
        raise TypeError(f"{cls.__name__}.__init__ takes *args, which a config cannot record.")

    @functools.wraps(init)
    def __init__(self: ModelMixin, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if type(self) is not cls or getattr(self, "_config_explicit", False):
            return  # a subclass records its own arguments; register_config() wins
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        config: dict[str, Any] = {}
        for name, value in list(bound.arguments.items())[1:]:  # [0] is self
            parameter = signature.parameters[name]
            if parameter.kind is parameter.VAR_KEYWORD:
                config.update(value)
            elif not (name in cls.config_omit_defaults and value == parameter.default):
                config[name] = value
        try:
            json.dumps(config)
        except TypeError:
            raise ValueError(
                f"{cls.__name__}'s constructor arguments {config} are not all plain JSON values "
                "(numbers, strings, lists, dicts), so they cannot be saved in config.json; pass "
                "such arguments as names (e.g. norm='batch'), or call register_config()."
            ) from None
        self._config = config

    return __init__


def resolve_pretrained_files(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Return ``(config.json, model.safetensors)`` for a folder or a ``.safetensors`` file.

    Raises:
        FileNotFoundError: Naming whichever of the path, config or weights is missing.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No model found at {path}: the path does not exist.")
    if path.is_dir():
        config_path, weights_path = path / CONFIG_NAME, path / WEIGHTS_NAME
    else:
        config_path, weights_path = path.parent / CONFIG_NAME, path
    for needed in (config_path, weights_path):
        if not needed.is_file():
            raise FileNotFoundError(
                f"{needed} is missing: a saved pix2pix model needs both {CONFIG_NAME} and the "
                f"weights file (write them with model.save_pretrained(folder))."
            )
    return config_path, weights_path


def read_config(config_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a model ``config.json``.

    Raises:
        ValueError: If the file is not JSON or names no known model class.
    """
    try:
        config = json.loads(Path(config_path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{config_path} is not valid JSON: {error}") from None
    if not isinstance(config, dict) or config.get("model_type") not in _MODEL_CLASSES:
        known = sorted(_MODEL_CLASSES)
        found = config.get("model_type") if isinstance(config, dict) else None
        raise ValueError(
            f"{config_path} has model_type={found!r}; expected one of {known}. "
            "Is this a pix2pix config.json?"
        )
    inference = config.get("inference")
    if inference is not None and not isinstance(inference, dict):
        raise ValueError(
            f'{config_path}: "inference" must be a JSON object of settings such as '
            f'{{"direction": "AtoB"}}; got {inference!r}. Fix or remove that entry.'
        )
    return config


def model_kwargs(config: Mapping[str, Any]) -> dict[str, Any]:
    """The constructor arguments stored in a config (metadata keys removed)."""
    return {
        k: v for k, v in config.items() if k not in ("model_type", "pix2pix_version", "inference")
    }


def build_from_config(
    config: Mapping[str, Any],
    weights_path: str | os.PathLike[str] | None = None,
    *,
    device: str | torch.device | None = None,
) -> ModelMixin:
    """Instantiate the class named in ``config`` and load ``weights_path`` into it if given."""
    cls = _MODEL_CLASSES[config["model_type"]]
    kwargs = model_kwargs(config)
    if weights_path is not None:
        # Check the config against the weights' shapes (read from the safetensors header)
        # on the meta device first: a config that would allocate a huge model next to small
        # weights is refused in milliseconds, without allocating it.
        with torch.device("meta"):
            skeleton = _construct(cls, kwargs)
        load_state_dict_checked(
            skeleton, _header_shapes(weights_path), source=str(weights_path), load=False
        )
    model = _construct(cls, kwargs)
    if weights_path is not None:
        state = load_safetensors(weights_path)
        load_state_dict_checked(model, state, source=str(weights_path))
    if device is not None:
        model.to(device)
    return model


def _construct(cls: type[ModelMixin], kwargs: dict[str, Any]) -> ModelMixin:
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise ValueError(f"config for {cls.__name__} has unexpected arguments: {error}") from None


def _header_shapes(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Empty meta tensors with the shapes a safetensors file declares (its data is not read)."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            return {
                key: torch.empty(handle.get_slice(key).get_shape(), device="meta")
                for key in handle.keys()  # noqa: SIM118 (safe_open is no dict)
            }
    except (SafetensorError, OSError, ValueError) as error:
        raise ValueError(
            f"Could not read weights from {path}: {error}. The file is truncated or not a "
            "safetensors file; save or download it again."
        ) from None


def load_safetensors(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a safetensors file, turning a damaged file into a clear ``ValueError``."""
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise ValueError(
            f"Could not read weights from {path}: {error}. The file is truncated or not a "
            "safetensors file; save or download it again."
        ) from None


def load_state_dict_checked(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    source: str = "the state dict",
    load: bool = True,
) -> None:
    """Load ``state`` strictly, raising a ``ValueError`` that lists every mismatch.

    Args:
        model: The model to fill.
        state: The weights.
        source: Where the weights came from, for the message.
        load: ``False`` only checks keys and shapes.

    Raises:
        ValueError: Listing missing keys, unexpected keys and shape mismatches.
    """
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f"{k}: expected {tuple(expected[k].shape)}, got {tuple(state[k].shape)}"
        for k in sorted(set(expected) & set(state))
        if expected[k].shape != state[k].shape
    ]
    if missing or unexpected or shapes:
        parts = [f"Weights in {source} do not fit {type(model).__name__}({_short(model)}):"]
        if missing:
            parts.append(f"missing keys ({len(missing)}): {_clip(missing)}")
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {_clip(unexpected)}")
        if shapes:
            parts.append(f"shape mismatches ({len(shapes)}): {_clip(shapes)}")
        parts.append("Check that config.json matches the weights file.")
        raise ValueError("\n  ".join(parts))
    if load:
        model.load_state_dict(state, strict=True)


def _short(model: nn.Module) -> str:
    config = getattr(model, "config", {})
    return ", ".join(f"{k}={v!r}" for k, v in config.items())


def _clip(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def load_pretrained(
    path: str | os.PathLike[str], *, device: str | torch.device | None = None
) -> ModelMixin:
    """Load any pix2pix model saved with ``save_pretrained``, picking the class from its config.

    ``path`` may also be a Hugging Face Hub repo id ``"owner/name"`` (see
    :meth:`ModelMixin.from_pretrained`).

    Examples:
        >>> from pix2pix.models import load_pretrained
        >>> model = load_pretrained("/tmp/unet")  # doctest: +SKIP
    """
    return ModelMixin.from_pretrained(path, device=device)
