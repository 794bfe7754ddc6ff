"""Prediction's full-resolution pass: 8-bit frames and the grade's field at the working size in,
8-bit graded frames out. The field is upsampled bilinearly (align_corners=False, as
`F.interpolate`) and applied to every pixel as `HRNet.forward` does (within 1 code value).

On the CPU it is one loop over the pixels (compiled by numba, vectorised, a row of every frame
at a time on each core): each pixel's field is made where it is used, from the two rows of
the working-size field brought across the frame's width, so neither a full-size field (12
floats a pixel: 400 MB for one 4K frame) nor a float copy of the frame is ever written. On a GPU, torch's own
operations on the whole frame (few kernels, memory to spare).
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit, prange

from vst.models.compiled import compiled_loop, loop_threads
from vst.models.logit import MARGIN

_SQUEEZE = 1 - 2 * MARGIN
# each 8-bit code's logit, as `to_logit` computes it (float32)
_LOGIT = torch.arange(256, dtype=torch.float32).mul_(_SQUEEZE / 255).add_(MARGIN).logit_().numpy()


@njit(inline="always", fastmath=True)
def _code(g):
    """from_logit(g) as a code value + 0.5 (truncated by the caller): the sigmoid as
    (1 + tanh(g / 2)) / 2, tanh by its [7/6] Padé approximant (within 5e-10 where it is used:
    beyond |g| = 3.1 the code is 0 or 255 whatever the sigmoid's last digits)."""
    u = min(max(g * np.float32(0.5), np.float32(-1.55)), np.float32(1.55))
    u2 = u * u
    tanh = u * (np.float32(135135) + u2 * (np.float32(17325) + u2 * (np.float32(378) + u2))) / (
        np.float32(135135) + u2 * (np.float32(62370) + u2 * (np.float32(3150) + u2 * np.float32(28))))
    v = (np.float32(0.5) + np.float32(0.5) * tanh - np.float32(MARGIN)) * np.float32(255 / _SQUEEZE)
    return min(max(v, np.float32(0)), np.float32(255)) + np.float32(0.5)


@njit(inline="always", fastmath=True)
def _mix(a, c, t, k):
    return a[k] + t * (c[k] - a[k])


@njit(inline="always", fastmath=True)
def _channel(a, c, t, x, width, i, zi, z0, z1, z2):
    """Output channel i of a pixel: z_i + b_i + row i of A . z, from_logit'd."""
    k = 3 * i * width + x
    return _code(zi + _mix(a, c, t, (9 + i) * width + x) + _mix(a, c, t, k) * z0
                 + _mix(a, c, t, k + width) * z1 + _mix(a, c, t, k + 2 * width) * z2)


@compiled_loop
def _grade_rows(frames, across, logit, out, frames_n, height, field_h):
    """frames, out: (N*H) x (W*3) uint8; across: the field brought across the width,
    (N*h) x (12*W) float32. Each output row mixes two of its rows (bilinear down the rows,
    align_corners=False) and grades its pixels: (I + A) logit(x) + b, then from_logit."""
    width = frames.shape[1] // 3
    scale = np.float32(field_h / height)
    for r in prange(frames_n * height):
        n, y = r // height, r % height
        s = max((np.float32(y) + np.float32(0.5)) * scale - np.float32(0.5), np.float32(0))
        y0 = int(s)
        y1 = y0 + 1 if y0 < field_h - 1 else y0
        t = np.float32(s - np.float32(y0))
        a, c = across[n * field_h + y0], across[n * field_h + y1]
        src, dst = frames[n * height + y], out[n * height + y]
        z = np.empty(3 * width, np.float32)
        for i in range(3 * width):
            z[i] = logit[src[i]]
        graded = np.empty(3 * width, np.float32)
        for x in range(width):
            z0, z1, z2 = z[3 * x], z[3 * x + 1], z[3 * x + 2]
            graded[3 * x] = _channel(a, c, t, x, width, 0, z0, z0, z1, z2)
            graded[3 * x + 1] = _channel(a, c, t, x, width, 1, z1, z0, z1, z2)
            graded[3 * x + 2] = _channel(a, c, t, x, width, 2, z2, z0, z1, z2)
        for i in range(3 * width):
            dst[i] = np.uint8(graded[i])


@compiled_loop
def _across(coarse, first, weight, across):
    """coarse: (N*12) x h x w float32 -> across: (N*h) x (12*W), each row of each plane
    brought to the frame's width W (linear, align_corners=False: `first` input column and the
    `weight` of the next, per output column)."""
    planes, field_h, field_w = coarse.shape
    width = first.shape[0]
    for job in prange(planes * field_h):
        plane, y = job // field_h, job % field_h
        src = coarse[plane, y]
        dst = across[(plane // 12) * field_h + y, (plane % 12) * width:(plane % 12 + 1) * width]
        for x in range(width):
            left = src[first[x]]
            right = src[min(first[x] + 1, field_w - 1)]
            dst[x] = left + weight[x] * (right - left)


def _linear_taps(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray]:
    """F.interpolate's linear weights (align_corners=False): each output's left input and the
    weight of the one after it."""
    source = np.maximum((np.arange(size_out, dtype=np.float32) + np.float32(0.5))
                        * np.float32(size_in / size_out) - np.float32(0.5), np.float32(0))
    first = source.astype(np.int64)
    return first, (source - first).astype(np.float32)


def grade_on_cpu(frames: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
    """NxHxWx3 uint8 frames, their Nx12xhxw fields -> NxHxWx3 uint8 graded frames, on as many
    cores as torch has threads."""
    n, height, width, _ = frames.shape
    field_h, field_w = coarse.shape[-2:]
    # across the width first (N*h*12 rows of the field, small); down the rows in the loop
    across = np.empty((n * field_h, 12 * width), np.float32)
    source = frames.contiguous().numpy()
    out = np.empty_like(source)
    with loop_threads():
        _across(coarse.float().contiguous().numpy().reshape(n * 12, field_h, field_w),
                *_linear_taps(field_w, width), across)
        _grade_rows(source.reshape(n * height, width * 3), across, _LOGIT,
                    out.reshape(n * height, width * 3), n, height, field_h)
    return torch.from_numpy(out)


def grade_whole_frames(frames: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
    """The same with torch's operations on whole frames (where they run: a GPU)."""
    from vst.models.hrnet import HRNet, upsample_field

    x = frames.permute(0, 3, 1, 2).float().div_(255)
    graded = HRNet.apply_field(x, upsample_field(coarse.float(), x.shape[-2:]))
    return graded.mul_(255).round_().to(torch.uint8).permute(0, 2, 3, 1)


def full_res_pass(frames: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
    """NxHxWx3 uint8 frames, their Nx12xhxw fields -> NxHxWx3 uint8 graded frames."""
    if frames.device.type == "cpu":
        return grade_on_cpu(frames, coarse)
    return grade_whole_frames(frames, coarse)
