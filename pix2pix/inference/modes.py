"""The two test modes a generator can run in, and the model's recorded choice between them.

* ``"paper"``: the paper's test mode (section 3.3, "Optimization and inference": "we apply
  dropout at test time, and we apply batch normalization using the statistics of the test
  batch"), which the canonical ``test.py`` runs unless ``--eval`` is given. Each image is
  normalised with its own statistics (the canonical test batch is one image) and dropout draws
  from a seeded generator, so a translation is reproducible.
* ``"eval"``: ``module.eval()``: running batch-norm statistics, no dropout.

A model records its mode as ``inference["test_mode"]`` in its ``config.json``; a model saved
without it runs in ``"eval"``, as every model did before the mode was recorded. Models without
batch norm and dropout (the CycleGAN generators: instance norm, no dropout) give the same result
in both.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

TEST_MODES = ("paper", "eval")
#: What a model saved without ``inference["test_mode"]`` runs in.
DEFAULT_TEST_MODE = "eval"
#: The dropout seed of the paper mode unless another is given (``None``: fresh samples).
DEFAULT_SEED = 0


def check_test_mode(value: Any, *, what: str = "test_mode") -> str:
    """``value`` if it names a test mode, else a ``ValueError`` naming ``what`` and the choices.

    Examples:
        >>> check_test_mode("paper")
        'paper'
    """
    if value not in TEST_MODES:
        raise ValueError(f"{what}={value!r} is not a test mode; choose one of {TEST_MODES}.")
    return str(value)


def recorded_test_mode(inference: Mapping[str, Any], *, source: str = "the model") -> str:
    """The test mode a model's ``inference`` settings record (``"eval"`` when they record none).

    Raises:
        ValueError: If the recorded value is not a test mode, naming ``source``.

    Examples:
        >>> recorded_test_mode({"test_mode": "paper"}), recorded_test_mode({})
        ('paper', 'eval')
    """
    value = inference.get("test_mode", DEFAULT_TEST_MODE)
    return check_test_mode(value, what=f'{source}: inference["test_mode"]')


def check_seed(seed: Any) -> int | None:
    """``seed`` if it is ``None`` or an integer >= 0, else a ``ValueError`` naming it."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValueError(f"seed={seed!r} must be an integer >= 0, or None for fresh samples.")
    return seed


def has_test_time_noise(module: nn.Module) -> bool:
    """Whether ``module`` holds batch norm or dropout, i.e. whether the two modes differ."""
    kinds = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)
    return any(isinstance(m, kinds) for m in module.modules())


@contextlib.contextmanager
def paper_test_mode(model: nn.Module) -> Iterator[None]:
    """Run ``model`` as the paper does at test time, without changing it.

    Dropout is on and batch norm uses the statistics of the batch it is given (the caller passes
    one image at a time, as the canonical ``test.py`` does); the running statistics are not
    updated, and every module's mode is restored afterwards.
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


class PerImageBatchNorm(nn.Module):
    """A batch-norm layer that normalises each image with its own statistics, for exports.

    For a batch of one image this is the layer in the paper's test mode (batch statistics,
    biased variance, the layer's affine weights); for a larger batch each image still gets the
    result it would get alone, which batch norm in train mode would not give. It exports as
    ONNX ``InstanceNormalization`` and traces for TorchScript.
    """

    def __init__(self, norm: nn.modules.batchnorm._BatchNorm) -> None:
        super().__init__()
        self.eps = float(norm.eps)
        self.weight = norm.weight
        self.bias = norm.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)


def paper_mode_graph(generator: nn.Module) -> nn.Module:
    """An eval-mode copy of ``generator``, each batch norm replaced by :class:`PerImageBatchNorm`.

    It is the paper's test mode without the dropout noise (an exported graph has no dropout
    RNG): deterministic, and equal to ``translate(x, test_mode="paper")`` for a model without
    dropout.
    """
    copied = copy.deepcopy(generator).eval()
    for parent in list(copied.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(parent, name, PerImageBatchNorm(child))
    return copied
