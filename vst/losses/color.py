"""Colour loss without any pretrained network: the output's colours, in CIELAB, take the style
still's overall balance and the colour of its shadows, mid-tones and highlights.

Each picture's colours are summarised as Gaussians (mean and covariance of L, a, b): one for
the whole picture and one per tonal zone. The zones are the picture's own darkest, middle and
brightest pixels (by rank of lightness, with soft hat-shaped memberships that sum to one), so
the frame's shadows are compared with the style's shadows whatever the exposure of either.
The distance is the squared Wasserstein-2 distance between the Gaussians (closed form), the
measure `vst.evaluate` reports as `style_moved`; one affine colour transform per picture
(the Monge map) can bring it to zero. The whole picture counts fully and the zones
`zone_weight` of it: the whole picture's balance is what the eye takes first, and what the
generator's starting grade already matches (vst/models/monge.py); the zones add the tint of
shadows and highlights, and at full weight they pull that balance back (on mountain_walk +
in47 from 0.94 to 0.73 of the way to the style).

Why moments and not the whole histogram: forcing the style's exact colour histogram onto the
frame (the sliced Wasserstein loss this replaces) makes the network paint the style's rare
colours somewhere, whatever is there: the city lights of a night still ended up as orange
patches in a content's sky. Moments carry the look (balance, contrast, the tint of shadows and
highlights) and no colour that the frame has no place for.
"""

from __future__ import annotations

import torch
from torch import nn

from vst.lab import gaussians, rgb_to_lab, sqrtm_psd


def zone_weights(lightness: torch.Tensor, zones: int) -> torch.Tensor:
    """N x P lightness -> N x (zones + 1) x P memberships: all pixels (the whole picture),
    then hat functions of each pixel's lightness rank centred on 0, 1/(zones-1), ..., 1
    (darkest .. brightest), summing to one. Ranks are not differentiated (they only choose
    which pixels are compared)."""
    order = lightness.detach().argsort(dim=1)
    rank = torch.empty_like(lightness)
    rank.scatter_(1, order, torch.linspace(0, 1, lightness.shape[1], device=lightness.device)
                  .expand_as(lightness).contiguous())
    centres = torch.linspace(0, 1, zones, device=lightness.device).view(1, -1, 1)
    hats = (1 - (rank[:, None] - centres).abs() * (zones - 1)).clamp_min(0)
    return torch.cat([torch.ones_like(hats[:, :1]), hats], 1)


class ColorLoss(nn.Module):
    """Squared Gaussian W2 in Lab (/100) between output and style: the whole picture plus
    `zone_weight` times the mean over `zones` tonal zones. One distance per image (`distances`)."""

    def __init__(self, zones: int = 3, zone_weight: float = 0.3):
        super().__init__()
        if zones < 2:
            raise ValueError("zones must be at least 2 (shadows and highlights)")
        self.zones = int(zones)
        self.zone_weight = float(zone_weight)

    def summary(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and covariance of each image's Lab colours, whole and per zone, in float32
        whatever the autocast (bf16 would round the moments to noise)."""
        with torch.autocast(images.device.type, enabled=False):
            lab = (rgb_to_lab(images) / 100).flatten(2).transpose(1, 2)  # N x P x 3
            return gaussians(lab, zone_weights(lab[..., 0], self.zones))

    @torch.no_grad()
    def targets(self, style: torch.Tensor) -> dict[str, torch.Tensor]:
        """The style still's Gaussians (first image) and their matrix square roots, once a run."""
        mean, cov = self.summary(style[:1])
        with torch.autocast(style.device.type, enabled=False):
            return {"mean": mean[0], "cov": cov[0], "cov_sqrt": sqrtm_psd(cov[0])}

    def forward(self, output: torch.Tensor, style_target: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean over images of `distances`."""
        return self.distances(output, style_target).mean()

    def distances(self, output: torch.Tensor, style_target: dict[str, torch.Tensor]) -> torch.Tensor:
        """W2^2(whole) + zone_weight x mean over zones of W2^2(zone), one value per image."""
        mean, cov = self.summary(output)
        with torch.autocast(output.device.type, enabled=False):
            s = style_target["cov_sqrt"]
            cross = s @ cov @ s                                        # N x Z x 3 x 3
            root_trace = torch.linalg.eigvalsh(cross).clamp_min(1e-12).sqrt().sum(-1)
            w2 = ((mean - style_target["mean"]) ** 2).sum(-1) \
                + cov.diagonal(dim1=-2, dim2=-1).sum(-1) \
                + style_target["cov"].diagonal(dim1=-2, dim2=-1).sum(-1) - 2 * root_trace
            return w2[:, 0] + self.zone_weight * w2[:, 1:].mean(1)
