"""The model card (``README.md``) written beside every saved model.

The Hugging Face Hub renders a repo's ``README.md`` as its model card: a YAML front matter
(library, tags, license) for search, then Markdown for people. Everything in it comes from the
saved ``config.json``: the architecture, and, when the model was saved with them, the inference
settings (direction, preprocessing), the training data and the metrics.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["model_card"]

# Inference keys shown in their own sections; any others are listed as "other settings".
_PREPROCESSING_KEYS = ("preprocess", "load_size", "crop_size", "in_channels", "out_channels")
_SECTION_KEYS = ("direction", "dataset", "metrics", "license", *_PREPROCESSING_KEYS)
_METADATA_KEYS = ("model_type", "pix2pix_version", "inference")

PAPER = (
    "Isola et al., *Image-to-Image Translation with Conditional Adversarial Networks*, CVPR 2017"
)
PAPER_URL = "https://arxiv.org/abs/1611.07004"


def model_card(
    config: Mapping[str, Any],
    *,
    num_parameters: int | None = None,
    repo_id: str | None = None,
) -> str:
    """Render a model card (Markdown with YAML front matter) from a saved model's config.

    Args:
        config: The content of ``config.json``: ``model_type``, the constructor arguments and,
            optionally, ``inference`` settings. ``inference["dataset"]``, ``["metrics"]`` (a
            mapping of name to value) and ``["license"]`` (a Hub license id, default
            ``unknown``) fill the training data, metrics and license when present.
        num_parameters: The parameter count (omitted from the card when ``None``).
        repo_id: The Hub repo the card is for, used in the usage snippet (default: a folder).

    Returns:
        The card text.

    Example:
        >>> card = model_card({"model_type": "UNetGenerator", "base_channels": 64})
        >>> card.splitlines()[1]
        'library_name: pix2pix'
    """
    model_type = str(config.get("model_type", "unknown model"))
    inference: Mapping[str, Any] = config.get("inference") or {}
    is_generator = "Discriminator" not in model_type

    lines = _front_matter(inference, is_generator)
    kind = "generator" if is_generator else "discriminator"
    version = f" {config['pix2pix_version']}" if config.get("pix2pix_version") else ""
    lines += [
        f"# pix2pix {kind}: {model_type}",
        "",
        f"A {model_type} for paired image-to-image translation with a conditional GAN "
        f"(pix2pix; {PAPER}, {PAPER_URL}), saved with the "
        f"[pix2pix](https://pypi.org/project/pix2pix/) library{version}.",
        "",
        "## Architecture",
        "",
        "| Setting | Value |",
        "|---|---|",
        f"| Class | `{model_type}` |",
    ]
    if num_parameters is not None:
        lines.append(f"| Parameters | {num_parameters:,} |")
    lines += [
        f"| {key} | {_value(value)} |" for key, value in config.items() if key not in _METADATA_KEYS
    ]
    lines.append("")

    lines += _direction_section(inference, is_generator)
    if inference.get("dataset") is not None:
        lines += ["## Training data", "", _value(inference["dataset"], code=False), ""]
    if inference.get("metrics") is not None:
        lines += _metrics_section(inference["metrics"])
    lines += _usage_section(repo_id, is_generator)
    return "\n".join(lines).rstrip("\n") + "\n"


def _front_matter(inference: Mapping[str, Any], is_generator: bool) -> list[str]:
    # Strings go through json.dumps: a JSON string is a valid YAML scalar, so a license or tag
    # with ":" or "#" in it cannot break the front matter.
    lines = [
        "---",
        "library_name: pix2pix",
        f"license: {json.dumps(str(inference.get('license', 'unknown')))}",
    ]
    if is_generator:
        lines.append("pipeline_tag: image-to-image")
    lines += ["tags:", "- pix2pix", "- image-to-image", "- gan", "---", ""]
    return lines


def _direction_section(inference: Mapping[str, Any], is_generator: bool) -> list[str]:
    if not is_generator:
        return []
    lines = ["## Direction and preprocessing", ""]
    direction = inference.get("direction")
    if direction == "AtoB":
        lines.append("- Direction: `AtoB` (trained to translate A images into B images)")
    elif direction == "BtoA":
        lines.append("- Direction: `BtoA` (trained to translate B images into A images)")
    elif direction is not None:
        lines.append(f"- Direction: {_value(direction)}")
    else:
        lines.append("- Direction: not recorded")
    lines += [
        f"- {key}: {_value(inference[key])}" for key in _PREPROCESSING_KEYS if key in inference
    ]
    others = {k: v for k, v in inference.items() if k not in _SECTION_KEYS}
    lines += [f"- {key}: {_value(value)}" for key, value in others.items()]
    lines += [
        "",
        "The network maps float images `[N, C, H, W]` in [-1, 1] to the same range; "
        "`Translator` converts images to and from that range and pads sides that are not a "
        "multiple of what the network needs.",
        "",
    ]
    return lines


def _metrics_section(metrics: Any) -> list[str]:
    lines = ["## Metrics", ""]
    if isinstance(metrics, Mapping):
        lines += ["| Metric | Value |", "|---|---|"]
        lines += [f"| {name} | {_number(value)} |" for name, value in metrics.items()]
    else:
        lines.append(_value(metrics, code=False))
    return [*lines, ""]


def _usage_section(repo_id: str | None, is_generator: bool) -> list[str]:
    source = repo_id or "path/to/this/folder"
    if is_generator:
        code = [
            "from pix2pix import Translator",
            "",
            f'translator = Translator.from_pretrained("{source}")',
            'result = translator.translate("input.png")  # a PIL image of the same size',
            'result.save("output.png")',
        ]
    else:
        code = [
            "from pix2pix import load_pretrained",
            "",
            f'discriminator = load_pretrained("{source}")',
        ]
    return ["## Usage", "", "```python", *code, "```", ""]


def _value(value: Any, *, code: bool = True) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return f"`{text}`" if code else text


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return _value(value, code=False)
