"""Temporal warping error (Lai et al., ECCV 2018, "Learning Blind Video Temporal Consistency").

Optical flow is computed between *input* frames with OpenCV's DIS (preset MEDIUM) in both
directions; pixels failing the forward-backward consistency check (Sundaram et al. 2010) or
flowing out of the frame are masked as occluded. Output frame t-k is warped to t with that
flow, and the error is the mean squared difference over the visible pixels. The same flow
and mask give the input's own error, so ``output / input`` = 1 means "no more flicker than
the source".
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def luma(frame: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of an RGB [0, 1] frame."""
    return frame @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _gray8(frame: np.ndarray) -> np.ndarray:
    return np.clip(luma(frame) * 255 + 0.5, 0, 255).astype(np.uint8)


class FlowEstimator:
    """DIS optical flow; flow(a, b)[y, x] = displacement from a's pixel (x, y) to its match in b."""

    def __init__(self) -> None:
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return self.dis.calc(_gray8(a), _gray8(b), None)


def _grid(h: int, w: int) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([xs, ys], axis=-1)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample `image` at (x, y) + flow: brings a frame onto the frame the flow starts from."""
    pos = _grid(*flow.shape[:2]) + flow
    return cv2.remap(image, pos[..., 0], pos[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def visible_mask(flow_back: np.ndarray, flow_fwd: np.ndarray) -> np.ndarray:
    """True where the t -> t-k flow is trustworthy: consistent both ways and inside the frame."""
    h, w = flow_back.shape[:2]
    pos = _grid(h, w) + flow_back
    inside = (pos[..., 0] >= 0) & (pos[..., 0] <= w - 1) & (pos[..., 1] >= 0) & (pos[..., 1] <= h - 1)
    fwd_at = warp(flow_fwd, flow_back)
    diff = np.sum((flow_back + fwd_at) ** 2, axis=-1)
    bound = 0.01 * (np.sum(flow_back**2, -1) + np.sum(fwd_at**2, -1)) + 0.5
    return inside & (diff < bound)


@dataclass
class WarpErrors:
    """Per-frame warping errors of the output and of the input, with the same flow and mask."""

    output: list[float]
    input: list[float]

    @property
    def ratio(self) -> float:
        den = float(np.mean(self.input)) if self.input else 0.0
        return float(np.mean(self.output)) / den if den > 0 else float("nan")


def pair_errors(flow: FlowEstimator, in_prev: np.ndarray, in_cur: np.ndarray,
                *graded: np.ndarray) -> tuple[float, ...]:
    """Warping errors for one frame pair t-k -> t, with the input's flow and mask: `graded` is
    (out_prev, out_cur[, other_prev, other_cur ...]); the errors come in that order, the
    input's own last: (output error, [other error, ...] input error)."""
    back = flow(in_cur, in_prev)
    fwd = flow(in_prev, in_cur)
    mask = visible_mask(back, fwd)
    streams = [*zip(graded[::2], graded[1::2], strict=True), (in_prev, in_cur)]
    if not mask.any():
        return tuple(0.0 for _ in streams)

    def err(prev: np.ndarray, cur: np.ndarray) -> float:
        return float(np.mean(((warp(prev, back) - cur) ** 2)[mask]))

    return tuple(err(prev, cur) for prev, cur in streams)
