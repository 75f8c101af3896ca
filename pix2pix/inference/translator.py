"""Inference: translate images of any kind and size with a trained generator."""

from __future__ import annotations

import contextlib
import copy
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pix2pix import hub
from pix2pix._device import resolve_device, resolve_dtype
from pix2pix.inference.images import ImageSpec, from_model_output, is_single_image, to_model_input
from pix2pix.inference.tiling import run_padded, run_tiled
from pix2pix.models.base import (
    ModelMixin,
    load_pretrained,
    read_config,
    resolve_pretrained_files,
    size_multiple_of,
)
from pix2pix.models.convert import load_reference_checkpoint
from pix2pix.pretrained.resolve import resolve_model


def _warn_if_half_precision_is_slow(device: torch.device, dtype: torch.dtype) -> None:
    """Warn when this CPU has no oneDNN kernels for ``dtype`` (no AVX-512 BF16/FP16 or AMX).

    PyTorch then runs half-precision convolutions on its slow reference kernels: measured 10-80x
    slower than fp32 on an AVX2-only AMD EPYC (``benchmarks/results/translate_cpu_avx2.json``).
    """
    if device.type != "cpu":
        return
    check = {
        torch.bfloat16: "_is_mkldnn_bf16_supported",
        torch.float16: "_is_mkldnn_fp16_supported",
    }.get(dtype)
    try:
        supported = bool(getattr(torch.ops.mkldnn, check)()) if check else True
    except (AttributeError, RuntimeError):  # a private probe; absent in some builds
        return
    if not supported:
        warnings.warn(
            f"dtype={dtype} on this CPU: it lacks the instructions (AVX-512 BF16/FP16, AMX) "
            "of oneDNN's half-precision kernels, so convolutions fall back to slow reference "
            "kernels, many times slower than the default fp32.",
            stacklevel=3,
        )


@contextlib.contextmanager
def paper_test_mode(model: nn.Module) -> Iterator[None]:
    """Run ``model`` as the paper does at test time, without changing it.

    The paper applies dropout at test time (its only noise source, section 3.1) and normalises
    with the statistics of the test batch rather than the running averages (section 3.3). The
    running statistics are not updated, and every module's mode is restored afterwards.
    """
    saved = [(m, m.training, getattr(m, "track_running_stats", None)) for m in model.modules()]
    try:
        for module in model.modules():
            if isinstance(module, nn.modules.dropout._DropoutNd):
                module.train(True)
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.train(True)
                module.track_running_stats = False  # use batch statistics, update nothing
        yield
    finally:
        for module, training, track in saved:
            module.training = training
            if track is not None:
                module.track_running_stats = track


