"""Letterbox bars and blank frames (vst/picture.py): found, left out of every colour statistic,
and left as they are by the grade. On the bundled sample, so it runs without ../shared."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from tests.helpers import compose_config, sample_frame_and_style
from vst.checkpoint import GRADE_FORMAT
from vst.losses.color import ColorLoss
from vst.metrics.color import LabStats
from vst.models.hrnet import HRNet
from vst.models.monge import monge_coefficients
from vst.picture import box_masks, picture_boxes, picture_masks, picture_of, union_box

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
TOP, BOTTOM, LEFT, RIGHT = 12, 11, 6, 6  # bar sizes at 96 px high (a letterbox a row off centre)


@pytest.fixture(scope="module")
def frame_and_style() -> tuple[torch.Tensor, torch.Tensor]:
    return sample_frame_and_style()


def letterboxed(frame: torch.Tensor, level: float = 0.01) -> torch.Tensor:
    """The frame with bars (near-black, with a little noise, as a decoded clip has) around it."""
    out = frame.clone()
    noise = torch.rand(out.shape, generator=torch.Generator().manual_seed(0)) * 2 * level
    bars = torch.ones_like(out[:, :1], dtype=torch.bool)
    bars[..., TOP:-BOTTOM, LEFT:-RIGHT] = False
    return torch.where(bars, noise, out)


def test_bars_are_found_and_dark_picture_is_not_taken_for_them(frame_and_style):
    frame, _ = frame_and_style
    x = letterboxed(frame)
    h, w = x.shape[-2:]
    x[..., h // 2, :] = 0  # a black line across the middle of the picture stays picture
    assert picture_boxes(x).tolist() == [[TOP, h - BOTTOM, LEFT, w - RIGHT]]
    # a channels-last frame (as prediction holds frames) is summed in its own layout: the same
    assert picture_boxes(x.contiguous(memory_format=torch.channels_last)).tolist() == \
        [[TOP, h - BOTTOM, LEFT, w - RIGHT]]
    assert picture_boxes(frame).tolist() == [[0, h, 0, w]]
    # black on one side only (unlit ground under a night sky) is picture, not a bar
    ground = frame.clone()
    ground[..., -30:, :] = 0
    assert picture_boxes(ground).tolist() == [[0, h, 0, w]]
    # a letterbox over dark ground: the bottom bar is about the top one's size, the rest picture
    ground[..., :10, :] = 0
    assert picture_boxes(ground).tolist() == [[10, h - 14, 0, w]]
    assert picture_boxes(torch.zeros(1, 3, 8, 8)).tolist() == [[0, 0, 0, 0]]  # blank
    # a shot's picture: every frame's, blank frames aside
    boxes = torch.tensor([[4, 40, 0, 64], [0, 0, 0, 0], [6, 44, 2, 60]])
    assert union_box(boxes).tolist() == [4, 44, 0, 64]
    assert union_box(boxes[1:2]).tolist() == [0, 0, 0, 0]
    mask = box_masks(torch.tensor([[1, 3, 2, 4]]), 4, 5)[0, 0]
    assert mask.sum() == 4 and mask[1:3, 2:4].all()


def test_bars_change_neither_the_monge_grade_nor_the_colour_loss(frame_and_style):
    frame, style = frame_and_style
    x = letterboxed(frame)
    picture = x[..., TOP:-BOTTOM, LEFT:-RIGHT]
    net = HRNet(work_size=None)
    net.set_style(style)
    g = net.style_gaussian
    mean, cov = g[:3], g[3:].view(3, 3)
    with_bars, without = monge_coefficients(x, mean, cov), monge_coefficients(picture, mean, cov)
    assert (with_bars - without).abs().max() < 1e-4
    # before: the bars' pixels counted as the frame's own colours, and moved its grade
    whole = monge_coefficients(x, mean, cov)
    x_all = x.clone()
    x_all[..., :TOP, :] = 0.3  # bars no longer black: counted as picture
    assert (monge_coefficients(x_all, mean, cov) - whole).abs().max() > 1e-2
    loss = ColorLoss()
    target = loss.targets(style)
    assert torch.isclose(loss(x, target, picture_masks(x)), loss(picture, target), rtol=1e-4)
    assert not torch.isclose(loss(x, target), loss(picture, target), rtol=1e-2)
    # evaluate's colour statistics count the picture only too
    a = LabStats().add(x[0].permute(1, 2, 0).numpy(), picture_of(x[0].permute(1, 2, 0).numpy()))
    b = LabStats().add(picture[0].permute(1, 2, 0).numpy())
    assert a.n == b.n and np.allclose(a.mean, b.mean) and np.allclose(a.cov, b.cov, atol=1e-6)


def test_the_grade_leaves_bars_and_blank_frames_as_they_are(frame_and_style):
    frame, style = frame_and_style
    x = torch.cat([letterboxed(frame), torch.zeros_like(frame)])
    net = HRNet(work_size=None).eval()
    net.set_style(style)
    with torch.no_grad():
        graded = net(x)
        alone = net(x[:1, :, TOP:-BOTTOM, LEFT:-RIGHT])
    bars = box_masks(picture_boxes(x[:1]), *x.shape[-2:])[0, 0] == 0
    assert torch.equal(graded[0][:, bars], x[0][:, bars])     # bars untouched
    assert torch.equal(graded[1], x[1])                       # a black frame stays black
    inside = graded[:1, :, TOP:-BOTTOM, LEFT:-RIGHT]
    assert (inside - alone).abs().max() < 1e-4                # the picture graded as if alone
    assert (inside - x[:1, :, TOP:-BOTTOM, LEFT:-RIGHT]).abs().mean() > 0.02  # and graded


def _letterboxed_clip(path: Path) -> None:
    """mountain_walk_2s with bars (12 rows top and bottom) and its first 3 frames black."""
    with av.open(str(SAMPLES / "mountain_walk_2s.mp4")) as src, av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.time_base = Fraction(1, 25)
        stream.options = {"crf": "12"}
        for i, f in enumerate(src.decode(video=0)):
            rgb = f.to_ndarray(format="rgb24")
            if i == 0:
                stream.width, stream.height, stream.pix_fmt = rgb.shape[1], rgb.shape[0], "yuv420p"
            rgb[:12], rgb[-12:] = 0, 0
            if i < 3:
                rgb[:] = 0
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())


def test_predict_keeps_bars_and_black_frames_black(tmp_path, frame_and_style):
    """End to end on a letterboxed clip whose first frames are black, with a generator that
    starts at the Monge grade: before, the black frames came out as a flat coloured card and
    the bars were lifted toward the style."""
    from vst import predict as predict_module

    _, style = frame_and_style
    clip, out, ckpt = tmp_path / "bars.mp4", tmp_path / "out.mp4", tmp_path / "monge.ckpt"
    _letterboxed_clip(clip)
    net = HRNet(work_size=96)
    net.set_style(style)
    state = {f"generator.{k}": v for k, v in net.state_dict().items()}
    torch.save({"state_dict": state, "vst": {"model": {"name": "hrnet", "work_size": 96},
                                             "train_size": 96, "grade_format": GRADE_FORMAT}}, ckpt)
    cfg = compose_config("predict")
    cfg.ckpt, cfg.video, cfg.output = str(ckpt), str(clip), str(out)
    predict_module.predict(cfg)
    with av.open(str(clip)) as a, av.open(str(out)) as b:
        pairs = [(x.to_ndarray(format="rgb24").astype(int), y.to_ndarray(format="rgb24").astype(int))
                 for x, y in zip(a.decode(video=0), b.decode(video=0), strict=True)]
    for i, (x, y) in enumerate(pairs):
        if i < 3:
            assert y.max() <= 6, i                                          # black stays black
        else:
            assert np.abs(y[:10] - x[:10]).max() <= 6, i                    # bars (within codec noise)
            assert np.abs(y[-10:] - x[-10:]).max() <= 6, i
            assert np.abs(y[14:-14] - x[14:-14]).mean() > 5, i              # the picture is graded
