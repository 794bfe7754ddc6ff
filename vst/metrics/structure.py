"""SSIM on luminance (Wang et al. 2004; Gaussian window, sigma 1.5), and its structure term
alone (local correlation), which ignores changes of brightness and contrast: a grade may
change tone, it must not change structure."""

from __future__ import annotations

import cv2
import numpy as np

from vst.metrics.temporal import luma

_C1, _C2 = 0.01**2, 0.03**2
_C3 = _C2 / 2


def _blur(x: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)


def ssim_luma(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(SSIM, structure term) between the luminance of two RGB [0, 1] frames of one size."""
    x, y = luma(a).astype(np.float64), luma(b).astype(np.float64)
    mx, my = _blur(x), _blur(y)
    vx = np.maximum(_blur(x * x) - mx * mx, 0)
    vy = np.maximum(_blur(y * y) - my * my, 0)
    cxy = _blur(x * y) - mx * my
    ssim = ((2 * mx * my + _C1) * (2 * cxy + _C2)) / ((mx**2 + my**2 + _C1) * (vx + vy + _C2))
    structure = (cxy + _C3) / (np.sqrt(vx * vy) + _C3)
    return float(ssim.mean()), float(structure.mean())
