"""Colour and structure losses (no pretrained network): they measure what they claim."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.helpers import shared_file
from vst.filters import gaussian_blur
from vst.io.image import load_image, resize_short_side
from vst.losses.color import ColorLoss, rgb_to_lab
from vst.losses.objective import Objective, term_weights
from vst.losses.stability import StabilityLoss
from vst.losses.structure import StructureLoss


@pytest.fixture(scope="module")
def frame_and_style() -> tuple[torch.Tensor, torch.Tensor]:
    """A real frame (mountain_walk) and a real style still (in47), 64 px high."""
    import decord

    reader = decord.VideoReader(str(shared_file("video/mountain_walk.mp4")))
    frame = torch.from_numpy(reader[120].asnumpy()).permute(2, 0, 1)[None].float() / 255
    style = load_image(shared_file("style/in47.png"))[None]
    return resize_short_side(frame, 64), resize_short_side(style, 64)


def global_transfer(x: torch.Tensor, style: torch.Tensor, amount: float) -> torch.Tensor:
    """Per-channel mean/std matched `amount` of the way toward the style's."""
    mx, sx = x.mean((2, 3), keepdim=True), x.std((2, 3), keepdim=True)
    ms, ss = style.mean((2, 3), keepdim=True), style.std((2, 3), keepdim=True)
    full = (x - mx) / sx * ss + ms
    return (x + amount * (full - x)).clamp(0, 1)


def test_lab_matches_opencv():
    rgb = torch.rand(1, 3, 40, 50, generator=torch.Generator().manual_seed(0))
    ours = rgb_to_lab(rgb)[0].permute(1, 2, 0).numpy()
    ref = cv2.cvtColor(rgb[0].permute(1, 2, 0).numpy().copy(), cv2.COLOR_RGB2Lab)
    assert np.abs(ours - ref).max() < 0.5 and np.abs(ours - ref).mean() < 0.1  # OpenCV rounds a, b


def test_color_loss_is_zero_for_the_style_itself_and_blind_to_pixel_order(frame_and_style):
    _, style = frame_and_style
    loss = ColorLoss()
    assert abs(loss(style, loss.targets(style)).item()) < 1e-4
    # moments of colour, zone by zone: the same pixels in another order are the same look
    shuffled = style.flatten(2)[:, :, torch.randperm(style[0, 0].numel())].view_as(style)
    assert abs(loss(shuffled, loss.targets(style)).item()) < 1e-4
    assert loss(style * 0.7, loss.targets(style)).item() > 1e-2


def test_color_loss_falls_as_the_frame_is_matched_to_the_style(frame_and_style):
    frame, style = frame_and_style
    loss = ColorLoss()
    target = loss.targets(style)
    values = [loss(global_transfer(frame, style, a), target).item() for a in (0.0, 0.5, 1.0)]
    assert values[0] > values[1] > values[2], values


def test_color_loss_compares_shadows_with_shadows(frame_and_style):
    """A still with blue shadows and warm highlights and one with them the other way round
    (the same tints, by tone swapped) are not the same look."""
    frame, _ = frame_and_style
    lum = frame.mean(1, keepdim=True)
    tint = torch.tensor([-0.08, 0.0, 0.08]).view(1, 3, 1, 1)
    blue_shadows = (lum + tint * (0.5 - lum) * 2).clamp(0, 1)
    warm_shadows = (lum - tint * (0.5 - lum) * 2).clamp(0, 1)
    loss = ColorLoss()
    same = loss(blue_shadows, loss.targets(blue_shadows)).item()
    swapped = loss(warm_shadows, loss.targets(blue_shadows)).item()
    assert abs(same) < 1e-4 and swapped > 100 * abs(same) and swapped > 1e-3


