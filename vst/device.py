"""Device and precision choices, shared by training and prediction (configuration, not code paths)."""

from __future__ import annotations

import torch

from vst.errors import VstError

ACCELERATORS = ("auto", "cpu", "gpu", "cuda")


def resolve_accelerator(accelerator: str, key: str = "accelerator") -> str:
    """"auto" -> "cuda" when a GPU is present, else "cpu"; "gpu" (or "cuda") without one is an
    error, not a silent run on the CPU. `key` names the setting in that error."""
    if accelerator not in ACCELERATORS:
        raise VstError(f"{key}={accelerator!r} is unknown (choose {' | '.join(ACCELERATORS)})")
    if accelerator == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise VstError(f"{key}={accelerator} but PyTorch sees no CUDA GPU here; use "
                       f"{key}=auto (CUDA when present) or cpu")
    return "cuda" if accelerator in ("gpu", "cuda") else "cpu"


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with native bf16 maths (AVX512-BF16 / AMX): there autocast pays off."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, accelerator: str) -> str:
    """For `accelerator` as `resolve_accelerator` gives it: "auto" -> bf16 mixed where the
    hardware does bf16 natively, fp16 mixed on older GPUs, fp32 elsewhere. Other values are
    Lightning precision strings, passed through."""
    if precision != "auto":
        return precision
    if accelerator == "cuda":
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "bf16-mixed" if cpu_has_fast_bf16() else "32-true"
