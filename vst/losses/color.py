"""Colour loss without any pretrained network: sliced Wasserstein distance between the
output's and the style still's pixel distributions in CIELAB.

Each pixel is described by its Lab colour *and the mean lightness of its neighbourhood*
(Gaussian blur of L), so the match is joint: dark pixels in dark surroundings (shadows) take
the colours of the style's shadows, bright surroundings those of its highlights, instead of
one global colour mapping. The distance is taken at several scales (the pictures downsampled
by 1, 2, 4, ...): at coarse scales a pixel is the average colour of a region, so the loss
also matches how colour is laid out in broad areas, not only the histogram of single pixels.

Sliced Wasserstein (Rabin et al. 2011): project both point clouds on random directions, sort,
compare the sorted values; it is differentiable and costs one sort per direction.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vst.filters import gaussian_blur

_D65_WHITE = (0.950456, 1.0, 1.088754)
_RGB_TO_XYZ = ((0.412453, 0.357580, 0.180423),
               (0.212671, 0.715160, 0.072169),
               (0.019334, 0.119193, 0.950227))
_LAB_EPS = 0.008856


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1], Nx3xHxW -> CIELAB (D65; L in 0..100), differentiable, float32.
    The same conversion as OpenCV's COLOR_RGB2Lab on float input."""
    x = rgb.float().clamp(0, 1)
    linear = torch.where(x <= 0.04045, x / 12.92, ((x.clamp_min(0.04045) + 0.055) / 1.055) ** 2.4)
    matrix = torch.tensor(_RGB_TO_XYZ, device=x.device) / torch.tensor(_D65_WHITE, device=x.device)[:, None]
    xyz = torch.einsum("ij,njhw->nihw", matrix, linear)
    f = torch.where(xyz > _LAB_EPS, xyz.clamp_min(_LAB_EPS) ** (1 / 3), 7.787 * xyz + 16 / 116)
    fx, fy, fz = f.unbind(1)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], 1)


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Squared sliced W2 between point clouds a (N x D) and b (M x D); b is resampled to N
    points by quantiles when M != N. directions: K x D unit vectors."""
    pa = torch.sort(a @ directions.T, dim=0).values
    pb = torch.sort(b @ directions.T, dim=0).values
    if len(pb) != len(pa):
        q = torch.linspace(0, len(pb) - 1, len(pa), device=pb.device).round().long()
        pb = pb[q]
    return F.mse_loss(pa, pb)


class ColorLoss(nn.Module):
    """Sliced Wasserstein distance in (L, a, b, local L) space, averaged over scales.

    scales: downsampling factors (1 = the training size). local_sigma: neighbourhood of the
    local-lightness feature, as a fraction of the picture's short side. local_weight: how much
    that feature counts next to the pixel's own colour. Values are in Lab units / 100.
    """

    def __init__(self, scales: Sequence[int] = (1, 2, 4), directions: int = 32,
                 max_pixels: int = 16384, local_sigma: float = 0.03, local_weight: float = 1.0):
        super().__init__()
        self.scales, self.num_directions = tuple(int(s) for s in scales), int(directions)
        self.max_pixels, self.local_sigma, self.local_weight = int(max_pixels), local_sigma, local_weight

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Per scale, N x P x 4 pixel descriptors (L, a, b, local L) / 100, in float32 whatever
        the autocast (bf16 would round local statistics and sorted projections to noise)."""
        with torch.autocast(images.device.type, enabled=False):
            return self._features(rgb_to_lab(images) / 100)

    def _features(self, lab: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for s in self.scales:
            x = F.avg_pool2d(lab, s, ceil_mode=True) if s > 1 else lab
            sigma = self.local_sigma * min(x.shape[-2:])
            local = gaussian_blur(x[:, :1], max(sigma, 0.5)) * self.local_weight
            out.append(torch.cat([x, local], 1).flatten(2).transpose(1, 2))
        return out

    @torch.no_grad()
    def targets(self, style: torch.Tensor) -> list[torch.Tensor]:
        """The style still's descriptors (first image), computed once per training run."""
        return [f[0] for f in self.features(style[:1])]

    def forward(self, output: torch.Tensor, style_target: list[torch.Tensor],
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean over images of `distances` (the objective weighs them per keyframe)."""
        return self.distances(output, style_target, generator).mean()

    def distances(self, output: torch.Tensor, style_target: list[torch.Tensor],
                  generator: torch.Generator | None = None) -> torch.Tensor:
        """One distance per image (mean over scales). `generator` fixes the random directions
        and pixel samples (validation uses a seeded one so its figure is comparable between
        runs)."""
        feats = self.features(output)
        per_image = []
        with torch.autocast(output.device.type, enabled=False):
            for f, target in zip(feats, style_target, strict=True):
                dirs = torch.randn(self.num_directions, f.shape[-1], generator=generator).to(f.device)
                dirs = dirs / dirs.norm(dim=1, keepdim=True)
                tgt = _sample(target.float(), self.max_pixels, generator)
                per_image.append(torch.stack([
                    sliced_wasserstein(_sample(image, self.max_pixels, generator), tgt, dirs)
                    for image in f]))
        return torch.stack(per_image).mean(0)


def _sample(points: torch.Tensor, count: int, generator: torch.Generator | None) -> torch.Tensor:
    """At most `count` rows of `points`, drawn at random (all of them when there are fewer)."""
    if len(points) <= count:
        return points
    return points[torch.randperm(len(points), generator=generator)[:count].to(points.device)]