def test_color_loss_has_gradients_and_ignores_bf16_autocast(frame_and_style):
    frame, style = frame_and_style
    loss = ColorLoss()
    x = frame.clone().requires_grad_(True)
    with torch.autocast("cpu", torch.bfloat16):
        target = loss.targets(style)
        value = loss(x, target)
    value.backward()
    exact = loss(frame, loss.targets(style))
    assert value.dtype == torch.float32 and torch.isclose(value, exact, rtol=1e-5)
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_structure_loss_ignores_tone_and_colour_but_sees_blur(frame_and_style):
    frame, _ = frame_and_style
    loss = StructureLoss()
    content = loss.targets(frame)
    assert loss(frame, content).item() < 1e-4
    assert loss((0.6 * frame + 0.3), content).item() < 1e-3  # darker contrast, brighter: same edges
    # a colour cast that leaves luma alone (shift along a luma-free chroma direction)
    cast = (frame + torch.tensor([0.05, -0.0255, 0.0]).view(1, 3, 1, 1)).clamp(0, 1)
    assert loss(cast, content).item() < 0.02
    blurred = gaussian_blur(frame, 2.0)
    assert loss(blurred, content).item() > 0.05  # 50x the tone change
    with torch.autocast("cpu", torch.bfloat16):
        assert abs(loss(blurred, loss.targets(frame)).item() - loss(blurred, content).item()) < 1e-6


class FullSizeGrade(torch.nn.Module):
    """A test generator that looks at every pixel (what the objective asks of a generator
    besides `field` and `apply_field`)."""

    def working(self, x, work_size):
        return x

    def frame_stats(self, x):
        return torch.zeros(x.shape[0], 26)


