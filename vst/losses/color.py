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
from vst.picture import picture_masks


def zone_weights(lightness: torch.Tensor, zones: int, picture: torch.Tensor,
                 bins: int = 1024) -> torch.Tensor:
    """N x P lightness, N x P picture mask -> N x (zones + 1) x P memberships: every pixel of
    the picture, then hat functions of each picture pixel's lightness rank among the picture's
    pixels, centred on 0, 1/(zones-1), ..., 1 (darkest .. brightest), summing to one. Bars
    (mask 0) belong to nothing. Ranks are not differentiated (they only choose which pixels
    are compared); they are read off a histogram of `bins` levels between the picture's
    darkest and brightest pixel, interpolated within a level: equal pixels get one rank, and
    the memberships are within a few thousandths of exact ranks' (sorting every pixel took a
    twentieth of a training step)."""
    light = lightness.detach()
    inside = picture > 0
    lo = light.masked_fill(~inside, float("inf")).amin(1, keepdim=True)
    hi = light.masked_fill(~inside, float("-inf")).amax(1, keepdim=True)
    level = ((light - lo) / (hi - lo).clamp_min(1e-6) * bins).clamp(0, bins).nan_to_num(0.0)
    bin_ = level.long().clamp_max(bins - 1)
    counts = light.new_zeros(light.shape[0], bins).scatter_add_(1, bin_, inside.to(light.dtype))
    below = counts.cumsum(1) - counts
    shown = counts.sum(1, keepdim=True)
    rank = (below.gather(1, bin_) + (level - bin_) * counts.gather(1, bin_)) / shown.clamp_min(1)
    centres = torch.linspace(0, 1, zones, device=lightness.device).view(1, -1, 1)
    hats = (1 - (rank[:, None] - centres).abs() * (zones - 1)).clamp_min(0)
    return torch.cat([torch.ones_like(hats[:, :1]), hats], 1) * picture[:, None]


class ColorLoss(nn.Module):
    """Squared Gaussian W2 in Lab (/100) between output and style: the whole picture plus
    `zone_weight` times the mean over `zones` tonal zones. One distance per image (`distances`)."""

    def __init__(self, zones: int = 3, zone_weight: float = 0.3):
        super().__init__()
        if zones < 2:
            raise ValueError("zones must be at least 2 (shadows and highlights)")
        self.zones = int(zones)
        self.zone_weight = float(zone_weight)

    def summary(self, images: torch.Tensor, picture: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and covariance of the Lab colours of each image's picture (`picture`: N x 1 x H x W
        mask, vst/picture.py; None = every pixel), whole and per zone, in float32 whatever the
        autocast (bf16 would round the moments to noise)."""
        with torch.autocast(images.device.type, enabled=False):
            lab = (rgb_to_lab(images) / 100).flatten(2).transpose(1, 2)  # N x P x 3
            mask = torch.ones_like(lab[..., 0]) if picture is None else picture.float().flatten(1)
            return gaussians(lab, zone_weights(lab[..., 0], self.zones, mask))

    @torch.no_grad()
    def targets(self, style: torch.Tensor) -> dict[str, torch.Tensor]:
        """The style still's Gaussians (first image) and their matrix square roots, once a run."""
        mean, cov = self.summary(style[:1], picture_masks(style[:1]))
        with torch.autocast(style.device.type, enabled=False):
            return {"mean": mean[0], "cov": cov[0], "cov_sqrt": sqrtm_psd(cov[0])}

    def forward(self, output: torch.Tensor, style_target: dict[str, torch.Tensor],
                picture: torch.Tensor | None = None) -> torch.Tensor:
        """Mean over images of `distances`."""
        return self.distances(output, style_target, picture).mean()

    def distances(self, output: torch.Tensor, style_target: dict[str, torch.Tensor],
                  picture: torch.Tensor | None = None) -> torch.Tensor:
        """W2^2(whole) + zone_weight x mean over zones of W2^2(zone), one value per image, over
        the picture of the frame it was graded from (`picture`, N x 1 x H x W; None = all)."""
        mean, cov = self.summary(output, picture)
        with torch.autocast(output.device.type, enabled=False):
            s = style_target["cov_sqrt"]
            cross = s @ cov @ s                                        # N x Z x 3 x 3
            root_trace = torch.linalg.eigvalsh(cross).clamp_min(1e-12).sqrt().sum(-1)
            w2 = ((mean - style_target["mean"]) ** 2).sum(-1) \
                + cov.diagonal(dim1=-2, dim2=-1).sum(-1) \
                + style_target["cov"].diagonal(dim1=-2, dim2=-1).sum(-1) - 2 * root_trace
            return w2[:, 0] + self.zone_weight * w2[:, 1:].mean(1)
