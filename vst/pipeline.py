"""The thread pipeline of prediction: a producer stage and a consumer sink joined to the main
thread by bounded queues, so that decoding, grading and encoding overlap and memory stays flat
whatever the clip length.

    read (Stage, a thread) -> grade on the main thread -> encode (Sink, a thread)

The first pass over a video (shots and their statistics) reads ahead the same way
(`read_ahead`): decoding overlaps with finding the cuts and looking at the frames.

One error hand-off: an exception in either thread is kept and raised again in the main thread
(by `Stage.items` once the queue is drained, by `Sink.put` / `Sink.finish`), so the caller's
cleanup (removing a temporary output) runs as for any other error.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

DONE = object()  # the end of a queue


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


class Sink(threading.Thread):
    """Consumes items from a bounded queue in a thread (the encoder)."""

    def __init__(self, consume: Callable, depth: int = 2):
        super().__init__(daemon=True)
        self.consume, self.queue, self.error = consume, queue.Queue(maxsize=depth), None

    def run(self) -> None:
        while (item := self.queue.get()) is not DONE:
            if self.error is None:
                try:
                    self.consume(item)
                except BaseException as err:  # noqa: BLE001 - handed to the main thread
                    self.error = err

    def put(self, item) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(item)

    def finish(self) -> None:
        self.queue.put(DONE)
        self.join()
        if self.error is not None:
            raise self.error


def grade_stream(batches, render: Callable, source, target, size: int | None, encoding,
                 first: int = 0, on_frames: Callable[[int], None] | None = None, audio: bool = True,
                 overwrite: bool = False) -> int:
    """read -> grade -> write: every FrameBatch of `batches` (frames `first`, `first` + 1, ...
    of `source`; read in a thread, where an error raised by `batches` stops the stream) through
    `render(frames, index of the first, the next batch's first frame or None after the last)`
    into the graded copy at `target` (vst.io.output: a temporary renamed when complete);
    returns the frames written."""
    from vst.io.output import open_output

    def read(emit):
        done, held = first, None  # each batch goes once the next one's first frame is read
        for frames, stamps in batches:
            if held is not None:
                emit((*held, frames[:1]))
            held = (frames, stamps, done)
            done += len(frames)
        if held is not None:
            emit((*held, None))

    with open_output(target, source, overwrite, size, encoding, audio) as writer:
        def write(graded):
            for rgb, pts in zip(*graded, strict=True):
                writer.write(rgb, pts)
            if on_frames is not None:
                on_frames(len(graded[1]))

        reader, encoder = Stage(read), Sink(write)
        reader.start()
        encoder.start()
        try:
            for frames, stamps, start, after in reader.items():
                encoder.put((render(frames, start, after), stamps))
            encoder.finish()
        except BaseException:
            reader.stop.set()  # the reader stops before its next batch
            if encoder.is_alive():  # the encoder finishes what is queued (two batches at most)
                encoder.queue.put(DONE)
                encoder.join(timeout=30)
            raise  # the writer is aborted and the temporary removed on the way out
    return writer.frames
