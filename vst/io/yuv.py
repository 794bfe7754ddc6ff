"""The writer's 8-bit RGB -> 4:2:0 YUV (yuv420p) in a compiled loop (numba) instead of swscale,
straight into the frame's planes: the writer's most common conversion, which swscale makes on
its scaler's path, after a copy of the array into an RGB frame.

The same matrices, ranges and chroma filter as swscale's (within 1 code value): each chroma
sample is the mean of its two columns and, across the rows, the 1-3-3-1 filter centred on its
two rows (swscale's bilinear 2:1 downscale), the edge rows repeated. Values are rounded to the
nearest code; swscale's full range is its limited range widened with rounding down, so there
its chroma lands up to a code lower. Other formats (4:4:4, 4:2:2, more than 8 bits) are
swscale's (vst/io/writer.py).
"""

from __future__ import annotations

from functools import lru_cache

import av
import numpy as np
from numba import njit, prange

from vst.models.compiled import compiled_loop, loop_threads

# SWS_CS_* -> (Kr, Kb), swscale's table (libswscale/yuv2rgb.c ff_yuv2rgb_coeffs); any other
# matrix, unspecified included, is BT.601's
_KR_KB = {1: (0.2126, 0.0722), 4: (0.30, 0.11), 7: (0.212, 0.087), 9: (0.2627, 0.0593)}
_BT601 = (0.299, 0.114)


@lru_cache(maxsize=8)  # made once per matrix and range, not for every frame written
def rgb_to_yuv_matrix(colorspace: int, full_range: bool) -> np.ndarray:
    """3x4 float32: rows Y, U, V as a*R + b*G + c*B + offset on 8-bit codes (the offset
    carries +0.5: truncating the sum rounds it). Shared: not to be written to."""
    kr, kb = _KR_KB.get(colorspace, _BT601)
    kg = 1 - kr - kb
    y_scale, y_offset, c_scale = (1.0, 0.0, 1.0) if full_range else (219 / 255, 16.0, 224 / 255)
    return np.array([[kr * y_scale, kg * y_scale, kb * y_scale, y_offset + 0.5],
                     [-kr / (2 - 2 * kb) * c_scale, -kg / (2 - 2 * kb) * c_scale, c_scale / 2, 128.5],
                     [c_scale / 2, -kg / (2 - 2 * kr) * c_scale, -kb / (2 - 2 * kr) * c_scale, 128.5]],
                    np.float32)


@njit(inline="always", fastmath=True)
def _code(value):
    return np.uint8(min(max(value, np.float32(0)), np.float32(255)))


@njit(inline="always", fastmath=True)
def _tap(above, top, bottom, below, i):
    """One channel of a chroma sample's RGB: columns i and i + 3 (one pixel on), across the
    rows 1-3-3-1."""
    outer = np.float32(above[i]) + np.float32(above[i + 3]) + np.float32(below[i]) + np.float32(below[i + 3])
    inner = np.float32(top[i]) + np.float32(top[i + 3]) + np.float32(bottom[i]) + np.float32(bottom[i + 3])
    return (outer + np.float32(3) * inner) * np.float32(1 / 16)


@compiled_loop
def _to_yuv(rgb, m, y, u, v):
    """rgb: H x (W*3) uint8, H and W even -> y: H x W, u, v: H/2 x W/2 uint8 (rows with
    strides of their own)."""
    height, width = rgb.shape[0], rgb.shape[1] // 3
    for cy in prange(height // 2):
        for row in (2 * cy, 2 * cy + 1):
            src, dst = rgb[row], y[row]
            for x in range(width):
                dst[x] = _code(m[0, 0] * np.float32(src[3 * x]) + m[0, 1] * np.float32(src[3 * x + 1])
                               + m[0, 2] * np.float32(src[3 * x + 2]) + m[0, 3])
        above, top = rgb[max(2 * cy - 1, 0)], rgb[2 * cy]
        bottom, below = rgb[2 * cy + 1], rgb[min(2 * cy + 2, height - 1)]
        cu, cv = u[cy], v[cy]
        for cx in range(width // 2):
            r = _tap(above, top, bottom, below, 6 * cx)
            g = _tap(above, top, bottom, below, 6 * cx + 1)
            b = _tap(above, top, bottom, below, 6 * cx + 2)
            cu[cx] = _code(m[1, 0] * r + m[1, 1] * g + m[1, 2] * b + m[1, 3])
            cv[cx] = _code(m[2, 0] * r + m[2, 1] * g + m[2, 2] * b + m[2, 3])


def planes(frame: av.VideoFrame) -> list[np.ndarray]:
    """Views of a frame's planes, one uint8 array each (its rows' padding left out), no copy."""
    return [np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, :plane.width]
            for plane in frame.planes]


def rgb_to_yuv420p(rgb: np.ndarray, colorspace: int, full_range: bool) -> av.VideoFrame:
    """HxWx3 uint8 RGB, both sides even -> a yuv420p frame by that matrix (swscale's SWS_CS_*,
    as the writer's `matrix`) and range (the frame untagged)."""
    height, width = rgb.shape[:2]
    frame = av.VideoFrame(width, height, "yuv420p")
    with loop_threads():
        _to_yuv(np.ascontiguousarray(rgb).reshape(height, width * 3),
                rgb_to_yuv_matrix(colorspace, full_range), *planes(frame))
    return frame
