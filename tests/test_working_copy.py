"""What prediction takes from 8-bit frames straight from their codes (vst/models/working_copy.py)
is what the float path takes: the working-size frame training sees, and the same bars."""

from __future__ import annotations

import numpy as np
import torch

from tests.helpers import sample_frames


def _frames(n: int = 3) -> torch.Tensor:
    return torch.from_numpy(sample_frames(n))


def test_the_working_copy_is_the_generators_own():
    """HRNet.working (torch's antialiased downscale of the float frame) within float rounding,
    at the model's working size and at sizes that divide nothing."""
    from vst.io.frames import to_float
    from vst.models.hrnet import HRNet
    from vst.models.working_copy import working_copy

    frames = _frames()[:, 3:, 5:]  # an odd size
    for work_size in (96, 37):
        net = HRNet(work_size)
        reference = net.working(to_float(frames), "model")
        size = net.working_shape(*frames.shape[1:3], "model")
        small = working_copy(frames, size)
        assert small.shape == reference.shape and small.dtype == torch.float32
        assert (small - reference).abs().max() < 1e-5  # 0.003 code values
        assert reference.std() > 0.05  # a real picture, not a flat one
    assert net.working_shape(30, 60, "model") is None  # never upscaled


def test_line_means_find_the_bars_the_float_frame_has():
    from vst.io.frames import to_float
    from vst.models.working_copy import line_means
    from vst.picture import boxes_from_means, picture_boxes

    frames = _frames(2).clone()
    frames[:, :20] = 3  # a letterbox: 20 rows top, 22 bottom, near-black
    frames[:, -22:] = 5
    frames[1] = 0  # a blank frame
    x = to_float(frames)
    rows, cols = line_means(frames)
    assert (rows - x.mean(3)).abs().max() < 1e-6 and (cols - x.mean(2)).abs().max() < 1e-6
    h, w = frames.shape[1:3]
    expected = [[20, h - 22, 0, w], [0, 0, 0, 0]]
    assert boxes_from_means(rows, cols).tolist() == picture_boxes(x).tolist() == expected


def test_the_grader_looks_at_codes_as_at_floats(tmp_path):
    """Grader.looked_at takes 8-bit CPU frames the fast way: the same working copy and boxes
    as the float frames (16-bit frames' way) give."""
    from tests.helpers import generator_checkpoint, sample_frame_and_style
    from vst.grader import Grader

    ckpt = generator_checkpoint(tmp_path / "g.ckpt", sample_frame_and_style()[1], local_field=True)
    grader = Grader(ckpt, accelerator="cpu", precision="32-true")
    frames = _frames(2)
    frames[:, :12] = frames[:, -12:] = 0  # a letterbox
    small, boxes = grader.looked_at(frames)
    deep = frames.numpy().astype(np.uint16) * 257  # the same pictures, as 16-bit codes
    small_ref, boxes_ref = grader.looked_at(deep)
    assert small.is_contiguous(memory_format=torch.channels_last)
    assert (small - small_ref).abs().max() < 1e-5
    assert boxes.tolist() == boxes_ref.tolist() and boxes[0, 0] == 12
