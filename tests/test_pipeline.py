"""The thread pipeline of prediction (vst/pipeline.py): order, back-pressure, errors handed over,
the encoder first on the cores."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest
import torch

from tests.helpers import ROOT
from vst.io.video import count_frames
from vst.io.writer import Encoding
from vst.pipeline import Stage, grade_stream, read_ahead


def test_a_stage_yields_in_order_and_waits_for_its_consumer():
    made = []

    def work(emit):
        for i in range(10):
            made.append(i)
            emit(i)

    stage = Stage(work, depth=2)
    stage.start()
    time.sleep(0.3)
    assert len(made) <= 4  # two queued, one waiting to be queued: the queue bounds memory
    assert list(stage.items()) == list(range(10))


def test_read_ahead_decodes_in_a_thread_and_stops_with_its_consumer():
    """The first pass reads its batches ahead in a thread; a consumer that stops (an error, a
    break) stops the decoding too, instead of leaving it to run through the rest of the file."""
    made, threads = [], set()

    def batches():
        for i in range(1000):
            made.append(i)
            threads.add(threading.current_thread())
            yield i

    assert list(read_ahead(iter([0, 1, 2]))) == [0, 1, 2]
    reader = read_ahead(batches())
    for item in reader:
        if item == 5:
            break
    reader.close()
    time.sleep(0.5)
    assert threading.current_thread() not in threads
    assert len(made) < 10  # at most a batch or two past the last one taken

    def failing():
        yield 1
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(read_ahead(failing()))


def test_an_error_in_the_reader_reaches_the_main_thread_after_what_it_read():
    def work(emit):
        emit(1)
        raise OSError("disk gone")

    stage = Stage(work)
    stage.start()
    got = []
    with pytest.raises(OSError, match="disk gone"):
        for item in stage.items():
            got.append(item)
    assert got == [1]


def sample_clip():
    from vst.io import open_frames

    return open_frames(ROOT / "samples" / "mountain_walk_2s.mp4", "video")


def priority() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread's own priority is Linux's")
def test_reading_and_grading_run_below_the_encoder(tmp_path):
    """The reading and grading threads, and the threads they start (a decoder's), run at the
    lowest priority; the caller, which writes and so starts the encoder's threads, keeps its
    own. The grading runs on the caller's share of torch threads, not on the count another
    thread set last (the first pass sets one for itself)."""
    source, seen = sample_clip(), {}

    def batches():
        seen["reader"] = priority()
        yield from source.stream(8)

    def render(frames, start, after):
        if not seen.get("grading"):
            seen["grading"], seen["torch threads"] = priority(), torch.get_num_threads()
            started = threading.Thread(target=lambda: seen.setdefault("started there", priority()))
            started.start()
            started.join()
        return frames

    before, threads = priority(), torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # this thread's share
        other = threading.Thread(target=torch.set_num_threads, args=(2,))  # as the first pass does
        other.start()
        other.join()
        assert grade_stream(batches(), render, source,
                            tmp_path / "out.mp4", None, Encoding()) == 50
    finally:
        torch.set_num_threads(threads)
    assert seen == {"reader": 19, "grading": 19, "started there": 19, "torch threads": 1}
    assert priority() == before
    assert count_frames(tmp_path / "out.mp4") == 50


def test_an_error_in_the_writer_stops_the_reading_and_grading(tmp_path):
    """The writer fails on the calling thread (here: frames of the wrong size): the error is
    raised there, no temporary is left, and the reading and grading threads end instead of
    decoding and grading the rest of the clip."""
    source, graded = sample_clip(), []

    def render(frames, start, after):
        graded.append(start)
        return frames[:, :-2]

    with pytest.raises(ValueError, match="frame is"):
        grade_stream(source.stream(4), render, source, tmp_path / "out.mp4", None, Encoding())
    time.sleep(0.5)
    assert not [t for t in threading.enumerate() if isinstance(t, Stage) and t.is_alive()]
    assert len(graded) < 6  # of 13 batches: the grading stopped a batch or two after the error
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("batch", [1, 3])
def test_each_batch_is_handed_the_frames_after_it(tmp_path, batch):
    """The render gets each batch with the AHEAD frames that follow it (fewer at the clip's
    end), whatever the batch size: frames of later batches, as one-frame arrays."""
    import numpy as np

    from vst.pipeline import AHEAD

    source = sample_clip()
    frames = np.concatenate([b.frames for b in source.stream(8)])
    seen = []

    def render(batch_frames, start, after):
        seen.append(start)
        assert all(a.shape == (1, *frames.shape[1:]) for a in after)
        expected = frames[start + len(batch_frames):start + len(batch_frames) + AHEAD]
        assert len(after) == len(expected)
        assert all((a[0] == e).all() for a, e in zip(after, expected, strict=True))
        return batch_frames

    assert grade_stream(source.stream(batch), render, source, tmp_path / "out.mp4", None, Encoding()) == 50
    assert seen == list(range(0, 50, batch))
