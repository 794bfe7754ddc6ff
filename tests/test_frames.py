"""The frame-source interface: a video, a still and a folder answer the same calls (len, read by
index, stream in order with timestamps, output name), on the bundled sample and made images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import ROOT
from vst.errors import VstError
from vst.io import open_frames
from vst.io.frames import to_float

SAMPLE = ROOT / "samples" / "mountain_walk_2s.mp4"
STILL = ROOT / "samples" / "in47_360.jpg"


def _folder(tmp_path, sizes):
    folder = tmp_path / "shots"
    folder.mkdir()
    for i, (w, h) in enumerate(sizes):  # numbered 1, 2, ..., 10: natural order, not text order
        Image.fromarray(np.full((h, w, 3), 10 * i, np.uint8)).save(folder / f"f_{i + 1}.png")
    return folder


@pytest.mark.parametrize("kind", ["video", "still", "folder"])
def test_every_kind_streams_what_it_reads_by_index(tmp_path, kind):
    path = {"video": SAMPLE, "still": STILL, "folder": None}[kind] or _folder(tmp_path, [(20, 12)] * 10)
    source = open_frames(path)
    assert source.kind == kind
    n = len(source)
    assert n == {"video": 50, "still": 1, "folder": 10}[kind] and source.frames_hint == n
    batches = list(source.stream(batch=4))
    assert [len(b.frames) for b in batches] == [min(4, n - s) for s in range(0, n, 4)]
    assert all(b.frames.dtype == np.uint8 and len(b.pts) == len(b.frames) for b in batches)
    stamps = [t for b in batches for t in b.pts]
    assert stamps == sorted(set(stamps))  # strictly increasing presentation times
    streamed = to_float(np.concatenate([b.frames for b in batches]))
    by_index = source.read(list(range(n)))
    assert streamed.shape == by_index.shape
    assert torch.allclose(streamed, by_index, atol=0.5 / 255 + 1e-6)  # the same frames, rounded
    assert list(source.stream(batch=4, stop=3))[0].pts == stamps[:3]


def test_output_names_follow_the_input(tmp_path):
    assert open_frames(SAMPLE).output_name == "mountain_walk_2s_vst.mp4"
    assert open_frames(STILL).output_name == "in47_360_vst.png"
    assert open_frames(_folder(tmp_path, [(8, 8)])).output_name == "shots_vst"


def test_a_folder_is_read_in_numeric_order_and_never_batches_two_sizes(tmp_path):
    source = open_frames(_folder(tmp_path, [(20, 12), (20, 12), (16, 16), (20, 12)] + [(20, 12)] * 7))
    assert [f.name for f in source.files[:3]] == ["f_1.png", "f_2.png", "f_3.png"]
    assert source.files[-1].name == "f_11.png"
    assert [b.pts for b in source.stream(batch=8)] == [[0, 1], [2], [3, 4, 5, 6, 7, 8, 9, 10]]


@pytest.mark.parametrize("kind", ["video", "still", "folder"])
def test_a_frame_past_the_end_names_the_file(tmp_path, kind):
    path = {"video": SAMPLE, "still": STILL, "folder": None}[kind] or _folder(tmp_path, [(8, 8)] * 3)
    source = open_frames(path, "clip")
    with pytest.raises(VstError, match=rf"frame {len(source)} is past the end of clip '.*{path.name}'"):
        source.read([0, len(source)])


def test_nothing_given_or_an_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(VstError, match="no video given: pass video=PATH"):
        open_frames("???")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VstError, match="is a folder with no images in it"):
        open_frames(tmp_path / "empty")
