"""Where a model runs and in which precision: the defaults and the user's overrides.

Defaults: CUDA when present, else CPU; bfloat16 on GPUs that support it, float32 elsewhere
(float16 is never chosen automatically: small code LMs overflow in it often enough that a
NaN in the sampler would cost more than the speed gains).
"""

from __future__ import annotations

_DTYPE_NAMES = {
    "float32": "float32",
    "fp32": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
}


def resolve_device(device: str | None) -> str:
    """"cuda" when a GPU is visible and `device` is None or "auto"; else "cpu"; else as given."""
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(dtype: str | None, device: str, *, prefer_bf16_on_cpu: bool = False):
    """The torch dtype for `dtype` ("float32", "bf16", ...; None/"auto" = the default above, or
    bfloat16 on a CPU with native bf16 instructions (AVX512-BF16 or AMX) when
    `prefer_bf16_on_cpu`: elsewhere bf16 matrix products are emulated and slower than float32).

    Raises ValueError naming the accepted spellings for an unknown name.
    """
    import torch

    if dtype in (None, "auto"):
        if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        if prefer_bf16_on_cpu and device == "cpu" and cpu_has_native_bf16():
            return torch.bfloat16
        return torch.float32
    name = _DTYPE_NAMES.get(str(dtype).lower())
    if name is None:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {sorted(_DTYPE_NAMES)} or 'auto'")
    return getattr(torch, name)


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bfloat16 matrix products natively on this CPU."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())  # pylint: disable=protected-access
    except (AttributeError, RuntimeError):
        return False
