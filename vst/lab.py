"""sRGB <-> CIELAB (D65, L in 0..100) in torch: differentiable, float32, the same conversion as
OpenCV's COLOR_RGB2Lab / COLOR_Lab2RGB on float input; and the Gaussians of colours that the
colour loss and the Monge grade compare."""

from __future__ import annotations

import torch

_D65_WHITE = (0.950456, 1.0, 1.088754)
_RGB_TO_XYZ = ((0.412453, 0.357580, 0.180423),
               (0.212671, 0.715160, 0.072169),
               (0.019334, 0.119193, 0.950227))
_LAB_EPS = 0.008856


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1], Nx3xHxW -> CIELAB, float32."""
    x = rgb.float().clamp(0, 1)
    linear = torch.where(x <= 0.04045, x / 12.92, ((x.clamp_min(0.04045) + 0.055) / 1.055) ** 2.4)
    matrix = torch.tensor(_RGB_TO_XYZ, device=x.device) / torch.tensor(_D65_WHITE, device=x.device)[:, None]
    xyz = torch.einsum("ij,njhw->nihw", matrix, linear)
    f = torch.where(xyz > _LAB_EPS, xyz.clamp_min(_LAB_EPS) ** (1 / 3), 7.787 * xyz + 16 / 116)
    fx, fy, fz = f.unbind(1)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], 1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """CIELAB, Nx3xHxW -> sRGB clipped to [0, 1] (colours outside the gamut are clipped), float32."""
    lightness, a, b = lab.float().unbind(1)
    fy = (lightness + 16) / 116
    f = torch.stack([fy + a / 500, fy, fy - b / 200], 1)
    xyz = torch.where(f > 6 / 29, f**3, (f - 16 / 116) / 7.787)
    matrix = torch.linalg.inv(torch.tensor(_RGB_TO_XYZ, dtype=torch.float64)).float().to(lab.device)
    white = torch.tensor(_D65_WHITE, device=lab.device)
    linear = torch.einsum("ij,njhw->nihw", matrix, xyz * white[:, None, None]).clamp(0, 1)
    return torch.where(linear <= 0.0031308, 12.92 * linear,
                       1.055 * linear.clamp_min(0.0031308) ** (1 / 2.4) - 0.055).clamp(0, 1)


def sqrtm_psd(m: torch.Tensor) -> torch.Tensor:
    """The symmetric square root of (a batch of) positive semi-definite matrices."""
    values, vectors = torch.linalg.eigh(m)
    return vectors @ torch.diag_embed(values.clamp_min(0).sqrt()) @ vectors.transpose(-1, -2)


def gaussians(lab: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted mean (N x Z x 3) and covariance (N x Z x 3 x 3) of N x P x 3 colours under
    N x Z x P weights."""
    w = weights / weights.sum(-1, keepdim=True).clamp_min(1e-8)
    mean = torch.einsum("nzp,npc->nzc", w, lab)
    centred = lab[:, None] - mean[:, :, None]                      # N x Z x P x 3
    cov = torch.einsum("nzp,nzpc,nzpd->nzcd", w, centred, centred)
    return mean, cov
