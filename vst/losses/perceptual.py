"""Gatys-style perceptual loss on a frozen VGG19: content MSE on activations, style MSE on
Gram matrices.

Gram normalisation: G = F F^T / (C * H * W). Dividing by H * W makes G a mean over positions,
so the same picture at two sizes gives the same Gram matrix and the per-layer weights mean
the same at every training size; dividing by C keeps wide and narrow layers comparable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vst.models.vgg import IMAGENET_MEAN, IMAGENET_STD, VGG19Features


def gram(features: torch.Tensor) -> torch.Tensor:
    """NxCxHxW -> NxCxC, normalised by C*H*W, computed in float32."""
    n, c, h, w = features.shape
    f = features.float().reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


class PerceptualLoss(nn.Module):
    """Content and style terms. Targets are computed once (`targets`) and reused every step."""

    def __init__(self, vgg: VGG19Features, content_layer: str, style_layers: dict[str, float]):
        super().__init__()
        self.vgg = vgg
        self.content_layer = content_layer
        self.style_layers = dict(style_layers)
        self.layers = sorted({content_layer, *self.style_layers}, key=_depth)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def features(self, images: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        return self.vgg((images - self.mean) / self.std, layers)

    @torch.no_grad()
    def content_targets(self, content: torch.Tensor) -> torch.Tensor:
        return self.features(content, [self.content_layer])[self.content_layer].float()

    @torch.no_grad()
    def style_targets(self, style: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.features(style, list(self.style_layers))
        return {name: gram(f) for name, f in feats.items()}

    def forward(
        self, output: torch.Tensor, content_target: torch.Tensor, style_target: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        feats = self.features(output, self.layers)
        content = F.mse_loss(feats[self.content_layer].float(), content_target)
        style = sum(
            w * F.mse_loss(gram(feats[name]), style_target[name].expand(len(output), -1, -1))
            for name, w in self.style_layers.items()
        )
        return {"content": content, "style": style}


def _depth(name: str) -> tuple[int, int]:
    block, conv = name.removeprefix("conv").removeprefix("relu").split("_")
    return int(block), int(conv)
