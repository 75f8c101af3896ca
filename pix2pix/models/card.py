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

# Inference keys shown in their own sections; any others are listed as "other settings".
_PREPROCESSING_KEYS = ("preprocess", "load_size", "crop_size", "in_channels", "out_channels")
_SECTION_KEYS = (
    "direction",
    "dataset",
    "metrics",
    "license",
    "training",
    "best",
    *_PREPROCESSING_KEYS,
)
# training settings worth a row of their own in the card's "Training" table
_TRAINING_ROWS = (
    "epochs",
    "epochs_decay",
    "max_steps",
    "batch_size",
    "lr",
    "gan_mode",
    "lambda_l1",
    "precision",
    "ema_decay",
    "seed",
)
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
            optionally, ``inference`` settings. ``inference["dataset"]`` (text, or a mapping
            with ``name``, ``pairs``, ``direction``), ``["training"]`` (``steps``, ``preset``,
            ``config``), ``["metrics"]`` (a mapping of name to value) and ``["license"]`` (a
            Hub license id, default ``unknown``) fill the training data, the training run, the
            metrics and the license when present. The front matter carries what the Hub reads:
            ``license``, ``datasets`` and a ``model-index`` with the metrics.
        num_parameters: The parameter count (omitted from the card when ``None``).
        repo_id: The Hub repo the card is for, used in the usage snippet (default: a folder).

    Returns:
        The card text.

    Examples:
        >>> card = model_card({"model_type": "UNetGenerator", "base_channels": 64})
        >>> card.splitlines()[1]
        'library_name: pix2pix'
    """
    model_type = str(config.get("model_type", "unknown model"))
    inference: Mapping[str, Any] = config.get("inference") or {}
    is_generator = "Discriminator" not in model_type

    lines = _front_matter(inference, is_generator, model_type)
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
        lines += _dataset_section(inference["dataset"])
    if isinstance(inference.get("training"), Mapping):
        lines += _training_section(inference["training"])
    if inference.get("metrics") is not None:
        lines += _metrics_section(inference["metrics"])
    lines += _usage_section(repo_id, is_generator)
    return "\n".join(lines).rstrip("\n") + "\n"


def _front_matter(inference: Mapping[str, Any], is_generator: bool, model_type: str) -> list[str]:
    # Strings go through json.dumps: a JSON string is a valid YAML scalar, so a license or tag
    # with ":" or "#" in it cannot break the front matter.
    license_id = inference.get("license") or "unknown"
    lines = [
        "---",
        "library_name: pix2pix",
        f"license: {json.dumps(str(license_id))}",
    ]
    if is_generator:
        lines.append("pipeline_tag: image-to-image")
    dataset = inference.get("dataset")
    name = dataset.get("name") if isinstance(dataset, Mapping) else None
    if name:
        lines += ["datasets:", f"- {json.dumps(str(name))}"]
    metrics = inference.get("metrics")
    numbers = {}
    if isinstance(metrics, Mapping):
        numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    if numbers and is_generator:
        # the Hub's model-index: one result of the image-to-image task on the training data
        data_name = json.dumps(str(name or "unknown"))
        split = dataset.get("metrics_split", "validation") if isinstance(dataset, Mapping) else None
        lines += [
            "model-index:",
            f"- name: {json.dumps(model_type)}",
            "  results:",
            "  - task:",
            "      type: image-to-image",
            "      name: Image-to-Image",
            "    dataset:",
            f"      name: {data_name}",
            f"      type: {data_name}",
            f"      split: {json.dumps(str(split or 'validation'))}",
            "    metrics:",
        ]
        for key, value in numbers.items():
            metric = key.rsplit("/", 1)[-1]
            lines += [
                f"    - type: {json.dumps(metric.lower())}",
                f"      name: {json.dumps(key)}",
                f"      value: {json.dumps(float(value))}",
            ]
    lines += ["tags:", "- pix2pix", "- image-to-image", "- gan", "---", ""]
    return lines


def _dataset_section(dataset: Any) -> list[str]:
    lines = ["## Training data", ""]
    if not isinstance(dataset, Mapping):
        return [*lines, _value(dataset, code=False), ""]
    labels = {"name": "Dataset", "split": "Split", "pairs": "Pairs", "direction": "Direction"}
    lines += ["| Setting | Value |", "|---|---|"]
    lines += [
        f"| {labels.get(key, key)} | {_value(value, code=False)} |"
        for key, value in dataset.items()
    ]
    return [*lines, ""]


def _training_section(training: Mapping[str, Any]) -> list[str]:
    lines = ["## Training", "", "| Setting | Value |", "|---|---|"]
    labels = {"steps": "Steps trained", "epochs_completed": "Epochs completed", "preset": "Preset"}
    for key, label in labels.items():
        if training.get(key) is not None:
            lines.append(f"| {label} | {_value(training[key], code=False)} |")
    config = training.get("config")
    if isinstance(config, Mapping):
        lines += [
            f"| {key} | {_value(config[key])} |"
            for key in _TRAINING_ROWS
            if config.get(key) is not None
        ]
        lines += [
            "",
            "<details><summary>Full trainer config</summary>",
            "",
            "```json",
            json.dumps(dict(config), indent=2),
            "```",
            "",
            "</details>",
        ]
    return [*lines, ""]


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
