"""The thread pipeline of prediction (vst/pipeline.py): order, back-pressure, errors handed over."""

from __future__ import annotations

import threading
import time

import pytest

from vst.pipeline import Sink, Stage


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
