"""Import checkpoints trained with the canonical PyTorch pix2pix implementation.

The reference (junyanz/pytorch-CycleGAN-and-pix2pix) saves ``latest_net_G.pth`` /
``latest_net_D.pth`` as plain state dicts of nested ``nn.Sequential`` modules, with keys like
``model.model.1.model.2.weight``. This module reads such a state dict, infers the architecture
from its keys and shapes, renames every tensor to our flat layout and returns our model.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from pix2pix._weights_files import WeightsFileError, read_tensors
from pix2pix.models.base import ModelMixin, build_from_config, load_state_dict_checked

REFERENCE_ARCHITECTURES = ("unet", "resnet", "patchgan", "pixel")

_UNET_LEAF = re.compile(r"^(\d+)\.(\w+)$")
_SEQ_KEY = re.compile(r"^model\.(\d+)\.(\w+)$")
_RES_KEY = re.compile(r"^model\.(\d+)\.conv_block\.(\d+)\.(\w+)$")
_PIXEL_KEY = re.compile(r"^net\.(\d+)\.(\w+)$")
_STATS = ("running_mean", "running_var", "num_batches_tracked")
_MAX_LISTED = 8  # missing keys named in an error; the rest are counted


def _parse_unet_key(key: str) -> tuple[int, int, str] | None:
    """Split a nested U-Net key into ``(level, layer index, parameter name)``.

    The outermost block keeps its child at index 1 of its ``nn.Sequential``, every deeper block
    at index 3, so level L's keys read ``model.model.1.model.3.model. ... .{index}.{param}``.
    """
    prefix = "model.model."
    if not key.startswith(prefix):
        return None
    rest, level = key[len(prefix) :], 0
    if rest.startswith("1.model."):
        rest, level = rest[len("1.model.") :], 1
        while rest.startswith("3.model."):
            rest, level = rest[len("3.model.") :], level + 1
    match = _UNET_LEAF.match(rest)
    return None if match is None else (level, int(match.group(1)), match.group(2))


def assumed_reference_settings(model_type: str) -> dict[str, Any]:
    """The constructor arguments a reference checkpoint of ``model_type`` cannot reveal, as assumed.

    A U-Net's dropout layers hold no weights, so its state dict reads the same with and without
    ``--no_dropout``; the canonical default, 0.5, is assumed. (A ResNet's dropout shifts its
    blocks' layer indices, so it is read from the keys.)

    Examples:
        >>> assumed_reference_settings("UNetGenerator")
        {'dropout': 0.5}
        >>> assumed_reference_settings("ResNetGenerator")
        {}
    """
    return {"dropout": 0.5} if model_type == "UNetGenerator" else {}


def read_reference_checkpoint(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a reference ``.pth`` state dict safely (``torch.load(weights_only=True)``).

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: If the file is damaged, is not a state dict, or holds Python objects that
            unpickling would have to execute (it is refused, never run).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint not found: {path}")
    try:
        state = read_tensors(path)
    except WeightsFileError as error:
        if error.kind == "objects":
            raise ValueError(
                f"Refused to load {path}: it contains Python objects other than tensors, and "
                "unpickling them could run arbitrary code. Re-save it from trusted code with "
                "torch.save(model.state_dict(), path)."
            ) from None
        if error.kind == "protocol":  # its own advice says how to re-save it
            raise ValueError(f"Could not read {path}: {error.detail}.") from None
        raise ValueError(
            f"Could not read {path}: {error.detail}. Download it again, or give a checkpoint "
            "saved with torch.save(model.state_dict(), path)."
        ) from None
    nested = state.get("state_dict") if isinstance(state, Mapping) else None
    if isinstance(nested, Mapping):
        state = nested
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError(
            f"{path} does not hold a state dict (a mapping of names to tensors); got "
            f"{type(state).__name__}."
        )
    return dict(state)


def clean_reference_state_dict(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip ``module.`` prefixes (DataParallel) and stale InstanceNorm running statistics.

    Checkpoints written by PyTorch < 0.4 carry ``running_mean``/``running_var`` for InstanceNorm
    layers, which have no affine weight; those buffers are meaningless and dropped.
    """
    cleaned: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        while key.startswith("module."):
            key = key[len("module.") :]
        cleaned[key] = value
    for key in list(cleaned):
        prefix, _, name = key.rpartition(".")
        if name in _STATS and f"{prefix}.weight" not in cleaned:
            del cleaned[key]
    return cleaned


def infer_reference_architecture(
    state: Mapping[str, torch.Tensor], *, source: str = "this state dict"
) -> str:
    """Name the reference architecture a cleaned state dict belongs to.

    Args:
        state: The cleaned state dict (see :func:`clean_reference_state_dict`).
        source: Where it came from (a file name), for the error message.

    Returns:
        ``"unet"``, ``"resnet"``, ``"patchgan"`` (basic / n_layers) or ``"pixel"``.

    Raises:
        ValueError: If the keys match none of them.
    """
    keys = list(state)
    if keys and all(_parse_unet_key(k) for k in keys):
        return "unet"
    if any(_RES_KEY.match(k) for k in keys):
        return "resnet"
    if keys and all(_PIXEL_KEY.match(k) for k in keys):
        return "pixel"
    if keys and all(_SEQ_KEY.match(k) for k in keys):
        return "patchgan"
    raise ValueError(
        f"Could not recognise the architecture of {source} (first keys: "
        f"{keys[:4]}). Expected a reference pix2pix/CycleGAN generator (unet_*, resnet_*) or "
        "discriminator (basic, n_layers, pixel) state dict."
    )


def _norm_from(state: Mapping[str, torch.Tensor], always_biased: set[str]) -> str:
    """The norm a converted state dict was trained with, from any of its layers.

    Batch norm leaves weights and statistics under ``*.norm.*``; InstanceNorm (no affine) leaves
    nothing, but then the convolutions before a norm have biases (``use_bias`` in the
    reference). ``always_biased`` names the convolutions that have a bias whatever the norm.
    Any layer decides, so one missing tensor is reported as missing, not as a wrong norm.
    """
    if any(".norm." in key for key in state):
        return "batch"
    if any(k.endswith(".bias") and k[: -len(".bias")] not in always_biased for k in state):
        return "instance"
    raise ValueError(
        "This reference checkpoint has neither batch-norm weights nor convolution biases, i.e. "
        "it was trained with --norm none, whose bias-free layers pix2pix does not reproduce."
    )


def _reference_key(key: str, reference: Mapping[str, str]) -> str:
    prefix, _, param = key.rpartition(".")
    return f"{reference[prefix]}.{param}" if prefix in reference else key


def _check_complete(
    structure: dict[str, Any],
    renamed: Mapping[str, torch.Tensor],
    reference: Mapping[str, str],
    source: str,
) -> None:
    """Raise one ``ValueError`` listing every tensor the inferred architecture lacks.

    The key names of a model do not depend on its channel counts, so a skeleton built from the
    architecture alone (on the meta device: nothing allocated) lists the expected keys before
    the shapes the channel counts are read from are needed.

    Args:
        structure: ``model_type`` and the arguments read from the key names (depth, norm).
        renamed: The converted tensors.
        reference: Our layer prefix -> the reference's, to name missing keys as the file does.
        source: The file (or "the given state dict"), for the message.
    """
    with torch.device("meta"):
        expected = list(build_from_config(structure).state_dict())
    missing = [key for key in expected if key not in renamed]
    if missing:
        names = [f"{_reference_key(key, reference)} (our {key})" for key in missing]
        shown = ", ".join(names[:_MAX_LISTED])
        more = f", ... ({len(names) - _MAX_LISTED} more)" if len(names) > _MAX_LISTED else ""
        arguments = ", ".join(f"{k}={v!r}" for k, v in structure.items() if k != "model_type")
        raise ValueError(
            f"Incomplete reference checkpoint: {source} lacks {len(missing)} of the "
            f"{len(expected)} tensors of the {structure['model_type']}({arguments}) its keys "
            f"describe: {shown}{more}. Save the whole network again with "
            "torch.save(net.state_dict(), path)."
        )


def _unet_layout(level: int, n: int) -> dict[int, str]:
    """Layer index in the reference's level-``level`` ``nn.Sequential`` -> our layer prefix."""
    up = f"decoder.{n - 1 - level}"
    if level == 0:
        return {0: "encoder.0.conv", 3: f"{up}.conv"}
    if level == n - 1:
        return {1: f"encoder.{level}.conv", 3: f"{up}.conv", 4: f"{up}.norm"}
    return {
        1: f"encoder.{level}.conv",
        2: f"encoder.{level}.norm",
        5: f"{up}.conv",
        6: f"{up}.norm",
    }


def _unet_reference_prefix(level: int, index: int) -> str:
    nesting = "" if level == 0 else "1.model." + "3.model." * (level - 1)
    return f"model.model.{nesting}{index}"


def _convert_unet(
    state: Mapping[str, torch.Tensor], source: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    parsed = {}
    for key, value in state.items():
        parts = _parse_unet_key(key)
        if parts is None:
            raise ValueError(f"Unexpected key {key!r} in {source}, a reference U-Net state dict.")
        parsed[key] = (*parts, value)
    # a level whose layers sit where a middle level keeps them (down norm 2, up conv 5, up norm
    # 6) has a level below it, even when every tensor of the deeper levels is missing
    n = max(
        level + (2 if index in (2, 5, 6) and level > 0 else 1)
        for level, index, *_ in parsed.values()
    )
    layouts = [_unet_layout(level, n) for level in range(n)]
    reference = {
        ours: _unet_reference_prefix(level, index)
        for level, layout in enumerate(layouts)
        for index, ours in layout.items()
    }
    renamed = {}
    for level, index, param, value in parsed.values():
        if index not in layouts[level]:
            raise ValueError(f"Unexpected layer index {index} at U-Net level {level} in {source}.")
        renamed[f"{layouts[level][index]}.{param}"] = value
    structure = {
        "model_type": "UNetGenerator",
        "num_downs": n,
        # the outermost up-convolution has a bias whatever the norm
        "norm": _norm_from(renamed, {f"decoder.{n - 1}.conv"}),
        # the reference trains pix2pix with dropout unless --no_dropout
        **assumed_reference_settings("UNetGenerator"),
    }
    _check_complete(structure, renamed, reference, source)
    first = renamed["encoder.0.conv.weight"]
    config = {
        **structure,
        "in_channels": int(first.shape[1]),
        "out_channels": int(renamed[f"decoder.{n - 1}.conv.weight"].shape[1]),
        "base_channels": int(first.shape[0]),
    }
    return config, renamed


def _convert_resnet(
    state: Mapping[str, torch.Tensor], source: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    blocks: dict[int, dict[int, dict[str, torch.Tensor]]] = {}
    top: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if match := _RES_KEY.match(key):
            block, index, param = int(match.group(1)), int(match.group(2)), match.group(3)
            blocks.setdefault(block, {}).setdefault(index, {})[param] = value
        elif match := _SEQ_KEY.match(key):
            top.setdefault(int(match.group(1)), {})[match.group(2)] = value
        else:
            raise ValueError(f"Unexpected key {key!r} in {source}, a reference ResNet state dict.")
    n_blocks = len(blocks)
    if not blocks or sorted(blocks) != list(range(10, 10 + n_blocks)):
        raise ValueError(f"Residual blocks at unexpected positions {sorted(blocks)} in {source}.")
    # every block has the same layout: read it from all of them, so one missing tensor does not
    # hide a convolution
    conv_indices = sorted(
        {
            index
            for layers in blocks.values()
            for index, params in layers.items()
            if "weight" in params and params["weight"].dim() == 4
        }
    )
    if conv_indices not in ([1, 5], [1, 6]):
        raise ValueError(
            f"Unexpected residual block layout in {source} (convolutions at {conv_indices})."
        )
    second = conv_indices[1]
    layout = {
        1: "stem.conv",
        2: "stem.norm",
        4: "down.0.conv",
        5: "down.0.norm",
        7: "down.1.conv",
        8: "down.1.norm",
        10 + n_blocks: "up.0.conv",
        11 + n_blocks: "up.0.norm",
        13 + n_blocks: "up.1.conv",
        14 + n_blocks: "up.1.norm",
        17 + n_blocks: "head.conv",
    }
    block_layout = {
        1: "conv1.conv",
        2: "conv1.norm",
        second: "conv2.conv",
        second + 1: "conv2.norm",
    }
    reference = {ours: f"model.{index}" for index, ours in layout.items()}
    reference.update(
        {
            f"blocks.{block}.{ours}": f"model.{10 + block}.conv_block.{index}"
            for block in range(n_blocks)
            for index, ours in block_layout.items()
        }
    )
    renamed = {}
    for index, params in top.items():
        if index not in layout:
            raise ValueError(
                f"Unexpected layer index {index} in {source}, a reference ResNet generator."
            )
        for param, value in params.items():
            renamed[f"{layout[index]}.{param}"] = value
    for block, layers in blocks.items():
        for index, params in layers.items():
            if index not in block_layout:
                raise ValueError(
                    f"Unexpected layer index {index} in residual block {block} of {source}."
                )
            for param, value in params.items():
                renamed[f"blocks.{block - 10}.{block_layout[index]}.{param}"] = value
    structure = {
        "model_type": "ResNetGenerator",
        "n_blocks": n_blocks,
        "norm": _norm_from(renamed, {"head.conv"}),  # the last convolution always has a bias
        "dropout": 0.5 if second == 6 else 0.0,
    }
    _check_complete(structure, renamed, reference, source)
    stem = renamed["stem.conv.weight"]
    config = {
        **structure,
        "in_channels": int(stem.shape[1]),
        "out_channels": int(renamed["head.conv.weight"].shape[0]),
        "base_channels": int(stem.shape[0]),
    }
    return config, renamed


def _convert_patchgan(
    state: Mapping[str, torch.Tensor], source: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    layers: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        match = _SEQ_KEY.match(key)
        if match is None:
            raise ValueError(
                f"Unexpected key {key!r} in {source}, a reference PatchGAN state dict."
            )
        layers.setdefault(int(match.group(1)), {})[match.group(2)] = value
    # conv 0, then (conv, norm, LeakyReLU) per layer at 2 + 3 * (i - 1), the head at
    # 2 + 3 * n_layers: the last index with tensors gives n_layers even when the head is missing
    n_layers = -(-(max(layers, default=0) - 2) // 3)
    if n_layers < 1:
        raise ValueError(f"Unexpected PatchGAN layout in {source} (layers at {sorted(layers)}).")
    layout = {0: "blocks.0.conv", 2 + 3 * n_layers: "head"}
    for i in range(1, n_layers + 1):
        layout[2 + 3 * (i - 1)] = f"blocks.{i}.conv"
        layout[3 + 3 * (i - 1)] = f"blocks.{i}.norm"
    renamed = {}
    for index, params in layers.items():
        if index not in layout:
            raise ValueError(f"Unexpected layer index {index} in {source}, a reference PatchGAN.")
        for param, value in params.items():
            renamed[f"{layout[index]}.{param}"] = value
    structure = {
        "model_type": "PatchGANDiscriminator",
        "n_layers": n_layers,
        "norm": _norm_from(renamed, {"blocks.0.conv", "head"}),
    }
    reference = {ours: f"model.{index}" for index, ours in layout.items()}
    _check_complete(structure, renamed, reference, source)
    first = renamed["blocks.0.conv.weight"]
    config = {
        **structure,
        "in_channels": int(first.shape[1]),
        "base_channels": int(first.shape[0]),
    }
    return config, renamed


def _convert_pixel(
    state: Mapping[str, torch.Tensor], source: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    layout = {0: "blocks.0.conv", 2: "blocks.1.conv", 3: "blocks.1.norm", 5: "head"}
    renamed = {}
    for key, value in state.items():
        match = _PIXEL_KEY.match(key)
        if match is None:
            raise ValueError(f"Unexpected key {key!r} in {source}, a reference PixelDiscriminator.")
        index = int(match.group(1))
        if index not in layout:
            raise ValueError(
                f"Unexpected layer index {index} in {source}, a reference PixelDiscriminator."
            )
        renamed[f"{layout[index]}.{match.group(2)}"] = value
    structure = {
        "model_type": "PixelDiscriminator",
        "norm": _norm_from(renamed, {"blocks.0.conv"}),
    }
    reference = {ours: f"net.{index}" for index, ours in layout.items()}
    _check_complete(structure, renamed, reference, source)
    first = renamed["blocks.0.conv.weight"]
    config = {
        **structure,
        "in_channels": int(first.shape[1]),
        "base_channels": int(first.shape[0]),
    }
    return config, renamed


_CONVERTERS = {
    "unet": _convert_unet,
    "resnet": _convert_resnet,
    "patchgan": _convert_patchgan,
    "pixel": _convert_pixel,
}


def convert_reference_state_dict(
    state: Mapping[str, torch.Tensor],
    *,
    architecture: str | None = None,
    source: str = "the state dict",
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Rename a reference state dict to our layout and infer the model config.

    Args:
        state: The reference state dict (``module.`` prefixes and stale InstanceNorm statistics
            are removed first).
        architecture: Force ``"unet"``, ``"resnet"``, ``"patchgan"`` or ``"pixel"`` instead of
            inferring it from the keys.
        source: Where the state dict came from (a file name), for error messages.

    Returns:
        ``(config, state_dict)``: the config (with ``"model_type"``) that builds the matching
        model, and the renamed tensors.

    Raises:
        ValueError: If the architecture is unknown or the keys do not fit it, or tensors of the
            architecture the keys describe are missing (all of them are listed, named as in the
            reference file).

    Examples:
        >>> state = torch.load("latest_net_G.pth", weights_only=True)  # doctest: +SKIP
        >>> config, weights = convert_reference_state_dict(state)  # doctest: +SKIP
        >>> config["model_type"], config["num_downs"]  # doctest: +SKIP
        ('UNetGenerator', 8)
    """
    state = clean_reference_state_dict(state)
    if architecture is None:
        architecture = infer_reference_architecture(state, source=source)
    if architecture not in _CONVERTERS:
        raise ValueError(
            f"architecture={architecture!r} is not supported; choose one of "
            f"{REFERENCE_ARCHITECTURES} or None to infer it."
        )
    return _CONVERTERS[architecture](state, source)


def load_reference_checkpoint(
    checkpoint: str | os.PathLike[str] | Mapping[str, torch.Tensor],
    *,
    architecture: str | None = None,
    device: str | torch.device | None = None,
    **overrides: Any,
) -> ModelMixin:
    """Build our model from a reference checkpoint file or state dict.

    The architecture and constructor arguments are inferred from the keys and shapes; pass
    ``architecture`` or any constructor argument (for example ``dropout=0.0`` for a U-Net
    trained with ``--no_dropout``, which the keys cannot reveal) to override them. A ResNet's
    dropout is read from its keys: an override that contradicts them is refused.

    Args:
        checkpoint: Path to ``latest_net_G.pth`` / ``latest_net_D.pth``, or the loaded state dict.
        architecture: ``"unet"``, ``"resnet"``, ``"patchgan"``, ``"pixel"`` or ``None`` (infer).
        device: Where to put the model (default CPU).
        **overrides: Constructor arguments that replace the inferred ones.

    Returns:
        The model with the converted weights, in training mode.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it cannot be read safely, the weights do not fit the architecture, or
            an override contradicts what the keys show.

    Examples:
        >>> netG = load_reference_checkpoint("facades/latest_net_G.pth")  # doctest: +SKIP
        >>> netG.config["num_downs"]  # doctest: +SKIP
        8
    """
    if isinstance(checkpoint, Mapping):
        state, source = dict(checkpoint), "the given state dict"
    else:
        state, source = read_reference_checkpoint(checkpoint), str(checkpoint)
    config, renamed = convert_reference_state_dict(state, architecture=architecture, source=source)
    read = {
        k: v for k, v in config.items() if k not in assumed_reference_settings(config["model_type"])
    }
    if "dropout" in read and "dropout" in overrides and overrides["dropout"] != read["dropout"]:
        shown = "dropout layers" if read["dropout"] else "no dropout layer"
        raise ValueError(
            f"dropout={overrides['dropout']!r} contradicts {source}: its residual blocks' layer "
            f"indices show {shown} (dropout={read['dropout']}). Leave dropout out."
        )
    config.update(overrides)
    model = build_from_config(config)
    load_state_dict_checked(model, renamed, source=source)
    if device is not None:
        model.to(device)
    return model
