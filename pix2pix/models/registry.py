"""Models by name, as timm does: ``register_model`` beside each class, ``create_model``,
``list_models``.

A registered name is a function that builds a model, with keyword overrides of its
arguments: ``create_model("unet_256", base_channels=32)``. The command line (``--generator``,
``--discriminator``), the presets and the model tests all go through this registry, so a new
architecture is one decorated function away from all of them.

Examples:
    >>> from pix2pix.models import create_model, list_models
    >>> list_models("generator")
    ['resnet_6blocks', 'resnet_9blocks', 'unet_128', 'unet_256']
    >>> sum(p.numel() for p in create_model("unet_256").parameters())
    54413955
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from pix2pix.models.base import ModelMixin


#: What a registered model is for.
KINDS = ("generator", "discriminator")

F = TypeVar("F", bound=Callable[..., "ModelMixin"])


@dataclass(frozen=True)
class _Entry:
    build: Callable[..., ModelMixin]
    kind: str


_REGISTRY: dict[str, _Entry] = {}


def register_model(*, kind: str, name: str | None = None) -> Callable[[F], F]:
    """Register a function that builds a model under its own name (or ``name``).

    The function takes keyword overrides and returns the model; register it beside the class.

    Args:
        kind: ``"generator"`` or ``"discriminator"``.
        name: The registry name; the function's name when omitted.

    Raises:
        ValueError: For another kind, or a name that is registered already.

    Examples:
        >>> from pix2pix.models import UNetGenerator
        >>> @register_model(kind="generator")  # doctest: +SKIP
        ... def unet_64(**overrides):
        ...     return UNetGenerator(**{"num_downs": 6, **overrides})
        >>> create_model("unet_64", base_channels=4).size_multiple  # doctest: +SKIP
        64
    """
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not allowed; use one of {KINDS}.")

    def register(build: F) -> F:
        key = name or build.__name__
        if key in _REGISTRY and _REGISTRY[key].build is not build:
            raise ValueError(f"A model named {key!r} is registered already; choose another name.")
        _REGISTRY[key] = _Entry(build, kind)
        return build

    return register


def list_models(kind: str | None = None) -> list[str]:
    """The registered names, sorted; only those of one ``kind`` when given.

    Examples:
        >>> list_models("discriminator")
        ['multiscale', 'patchgan', 'pixel']
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not allowed; use one of {KINDS} or None.")
    return sorted(key for key, entry in _REGISTRY.items() if kind in (None, entry.kind))


def model_kind(name: str) -> str:
    """``"generator"`` or ``"discriminator"``: what the registered ``name`` builds."""
    return _entry(name).kind


def create_model(name: str, **overrides: Any) -> ModelMixin:
    """Build the model registered as ``name``, with some of its arguments changed.

    Args:
        name: A name of :func:`list_models`.
        **overrides: Constructor arguments (``in_channels=1``, ``base_channels=32``...).

    Raises:
        ValueError: For an unknown name, or an argument the model does not take.

    Examples:
        >>> create_model("patchgan", in_channels=6).receptive_field
        70
    """
    entry = _entry(name)
    try:
        return entry.build(**overrides)
    except TypeError as error:  # an argument the model does not take
        raise ValueError(f"create_model({name!r}): {error}") from None


def _entry(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"Unknown model {name!r}; registered models are {', '.join(list_models())}."
        ) from None
