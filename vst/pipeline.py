"""The thread pipeline of prediction: producer stages joined by bounded queues, so that
decoding, grading and encoding overlap and memory stays flat whatever the clip length.

    read (a Stage thread) -> grade (a Stage thread) -> encode on the calling thread

The reading and grading threads run below the encoder (`below_the_encoder`): on a CPU the
encoder is the slowest stage, and its threads (x264's encode frames in parallel, each waiting
on the rows of the one before) leave gaps that the rest of the work fills, where at the same
priority it would take the cores at the moments they wake up wanting them, and slow the whole
run to their pace (docs/levers.md, "seventh stop"). The encoder's threads are started by the
calling thread, which keeps its priority.

The first pass over a video (shots and their statistics) reads ahead the same way
(`read_ahead`): decoding overlaps with finding the cuts and looking at the frames.

One error hand-off: an exception in a Stage's thread is kept and raised again by `items` once
the queue is drained, so the caller's cleanup (removing a temporary output) runs as for any
other error.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
from collections.abc import Callable, Iterator

DONE = object()  # the end of a queue
# frames after a batch that its render is handed: the network looks at every third frame
# (vst/every_third_frame.py), and a frame between needs the next one it looks at
AHEAD = 2


class _Stopped(Exception):
    """Raised by `emit` in a Stage's thread once the consumer has stopped: the work ends there."""


class Stage(threading.Thread):
    """Runs `work(emit)` in a thread; what it emits goes to a bounded queue; errors are kept.
    After `stop` is set, the next `emit` ends the work (nothing more is decoded)."""

    def __init__(self, work: Callable, depth: int = 2):
        super().__init__(daemon=True)
        self.work, self.queue, self.error = work, queue.Queue(maxsize=depth), None
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            self.work(self._emit)
        except _Stopped:
            pass
        except BaseException as err:  # noqa: BLE001 - handed to the main thread
            self.error = err
        finally:
            self._emit(DONE, force=True)

    def _emit(self, item, force: bool = False) -> None:
        while not self.stop.is_set() or force:
            try:
                self.queue.put(item, timeout=0.1)
                return
            except queue.Full:
                if force and self.stop.is_set():
                    return
        raise _Stopped

    def items(self) -> Iterator:
        while (item := self.queue.get()) is not DONE:
            yield item
        if self.error is not None:
            raise self.error


def read_ahead(items: Iterator, depth: int = 1) -> Iterator:
    """`items` (a decoder's batches) produced in a thread, up to `depth` ahead of the consumer:
    decoding overlaps with what is done with each batch. Ends when the consumer stops."""

    def work(emit):
        for item in items:
            emit(item)

    stage = Stage(work, depth)
    stage.start()
    try:
        yield from stage.items()
    finally:
        stage.stop.set()


def below_the_encoder() -> None:
    """This thread, and the threads it starts from now on (a decoder's, its torch and numba
    workers), at the lowest priority (nice 19): they take a core only where the encoder's
    threads leave one idle. Linux only, where a thread's priority is its own (elsewhere the
    whole process would be lowered, encoder included): elsewhere nothing changes."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def _after(held: list) -> list:
    """The (up to) AHEAD frames after the first of the `held` batches, each a one-frame view."""
    return [frames[i:i + 1] for frames, _, _ in held[1:] for i in range(len(frames))][:AHEAD]


def grade_stream(batches, render: Callable, source, target, size: int | None, encoding,
                 first: int = 0, on_frames: Callable[[int], None] | None = None, audio: bool = True,
                 overwrite: bool = False) -> int:
    """read -> grade -> write: every FrameBatch of `batches` (frames `first`, `first` + 1, ...
    of `source`; read in a thread, where an error raised by `batches` stops the stream) through
    `render(frames, index of the first, the AHEAD frames after them: a list of one-frame
    arrays, shorter at the end)`
    into the graded copy at `target` (vst.io.output: a temporary renamed when complete);
    returns the frames written."""
    import torch

    from vst.io.output import open_output

    threads = torch.get_num_threads()  # the caller's share of the cores, for the grading thread

    def read(emit):
        below_the_encoder()
        done, held = first, []  # each batch goes once AHEAD frames after it are read (or the end)

        def send(ahead: int) -> None:
            """Emit the held batches that have `ahead` frames read after them."""
            while held and done - held[0][2] - len(held[0][0]) >= ahead:
                emit((*held[0], _after(held)))
                held.pop(0)

        for frames, stamps in batches:
            held.append((frames, stamps, done))
            done += len(frames)
            send(AHEAD)
        send(0)  # the end: every batch left, with the frames there are after it

    def grade(emit):
        below_the_encoder()
        torch.set_num_threads(threads)
        for frames, stamps, start, after in reader.items():
            emit((render(frames, start, after), stamps))

    reader, grader = Stage(read), Stage(grade)
    with open_output(target, source, overwrite, size, encoding, audio) as writer:
        reader.start()
        grader.start()
        try:
            for graded, stamps in grader.items():
                for rgb, pts in zip(graded, stamps, strict=True):
                    writer.write(rgb, pts)
                if on_frames is not None:
                    on_frames(len(stamps))
        except BaseException:
            reader.stop.set()  # the reader stops before its next batch, the grading at its next
            grader.stop.set()
            grader.join(timeout=30)  # (no thread left grading once the caller has moved on)
            raise  # the writer is aborted and the temporary removed on the way out
    return writer.frames
