"""Stability loss: the compound regularisation of Wang et al. 2020 ("Consistent Video Style
Transfer via Compound Regularization", also used by CAP-VSTNet), on the grade itself.

A frame moved by a small random motion (shift, rotation, zoom: a synthetic optical flow), given
a little sensor-like noise and a slight change of exposure is still the same shot, so its grade
(the model's field of colour transforms) must be the moved grade: ``field(g W(x) + n) ==
W(field(x))``. The exposure change asks what a fixed grade does: one transform for the whole
shot, however the light drifts from frame to frame. The caller holds the generator's global
transform at the unmoved frame's (prediction fixes it per shot from the shot's statistics),
so this term trains the part that still sees each frame, the local one, and leaves the global
one free to give each shot its own grade. The grade is compared, not the graded frame:
the frame's own noise passes through a grade unchanged (that is the source's noise, which
the output is allowed to keep); what must not happen is the grade *reacting* to noise or
motion, which is what flickers. Pixels whose source lies outside the frame (the warp invents
them) are left out, so the motion can be large.

It is all done at the network's working size (the objective passes the frame as the network
sees it and the field before upsampling): the field is smooth there by construction, and
moving, noising and comparing full-size frames and 12-channel fields cost a third of a
training step for nothing the working size does not show. The noise is therefore noise of
the frame the network sees (a 1080p frame's sensor noise is ~10x weaker at 96 px).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def random_motion(n: int, h: int, w: int, shift: float, rotate: float, zoom: float,
                  rng: torch.Generator | None = None, device: torch.device | str = "cpu") -> torch.Tensor:
    """N sampling grids (NxHxWx2, for grid_sample) of small random similarity transforms:
    up to `shift` px, `rotate` degrees and `zoom` relative scale change, drawn on `device`
    (`rng`'s own where one is given)."""
    u = torch.rand(n, 4, generator=rng, dtype=torch.float32, device=device) * 2 - 1
    angle, scale = u[:, 0] * math.radians(rotate), 1 + u[:, 1] * zoom
    tx, ty = u[:, 2] * 2 * shift / w, u[:, 3] * 2 * shift / h
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin * h / w, tx], 1),
                         torch.stack([sin * w / h, cos, ty], 1)], 1)
    return F.affine_grid(theta, [n, 1, h, w], align_corners=False)


def warp(x: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """x resampled at `grid`, in float32 whatever the autocast."""
    with torch.autocast(x.device.type, enabled=False):
        return F.grid_sample(x.float(), grid.float().to(x.device), mode="bilinear",
                             padding_mode="border", align_corners=False)


class StabilityLoss(nn.Module):
    """MSE between field(g W(x) + noise) and W(field(x)) where W(x) shows real content."""

    def __init__(self, shift: float = 2.0, rotate: float = 1.0, zoom: float = 0.02,
                 noise: float = 0.02, exposure: float = 0.0, margin: float = 0.05, every: int = 1):
        """exposure: the largest relative change of brightness (gain g in 1 +- exposure);
        every: training steps per sample of the term (the objective weighs it `every` times)."""
        super().__init__()
        if every < 1:
            raise ValueError("loss.stability.every must be at least 1")
        self.shift, self.rotate, self.zoom = shift, rotate, zoom
        self.noise, self.exposure, self.margin = noise, exposure, margin
        self.every = int(every)

    def forward(self, field: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                grade: torch.Tensor, rng: torch.Generator | None = None,
                scale: float = 1.0) -> torch.Tensor:
        """field: the model's grade function; x: frames as the network sees them; grade:
        field(x), already computed; scale: x's size over the training frames' (`shift` is in
        pixels of those)."""
        n, _, h, w = x.shape
        # drawn where the frames are unless `rng` (a CPU generator: validation's fixed motions)
        # says otherwise: on a GPU, no copies from the host in a training step
        where = rng.device if rng is not None else x.device
        grid = random_motion(n, h, w, self.shift * scale, self.rotate, self.zoom, rng, where)
        noise = torch.randn(x.shape, generator=rng, device=where).to(x.device) * self.noise
        gain = 1 + (torch.rand(n, 1, 1, 1, generator=rng, device=where) * 2 - 1).to(x.device) * self.exposure
        moved = (warp(x, grid) * gain + noise).clamp(0, 1).to(x.dtype)
        expected = warp(grade, grid)
        got = field(moved.contiguous(memory_format=_memory_format(x))).float()
        # compared where the moved frame shows real content (its source point lies inside the
        # frame; outside, the warp repeats the border pixels), `margin` away from the borders
        # of both frames (the network pads there)
        inside = (grid.abs() <= 1 - 2 * self.margin).all(-1).unsqueeze(1).to(got.device)
        mh, mw = int(h * self.margin), int(w * self.margin)
        inside[..., :mh, :] = inside[..., h - mh:, :] = False
        inside[..., :mw] = inside[..., w - mw:] = False
        weight = inside.expand_as(got).float()
        return ((got - expected) ** 2 * weight).sum() / weight.sum().clamp_min(1.0)


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    return torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) and \
        not x.is_contiguous() else torch.contiguous_format
