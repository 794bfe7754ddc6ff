"""Shots of a clip (PySceneDetect's ContentDetector on the clip's frames) and the keyframes to
train on: one model must grade every shot, so it trains on every shot.

Keyframes: the middle frame of each shot (the frame most like the rest of its shot: the
first frames after a cut are often motion-blurred or mid-transition), plus extra frames
spread over the longest shots when `per_shot` > 1.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F

from vst.io.frames import FrameSource
from vst.io.image import to_uint8
from vst.pipeline import read_ahead

log = logging.getLogger(__name__)
_DETECT_WIDTH = 256  # PySceneDetect's own default downscale target: cuts do not need detail
# ContentDetector's threshold (lower finds more cuts): PySceneDetect's default, and vst's
# everywhere a shot is found (training keyframes, prediction's per-shot grade, evaluate)
SHOT_THRESHOLD = 27.0


class ShotDetector:
    """Feed frames in order (HxWx3 uint8 RGB); `shots(n)` gives the [start, end) ranges."""

    def __init__(self, threshold: float = SHOT_THRESHOLD, min_len: int = 15):
        from scenedetect.detectors import ContentDetector

        self.detector = ContentDetector(threshold=threshold, min_scene_len=min_len)
        self.cuts: list[int] = []
        self.count = 0

    def add(self, rgb: np.ndarray) -> None:
        h, w = rgb.shape[:2]
        if w > _DETECT_WIDTH:
            rgb = _shrink(rgb, _DETECT_WIDTH, max(1, round(h * _DETECT_WIDTH / w)))
        self.cuts += self.detector.process_frame(self.count, np.ascontiguousarray(rgb[..., ::-1]))
        self.count += 1

    def settled(self) -> tuple[int, list[int]]:
        """(s, the cuts before frame s) where no frame still to come can add a cut before s:
        the detector reports a cut up to its look-back (its flash filter's length) late."""
        settled = max(0, self.count - self.detector.event_buffer_length)
        return settled, sorted(c for c in set(self.cuts) if 0 < c < settled)

    def shots(self) -> list[tuple[int, int]]:
        n = self.count
        cuts = self.cuts + (self.detector.post_process(n - 1) if n else [])
        bounds = [0, *sorted(c for c in set(cuts) if 0 < c < n), n]
        return list(zip(bounds[:-1], bounds[1:], strict=True))


def _shrink(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """An HxWx3 uint8 frame brought down to width x height, antialiased, in uint8 (torch's
    vectorised 8-bit path: a tenth of the time of cv2's INTER_AREA from 1080p)."""
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None]  # a channels-last view
    small = F.interpolate(x, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    return small[0].permute(1, 2, 0).numpy()


def detect_shots(frames: FrameSource, threshold: float = SHOT_THRESHOLD, min_len: int = 15,
                 batch: int = 8) -> list[tuple[int, int]]:
    """[start, end) frame ranges of the shots of `frames` (one range for a still or a folder).
    The decoder reads a batch ahead in a thread (at most three batches of frames in memory).
    (Prediction's first pass, vst/first_pass.py, feeds a ShotDetector itself.)"""
    if frames.kind != "video":  # a still or a folder: one shot
        return [(0, len(frames))]
    detector = ShotDetector(threshold, min_len)
    for read in read_ahead(frames.stream(batch)):
        for rgb in to_uint8(read.frames):
            detector.add(rgb)
    return detector.shots()


def shot_keyframes(shots: list[tuple[int, int]], per_shot: int = 1) -> list[int]:
    """`per_shot` frames spread evenly inside each shot (the middle one when per_shot=1)."""
    picks = []
    for start, end in shots:
        length = end - start
        count = min(per_shot, length)
        picks += [start + int((k + 0.5) * length / count) for k in range(count)]
    return sorted(set(picks))


def shot_of(frame: int, shots: list[tuple[int, int]]) -> int:
    """Index of the shot holding `frame`."""
    return next(i for i, (s, e) in enumerate(shots) if s <= frame < e)
