"""The encoding the generator's colour transforms work in: the logit of each channel, squeezed
into [MARGIN, 1 - MARGIN] first (a plain logit sends a clipped channel to +-9; hrnet.py)."""

from __future__ import annotations

import torch

MARGIN = 0.05


def to_logit(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> the logit of the value squeezed into [MARGIN, 1 - MARGIN]."""
    return torch.logit(MARGIN + (1 - 2 * MARGIN) * x.clamp(0, 1))


def from_logit(z: torch.Tensor) -> torch.Tensor:
    """Inverse of `to_logit`, clipped to [0, 1]."""
    return ((torch.sigmoid(z) - MARGIN) / (1 - 2 * MARGIN)).clamp(0, 1)
