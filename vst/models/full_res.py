"""Prediction's full-resolution pass: 8-bit frames and the grade's field at the working size in,
8-bit graded frames out. The field is upsampled bilinearly (align_corners=False, as
`F.interpolate`) and applied to every pixel, as `HRNet.forward` does, a band of rows at a
time, so memory stays flat from 720p to 4K.

Two ways to run it, within 1 code value of each other:
- plain (`grade_in_bands`): a band of rows at a time, the band's field upsampled in two
  passes (down the rows at the coarse width, then across the band), the maths in place;
  never a full-size field of a batch (12 floats a pixel: 400 MB for one 4K frame);
- compiled (`grade_codes`, torch.compile): the upsample, the transform and the conversions
  fused into one pass over the frame; two to three times as fast again, but compiling costs
  seconds to tens of seconds, so it is taken on long clips only (vst/predict.py).
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from vst.models.hrnet import affine, upsample_field
from vst.models.logit import MARGIN, from_logit, to_logit

log = logging.getLogger("vst")

# pixels a band of a batch on the CPU: its field is 48 MB at most (two 720p frames are two
# bands, two 4K frames sixteen)
BAND_PIXELS = 1 << 20


def grade_codes(frames: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
    """NxHxWx3 uint8 frames, Nx12xhxw field (`HRNet.field(..., upsample=False)`) -> NxHxWx3
    uint8 graded frames (the form torch.compile fuses into one pass)."""
    x = frames.permute(0, 3, 1, 2).float() / 255
    field = upsample_field(coarse.float(), x.shape[-2:])
    graded = from_logit(affine(to_logit(x), field))  # in [0, 1]
    return graded.mul(255).round().to(torch.uint8).permute(0, 2, 3, 1)


def grade_in_bands(frames: torch.Tensor, coarse: torch.Tensor, rows: int) -> torch.Tensor:
    """NxHxWx3 uint8 frames, their Nx12xhxw fields -> NxHxWx3 uint8 graded frames, `rows` rows of
    every frame at a time."""
    n, height, width, _ = frames.shape
    # the field's bilinear upsampling in two passes: down the rows at the coarse width, once
    # (small), then across each band (its rows copied as they are: a scale of 1 is exact)
    down = F.interpolate(coarse.float(), size=(height, coarse.shape[-1]), mode="bilinear",
                         align_corners=False)
    out = torch.empty_like(frames)
    squeeze = 1 - 2 * MARGIN
    for top in range(0, height, rows):
        band = slice(top, top + rows)
        field = F.interpolate(down[:, :, band], size=(min(rows, height - top), width), mode="bilinear",
                              align_corners=False).permute(1, 0, 2, 3)  # 12 x N x r x W, as z
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


class FullResPass:
    """The full-resolution pass over a batch: compiled on first use when `compiled` (frame by
    frame: one frame size, one compile), else in bands (`grade_in_bands`). A compiler that
    fails (no C++ toolchain, an unsupported platform) falls back to the plain pass, saying so
    once."""

    def __init__(self, compiled: bool):
        self.compiled = compiled
        self.function = torch.compile(grade_codes, dynamic=False) if compiled else None

    def __call__(self, frames: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        if self.compiled:
            try:
                return torch.cat([self.function(frames[i:i + 1], coarse[i:i + 1])
                                  for i in range(len(frames))])
            except Exception as err:  # noqa: BLE001 - inductor raises many kinds
                log.warning("the compiled full-resolution pass is unavailable (%s): using the "
                            "plain one (slower, the same grade)", str(err).splitlines()[0][:200])
                self.compiled = False
        n, height, width, _ = frames.shape
        rows = max(8, BAND_PIXELS // (n * width)) if frames.device.type == "cpu" else height
        return grade_in_bands(frames, coarse, rows)
