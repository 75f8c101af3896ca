"""The query options of ``POST /api/translate``, checked with messages that say what to send."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pix2pix.inference.modes import DEFAULT_SEED, TEST_MODES
from pix2pix.serve.errors import ApiError

MIN_TILE = 16
MAX_TILE = 4096
_KNOWN = ("tile", "test_mode", "seed")


@dataclass(frozen=True)
class TranslateOptions:
    """How to translate one image (the keyword arguments of ``Translator.translate``)."""

    tile: int | None = None
    test_mode: str = "eval"
    seed: int | None = None

    @property
    def batchable(self) -> bool:
        """Whether it may share a model run: eval mode, whole (paper ones run image by image)."""
        return self.test_mode == "eval" and self.tile is None


def _integer(name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ApiError(422, f"Option {name}={value!r} must be an integer.") from None
    if not low <= number <= high:
        raise ApiError(422, f"Option {name}={number} must be between {low} and {high}.")
    return number


def parse_options(query: Mapping[str, str], default_mode: str) -> TranslateOptions:
    """Read ``tile``, ``test_mode`` and ``seed`` from query parameters.

    Args:
        query: The request's query parameters.
        default_mode: The model's recorded test mode, used when ``test_mode`` is not given.

    Returns:
        The options; in the paper mode ``seed`` is the one given, else 0, so the same drawing
        gives the same picture on every request (the page stays still as you draw).

    Raises:
        ApiError: 422 for an unknown option, a value of the wrong kind or out of range, or a
            ``seed`` in the eval mode (it would have no effect).
    """
    unknown = sorted(set(query) - set(_KNOWN))
    if unknown:
        raise ApiError(
            422, f"Unknown option(s) {', '.join(unknown)}; the options are {', '.join(_KNOWN)}."
        )
    tile = None
    if query.get("tile", "") != "":
        tile = _integer("tile", query["tile"], MIN_TILE, MAX_TILE)
    mode = query.get("test_mode", "").strip().lower() or default_mode
    if mode not in TEST_MODES:
        raise ApiError(
            422, f"Option test_mode={query['test_mode']!r} must be one of {', '.join(TEST_MODES)}."
        )
    seed = None
    if query.get("seed", "") != "":
        seed = _integer("seed", query["seed"], 0, 2**63 - 1)
        if mode != "paper":
            raise ApiError(
                422,
                "Option seed has an effect only in the paper test mode (dropout on); add "
                "test_mode=paper or drop seed.",
            )
    if mode == "paper" and seed is None:
        seed = DEFAULT_SEED
    return TranslateOptions(tile=tile, test_mode=mode, seed=seed)
