"""Export a generator to ONNX or TorchScript for deployment without pix2pix.

The exported graph is the generator on a float32 ``[N, C, H, W]`` tensor in [-1, 1], returning
``[N, out_channels, H, W]`` in [-1, 1]; the tiling and image conversion of
:class:`~pix2pix.Translator` are not part of it. It follows the test mode the model records
(:mod:`pix2pix.inference.modes`) as far as a graph can: an exported graph has no dropout RNG, so

* ``"eval"``: the eval-mode generator (running batch-norm statistics, no dropout), exactly
  ``translate(x, test_mode="eval")``;
* ``"paper"``: each image normalised with its own batch statistics (every batch norm exported
  as instance normalisation with the batch norm's weights, so a batch never mixes images), and
  no dropout: the paper mode without its dropout noise, exactly ``translate(x,
  test_mode="paper")`` of the same model with ``dropout=0``. The files record this
  (``pix2pix.test_mode`` and ``pix2pix.test_mode_note`` in the ONNX metadata, ``"export"`` in
  the config).

The batch size is always free. Height and width are fixed to ``size`` unless
``dynamic_size=True``; then any height and width work: the graph pads the input to the
generator's ``size_multiple`` (``2**num_downs`` for a U-Net, 4 for the ResNet generator) as the
Translator does, and crops the output back.

ONNX goes through ``torch.onnx.export(dynamo=True)`` (``torch.export`` then onnxscript); it needs
the ``onnx`` extra. TorchScript is a trace of the generator wrapped in a small scripted module
that keeps the generator's input checks (and pads, with ``dynamic_size``).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pix2pix._extras import install_command
from pix2pix._files import atomic_write
from pix2pix.inference.modes import check_test_mode, paper_mode_graph
from pix2pix.inference.tiling import pad_to_multiple_in_graph
from pix2pix.models.base import size_multiple_of
from pix2pix.version import __version__

__all__ = ["export_model", "export_onnx", "export_torchscript"]

EXPORT_FORMATS = ("onnx", "torchscript")

# The opset the dynamo exporter's operator library is written for: lower opsets need a version
# conversion that fails on Pad (ResNet generator), higher ones up to the installed onnx's newest
# are converted to; beyond it the exporter keeps 18 with only a log line, so those are refused.
DEFAULT_OPSET = 18
_MIN_OPSET = 18

#: What each test mode's graph computes, recorded in the exported file.
TEST_MODE_NOTES = {
    "eval": "eval mode: running batch-norm statistics, no dropout (translate(x, test_mode='eval'))",
    "paper": "the paper's test mode without its dropout (a graph has no dropout RNG): each "
    "image normalised with its own batch statistics, no dropout (translate(x, "
    "test_mode='paper') of the model with dropout=0)",
}


def export_model(
    model_or_path: Any,
    output: str | os.PathLike[str],
    *,
    format: str = "onnx",
    size: int | tuple[int, int] | None = None,
    dynamic_size: bool = False,
    opset: int = DEFAULT_OPSET,
    test_mode: str | None = None,
) -> Path:
    """Export a generator in the given format; see :func:`export_onnx` / :func:`export_torchscript`.

    Args:
        model_or_path: A generator module, a :class:`~pix2pix.Translator`, or anything
            :meth:`Translator.from_pretrained <pix2pix.Translator.from_pretrained>` accepts (a
            saved folder, a ``.safetensors`` file, a reference ``.pth``, a Hub id "owner/name").
        output: The file to write.
        format: ``"onnx"`` or ``"torchscript"``.
        size: Example height and width (an int for a square); see :func:`export_onnx`.
        dynamic_size: Let height and width vary (any size; padded inside the graph).
        opset: ONNX opset (ONNX only).
        test_mode: ``"paper"`` or ``"eval"``; default the model's recorded mode (a module
            without one: ``"eval"``). See the module docstring for what each graph computes.

    Returns:
        The path written.

    Raises:
        ValueError: For an unknown format or test mode, or a bad size/opset.

    Examples:
        >>> from pix2pix.models import UNetGenerator
        >>> g = UNetGenerator(base_channels=4, num_downs=5)
        >>> export_model(g, "/tmp/g.pt", format="torchscript", size=64)
        PosixPath('/tmp/g.pt')
    """
    if format == "onnx":
        return export_onnx(
            model_or_path,
            output,
            size=size,
            dynamic_size=dynamic_size,
            opset=opset,
            test_mode=test_mode,
        )
    if format == "torchscript":
        return export_torchscript(
            model_or_path, output, size=size, dynamic_size=dynamic_size, test_mode=test_mode
        )
    raise ValueError(f"format={format!r} is not supported; choose one of {list(EXPORT_FORMATS)}.")


def export_onnx(
    model_or_path: Any,
    output: str | os.PathLike[str],
    *,
    size: int | tuple[int, int] | None = None,
    dynamic_size: bool = False,
    opset: int = DEFAULT_OPSET,
    test_mode: str | None = None,
) -> Path:
    """Export a generator to a self-contained ONNX file (weights inside).

    The graph has one input ``"input"`` ``[batch, C, H, W]`` and one output ``"output"``, float32
    in [-1, 1]. ``batch`` is a dynamic axis. With ``dynamic_size=True``, H and W are dynamic axes
    named ``"height"`` and ``"width"`` that take any size: the graph pads the input at the bottom
    and right to the generator's ``size_multiple`` exactly as :class:`~pix2pix.Translator` does
    (reflection, or edge replication for an image smaller than the pad) and crops the output
    back, so ONNX Runtime gives the Translator's result for every size. Sizes that are already
    multiples (``pix2pix.size_multiple`` in the file's metadata) need no padding; the graph
    copies them once through the same gather. Without ``dynamic_size``, H and W are fixed to
    ``size`` and ONNX Runtime refuses other sizes, naming the expected one. The metadata also
    holds the model config (``pix2pix.config``, with the training direction when saved) and
    the test mode of the graph (``pix2pix.test_mode``, ``pix2pix.test_mode_note``).

    Args:
        model_or_path: See :func:`export_model`.
        output: The ``.onnx`` file to write (written to a temporary name, then renamed).
        size: Height and width of the example input, or an int for a square. Default: the
            ``crop_size`` saved with the model, else 256 rounded up to ``size_multiple``.
        dynamic_size: Make height and width dynamic axes (any size, padded in the graph).
        opset: ONNX opset, from 18 (the exporter's native opset; ONNX Runtime >= 1.14) to the
            newest the installed onnx knows (``onnx.defs.onnx_opset_version()``, 28 for onnx
            1.23). The written file's opset is checked to be this one.
        test_mode: See :func:`export_model`.

    Returns:
        The path written.

    Raises:
        ImportError: If onnx, onnxscript or onnxruntime is missing.
        ValueError: For a bad size or opset, or a discriminator instead of a generator.
        RuntimeError: If the exporter produced another opset than ``opset`` (nothing is
            written).

    Examples:
        >>> from pix2pix.models import UNetGenerator
        >>> g = UNetGenerator(base_channels=4, num_downs=5)
        >>> export_onnx(g, "/tmp/g.onnx", size=64, dynamic_size=True)  # doctest: +SKIP
        PosixPath('/tmp/g.onnx')
    """
    _require_onnx()
    newest = _max_opset()
    if isinstance(opset, bool) or not isinstance(opset, int) or not _MIN_OPSET <= opset <= newest:
        raise ValueError(
            f"opset={opset!r} is not supported: the exporter writes opsets {_MIN_OPSET} to "
            f"{newest} (the newest that the installed onnx knows)."
        )
    generator, config = _load_generator(model_or_path, test_mode)
    height, width = _check_size(size, generator, config)
    min_size = None
    if dynamic_size:
        # an odd example size, so the traced example pads on both axes
        example = _example_input(generator, max(height, 2) + 1, max(width, 2) + 1)
        model, min_size = _export_any_size(generator, example)
    else:
        example = _example_input(generator, height, width)
        model = torch.export.export(generator, (example,), dynamic_shapes=_dynamic_shapes(False))
    program = torch.onnx.export(
        model,
        dynamo=True,
        opset_version=opset,
        input_names=["input"],
        output_names=["output"],
        external_data=False,
        verbose=False,
    )
    assert program is not None  # dynamo=True always returns the program
    _name_axes(program, dynamic_size)
    proto = program.model_proto
    written = _written_opset(proto)
    if written != opset:  # the exporter falls back to its own opset with only a log line
        raise RuntimeError(
            f"The ONNX exporter produced opset {written}, not the opset {opset} asked for; "
            f"{output} was not written. Export with opset={written}."
        )
    metadata = {
        "pix2pix.version": __version__,
        "pix2pix.model_type": type(generator).__name__,
        "pix2pix.size_multiple": str(size_multiple_of(generator)),
        "pix2pix.config": json.dumps(config),
        "pix2pix.test_mode": config["export"]["test_mode"],
        "pix2pix.test_mode_note": config["export"]["note"],
    }
    if min_size is not None:  # one fixed size has no least size to record
        metadata["pix2pix.min_size"] = str(min_size)
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value

    import onnx

    return _atomic_save(Path(output), lambda path: onnx.save(proto, path))


def export_torchscript(
    model_or_path: Any,
    output: str | os.PathLike[str],
    *,
    size: int | tuple[int, int] | None = None,
    dynamic_size: bool = False,
    test_mode: str | None = None,
) -> Path:
    """Export a generator to a TorchScript file for ``torch.jit.load`` (C++ or Python).

    The generator is traced in its test mode (see the module docstring; recorded in the extra
    file ``pix2pix_config.json`` under ``"export"``) on a ``size`` example and wrapped in a
    scripted module
    that checks each input: rank 4, the channel count, and, unless ``dynamic_size``, exactly
    ``size``; a failed check raises ``torch.jit.Error`` with the message. With ``dynamic_size``
    any height and width work: the module pads to ``size_multiple`` as
    :class:`~pix2pix.Translator` does and crops the output back. The batch size is free.

    Args:
        model_or_path: See :func:`export_model`.
        output: The file to write (conventionally ``.pt``).
        size: See :func:`export_onnx`.
        dynamic_size: Accept any height and width (padded to ``size_multiple`` and cropped).
        test_mode: See :func:`export_model`.

    Returns:
        The path written.

    Raises:
        ValueError: For a bad size, or a discriminator instead of a generator.

    Examples:
        >>> from pix2pix.models import UNetGenerator
        >>> g = UNetGenerator(base_channels=4, num_downs=5)
        >>> path = export_torchscript(g, "/tmp/g.pt", size=64)
        >>> torch.jit.load(path)(torch.zeros(1, 3, 64, 64)).shape
        torch.Size([1, 3, 64, 64])
    """
    generator, config = _load_generator(model_or_path, test_mode)
    height, width = _check_size(size, generator, config)
    example = _example_input(generator, height, width)
    with warnings.catch_warnings():
        # The generator's Python-side input check reads the traced shapes, which the tracer
        # warns would become constants; the scripted wrapper below performs the check instead.
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        # torch.jit is deprecated in favour of torch.export, but TorchScript is what was asked for
        warnings.simplefilter("ignore", category=FutureWarning)
        traced: nn.Module = torch.jit.trace(generator, example, check_trace=False)
        if dynamic_size:
            traced = _AnySizeGenerator(traced, size_multiple_of(generator))
        checked = _CheckedGenerator(
            traced,
            name=type(generator).__name__,
            channels=_in_channels(generator),
            height=0 if dynamic_size else height,
            width=0 if dynamic_size else width,
        )
        scripted = torch.jit.script(checked)
        files = {"pix2pix_config.json": json.dumps(config)}
        return _atomic_save(
            Path(output), lambda path: torch.jit.save(scripted, path, _extra_files=files)
        )


def exported_test_mode(path: str | os.PathLike[str], format: str) -> str:
    """The test mode an exported file's graph runs in, as the file records it.

    Examples:
        >>> exported_test_mode("/tmp/g.pt", "torchscript")  # doctest: +SKIP
        'eval'
    """
    if format == "onnx":
        import onnx

        props = {p.key: p.value for p in onnx.load(os.fspath(path)).metadata_props}
        return props["pix2pix.test_mode"]
    files = {"pix2pix_config.json": ""}
    torch.jit.load(os.fspath(path), _extra_files=files)
    return str(json.loads(files["pix2pix_config.json"])["export"]["test_mode"])


class _AnySizeGenerator(nn.Module):
    """The generator behind in-graph padding to its size multiple, for exports of any size."""

    def __init__(self, generator: nn.Module, multiple: int) -> None:
        super().__init__()
        self.generator = generator
        self.multiple = multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2], x.shape[-1]
        padded = pad_to_multiple_in_graph(x, self.multiple)
        # narrow, not a slice: a slice's end is clamped, which leaves the exported output
        # axes as min(height, padded height) instead of the input's own "height"
        return self.generator(padded).narrow(2, 0, height).narrow(3, 0, width)


class _CheckedGenerator(nn.Module):
    """The traced generator behind the input checks a trace loses (TorchScript-compatible)."""

    def __init__(
        self, traced: nn.Module, *, name: str, channels: int, height: int, width: int
    ) -> None:
        super().__init__()
        self.generator = traced  # an _AnySizeGenerator around the trace when height is 0
        self.name = name
        self.channels = channels
        self.height = height  # 0: any size
        self.width = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = str(x.shape)
        if x.dim() != 4:
            raise ValueError(self.name + " expects a 4D tensor [N, C, H, W]; got shape " + shape)
        if x.shape[1] != self.channels:
            raise ValueError(
                self.name + " expects " + str(self.channels) + " input channels; got shape " + shape
            )
        if self.height > 0 and (x.shape[2] != self.height or x.shape[3] != self.width):
            raise ValueError(
                "this export takes " + str(self.height) + "x" + str(self.width) + " inputs; got "
                "shape " + shape + ". Export with dynamic_size=True for other sizes."
            )
        return self.generator(x)


def _max_opset() -> int:
    """The newest ONNX opset the installed ``onnx`` package knows (and can convert to)."""
    import onnx

    return int(onnx.defs.onnx_opset_version())


def _written_opset(proto: Any) -> int:
    """The default-domain (``ai.onnx``) opset an ONNX ``ModelProto`` declares."""
    return next(int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx"))


def _require_onnx() -> None:
    missing = []
    for name in ("onnx", "onnxscript", "onnxruntime"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ImportError(
            f"ONNX export needs onnx, onnxscript and onnxruntime (missing: {', '.join(missing)}): "
            f"{install_command('onnx')}"
        )


@contextlib.contextmanager
def _quiet_dropout_notice() -> Iterator[None]:
    # Loading a reference .pth in the paper mode notes the dropout it assumed; a graph has no
    # dropout, so the note does not apply to an export.
    notice = logging.getLogger("pix2pix.inference.translator")
    level = notice.level
    notice.setLevel(logging.ERROR)
    try:
        yield
    finally:
        notice.setLevel(level)


def _load_generator(
    model_or_path: Any, test_mode: str | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """The graph to export (a float32 CPU copy of the generator in its test mode) and its config.

    A copy, so exporting neither changes the caller's module's mode nor moves it. The config
    holds the model's, its inference settings and ``"export"``: the test mode and what it does.
    """
    from pix2pix.inference.translator import Translator

    if test_mode is not None:
        check_test_mode(test_mode)
    if isinstance(model_or_path, Translator):
        module, inference = model_or_path.generator, model_or_path.inference
        mode = test_mode or model_or_path.test_mode
    elif isinstance(model_or_path, nn.Module):
        module, inference = model_or_path, {}
        mode = test_mode or "eval"
    elif isinstance(model_or_path, (str, os.PathLike)):
        with _quiet_dropout_notice():
            translator = Translator.from_pretrained(model_or_path, device="cpu")
        module, inference = translator.generator, translator.inference
        mode = test_mode or translator.test_mode
    else:
        raise ValueError(
            "model_or_path must be a generator module, a Translator, or a path/Hub id; got "
            f"{type(model_or_path).__name__}."
        )
    if hasattr(module, "config") and not hasattr(module, "out_channels"):
        raise ValueError(
            f"Only generators can be exported; got a {type(module).__name__}. Pass the "
            "generator (e.g. runs/NAME/final)."
        )
    config: dict[str, Any] = {"model_type": type(module).__name__}
    config.update(getattr(module, "config", {}))
    if inference:
        config["inference"] = dict(inference)
    config["export"] = {"test_mode": mode, "note": TEST_MODE_NOTES[mode]}
    # paper_mode_graph copies the module (eval mode, each batch norm per image); eval a copy too
    generator = paper_mode_graph(module) if mode == "paper" else copy.deepcopy(module).eval()
    return generator.float().cpu(), config


def _in_channels(generator: nn.Module) -> int:
    return int(getattr(generator, "in_channels", 3))


def _check_size(
    size: int | tuple[int, int] | None, generator: nn.Module, config: dict[str, Any]
) -> tuple[int, int]:
    multiple = size_multiple_of(generator)
    if size is None:
        crop = (config.get("inference") or {}).get("crop_size")
        if isinstance(crop, int) and crop > 0 and crop % multiple == 0:
            return crop, crop
        side = -(-256 // multiple) * multiple
        return side, side
    pair = (size, size) if isinstance(size, int) else tuple(size) if _is_pair(size) else ()
    if (
        len(pair) != 2
        or any(isinstance(s, bool) or not isinstance(s, int) or s <= 0 for s in pair)
        or any(s % multiple for s in pair)
    ):
        raise ValueError(
            f"size={size!r} must be a positive int or (height, width) of multiples of "
            f"{multiple} (the {type(generator).__name__}'s size_multiple)."
        )
    return pair[0], pair[1]


def _is_pair(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and len(value) == 2


def _example_input(generator: nn.Module, height: int, width: int) -> torch.Tensor:
    # A batch of 2: torch.export specialises dimensions of size 1, which would fix the batch.
    generator_rng = torch.Generator().manual_seed(0)
    return torch.rand(2, _in_channels(generator), height, width, generator=generator_rng) * 2 - 1


def _dynamic_shapes(dynamic_size: bool) -> tuple[dict[int, Any]]:
    from torch.export import Dim

    shapes: dict[int, Any] = {0: Dim("batch")}
    if dynamic_size:
        # AUTO, not a named Dim: a generator may truly need a minimum size (the ResNet's instance
        # norm needs more than one value after two stride-2 convolutions, so 5 pixels a side),
        # which a named Dim would reject as a constraint violation; _export_any_size reads the
        # range export proved and refuses a specialised one
        if not hasattr(Dim, "AUTO"):
            raise RuntimeError(
                f"dynamic_size=True needs torch 2.6 or newer (torch.export's Dim.AUTO); this is "
                f"torch {torch.__version__}. Upgrade torch, or export one fixed size."
            )
        shapes[2] = shapes[3] = Dim.AUTO
    return (shapes,)


def _export_any_size(generator: nn.Module, example: torch.Tensor) -> tuple[Any, int]:
    """``torch.export`` of the generator behind in-graph padding; the program and its min size."""
    program = torch.export.export(
        _AnySizeGenerator(generator, size_multiple_of(generator)),
        (example,),
        dynamic_shapes=_dynamic_shapes(True),
    )
    (name,) = program.graph_signature.user_inputs
    node = next(n for n in program.graph.nodes if n.name == name)
    sides = []
    for axis in (2, 3):
        size = node.meta["val"].shape[axis]
        bounds = (
            program.range_constraints.get(size.node.expr)
            if isinstance(size, torch.SymInt)
            else None
        )
        if bounds is None or bounds.lower == bounds.upper:
            raise RuntimeError(
                f"{type(generator).__name__} could not be exported for free sizes (axis {axis} "
                f"was fixed to {size}); export with dynamic_size=False and a fixed size."
            )
        sides.append(int(bounds.lower))
    # torch.export reports 2 as the least of every free size (it keeps 0 and 1 for its own
    # specialisation), not a need of the graph: sizes of 1 pad and run like any other
    lowest = max(sides)
    return program, 1 if lowest <= 2 else lowest


def _name_axes(program: Any, dynamic_size: bool) -> None:
    """Name the dynamic axes ``batch``, ``height`` and ``width`` rather than torch's ``s77``."""
    if not hasattr(program, "rename_axes"):  # older torch: keep its names
        return
    shape = program.model.graph.inputs[0].shape
    names = {shape[0]: "batch"}
    if dynamic_size:
        names.update({shape[2]: "height", shape[3]: "width"})
    program.rename_axes(names)


def _atomic_save(output: Path, write: Callable[[str], Any]) -> Path:
    # same as save_pretrained: an interrupted export never leaves a truncated file under the name
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(output, write)
    return output