class Translator:
    """Translate images with a trained pix2pix generator.

    Inputs may be a PIL image, a file path, a numpy array ``HxW``/``HxWxC`` (``uint8``,
    ``uint16``, or float in [0, 1]), a torch tensor ``CxHxW``/``NxCxHxW`` in [-1, 1], or a list of
    these. The result has the same kind, spatial size and dtype (a path gives a PIL image, a list
    a list), with the model's output channels (an input alpha channel is carried over). Sides
    that are not a multiple of what the network needs are reflect-padded and the result cropped
    back, so a 300x200 photo gives a 300x200 result. See :mod:`pix2pix.inference.images` for the
    channel rules.

    Inference is deterministic by default (eval mode: no dropout, running batch-norm
    statistics). ``translate(..., stochastic=True, seed=...)`` reproduces the paper's test-time
    behaviour instead.

    Args:
        generator: A generator module (any ``nn.Module`` mapping ``[N, C, H, W]`` to images).
        device: ``"auto"``/``None`` (CUDA when present), ``"cpu"``, ``"cuda:1"``, ...
        dtype: Compute precision: ``None``/``"fp32"``, ``"bf16"`` or ``"fp16"`` (the
            generator runs on a copy of its weights in that precision; outputs are float32).
        compile: Compile the generator with ``torch.compile`` (inductor, with weight freezing),
            worthwhile for many calls on same-sized inputs.
        inference: Settings saved with the model (e.g. ``{"direction": "BtoA"}``).

    Example:
        >>> translator = Translator.from_pretrained("runs/facades/final")  # doctest: +SKIP
        >>> photo = translator.translate("labels.png")  # doctest: +SKIP
    """

    def __init__(
        self,
        generator: nn.Module,
        *,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        compile: bool = False,
        inference: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(generator, nn.Module):
            raise ValueError(
                f"generator must be a torch.nn.Module; got {type(generator).__name__}."
            )
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype)
        self.generator = generator.eval().to(self.device)
        self.inference = dict(inference or {})
        self.in_channels = int(
            getattr(generator, "in_channels", self.inference.get("in_channels", 3))
        )
        self.size_multiple = size_multiple_of(generator)
        # the module actually run: a half-precision copy when asked (casting the weights beats
        # autocast's per-op casts several times on CPU), channels-last when compiled
        self._module: nn.Module = generator
        if self.dtype != torch.float32:
            _warn_if_half_precision_is_slow(self.device, self.dtype)
            self._module = copy.deepcopy(generator).to(dtype=self.dtype)
        self._compiled = compile
        self._forward: nn.Module | Any = self._module
        if compile:
            self._module.to(memory_format=torch.channels_last)
            self._forward = torch.compile(self._module)

    @property
    def direction(self) -> str | None:
        """The training direction saved with the model (``"AtoB"``/``"BtoA"``), if known."""
        return self.inference.get("direction")

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike[str],
        *,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        compile: bool = False,
    ) -> Translator:
        """Load a generator and build a translator for it.

        Args:
            path: Resolved in this order: an existing local path (a folder written by
                ``save_pretrained``, a ``.safetensors`` file with its ``config.json`` beside it,
                or a reference ``latest_net_G.pth``, converted on load and read with
                ``torch.load(weights_only=True)``); then a pretrained model name
                (:func:`pix2pix.list_pretrained`, e.g. ``"facades_label2photo"``: downloaded
                and converted once into the cache); then a Hugging Face Hub repo id
                ``"owner/name"`` (needs ``pip install "pix2pix[hub]"``).
            device: See :class:`Translator`.
            dtype: See :class:`Translator`.
            compile: See :class:`Translator`.

        Raises:
            FileNotFoundError: If ``path`` does not exist (nor, for a repo id, on the Hub).
            ValueError: If the file is damaged, unsafe, or holds a discriminator.
        """
        source = path
        path = resolve_model(path)
        inference: dict[str, Any] = {}
        if path.suffix in (".pth", ".pt"):
            model: ModelMixin = load_reference_checkpoint(path)
        else:
            model = load_pretrained(path)
            config_path, _ = resolve_pretrained_files(path)
            inference = read_config(config_path).get("inference") or {}
        if not hasattr(model, "out_channels"):
            raise ValueError(
                f"{source} holds a {type(model).__name__}, not a generator; point to the "
                "generator's weights (e.g. latest_net_G.pth or runs/NAME/final)."
            )
        return cls(model, device=device, dtype=dtype, compile=compile, inference=inference)

    def save_pretrained(self, save_directory: str | os.PathLike[str]) -> Path:
        """Save the generator and its inference settings (config, safetensors, model card)."""
        if not isinstance(self.generator, ModelMixin):
            raise ValueError("Only pix2pix models can be saved; this generator is a plain module.")
        return self.generator.save_pretrained(save_directory, inference=self.inference)

    def push_to_hub(
        self,
        repo_id: str,
        *,
        private: bool = False,
        token: str | None = None,
        commit_message: str = "Upload pix2pix model",
    ) -> str:
        """Upload the generator and its inference settings to the Hugging Face Hub.

        Needs ``pip install "pix2pix[hub]"``; see :func:`pix2pix.hub.push_to_hub`.

        Returns:
            The URL of the commit.

        Example:
            >>> translator.push_to_hub("me/facades-label2photo")  # doctest: +SKIP
        """
        return hub.push_to_hub(
            self, repo_id, private=private, token=token, commit_message=commit_message
        )

    def translate(
        self,
        x: Any,
        *,
        tile: int | None = None,
        tile_overlap: int = 32,
        stochastic: bool = False,
        seed: int | None = None,
        batch_size: int = 1,
    ) -> Any:
        """Translate one image or a list of images.

        Args:
            x: The input(s); see :class:`Translator` for the accepted kinds.
            tile: If set, translate in overlapping ``tile`` x ``tile`` windows (rounded up to the
                network's size multiple) with blended seams, bounding memory for large images.
            tile_overlap: Pixels shared by neighbouring tiles.
            stochastic: Reproduce the paper's test-time behaviour: dropout on and batch
                statistics in the norm layers (the model's stored statistics are untouched).
            seed: Seed for the stochastic mode's dropout (``None`` draws from the global RNG).
            batch_size: For a list: run up to this many consecutive images of the same size
                and channel count through the network at once (faster, more memory). Results
                match one-by-one translation up to float rounding. Ignored with ``tile`` and in
                the stochastic mode, whose batch statistics would mix the images.

        Returns:
            The translation(s), of the same kind as ``x``.

        Raises:
            ValueError: For inputs of the wrong type, range or channel count.
            FileNotFoundError: For a path that does not exist.

        Example:
            >>> import numpy as np
            >>> from pix2pix.models import UNetGenerator
            >>> t = Translator(UNetGenerator(base_channels=4, num_downs=5), device="cpu")
            >>> t.translate(np.zeros((300, 200, 3), dtype=np.uint8)).shape
            (300, 200, 3)
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r} must be an integer >= 1.")
        if not is_single_image(x):
            if batch_size > 1 and tile is None and not stochastic:
                return self._translate_batched(list(x), batch_size)
            return [
                self.translate(
                    item, tile=tile, tile_overlap=tile_overlap, stochastic=stochastic, seed=seed
                )
                for item in x
            ]
        batch, spec = to_model_input(x, self.in_channels)
        output = self._run(
            batch, tile=tile, tile_overlap=tile_overlap, stochastic=stochastic, seed=seed
        )
        return from_model_output(output, spec)

    __call__ = translate

    def _translate_batched(self, items: list[Any], batch_size: int) -> list[Any]:
        # Consecutive runs only, so memory holds at most one batch of inputs (a folder of
        # same-sized images batches fully) and results keep the input order.
        results: list[Any] = []
        pending: list[tuple[torch.Tensor, ImageSpec]] = []

        def flush() -> None:
            if not pending:
                return
            output = self._run(
                torch.cat([b for b, _ in pending]),
                tile=None,
                tile_overlap=0,
                stochastic=False,
                seed=None,
            )
            sizes = [b.shape[0] for b, _ in pending]
            for rows, (_, spec) in zip(output.split(sizes), pending):
                results.append(from_model_output(rows, spec))
            pending.clear()

        for item in items:
            batch, spec = to_model_input(item, self.in_channels)
            if batch.shape[0] != 1:  # an NxCxHxW tensor is already a batch: run it as it is
                flush()
                pending.append((batch, spec))
                flush()
                continue
            if pending and (batch.shape != pending[0][0].shape or len(pending) == batch_size):
                flush()
            pending.append((batch, spec))
        flush()
        return results

    @torch.inference_mode()
    def _run(
        self,
        batch: torch.Tensor,
        *,
        tile: int | None,
        tile_overlap: int,
        stochastic: bool,
        seed: int | None,
    ) -> torch.Tensor:
        batch = batch.to(self.device, self.dtype)
        if self._compiled:
            batch = batch.contiguous(memory_format=torch.channels_last)
        mode = paper_test_mode(self._module) if stochastic else contextlib.nullcontext()
        rng = (
            torch.random.fork_rng(devices=self._rng_devices())
            if seed is not None
            else contextlib.nullcontext()
        )
        with mode, rng, self._compile_settings():
            if seed is not None:
                torch.manual_seed(seed)
            if tile is None:
                out = run_padded(self._forward, batch, self.size_multiple)
            else:
                out = run_tiled(self._forward, batch, self.size_multiple, tile, tile_overlap)
        return out.float()

    def _compile_settings(self) -> contextlib.AbstractContextManager[Any]:
        if not self._compiled:
            return contextlib.nullcontext()
        import torch._inductor.config as inductor_config

        # Freezing treats the weights as constants: batch norm folds into the convolutions and
        # the weights are pre-packed for oneDNN, several times faster on CPU. It is read when the
        # graph compiles (on the first call), so it is scoped to our calls, not set globally.
        return inductor_config.patch(freezing=True)

    def _rng_devices(self) -> list[int]:
        if self.device.type == "cuda":
            return [self.device.index or 0]
        return []

    def __repr__(self) -> str:
        name = type(self.generator).__name__
        return f"Translator({name}, device={self.device}, dtype={self.dtype})"
