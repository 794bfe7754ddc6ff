"""Prediction's full-resolution pass: 8-bit frames and the grade's field at the working size in,
8-bit graded frames out. The field is upsampled bilinearly (align_corners=False, as
`F.interpolate`) and applied to every pixel, as `HRNet.forward` does (within 1 code value),
a band of rows at a time on the CPU, so memory stays flat from 720p to 4K: never a
full-size field of a batch (12 floats a pixel: 400 MB for one 4K frame), the maths in place.

(A `torch.compile`d pass that fused all of it into one loop was dropped once this one caught
up with it: docs/levers.md.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vst.models.logit import MARGIN

# pixels a band of a batch on the CPU: its field is 48 MB at most (two 720p frames are two
# bands, two 4K frames sixteen)
BAND_PIXELS = 1 << 20


def grade_in_bands(frames: torch.Tensor, coarse: torch.Tensor, rows: int) -> torch.Tensor:
    """NxHxWx3 uint8 frames, their Nx12xhxw fields -> NxHxWx3 uint8 graded frames, `rows` rows of
    every frame at a time."""
    n, height, width, _ = frames.shape
    # the field's bilinear upsampling in two passes: down the rows at the coarse width, once
    # (small), then across each band's rows, each row on its own (1-D linear interpolation:
    # the same values as a 2-D one with a scale of 1 down the rows, and faster)
    down = F.interpolate(coarse.float(), size=(height, coarse.shape[-1]), mode="bilinear",
                         align_corners=False).permute(1, 0, 2, 3)  # 12 x N x H x w, as z
    out = torch.empty_like(frames)
    squeeze = 1 - 2 * MARGIN
    for top in range(0, height, rows):
        band = slice(top, top + rows)
        lines = down[:, :, band].reshape(-1, 1, down.shape[-1])
        field = F.interpolate(lines, size=width, mode="linear", align_corners=False).view(
            12, n, -1, width)  # 12 x N x r x W
        z = frames[:, band].permute(3, 0, 1, 2).contiguous().float()  # 3 x N x r x W
        z.mul_(squeeze / 255).add_(MARGIN).logit_()  # to_logit
        graded = field[9:12] + z  # affine: (I + A) z + b
        for i in range(3):
            for j in range(3):
                graded[i].addcmul_(field[3 * i + j], z[j])
        # from_logit, then 8-bit codes
        graded.sigmoid_().sub_(MARGIN).mul_(255 / squeeze).clamp_(0, 255).round_()
        out[:, band] = graded.to(torch.uint8).permute(1, 2, 3, 0)
    return out


def full_res_pass(frames: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
    """NxHxWx3 uint8 frames, their Nx12xhxw fields -> NxHxWx3 uint8 graded frames: in bands of
    rows on the CPU (flat memory), the whole frame at once on a GPU (fewer kernels)."""
    n, height, width, _ = frames.shape
    rows = max(8, BAND_PIXELS // (n * width)) if frames.device.type == "cpu" else height
    return grade_in_bands(frames, coarse, rows)
