"""The writer's own RGB -> yuv420p conversion against swscale's, on real frames and on noise
with saturated colours, for each matrix and range the writer uses."""

from __future__ import annotations

import av
import numpy as np
import pytest
from av.video.reformatter import ColorRange, Colorspace

from tests.helpers import ROOT
from vst.io.video import probe_video
from vst.io.writer import Encoding, VideoWriter
from vst.io.yuv import planes, rgb_to_yuv420p

SAMPLE = ROOT / "samples" / "mountain_walk_2s.mp4"


def _frames() -> list[np.ndarray]:
    with av.open(str(SAMPLE)) as c:
        real = [f.to_ndarray(format="rgb24") for f, _ in zip(c.decode(video=0), range(3), strict=False)]
    noise = np.random.default_rng(0).integers(0, 256, real[0].shape, dtype=np.uint8)
    noise[:, :60] = 255      # white, then no red: colours at the edge of the gamut
    noise[:, 60:120, 0] = 0
    noise[100:, 200:] = (255, 0, 0)
    return [*real, noise]


@pytest.mark.parametrize("matrix, full_range", [
    (Colorspace.ITU709, False), (Colorspace.ITU709, True), (Colorspace.ITU601, False),
    (Colorspace.ITU601, True), (Colorspace.SMPTE240M, False), (Colorspace.FCC, False)])
def test_it_is_swscales_conversion_within_one_code(matrix, full_range):
    for rgb in _frames():
        ours = planes(rgb_to_yuv420p(rgb, int(matrix), full_range))
        theirs = planes(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
            format="yuv420p", dst_colorspace=matrix,
            dst_color_range=ColorRange.JPEG if full_range else ColorRange.MPEG, threads=1))
        for name, a, b in zip("YUV", ours, theirs, strict=True):
            assert a.shape == b.shape
            diff = np.abs(a.astype(int) - b)
            assert diff.max() <= 1, (name, diff.max())
            # rounding only; full range: swscale converts to limited and widens that, rounding
            # down (its chroma lands up to a code low), where this rounds to the nearest
            assert diff.mean() < (0.85 if full_range else 0.2), (name, diff.mean())


def test_the_writer_encodes_8_bit_420_by_it(tmp_path):
    """Lossless H.264 gives back exactly the planes rgb_to_yuv420p makes."""
    info = probe_video(SAMPLE)  # BT.601 limited, 500x280
    rgb = _frames()[-1]
    writer = VideoWriter(tmp_path / "out.mkv", info, encoding=Encoding("h264", crf=0))
    writer.write(rgb, 0)
    writer.close()
    expected = planes(rgb_to_yuv420p(rgb, int(writer.matrix), full_range=False))
    with av.open(str(tmp_path / "out.mkv")) as c:
        frame = next(c.decode(video=0))
        assert frame.format.name == "yuv420p"
        for got, want in zip(planes(frame), expected, strict=True):
            np.testing.assert_array_equal(got, want)
