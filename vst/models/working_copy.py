"""What prediction takes from each full-size 8-bit frame before grading it, straight from its
codes on the CPU (loops compiled by numba): the frame at the working size (`HRNet.working`: torch's
antialiased bilinear downscale, the same weights; within float rounding of it) and the mean of
each of its rows and columns (what vst/picture.py finds the bars by). No float copy of the
full-size frame is made (at 1080p converting it took as long as the downscale).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from numba import prange

from vst.models.compiled import compiled_loop, loop_threads


@lru_cache(maxsize=8)
def _taps(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """torch's antialiased bilinear filter from size_in down to size_out (align_corners=False,
    aten's `_compute_indices_min_size_weights_aa`): each output's first input, tap count and
    normalised weights (size_out x most taps)."""
    scale = size_in / size_out
    support = scale  # the triangle's half-width (1) scaled to the input
    centre = scale * (np.arange(size_out) + 0.5)
    first = np.maximum((centre - support + 0.5).astype(np.int64), 0)
    count = np.minimum((centre + support + 0.5).astype(np.int64), size_in) - first
    offsets = np.arange(count.max())
    weights = np.clip(1 - np.abs((first[:, None] + offsets - centre[:, None] + 0.5) / scale), 0, None)
    weights[offsets[None] >= count[:, None]] = 0
    weights /= weights.sum(1, keepdims=True)
    return first, count, weights.astype(np.float32)


@compiled_loop
def _shrink(frames, y_first, y_count, y_weights, x_first, x_count, x_weights, small):
    """frames: N x H x (W*3) uint8 -> small: N x 3 x h x w float32 in [0, 1]: down the rows
    first (a weighted sum of whole rows, vectorised), then across."""
    n_frames = frames.shape[0]
    width3 = frames.shape[2]
    h, w = small.shape[2], small.shape[3]
    for job in prange(n_frames * h):
        n, oy = job // h, job % h
        line = np.zeros(width3, np.float32)
        for k in range(y_count[oy]):
            weight, src = y_weights[oy, k], frames[n, y_first[oy] + k]
            for i in range(width3):
                line[i] += weight * np.float32(src[i])
        for ox in range(w):
            r = g = b = np.float32(0)
            for k in range(x_count[ox]):
                weight, x = x_weights[ox, k], 3 * (x_first[ox] + k)
                r += weight * line[x]
                g += weight * line[x + 1]
                b += weight * line[x + 2]
            small[n, 0, oy, ox] = r / np.float32(255)
            small[n, 1, oy, ox] = g / np.float32(255)
            small[n, 2, oy, ox] = b / np.float32(255)


@compiled_loop
def _line_sums(frames, rows, cols):
    """frames: N x H x (W*3) uint8 -> rows: N x H x 3 and cols: N x (W*3) int32 code sums."""
    n_frames, height, width3 = frames.shape
    for job in prange(n_frames * height):
        n, y = job // height, job % height
        src = frames[n, y]
        r = g = b = np.int32(0)
        for x in range(width3 // 3):
            r += np.int32(src[3 * x])
            g += np.int32(src[3 * x + 1])
            b += np.int32(src[3 * x + 2])
        rows[n, y, 0], rows[n, y, 1], rows[n, y, 2] = r, g, b
    for n in range(n_frames):
        for strip in prange(16):  # sixteen strips of columns a frame, each summed down the rows
            start, end = strip * width3 // 16, (strip + 1) * width3 // 16
            acc = np.zeros(end - start, np.int32)
            for y in range(height):
                src = frames[n, y, start:end]
                for i in range(end - start):
                    acc[i] += np.int32(src[i])
            cols[n, start:end] = acc


def working_copy(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """NxHxWx3 uint8 frames (CPU) -> Nx3x`size` float32 in [0, 1]: as `HRNet.working` takes
    them to the working size (`size` smaller on both sides)."""
    n, height, width, _ = frames.shape
    codes = frames.contiguous().numpy().reshape(n, height, width * 3)
    small = np.empty((n, 3, *size), np.float32)
    with loop_threads():
        _shrink(codes, *_taps(height, size[0]), *_taps(width, size[1]), small)
    return torch.from_numpy(small)


def line_means(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """NxHxWx3 uint8 frames (CPU) -> the mean of each row (N x 3 x H) and column (N x 3 x W)
    of each channel, in [0, 1]: vst.picture.boxes_from_means's input."""
    n, height, width, _ = frames.shape
    rows = np.empty((n, height, 3), np.int32)
    cols = np.empty((n, width * 3), np.int32)
    with loop_threads():
        _line_sums(frames.contiguous().numpy().reshape(n, height, width * 3), rows, cols)
    rows = torch.from_numpy(rows).double()
    cols = torch.from_numpy(cols).view(n, width, 3)
    return (rows.div_(255 * width).float().transpose(1, 2),
            cols.double().div_(255 * height).float().transpose(1, 2))
