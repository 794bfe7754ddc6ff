"""The first pass over a video: each frame's pts, the statistics its grade is chosen by and its
picture (vst/grader.py, vst/picture.py), and the shots (vst/shots.py); then each frame gets its
shot's mean statistics and picture, so that the global part of the grade is one fixed
transform per shot.

A frame's rows are final once the pass is past the end of its shot (and past the cut
detector's look-back, so that no later frame can move that cut). The pass publishes them as it
goes, so grading can follow it frame by frame in another thread (vst/chunks.py `FollowedPlan`)
instead of waiting for it to end: `rows`, `pts_of` and `cuts_through` wait until what they are
asked for is final, and give exactly what the finished pass gives.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from vst.io.image import to_uint8
from vst.pipeline import read_ahead
from vst.shots import ShotDetector


@dataclass
class ShotPass:
    """What one pass over a whole video found: per frame, the statistics its grade is chosen
    by, its picture box, its pts; and the shots."""

    stats: Any                     # torch.Tensor, frames x 26
    boxes: Any                     # torch.Tensor, frames x 4
    shots: list[tuple[int, int]]   # [start, end) frame ranges
    pts: list[int]
    exact_times: bool              # every pts is the file's own: a frame can be found by its pts


class PassStopped(Exception):
    """Raised to a reader of a first pass that was stopped before it could answer."""


class FirstPass:
    """One pass over `source` (a video) with `grader`: `run` it (in any thread), read it while
    it runs from others."""

    def __init__(self, grader, source, batch: int):
        self.grader, self.source, self.batch = grader, source, batch
        self.detector = ShotDetector()
        hint = source.frames_hint
        self._own_stats, self._own_boxes = Rows(hint), Rows(hint)    # each frame's own
        self._shot_stats, self._shot_boxes = Rows(hint), Rows(hint)  # its shot's: frames [0, final)
        self.pts: list[int] = []
        self.shots: list[tuple[int, int]] = []
        self.final = 0          # frames [0, final) have their shot's rows
        self.settled = 0        # every cut before this frame is known: those in `_cuts`
        self._cuts: list[int] = []
        self.done = False
        self.error: BaseException | None = None
        self._changed = threading.Condition()
        self._stopped = threading.Event()

    def run(self, on_done: Callable[[], None] | None = None) -> ShotPass | None:
        """Make the pass (None if `stop` ended it first); on_done: called when it is complete,
        in this thread, before this returns."""
        from tqdm import tqdm

        try:
            with torch.inference_mode(), tqdm(total=self.source.frames_hint or None, unit="frame",
                                              desc="finding shots", dynamic_ncols=True) as bar:
                for read in read_ahead(self.source.stream(self.batch)):
                    if self._stopped.is_set():
                        return None
                    self._add(read)
                    bar.update(len(read.frames))
                with self._changed:
                    self._settle(self.detector.shots())
                    self.done = True
                    self._changed.notify_all()
            found = self.result()
            if on_done is not None:
                on_done()
            return found
        except BaseException as err:
            with self._changed:
                self.error = err
                self._changed.notify_all()
            raise

    def stop(self) -> None:
        """End the pass before its next batch; readers waiting on it get PassStopped."""
        self._stopped.set()
        with self._changed:
            self._changed.notify_all()

    def _add(self, read) -> None:
        small, boxes = self.grader.looked_at(read.frames)
        stats = self.grader.generator.frame_stats(small, self.grader.work_size)
        for rgb in to_uint8(read.frames):
            self.detector.add(rgb)
        settled, cuts = self.detector.settled()
        with self._changed:
            self._own_stats.add(stats)
            self._own_boxes.add(boxes)
            self.pts.extend(read.pts)
            self.settled, self._cuts = settled, cuts
            self._settle([(a, b) for a, b in zip([0, *cuts], cuts, strict=False)])
            self._changed.notify_all()

    def _settle(self, shots: list[tuple[int, int]]) -> None:
        """Give the frames of each shot not yet settled the shot's mean statistics (of the
        frames that are not blank) and the union of its pictures (blank frames: none)."""
        from vst.picture import union_box

        for start, end in shots:
            if end <= self.final:
                continue
            if start != self.final:  # the detector moved a cut it had settled: a bug, never a shifted row
                raise RuntimeError(f"first pass: shot {start}..{end} does not follow frame {self.final}")
            stats, boxes = self._own_stats.data[start:end], self._own_boxes.data[start:end]
            seen = (boxes[:, 1] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 2])
            mean = stats[seen if seen.any() else slice(None)].mean(0)
            self._shot_stats.add(mean.expand_as(stats))
            self._shot_boxes.add(union_box(boxes) * seen[:, None])
            self.shots.append((start, end))
            self.final = end

    def _wait(self, ready: Callable[[], bool]) -> None:
        """Wait (holding the lock) until `ready()` or the pass is done; its error raised here."""
        while not (ready() or self.done):
            if self.error is not None:
                raise self.error
            if self._stopped.is_set():
                raise PassStopped
            self._changed.wait(timeout=1)
        if self.error is not None:
            raise self.error

    def rows(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames [start, stop)'s shot statistics and pictures, once their shots are settled."""
        with self._changed:
            self._wait(lambda: self.final >= stop)
            return self._shot_stats.data[start:stop].clone(), self._shot_boxes.data[start:stop].clone()

    def pts_of(self, start: int, stop: int) -> list[int]:
        """The pts of frames [start, stop) (fewer where the clip ends before)."""
        with self._changed:
            self._wait(lambda: len(self.pts) >= stop)
            return self.pts[start:stop]

    def cuts_through(self, frame: int) -> tuple[list[int], int | None, bool]:
        """Once every cut up to `frame` is known: the cuts known, the clip's frame count (None
        while the pass runs) and whether a frame so far lacked a time of its own."""
        with self._changed:
            self._wait(lambda: self.settled > frame)
            if self.done:
                return [start for start, _ in self.shots[1:]], len(self.pts), self.source.pts_repaired
            return list(self._cuts), None, self.source.pts_repaired

    def result(self) -> ShotPass:
        """The whole pass, once it is done."""
        with self._changed:
            return ShotPass(self._shot_stats.tensor(), self._shot_boxes.tensor(), list(self.shots),
                            list(self.pts), exact_times=not self.source.pts_repaired)


class Rows:
    """A table filled batch by batch into one tensor that doubles when full. (Kept as one small
    tensor per batch, the rows pin the allocator's heap between the frames' big temporaries:
    the first pass over a clip grew by ~50 KB a frame.)"""

    def __init__(self, expected: int = 0):
        self.expected, self.data, self.count = max(expected, 256), None, 0

    def add(self, rows: torch.Tensor) -> None:
        """rows: a batch's (n x width); the first batch sets the width and dtype."""
        if self.data is None:
            self.data = torch.empty(self.expected, *rows.shape[1:], dtype=rows.dtype)  # on the CPU
        end = self.count + len(rows)
        if end > len(self.data):
            grown = self.data.new_empty(max(2 * len(self.data), end), *self.data.shape[1:])
            grown[:self.count] = self.data[:self.count]
            self.data = grown
        self.data[self.count:end] = rows
        self.count = end

    def tensor(self) -> torch.Tensor:
        return torch.empty(0, 0) if self.data is None else self.data[:self.count].clone()
