"""Device and precision names, resolved in one place for training and inference."""

from __future__ import annotations

import torch

# every spelling a user may give for a floating-point precision
_DTYPES = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
}


def resolve_device(device: str | torch.device | None, local_rank: int = 0) -> torch.device:
    """Turn a device name into a ``torch.device``.

    ``None`` and ``"auto"`` mean ``cuda:<local_rank>`` when CUDA is available, else the CPU; a
    bare ``"cuda"`` gets the index of ``local_rank`` (one GPU per process under torchrun).

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        return torch.device("cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and resolved.index is None:
        resolved = torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))
    return resolved


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    """Map ``None``/``"fp32"``/``"bf16"``/``"fp16"`` (or a torch dtype) to a torch dtype.

    Example:
        >>> resolve_dtype("bf16")
        torch.bfloat16
    """
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype) and dtype in _DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype in _DTYPES:
        return _DTYPES[dtype]
    raise ValueError(f"dtype={dtype!r} is not supported; choose one of {sorted(_DTYPES)}.")


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a training precision (``None`` for fp32: autocast stays off)."""
    dtype = resolve_dtype(precision)
    return None if dtype == torch.float32 else dtype
