"""The training objective: a weighted sum of the loss terms that `conf/loss/` switches on.

Terms (weight 0 or absent = off, and nothing for it is built or loaded):
- content, style: Gatys et al. on a frozen VGG19 (`perceptual`; needs ImageNet weights)
- color: sliced Wasserstein between Lab pixel distributions of output and style (`color`)
- structure: 1 - local luma correlation between output and content frame (`structure`)
- stability: the grade of a slightly moved, noised frame is the moved grade (`stability`)

Presets: loss=perceptual (content + style), loss=color (color + structure; no pretrained
network), loss=hybrid (perceptual + color); each may add stability.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vst.losses.color import ColorLoss
from vst.losses.perceptual import PerceptualLoss
from vst.losses.stability import StabilityLoss
from vst.losses.structure import StructureLoss
from vst.models.vgg import load_vgg19

TERMS = ("content", "style", "color", "structure", "stability")


def term_weights(loss: dict[str, Any]) -> dict[str, float]:
    """The switched-on terms of a `loss` config and their weights."""
    weights = {t: float(loss.get(f"{t}_weight") or 0.0) for t in TERMS}
    return {t: w for t, w in weights.items() if w > 0}


class Objective(nn.Module):
    def __init__(self, loss: dict[str, Any], vgg: dict[str, Any]):
        """loss: the `loss` config group; vgg: the `vgg` config (used only by VGG terms)."""
        super().__init__()
        self.weights = term_weights(loss)
        if not self.weights:
            raise ValueError("every loss weight is 0: nothing to train")
        self.vgg_source: str | None = None
        self.perceptual = self.color = self.structure = self.stability = None
        if {"content", "style"} & self.weights.keys():
            network, self.vgg_source = load_vgg19(**vgg)
            self.perceptual = PerceptualLoss(network, loss["content_layer"], loss["style_layers"])
        self.color_balance = bool(loss.get("color_balance", False))
        self.catch_up = float(loss.get("color_catch_up") or 0.0)
        if "color" in self.weights:
            self.color = ColorLoss(**loss.get("color", {}))
        if "structure" in self.weights:
            self.structure = StructureLoss(**loss.get("structure", {}))
        if "stability" in self.weights:
            self.stability = StabilityLoss(**loss.get("stability", {}))
        self._targets: dict[str, Any] = {}

    @torch.no_grad()
    def set_targets(self, style: torch.Tensor, frames: dict[str, torch.Tensor]) -> None:
        """What the terms compare against, computed once: the style still's statistics and
        the VGG content features of each split's frames (`frames`: split -> frames)."""
        self._targets = {"frames": {}}
        if self.perceptual is not None:
            self._targets["style"] = self.perceptual.style_targets(style)
            self._targets["frames"] = {k: self.perceptual.content_targets(v) for k, v in frames.items()}
        if self.color is not None:
            self._targets["color"] = self.color.targets(style)
            if self.color_balance:
                start = {k: self._start_distances(v) for k, v in frames.items()}
                self._targets["start"] = start
                self._targets["balance"] = {k: self._balance(v) for k, v in start.items()}
                self._remaining = {k: torch.ones(len(v)) for k, v in start.items()}

    def _start_distances(self, frames: torch.Tensor, draws: int = 4) -> torch.Tensor:
        """Each frame's colour distance to the style before any grading."""
        generator = torch.Generator().manual_seed(0)
        return torch.stack([self.color.distances(frames, self._targets["color"], generator)
                            for _ in range(draws)]).mean(0).cpu()

    @staticmethod
    def _balance(start: torch.Tensor, limit: float = 4.0) -> torch.Tensor:
        """Per frame: the median starting colour distance over the frames / the frame's own,
        within [1/limit, limit]. With these weights every shot counts by how far it has come,
        not by where it started: a shot that starts near the style is not left behind by the
        far ones (bikes_6shots: worst/best shot moved 0.40 -> 0.53). The limit keeps a frame
        that already is the style (a still taken from the clip) from taking over."""
        return (start.median() / start.clamp_min(1e-8)).clamp(1 / limit, limit)

    def _color_weights(self, split: str, index: torch.Tensor, distances: torch.Tensor) -> torch.Tensor | None:
        """Balance of the frames in `index`; in training, times (its remaining share of the
        starting distance / the mean share)^catch_up, so a keyframe that lags behind the
        others is pushed harder (each share is a running mean over the frame's visits)."""
        if "balance" not in self._targets:
            return None
        index = index.cpu()
        weights = self._targets["balance"][split][index]
        if self.catch_up and split == "train" and self.training:
            remaining = self._remaining[split]
            share = distances.detach().float().cpu() / self._targets["start"][split][index].clamp_min(1e-8)
            remaining[index] = 0.8 * remaining[index] + 0.2 * share
            weights = weights * (remaining[index] / remaining.mean()).clamp(0.25, 4) ** self.catch_up
        return weights

    def forward(self, model: nn.Module, content: torch.Tensor, split: str, index: torch.Tensor,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The graded frames and each active term with their weighted sum, `loss`.
        model: the generator (offset / apply_offset); content: the input frames; split/index:
        which precomputed VGG targets they are; generator: random draws of colour/stability."""
        delta = model.offset(content)
        output = model.apply_offset(content, delta)
        terms: dict[str, torch.Tensor] = {}
        if self.perceptual is not None:
            terms.update(self.perceptual(output, self._targets["frames"][split][index],
                                         self._targets["style"]))
        if self.color is not None:
            distances = self.color.distances(output, self._targets["color"], generator)
            weights = self._color_weights(split, index, distances)
            terms["color"] = (distances if weights is None else distances * weights.to(distances)).mean()
        if self.structure is not None:
            terms["structure"] = self.structure(output, content)
        if self.stability is not None:
            terms["stability"] = self.stability(model.offset, content, delta, generator)
        terms = {k: v for k, v in terms.items() if k in self.weights}
        terms["loss"] = sum(self.weights[k] * v for k, v in terms.items())
        return output, terms