def test_zone_memberships_follow_the_exact_lightness_ranks(frame_and_style):
    """The tonal zones come from a histogram of lightness, not a sort of every pixel: on a real
    frame with a letterbox the memberships are those of the exact ranks within 1% (equal pixels,
    which a sort puts in any order, share one rank)."""
    from vst.losses.color import zone_weights

    frame, _ = frame_and_style
    lightness = (rgb_to_lab(frame) / 100)[:, 0].flatten(1)
    picture = torch.ones_like(lightness)
    picture[:, : lightness.shape[1] // 10] = 0  # a bar: in no zone, and not counted
    order = lightness.masked_fill(picture <= 0, -1.0).argsort(1)
    exact = torch.empty_like(lightness).scatter_(1, order, torch.arange(lightness.shape[1]).float()[None])
    exact = ((exact - (picture <= 0).sum()) / (picture.sum() - 1)).clamp_min(0)
    centres = torch.tensor([0.0, 0.5, 1.0]).view(1, 3, 1)
    hats = (1 - (exact[:, None] - centres).abs() * 2).clamp_min(0) * picture[:, None]
    weights = zone_weights(lightness, 3, picture)
    assert weights.shape == (1, 4, lightness.shape[1])
    assert torch.equal(weights[:, 0], picture)
    assert (weights[:, 1:] - hats).abs().max() < 0.01
    assert (weights[:, 1:] - hats).abs().mean() < 1e-3
    assert torch.allclose(weights[:, 1:].sum(1), picture, atol=1e-5)


def test_objective_builds_only_the_terms_it_weighs(frame_and_style):
    frame, style = frame_and_style
    color = {"name": "color", "color_weight": 1.0, "structure_weight": 2.0}
    assert term_weights(color) == {"color": 1.0, "structure": 2.0}
    objective = Objective(color, vgg={"weights": "/nonexistent/vgg.pth"})  # VGG never touched
    assert objective.vgg_source is None and objective.perceptual is None

    class Identity(FullSizeGrade):  # the untrained generator's grade: no change
        def field(self, x, stats=None, upsample=True):
            return torch.zeros(x.shape[0], 12, *x.shape[2:])

        def apply_field(self, x, field):
            return x + field[:, 9:]

    objective.set_targets(style, {"train": frame}, Identity())
    output, terms = objective(Identity(), frame, "train", torch.tensor([0]))
    assert torch.equal(output, frame)
    assert set(terms) == {"color", "structure", "loss"}
    assert torch.isclose(terms["loss"], terms["color"] + 2 * terms["structure"])
    assert terms["structure"].item() < 1e-4 and terms["color"].item() > 0


def test_stability_loss_is_zero_for_an_equivariant_grade_and_positive_for_a_flickering_one(
        frame_and_style):
    frame, _ = frame_and_style
    g = torch.Generator().manual_seed(0)

    def pointwise(x):  # a per-pixel grade commutes with any warp
        return 0.5 * x - 0.2

    def flickering(x):  # the same grade plus a random change at every call
        return pointwise(x) + 0.1 * torch.randn(x.shape, generator=g)

    def pinned_to_the_screen(x):  # a vignette-like grade that does not move with the picture
        return torch.linspace(-1, 1, x.shape[-1]).expand_as(x).clone()

    still = StabilityLoss(noise=0.0)
    assert still(pointwise, frame, pointwise(frame), g).item() < 1e-10
    assert still(flickering, frame, flickering(frame), g).item() > 1e-3
    assert still(pinned_to_the_screen, frame, pinned_to_the_screen(frame), g).item() > 1e-5
    noisy = StabilityLoss(noise=0.02)  # a pointwise grade passes noise on; a constant one does not
    assert noisy(pointwise, frame, pointwise(frame), g).item() > 1e-5
    assert noisy(lambda x: torch.zeros_like(x), frame, torch.zeros_like(frame), g).item() == 0.0
    with torch.autocast("cpu", torch.bfloat16):  # as in training: float32 inside, no dtype clash
        assert noisy(flickering, frame, flickering(frame), g).dtype == torch.float32


def test_stability_is_taken_every_other_step_at_twice_the_weight(frame_and_style):
    """Its second pass through the network is the dearest part of a step: sampled on every
    2nd step at twice the weight, it pulls as hard on average; validation takes every term."""
    from vst.models.hrnet import HRNet

    frame, style = frame_and_style
    config = {"name": "color", "color_weight": 1.0, "stability_weight": 3.0,
              "stability": {"shift": 4.0, "noise": 0.0, "every": 2}}
    objective = Objective(config, vgg={})
    torch.manual_seed(0)
    model = HRNet(work_size=None)
    torch.nn.init.normal_(model.to_coeffs.weight, std=0.5)  # a local part that moves with nothing
    objective.set_targets(style, {"train": frame}, model)

    def terms(step):
        return objective(model, frame, "train", torch.tensor([0]), torch.Generator().manual_seed(0),
                         step)[1]

    sampled, skipped, every_term = terms(4), terms(5), terms(None)
    assert sampled["stability"].item() > 1e-4
    assert torch.isclose(sampled["loss"], sampled["color"] + 2 * 3.0 * sampled["stability"])
    assert "stability" not in skipped and torch.isclose(skipped["loss"], skipped["color"])
    assert torch.isclose(every_term["loss"], every_term["color"] + 3.0 * every_term["stability"])


def test_the_objective_grades_a_frame_as_the_generator_does(frame_and_style):
    """Training looks at the frame at the working size once, for the grade and the stability
    term alike: what it grades is what the generator's own forward (prediction) gives."""
    from vst.models.hrnet import HRNet

    frame, style = frame_and_style
    objective = Objective({"name": "color", "color_weight": 1.0, "stability_weight": 1.0,
                           "stability": {"shift": 4.0}}, vgg={})
    torch.manual_seed(0)
    model = HRNet(work_size=24)
    model.set_style(style)
    torch.nn.init.normal_(model.to_coeffs.weight, std=0.1)
    objective.set_targets(style, {"train": frame}, model)
    output, terms = objective(model, frame, "train", torch.tensor([0]), torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(output, model(frame), atol=1e-5)
    assert terms["stability"].item() > 0


def test_the_objective_takes_each_keyframes_own_look(frame_and_style):
    """What the objective takes once per run of each keyframe (its working-size copy,
    statistics, picture, its side of the structure term) is that keyframe's: the terms of the
    second of two keyframes are those of an objective that knows only it."""
    from vst.models.hrnet import HRNet

    frame, style = frame_and_style
    other = torch.flip(frame, [-1]) * 0.7  # another shot: other statistics, other edges
    config = {"name": "color", "color_weight": 1.0, "structure_weight": 1.0, "locality_weight": 1.0}
    torch.manual_seed(0)
    model = HRNet(work_size=24)
    model.set_style(style)
    torch.nn.init.normal_(model.to_coeffs.weight, std=0.1)
    both, alone = Objective(config, vgg={}), Objective(config, vgg={})
    both.set_targets(style, {"train": torch.cat([frame, other])}, model)
    alone.set_targets(style, {"train": other}, model)
    _, terms = both(model, other, "train", torch.tensor([1]))
    _, expected = alone(model, other, "train", torch.tensor([0]))
    for name in ("color", "structure", "locality"):
        assert torch.allclose(terms[name], expected[name], rtol=1e-5), name
    _, first = both(model, frame, "train", torch.tensor([0]))
    assert not torch.isclose(first["structure"], terms["structure"])


def test_stability_moves_the_frame_it_sees_as_far_as_the_training_frame(frame_and_style):
    """The term works at the network's working size with `shift` in pixels of the training
    frame: the same motion, relative to the picture, whatever the size it is applied at. A
    grade pinned to the screen (a ramp across it) pays the square of the motion."""
    frame, _ = frame_and_style
    small = F.interpolate(frame, scale_factor=0.375, mode="bilinear", antialias=True)

    def pinned_to_the_screen(x):
        return torch.linspace(-1, 1, x.shape[-1]).expand_as(x).clone()

    term = StabilityLoss(shift=6.0, rotate=0.0, zoom=0.0, noise=0.0, exposure=0.0)

    def cost(x, scale=1.0):
        return term(pinned_to_the_screen, x, pinned_to_the_screen(x), torch.Generator().manual_seed(0),
                    scale=scale).item()

    at_training_size = cost(frame)
    assert at_training_size > 1e-4
    assert cost(small, small.shape[-1] / frame.shape[-1]) == pytest.approx(at_training_size, rel=0.15)
    assert cost(small) > 4 * at_training_size  # the same pixels at the small size: a larger motion


def test_locality_costs_nothing_for_one_transform_everywhere(frame_and_style):
    frame, style = frame_and_style
    objective = Objective({"name": "color", "color_weight": 1.0, "locality_weight": 1.0}, vgg={})

    class Fixed(FullSizeGrade):
        def __init__(self, field):
            super().__init__()
            self.value = field

        def field(self, x, stats=None, upsample=True):
            return self.value.expand(x.shape[0], 12, *x.shape[2:])

        def apply_field(self, x, field):
            return x

    objective.set_targets(style, {"train": frame}, FullSizeGrade())
    uniform = torch.randn(1, 12, 1, 1)
    _, terms = objective(Fixed(uniform), frame, "train", torch.tensor([0]))
    assert terms["locality"].item() < 1e-10
    by_position = torch.linspace(-1, 1, frame.shape[-1]).expand(1, 12, *frame.shape[2:])
    _, terms = objective(Fixed(by_position), frame, "train", torch.tensor([0]))
    assert terms["locality"].item() > 0.1


def test_stability_loss_leaves_out_what_a_large_motion_invents(frame_and_style):
    """A grade that looks at a neighbourhood (here local contrast) is still the moved grade
    wherever the moved frame shows real content; where a large shift makes the warp repeat
    border pixels it differs, and those pixels must not count."""
    frame, _ = frame_and_style
    g = torch.Generator().manual_seed(0)

    def local(x):
        return x - gaussian_blur(x, 2.0)

    large = StabilityLoss(shift=20.0, rotate=0.0, zoom=0.0, noise=0.0, margin=0.1)
    equivariant = large(local, frame, local(frame), g).item()
    jittered = large(lambda x: local(x) + 0.02 * torch.randn(x.shape, generator=g), frame,
                     local(frame), g).item()
    assert equivariant < 1e-3 * jittered, (equivariant, jittered)


def test_stability_holds_the_global_transform_at_the_frames_own(frame_and_style):
    """Prediction fixes the global transform per shot, so the stability term must not punish a
    grade for depending on the frame's colour statistics (a re-exposed frame would otherwise
    pull every shot's grade toward one); a local part that reacts to exposure still pays."""
    from vst.models.hrnet import HRNet

    frame, style = frame_and_style
    config = {"name": "color", "stability_weight": 1.0,
              "stability": {"shift": 0.0, "rotate": 0.0, "zoom": 0.0, "noise": 0.0, "exposure": 0.2}}
    objective = Objective(config, vgg={})
    torch.manual_seed(0)
    model = HRNet(work_size=None)
    model.set_style(style)  # the Monge grade follows the frame's statistics
    objective.set_targets(style, {"train": frame}, model)
    torch.nn.init.normal_(model.global_head[-1].weight, std=0.5)  # and so does the head's part
    with torch.no_grad():
        moved_grade = model.field(frame * 0.8)
    assert (moved_grade - model.field(frame)).abs().max() > 0.05
    _, terms = objective(model, frame, "train", torch.tensor([0]), torch.Generator().manual_seed(0))
    assert terms["stability"].item() < 1e-10
    torch.nn.init.normal_(model.to_coeffs.weight, std=0.5)  # a local part that sees brightness
    _, terms = objective(model, frame, "train", torch.tensor([0]), torch.Generator().manual_seed(0))
    assert terms["stability"].item() > 1e-4
