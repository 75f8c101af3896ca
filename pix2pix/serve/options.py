"""The query options of ``POST /api/translate``, checked with messages that say what to send."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pix2pix.serve.errors import ApiError

MIN_TILE = 16
MAX_TILE = 4096
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_KNOWN = ("tile", "stochastic", "seed")


@dataclass(frozen=True)
class TranslateOptions:
    """How to translate one image (the keyword arguments of ``Translator.translate``)."""

    tile: int | None = None
    stochastic: bool = False
    seed: int | None = None

    @property
    def batchable(self) -> bool:
        """Whether the result is the same alone or in a batch (stochastic ones use batch stats)."""
        return not self.stochastic and self.tile is None


def _integer(name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ApiError(422, f"Option {name}={value!r} must be an integer.") from None
    if not low <= number <= high:
        raise ApiError(422, f"Option {name}={number} must be between {low} and {high}.")
    return number


def parse_options(query: Mapping[str, str]) -> TranslateOptions:
    """Read ``tile``, ``stochastic`` and ``seed`` from query parameters.

    Raises:
        ApiError: 422 for an unknown option, a value of the wrong kind or out of range, or a
            ``seed`` without ``stochastic=true`` (it would have no effect).
    """
    unknown = sorted(set(query) - set(_KNOWN))
    if unknown:
        raise ApiError(
            422, f"Unknown option(s) {', '.join(unknown)}; the options are {', '.join(_KNOWN)}."
        )
    tile = None
    if query.get("tile", "") != "":
        tile = _integer("tile", query["tile"], MIN_TILE, MAX_TILE)
    flag = query.get("stochastic", "false").strip().lower()
    if flag not in _TRUE + _FALSE:
        raise ApiError(422, f"Option stochastic={query['stochastic']!r} must be true or false.")
    stochastic = flag in _TRUE
    seed = None
    if query.get("seed", "") != "":
        seed = _integer("seed", query["seed"], 0, 2**63 - 1)
        if not stochastic:
            raise ApiError(
                422, "Option seed has an effect only with stochastic=true; add it or drop seed."
            )
    return TranslateOptions(tile=tile, stochastic=stochastic, seed=seed)
