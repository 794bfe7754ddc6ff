"""The thread pipeline of prediction: a producer stage and a consumer sink joined to the main
thread by bounded queues, so that decoding, grading and encoding overlap and memory stays flat
whatever the clip length.

    read (Stage, a thread) -> work on the main thread -> encode (Sink, a thread)

One error hand-off: an exception in either thread is kept and raised again in the main thread
(by `Stage.items` once the queue is drained, by `Sink.put` / `Sink.finish`), so the caller's
cleanup (removing a temporary output) runs as for any other error.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

DONE = object()  # the end of a queue


class Stage(threading.Thread):
    """Runs `work(emit)` in a thread; what it emits goes to a bounded queue; errors are kept."""

    def __init__(self, work: Callable, depth: int = 2):
        super().__init__(daemon=True)
        self.work, self.queue, self.error = work, queue.Queue(maxsize=depth), None
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            self.work(self._emit)
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

    def items(self) -> Iterator:
        while (item := self.queue.get()) is not DONE:
            yield item
        if self.error is not None:
            raise self.error


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
