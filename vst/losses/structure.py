"""Structure loss without any pretrained network: 1 - the structure term of SSIM on luma.

The structure term (Wang et al. 2004) is the local correlation between output and content
luma in a Gaussian window: it is 1 wherever the output is any increasing affine function of
the content locally, so a grade is free to change colour, brightness and contrast, but every
edge and texture of the frame must stay where it is, with its sign. A blur, a halo, an
invented texture or a lost detail lowers the correlation. Taken at the training size and at
half size, so both fine texture and larger edges count.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vst.filters import gaussian_blur

_LUMA = (0.299, 0.587, 0.114)  # Rec. 601, as vst.metrics uses
_C3 = 0.03**2 / 2


def luma(images: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor(_LUMA, device=images.device).view(1, 3, 1, 1)
    return (images.float() * weights).sum(1, keepdim=True)


def content_stats(y: torch.Tensor, sigma: float = 1.5) -> tuple[torch.Tensor, ...]:
    """What `structure_map` needs of the content luma y: y, its local mean and variance (taken
    once per keyframe: the content is the same at every training step)."""
    my, myy = gaussian_blur(torch.cat([y, y * y], 1), sigma).split(y.shape[1], 1)
    return y, my, (myy - my * my).clamp_min(0)


def structure_map(x: torch.Tensor, content: tuple[torch.Tensor, ...], sigma: float = 1.5) -> torch.Tensor:
    """SSIM's structure term between single-channel images x and the content (`content_stats`
    of the same shape)."""
    y, my, vy = content
    # the three local means of x in one blur of three channels (one blur each: 2.4x slower on CPU)
    mx, mxx, mxy = gaussian_blur(torch.cat([x, x * x, x * y], 1), sigma).split(x.shape[1], 1)
    vx = (mxx - mx * mx).clamp_min(0)
    cxy = mxy - mx * my
    return (cxy + _C3) / (torch.sqrt(vx * vy + 1e-12) + _C3)


class StructureLoss(nn.Module):
    """mean over scales of 1 - mean(structure term) between output and content luma."""

    def __init__(self, scales: Sequence[int] = (1, 2)):
        super().__init__()
        self.scales = tuple(int(s) for s in scales)

    @torch.no_grad()
    def targets(self, content: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
        """The content frames' side of the term at each scale, in float32."""
        with torch.autocast(content.device.type, enabled=False):
            y = luma(content)
            return [content_stats(F.avg_pool2d(y, s, ceil_mode=True) if s > 1 else y) for s in self.scales]

    def forward(self, output: torch.Tensor, targets: list[tuple[torch.Tensor, ...]]) -> torch.Tensor:
        """output: the graded frames; targets: their content frames' (`targets`)."""
        with torch.autocast(output.device.type, enabled=False):  # variances need float32
            x = luma(output)
            total = x.new_zeros(())
            for s, content in zip(self.scales, targets, strict=True):
                xs = F.avg_pool2d(x, s, ceil_mode=True) if s > 1 else x
                total = total + (1 - structure_map(xs, content)).mean()
            return total / len(self.scales)
