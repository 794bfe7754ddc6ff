"""The training objective: a weighted sum of the loss terms that `conf/loss/` switches on.

Terms (weight 0 or absent = off, and nothing for it is built or loaded):
- content, style: Gatys et al. on a frozen VGG19 (`perceptual`; needs ImageNet weights)
- color: Gaussian W2 in Lab to the style, whole picture and tonal zones (`color`)
- structure: 1 - local luma correlation between output and content frame (`structure`)
- stability: the grade of a slightly moved, noised, re-exposed frame is the moved grade, with
  the global transform held at the frame's own (`stability`)
- locality: how far each pixel's colour transform is from the frame's mean transform: a
  grade that is one transform of colour everywhere (a LUT) costs nothing, one that paints
  colour by position pays for it

Presets: loss=perceptual (content + style), loss=color (color + structure; no pretrained
network), loss=hybrid (perceptual + color); each adds stability and locality.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import nn

from vst.losses.color import ColorLoss
from vst.losses.perceptual import PerceptualLoss
from vst.losses.stability import StabilityLoss
from vst.losses.structure import StructureLoss
from vst.models.hrnet import upsample_field
from vst.models.vgg import load_vgg19
from vst.picture import all_picture, box_masks, picture_boxes

TERMS = ("content", "style", "color", "structure", "stability", "locality")


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
        if "color" in self.weights:
            self.color = ColorLoss(**(loss.get("color") or {}))
        if "structure" in self.weights:
            self.structure = StructureLoss(**(loss.get("structure") or {}))
        if "stability" in self.weights:
            self.stability = StabilityLoss(**(loss.get("stability") or {}))
        self._targets: dict[str, Any] = {}

    @torch.no_grad()
    def set_targets(self, style: torch.Tensor, frames: dict[str, torch.Tensor], model: nn.Module) -> None:
        """What the terms compare against, computed once: the style still's statistics, the VGG
        content features of each split's frames (`frames`: split -> frames), and how `model`
        (the generator) looks at each of those frames: at its working size, their colour
        statistics, their picture, their side of the structure term (frames are not augmented:
        the same at every step)."""
        self._targets = {"frames": {}, "looks": {}}
        if self.perceptual is not None:
            self._targets["style"] = self.perceptual.style_targets(style)
            self._targets["frames"] = {k: self.perceptual.content_targets(v) for k, v in frames.items()}
        if self.color is not None:
            self._targets["color"] = self.color.targets(style)
        for split, f in frames.items():
            small = model.working(f, "model")  # the frame as the network sees it
            boxes = picture_boxes(f)
            self._targets["looks"][split] = {
                "small": small, "stats": model.frame_stats(small),
                "picture": box_masks(boxes, *f.shape[-2:], device=f.device),
                "whole": all_picture(boxes, *f.shape[-2:]),  # no frame of the split has bars
                "structure": self.structure.targets(f) if self.structure is not None else None}

    def forward(self, model: nn.Module, content: torch.Tensor, split: str, index: torch.Tensor,
                rng: torch.Generator | None = None, step: int | None = None
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The graded frames and each active term with their weighted sum, `loss`.
        model: the generator (field / apply_field); content: the frames `index` of `split`
        (`set_targets`); rng: the random motions of stability (None: the global generator);
        step: the training step (stability is sampled on every `loss.stability.every`-th,
        weighed that many times); None = every term (validation)."""
        look = self._targets["looks"][split]
        small, stats, picture = look["small"][index], look["stats"][index], look["picture"][index]
        coarse = model.field(small, stats=stats, upsample=False)
        graded = model.apply_field(content, upsample_field(coarse, content.shape[-2:]))
        # letterbox bars are left as they are and not compared
        output = graded if look["whole"] else torch.where(picture > 0, graded, content.to(graded.dtype))
        terms: dict[str, torch.Tensor] = {}
        if self.perceptual is not None:
            terms.update(self.perceptual(output, self._targets["frames"][split][index],
                                         self._targets["style"]))
        if self.color is not None:
            # moments of colour need no more than every other pixel of every other row (the
            # same distance within 0.1% on real frames, a fifth of the work)
            terms["color"] = self.color(output[..., ::2, ::2], self._targets["color"],
                                        picture[..., ::2, ::2])
        if self.structure is not None:
            terms["structure"] = self.structure(output, [tuple(t[index] for t in scale)
                                                         for scale in look["structure"]])
        every = self.stability.every if self.stability is not None and step is not None else 1
        if self.stability is not None and (step or 0) % every == 0:
            # the moved frame keeps the frame's own statistics: the global transform is fixed
            # per shot at prediction, so what must hold still is the local part
            shot = partial(model.field, stats=stats, upsample=False)
            terms["stability"] = self.stability(shot, small, coarse, rng,
                                                scale=small.shape[-1] / content.shape[-1])
        if "locality" in self.weights:
            spread = coarse.float() - coarse.float().mean((2, 3), keepdim=True)
            terms["locality"] = (spread**2).mean()
        terms = {k: v for k, v in terms.items() if k in self.weights}
        weights = {**self.weights, "stability": self.weights.get("stability", 0.0) * every}
        terms["loss"] = sum(weights[k] * v for k, v in terms.items())
        return output, terms
