"""Style match as colour: the Gaussian Wasserstein-2 distance between CIELAB pixel
distributions. ``moved = 1 - W2(output, style) / W2(input, style)``: 0 = no closer to the
style than the input, 1 = the style's colour statistics reached."""

from __future__ import annotations

import cv2
import numpy as np


def to_lab(frame: np.ndarray) -> np.ndarray:
    """RGB [0, 1] (sRGB) -> N x 3 CIELAB pixels (L in 0..100)."""
    return cv2.cvtColor(np.ascontiguousarray(frame, dtype=np.float32), cv2.COLOR_RGB2Lab).reshape(-1, 3)


class LabStats:
    """Running mean and covariance of Lab pixels over many frames."""

    def __init__(self) -> None:
        self.n, self.sum, self.outer = 0, np.zeros(3), np.zeros((3, 3))

    def add(self, frame: np.ndarray, picture: np.ndarray | None = None) -> LabStats:
        """frame: HxWx3 RGB [0, 1]; picture: HxW bool, the pixels that count (None = all)."""
        lab = to_lab(frame).astype(np.float64)
        if picture is not None:
            lab = lab[picture.reshape(-1)]
        self.n += len(lab)
        self.sum += lab.sum(0)
        self.outer += lab.T @ lab
        return self

    @classmethod
    def merge(cls, parts: list[LabStats]) -> LabStats:
        """The statistics of all the pixels of `parts` together."""
        total = cls()
        for p in parts:
            total.n, total.sum, total.outer = total.n + p.n, total.sum + p.sum, total.outer + p.outer
        return total

    @property
    def mean(self) -> np.ndarray:
        return self.sum / self.n

    @property
    def cov(self) -> np.ndarray:
        return self.outer / self.n - np.outer(self.mean, self.mean)


def sqrtm_psd(m: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh((m + m.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T


def gaussian_w2(a: LabStats, b: LabStats) -> float:
    """W2 between the Gaussians fitted to two Lab distributions (Lab units)."""
    sb = sqrtm_psd(b.cov)
    cross = sqrtm_psd(sb @ a.cov @ sb)
    w2sq = np.sum((a.mean - b.mean) ** 2) + np.trace(a.cov + b.cov - 2 * cross)
    return float(np.sqrt(max(w2sq, 0.0)))
