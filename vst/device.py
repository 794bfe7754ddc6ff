"""Device and precision choices, shared by training and prediction (configuration, not code paths)."""

from __future__ import annotations

import torch


def resolve_accelerator(accelerator: str) -> str:
    """"auto" -> "cuda" when a GPU is present, else "cpu"."""
    if accelerator in ("auto", "gpu"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return accelerator


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with native bf16 maths (AVX512-BF16 / AMX): there autocast pays off."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(precision: str, accelerator: str) -> str:
    """"auto" -> bf16 mixed where the hardware does bf16 natively, fp16 mixed on older GPUs,
    fp32 elsewhere. Other values are Lightning precision strings, passed through."""
    if precision != "auto":
        return precision
    if resolve_accelerator(accelerator) == "cuda":
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "bf16-mixed" if cpu_has_fast_bf16() else "32-true"
