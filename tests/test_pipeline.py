"""The thread pipeline of prediction (vst/pipeline.py): order, back-pressure, errors handed over."""

from __future__ import annotations

import threading
import time

import pytest

from vst.pipeline import Sink, Stage, read_ahead


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


def test_an_error_in_the_encoder_reaches_the_main_thread():
    seen = []
    failed = threading.Event()

    def consume(item):
        seen.append(item)
        if item == 2:
            failed.set()
            raise ValueError("encoder broke")

    sink = Sink(consume)
    sink.start()
    with pytest.raises(ValueError, match="encoder broke"):
        for i in range(100):
            if failed.is_set():
                time.sleep(0.05)  # the put after the failure raises it
            sink.put(i)
        sink.finish()
    assert seen == [0, 1, 2]  # nothing consumed after the error
