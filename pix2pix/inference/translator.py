"""Inference: translate images of any kind and size with a trained generator."""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pix2pix import hub
from pix2pix._device import (
    half_precision_is_slow,
    resolve_device,
    resolve_dtype,
    slow_half_precision_message,
)
from pix2pix.inference.images import ImageSpec, from_model_output, is_single_image, to_model_input
from pix2pix.inference.modes import (
    DEFAULT_SEED,
    check_seed,
    check_test_mode,
    has_test_time_noise,
    paper_test_mode,
    recorded_test_mode,
)
from pix2pix.inference.tiling import run_padded, run_tiled
from pix2pix.models.base import (
    ModelMixin,
    load_pretrained,
    read_config,
    resolve_pretrained_files,
    size_multiple_of,
)
from pix2pix.models.convert import assumed_reference_settings, load_reference_checkpoint
from pix2pix.pretrained.resolve import resolve_model

logger = logging.getLogger(__name__)


class Translator:
    """Translate images with a trained pix2pix generator.

    Inputs may be a PIL image, a file path, a numpy array ``HxW``/``HxWxC`` (``uint8``,
    ``uint16``, or float in [0, 1]), a torch tensor ``CxHxW``/``NxCxHxW`` in [-1, 1], or a list of
    these. The result has the same kind, spatial size and dtype (a path gives a PIL image, a list
    a list), with the model's output channels (an input alpha channel is carried over). Sides
    that are not a multiple of what the network needs are reflect-padded and the result cropped
    back, so a 300x200 photo gives a 300x200 result. See :mod:`pix2pix.inference.images` for the
    channel rules.

    The generator runs in the test mode the model records (``inference["test_mode"]``, see
    :mod:`pix2pix.inference.modes`): ``"paper"`` (dropout on, each image normalised with its own
    batch statistics, as the canonical ``test.py`` runs; the official pix2pix models record it)
    or ``"eval"`` (running statistics, no dropout; a model that records no mode). Either way a
    translation is reproducible: the paper mode's dropout is seeded (``seed=0`` unless given;
    ``seed=None`` draws fresh samples), and an image's result never depends on the other images
    translated with it.

    Args:
        generator: A generator module (any ``nn.Module`` mapping ``[N, C, H, W]`` to images).
        device: ``"auto"``/``None`` (CUDA when present), ``"cpu"``, ``"cuda:1"``, ...
        dtype: Compute precision: ``None``/``"fp32"``, ``"bf16"`` or ``"fp16"`` (the
            generator runs on a copy of its weights in that precision; outputs are float32).
        compile: Compile the generator with ``torch.compile`` (inductor, with weight freezing),
            worthwhile for many calls on same-sized inputs. The paper mode of a model with
            dropout runs uncompiled (a compiled graph draws other masks for the same seed).
        inference: Settings saved with the model (e.g. ``{"direction": "BtoA"}``).
        test_mode: ``"paper"`` or ``"eval"``, replacing the mode ``inference`` records (and
            recorded in it, so :meth:`save_pretrained` and the exports keep it).

    Examples:
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
        test_mode: str | None = None,
    ) -> None:
        if not isinstance(generator, nn.Module):
            raise ValueError(
                f"generator must be a torch.nn.Module; got {type(generator).__name__}."
            )
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype)
        self.generator = generator.eval().to(self.device)
        self.inference = dict(inference or {})
        if test_mode is not None:
            self.inference["test_mode"] = check_test_mode(test_mode)
        recorded_test_mode(self.inference)  # a bad recorded mode is refused here, not later
        # without batch norm or dropout the two modes agree: eval's batched path serves both
        self._noisy = has_test_time_noise(generator)
        self._dropout = any(
            isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0 for m in generator.modules()
        )
        self.in_channels = int(
            getattr(generator, "in_channels", self.inference.get("in_channels", 3))
        )
        self.size_multiple = size_multiple_of(generator)
        # the module run eagerly: a half-precision copy when asked (casting the weights beats
        # autocast's per-op casts several times on CPU)
        self._eager: nn.Module = generator
        if self.dtype != torch.float32:
            if half_precision_is_slow(self.device, self.dtype):
                warnings.warn(
                    slow_half_precision_message(self.dtype, f"dtype={self.dtype}"), stacklevel=2
                )
            self._eager = copy.deepcopy(generator).to(dtype=self.dtype)
        # compiled: a channels-last copy behind torch.compile. The eager module stays as it is:
        # dropout draws its mask in memory order, so only the contiguous module draws the masks
        # of the canonical network for a seed (and the caller's generator is left unchanged).
        self._compiled = compile
        self._graph: nn.Module = self._eager
        self._forward: nn.Module | Any = self._eager
        if compile:
            self._graph = copy.deepcopy(self._eager).to(memory_format=torch.channels_last)
            self._forward = torch.compile(self._graph)
            if self._dropout and self.test_mode == "paper":
                warnings.warn(
                    "compile=True speeds up the eval mode; this model's test mode is 'paper' and "
                    "it has dropout, which runs uncompiled (a compiled graph draws other dropout "
                    "masks than torch for the same seed). Pass test_mode='eval' to compile it.",
                    stacklevel=2,
                )

    @property
    def test_mode(self) -> str:
        """The test mode :meth:`translate` uses by default: ``"paper"`` or ``"eval"``."""
        return recorded_test_mode(self.inference)

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
        test_mode: str | None = None,
        dropout: float | None = None,
    ) -> Translator:
        """Load a generator and build a translator for it.

        A saved model runs in the test mode its ``config.json`` records (``"eval"`` when it
        records none); a reference ``.pth`` in the canonical ``test.py``'s default, ``"paper"``.

        Args:
            path: Resolved in this order: an existing local path (a folder written by
                ``save_pretrained``, a ``.safetensors`` file with its ``config.json`` beside it,
                or a reference ``latest_net_G.pth``, converted on load and read with
                ``torch.load(weights_only=True)``); then a pretrained model name
                (:func:`pix2pix.list_pretrained`, e.g. ``"facades_label2photo"``: downloaded
                and converted once into the cache); then a Hugging Face Hub repo id
                ``"owner/name"`` (needs the ``hub`` extra).
            device: See :class:`Translator`.
            dtype: See :class:`Translator`.
            compile: See :class:`Translator`.
            test_mode: ``"paper"`` or ``"eval"`` instead of the recorded mode.
            dropout: For a reference ``.pth`` only: the U-Net's dropout, which its weights
                cannot reveal (``0.0`` for a model trained with ``--no_dropout``; default the
                canonical 0.5). It matters in the paper mode only.

        Raises:
            FileNotFoundError: If ``path`` does not exist (nor, for a repo id, on the Hub).
            ValueError: If the file is damaged, unsafe, or holds a discriminator; if it records
                an unknown test mode; for ``dropout`` with anything but a reference ``.pth``.

        Examples:
            >>> t = Translator.from_pretrained("latest_net_G.pth", dropout=0.0)  # doctest: +SKIP
        """
        source = path
        path = resolve_model(path)
        inference: dict[str, Any] = {}
        reference = path.suffix in (".pth", ".pt")
        if reference:
            overrides: dict[str, Any] = {} if dropout is None else {"dropout": dropout}
            model: ModelMixin = load_reference_checkpoint(path, **overrides)
            inference["test_mode"] = "paper"  # what the canonical test.py runs without --eval
        else:
            if dropout is not None:
                raise ValueError(
                    f"dropout={dropout!r} is for a reference .pth, whose weights cannot say it; "
                    f"{source} records its own (config.json). Leave dropout out."
                )
            model = load_pretrained(path)
            config_path, _ = resolve_pretrained_files(path)
            inference = read_config(config_path).get("inference") or {}
        if not hasattr(model, "out_channels"):
            raise ValueError(
                f"{source} holds a {type(model).__name__}, not a generator; point to the "
                "generator's weights (e.g. latest_net_G.pth or runs/NAME/final)."
            )
        try:
            recorded_test_mode(inference, source=str(source))
        except ValueError as error:
            raise ValueError(f"{error} Fix config.json, or pass test_mode.") from None
        translator = cls(
            model,
            device=device,
            dtype=dtype,
            compile=compile,
            inference=inference,
            test_mode=test_mode,
        )
        assumed = assumed_reference_settings(type(model).__name__)
        if reference and dropout is None and assumed and translator.test_mode == "paper":
            logger.warning(
                "%s: run in the paper's test mode, as the canonical test.py runs it (dropout on, "
                "each image's own batch statistics, dropout seed %d); its weights cannot say "
                "whether it was trained with --no_dropout, so %s (the canonical default) was "
                "assumed. For a model trained with --no_dropout pass dropout=0.0 (--dropout 0); "
                'test_mode="eval" (--test-mode eval) runs it as test.py --eval does.',
                source,
                DEFAULT_SEED,
                ", ".join(f"{k}={v}" for k, v in assumed.items()),
            )
        return translator

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

        Needs the ``hub`` extra; see :func:`pix2pix.hub.push_to_hub`.

        Returns:
            The URL of the commit.

        Examples:
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
        test_mode: str | None = None,
        seed: int | None = DEFAULT_SEED,
        batch_size: int = 1,
    ) -> Any:
        """Translate one image or a list of images.

        Args:
            x: The input(s); see :class:`Translator` for the accepted kinds.
            tile: If set, translate in overlapping ``tile`` x ``tile`` windows (rounded up to the
                network's size multiple) with blended seams, bounding memory for large images.
            tile_overlap: Pixels shared by neighbouring tiles.
            test_mode: ``"paper"`` (dropout on, each image normalised with its own batch
                statistics; the model's stored statistics are untouched) or ``"eval"``
                (running statistics, no dropout). Default: :attr:`test_mode`, the model's.
            seed: The paper mode's dropout seed: every image (of a list or an ``NxCxHxW``
                batch alike) is translated with it, so its result is the same alone or with
                others. ``None`` draws fresh samples from the global RNG. The eval mode draws
                nothing.
            batch_size: For a list in the eval mode: run up to this many consecutive images of
                the same size and channel count through the network at once (faster, more
                memory). Results match one-by-one translation up to float rounding. With
                ``tile``, and in the paper mode (each image its own statistics), images run
                one at a time whatever it is.

        Returns:
            The translation(s), of the same kind as ``x``.

        Raises:
            ValueError: For inputs of the wrong type, range or channel count.
            FileNotFoundError: For a path that does not exist.

        Examples:
            >>> import numpy as np
            >>> from pix2pix.models import UNetGenerator
            >>> t = Translator(UNetGenerator(base_channels=4, num_downs=5), device="cpu")
            >>> t.translate(np.zeros((300, 200, 3), dtype=np.uint8)).shape
            (300, 200, 3)
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r} must be an integer >= 1.")
        mode = self.test_mode if test_mode is None else check_test_mode(test_mode)
        check_seed(seed)
        if not is_single_image(x):
            if batch_size > 1 and tile is None and mode == "eval":
                return self._translate_batched(list(x), batch_size)
            return [
                self.translate(
                    item, tile=tile, tile_overlap=tile_overlap, test_mode=mode, seed=seed
                )
                for item in x
            ]
        batch, spec = to_model_input(x, self.in_channels)
        output = self._run(batch, tile=tile, tile_overlap=tile_overlap, mode=mode, seed=seed)
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
                mode="eval",
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
        mode: str,
        seed: int | None,
    ) -> torch.Tensor:
        batch = batch.to(self.device, self.dtype)
        # A compiled graph draws its own dropout masks, not torch's: the paper mode of a model
        # with dropout runs the eager module, so a seed gives one result with or without compile.
        graph = self._compiled and (mode == "eval" or not self._dropout)
        module, forward = (self._graph, self._forward) if graph else (self._eager, self._eager)
        if graph:
            batch = batch.contiguous(memory_format=torch.channels_last)
        if mode == "eval" or not self._noisy:
            with self._compile_settings():
                return self._forward_padded(forward, batch, tile, tile_overlap).float()
        # The paper mode, one image at a time: the canonical test.py normalises each image with
        # its own statistics (its batch is one image), so a neighbour must not change them; and
        # each image draws its dropout from the seed, as it would alone.
        outputs = []
        with paper_test_mode(module), self._compile_settings():
            for image in batch.split(1):
                with self._seeded(seed):
                    outputs.append(self._forward_padded(forward, image, tile, tile_overlap))
        return torch.cat(outputs).float()

    def _forward_padded(
        self, forward: Any, batch: torch.Tensor, tile: int | None, overlap: int
    ) -> torch.Tensor:
        if tile is None:
            return run_padded(forward, batch, self.size_multiple)
        return run_tiled(forward, batch, self.size_multiple, tile, overlap)

    @contextlib.contextmanager
    def _seeded(self, seed: int | None) -> Iterator[None]:
        """Draw from ``seed`` inside, leaving the global RNG as it was (``None``: draw from it)."""
        if seed is None:
            yield
            return
        with torch.random.fork_rng(devices=self._rng_devices()):
            torch.manual_seed(seed)
            yield

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
