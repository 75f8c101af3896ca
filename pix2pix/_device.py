"""Device and precision names, resolved in one place for training and inference."""

from __future__ import annotations

from typing import Any

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

    Examples:
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

    Examples:
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


def half_precision_is_slow(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether this CPU lacks oneDNN's kernels for ``dtype`` (no AVX-512 BF16/FP16 or AMX).

    PyTorch then runs half-precision convolutions on its reference kernels: a bf16 translation
    took 29 s per 256 px image on an AVX2-only AMD EPYC, 80x the fp32 time (the Performance docs
    page).
    ``False`` on a GPU, for fp32, and where the (private) probe is missing.

    Examples:
        >>> half_precision_is_slow(torch.device("cpu"), torch.float32)
        False
    """
    if device.type != "cpu":
        return False
    check = {
        torch.bfloat16: "_is_mkldnn_bf16_supported",
        torch.float16: "_is_mkldnn_fp16_supported",
    }.get(dtype)
    try:
        return not bool(getattr(torch.ops.mkldnn, check)()) if check else False
    except (AttributeError, RuntimeError):  # a private probe; absent in some builds
        return False


def slow_half_precision_message(dtype: torch.dtype, setting: str) -> str:
    """The one line that says so, naming the ``setting`` to change (``precision='bf16'``)."""
    return (
        f"{setting} on this CPU: it lacks the instructions (AVX-512 BF16/FP16, AMX) of oneDNN's "
        f"half-precision kernels, so {dtype} convolutions fall back to slow reference kernels, "
        "tens of times slower than the default fp32."
    )


def check_precision(precision: str, device: torch.device, logger: Any) -> None:
    """Refuse a precision ``device`` cannot run; say so when it would run it slowly.

    Raises:
        ValueError: For bf16 on a GPU without bf16 support.
    """
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError("precision='bf16' is not supported by this GPU; use 'fp16'.")
    dtype = autocast_dtype(precision)
    if dtype is not None and half_precision_is_slow(device, dtype):
        logger.warning(slow_half_precision_message(dtype, f"precision={precision!r}"))
