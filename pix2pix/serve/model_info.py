"""What the page and ``GET /api/info`` know about the model: size, channels, palette."""

from __future__ import annotations

import logging
import math
from typing import Any

from pix2pix.inference.modes import DEFAULT_SEED
from pix2pix.palettes import check_palette
from pix2pix.version import __version__

logger = logging.getLogger(__name__)

_DEFAULT_SIDE = 256  # the paper's crop size, for models saved without one


def read_palette(inference: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The class palette of a label-map model, or ``None`` for any other model.

    The contract is :func:`pix2pix.palettes.check_palette`'s. A malformed palette is logged
    and ignored (the page then offers a free colour picker) rather than refusing to serve the
    model.
    """
    palette = inference.get("palette")
    if palette is None:
        return None
    try:
        return check_palette(palette, "the model's palette")
    except ValueError as error:
        logger.warning("ignoring %s", error)
        return None


def canvas_size(translator: Any) -> tuple[int, int]:
    """``(height, width)`` the model was trained at: its ``crop_size``, else 256.

    Rounded up to the network's size multiple, so a drawing needs no padding.
    """
    inference = translator.inference
    side = inference.get("crop_size")
    if isinstance(side, bool) or not isinstance(side, int) or side < 1:
        side = _DEFAULT_SIDE
    multiple = max(1, int(getattr(translator, "size_multiple", 1)))
    side = math.ceil(side / multiple) * multiple
    return side, side


def model_info(translator: Any, *, name: str, limits: dict[str, Any], auth: bool) -> dict[str, Any]:
    """The JSON of ``GET /api/info``: the model's config, inference metadata and the limits."""
    generator = translator.generator
    config = dict(getattr(generator, "config", {}) or {})
    height, width = canvas_size(translator)
    palette = read_palette(translator.inference)
    return {
        "name": name,
        "model_type": type(generator).__name__,
        "config": config,
        "inference": translator.inference,
        "input": {"height": height, "width": width, "channels": translator.in_channels},
        "output": {"channels": config.get("out_channels")},
        "kind": "labels" if palette else "drawing",
        # what a request gets without options: the page offers both modes, opening on this one
        "test_mode": translator.test_mode,
        "seed": DEFAULT_SEED,
        "palette": palette,
        "device": str(translator.device),
        "dtype": str(translator.dtype).removeprefix("torch."),
        "limits": limits,
        "auth": auth,
        "version": __version__,
    }
