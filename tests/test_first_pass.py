"""The first pass over a video (vst/first_pass.py): read while it runs, it gives each frame's
rows as soon as its shot is settled, and exactly what the finished pass gives."""

from __future__ import annotations

import threading

import pytest
import torch

from tests.helpers import generator_checkpoint, sample_frame_and_style, shared_file
from vst.chunks import FollowedPlan, plan_chunks
from vst.first_pass import FirstPass, PassStopped
from vst.grader import Grader
from vst.io import open_frames


@pytest.fixture(scope="module")
def grader(tmp_path_factory) -> Grader:
    _, style = sample_frame_and_style()
    return Grader(generator_checkpoint(tmp_path_factory.mktemp("ckpt") / "monge.ckpt", style))


def _held_at(source, frames: int, release: threading.Event):
    """source.stream, which stops after `frames` frames until `release` is set."""
    stream = source.stream

    def held(batch, *args, **kwargs):
        done = 0
        for read in stream(batch, *args, **kwargs):
            if done >= frames:
                release.wait(60)
            yield read
            done += len(read.pts)

    return held


def test_rows_are_read_while_the_pass_runs_and_are_those_of_the_finished_pass(grader):
    """band_stage cuts at frames 32, 109, 182, 243: with the pass held at frame 160, the rows
    of the first two shots and the cuts up to frame 120 are there; the last shot's are not."""
    source = open_frames(shared_file("video/band_stage_audio.mp4"), "video")
    release = threading.Event()
    source.stream = _held_at(source, 160, release)
    first = FirstPass(grader, source, 8)
    followed = FollowedPlan(first, 48)
    found = []
    thread = threading.Thread(target=lambda: found.append(first.run()))
    thread.start()
    try:
        stats, boxes = first.rows(0, 109)
        decided = [followed.stop(0)]  # chunk by chunk, while the pass is held
        while len(decided) < 3:
            decided.append(followed.stop(decided[-1]))
        cuts, frames, repaired = first.cuts_through(120)
        early_pts = first.pts_of(100, 110)
        assert not first.done and first.final == 109
        assert cuts == [32, 109] and frames is None and not repaired
        assert first.pts_of(0, 1) == [0]
    finally:
        release.set()
        thread.join(120)
    whole = found[0]
    assert first.done and whole.shots[:3] == [(0, 32), (32, 109), (109, 182)]
    assert torch.equal(stats, whole.stats[:109]) and torch.equal(boxes, whole.boxes[:109])
    assert early_pts == whole.pts[100:110]
    assert torch.equal(whole.stats[0], whole.stats[31]) and not torch.equal(whole.stats[31], whole.stats[32])
    # the same as a pass made in one go (Grader.shot_stats)
    again = grader.shot_stats(open_frames(shared_file("video/band_stage_audio.mp4"), "video"), 4)
    assert again.shots == whole.shots and again.pts == whole.pts
    assert torch.equal(again.stats, whole.stats) and torch.equal(again.boxes, whole.boxes)
    # the chunks decided as the pass went are those planned from the finished pass
    assert followed.chunks() == plan_chunks(whole.shots, len(whole.pts), 48)
    assert [c.stop for c in followed.chunks()[:3]] == decided


def test_a_stopped_pass_ends_and_its_readers_are_told(grader):
    source = open_frames(shared_file("video/band_stage_audio.mp4"), "video")
    release = threading.Event()
    source.stream = _held_at(source, 40, release)
    first = FirstPass(grader, source, 8)
    found = []
    thread = threading.Thread(target=lambda: found.append(first.run()))
    thread.start()
    first.stop()
    with pytest.raises(PassStopped):
        first.rows(0, 300)
    release.set()
    thread.join(60)
    assert found == [None] and not first.done


def test_an_error_in_the_pass_reaches_its_readers(grader):
    source = open_frames(shared_file("video/band_stage_audio.mp4"), "video")
    stream = source.stream

    def damaged(batch, *args, **kwargs):
        for k, read in enumerate(stream(batch, *args, **kwargs)):
            if k == 3:
                raise OSError("disk gone")
            yield read

    source.stream = damaged
    first = FirstPass(grader, source, 8)
    raised = []

    def run():
        try:
            first.run()
        except OSError as err:
            raised.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    with pytest.raises(OSError, match="disk gone"):
        first.rows(0, 300)
    thread.join(60)
    assert raised and raised[0] is first.error and not first.done  # raised in the pass's thread too
