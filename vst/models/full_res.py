"""Prediction's full-resolution pass: 8-bit frames and the grade's field at the working size in,
8-bit graded frames out. The field is upsampled bilinearly and applied to every pixel, exactly
as `HRNet.forward` does; compiled (torch.compile), the upsample, the transform and the
conversions run as one pass over the frame instead of some thirty, which is what predict spends
most of its time on at 720p and above. The same function runs uncompiled where compiling is not
possible (no C++ compiler) or not worth it (a short clip), within 1 code value of the compiled one."""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from vst.models.hrnet import affine
from vst.models.logit import from_logit, to_logit

log = logging.getLogger("vst")


def grade_codes(frames: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
    """NxHxWx3 uint8 frames, Nx12xhxw field (`HRNet.field(..., upsample=False)`) -> NxHxWx3
    uint8 graded frames."""
    x = frames.permute(0, 3, 1, 2).float() / 255
    field = F.interpolate(coarse.float(), size=x.shape[-2:], mode="bilinear", align_corners=False)
    graded = from_logit(affine(to_logit(x), field))  # in [0, 1]
    return graded.mul(255).round().to(torch.uint8).permute(0, 2, 3, 1)


class FullResPass:
    """`grade_codes`, compiled on first use when `compiled`; a compiler that fails (no C++
    toolchain, an unsupported platform) falls back to the plain function, saying so once."""

    def __init__(self, compiled: bool):
        self.function = grade_codes
        self.compiled = compiled
        if compiled:
            self.function = torch.compile(grade_codes, dynamic=None)

    def __call__(self, frames: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        if self.compiled:
            try:
                return self.function(frames, coarse)
            except Exception as err:  # noqa: BLE001 - inductor raises many kinds
                log.warning("the compiled full-resolution pass is unavailable (%s): using the "
                            "plain one (slower, the same grade)", str(err).splitlines()[0][:200])
                self.function, self.compiled = grade_codes, False
        return self.function(frames, coarse)
