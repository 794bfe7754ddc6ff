"""A video is graded in chunks, so that a film survives a crash and spreads over many processes
or machines (av1an's way with encoders):

    one pass over the whole clip (shots, each frame's grade statistics and pts: the `GradePlan`)
    -> chunks at shot cuts, at most `chunk_seconds` long, each graded and encoded into its own
       file in the work folder (any order, any process: `grade_chunk`)
    -> the chunk files joined without re-encoding, the audio muxed once (vst.io.join)

The work folder, `.<output name>.vst-work` beside the output, holds the plan and every chunk
that is complete (each renamed into place only once its frames are counted). A run of the same
command over the same input, checkpoint and settings (`run_identity`) takes up where the last
one stopped; any other run starts afresh. It is removed once the output is complete.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vst.errors import VstError
from vst.io.frames import FrameBatch

log = logging.getLogger("vst")
WORK_MARKER = ".vst-work"  # in every work folder: the only folders vst removes or resumes


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int  # first frame
    stop: int   # one past the last

    @property
    def frames(self) -> int:
        return self.stop - self.start


def chunk_stop(cuts: list[int], start: int, longest: int, frames: int | None) -> int:
    """Where the chunk from frame `start` ends: at the last shot cut in its second half (a cut
    is where a fresh keyframe costs nothing and the grade changes anyway), or, in a shot longer
    than that, at `longest` frames; at the clip's end (`frames`; None = more than `longest` on)
    if that comes first. Only the cuts up to `start + longest` count."""
    if frames is not None and frames - start <= longest:
        return frames
    inside = [c for c in cuts if start + longest // 2 < c <= start + longest]
    return inside[-1] if inside else start + longest


def plan_chunks(shots: list[tuple[int, int]], frames: int, longest: int) -> list[Chunk]:
    """Consecutive chunks covering `frames` frames, each at most `longest` frames (`chunk_stop`)."""
    cuts = sorted({start for start, _ in shots if 0 < start < frames})
    bounds = [0]
    while len(bounds) == 1 or bounds[-1] < frames:
        bounds.append(chunk_stop(cuts, bounds[-1], longest, frames))
    return [Chunk(k, a, b) for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))]


@dataclass
class GradePlan:
    """What every chunk of a video is graded by, found in one pass over the whole clip."""

    pts: list[int]                  # every frame's, as the pass decoded them
    shots: list[tuple[int, int]]
    stats: torch.Tensor             # per frame: what its shot's global transform is chosen by
    boxes: torch.Tensor             # per frame: its shot's picture (vst/picture.py)
    luts: list[np.ndarray] | None   # grade=lut: each shot's LUT, then the whole clip's
    exact_times: bool               # every pts is the file's own: a chunk can seek to its start

    def save(self, path: Path) -> None:
        """Tensors and plain values only, so that loading it runs no pickled code."""
        fields = asdict(self)
        if self.luts is not None:
            fields["luts"] = [torch.from_numpy(np.ascontiguousarray(lut)) for lut in self.luts]
        tmp = path.with_name(f".{path.name}.tmp")
        torch.save(fields, tmp)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> GradePlan:
        fields = torch.load(path, weights_only=True)
        if fields["luts"] is not None:
            fields["luts"] = [lut.numpy() for lut in fields["luts"]]
        return cls(**fields)

    def rows(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames [start, stop)'s shot statistics and pictures."""
        return self.stats[start:stop], self.boxes[start:stop]

    def chunk_frames(self, source, chunk: Chunk, batch: int) -> Iterator[FrameBatch]:
        """The chunk's frames from `source`, checked against the frames the pass found."""
        expected = self.pts[chunk.start:chunk.stop]
        frames = source.stream(batch, chunk.frames, start_pts=expected[0] if chunk.start else None)
        done = yield from found_frames(frames, source, chunk.start, lambda a, b: self.pts[a:b])
        if done != chunk.stop:
            raise VstError(f"{source.what} {str(source.path)!r}: {done - chunk.start} frames decoded "
                           f"from frame {chunk.start} on where the first pass found {chunk.frames} "
                           "(did the file change?)")


def found_frames(batches: Iterator[FrameBatch], source, first: int,
                 pts_of: Callable[[int, int], list[int]]) -> Generator[FrameBatch, None, int]:
    """`batches` (frames `first`, `first` + 1, ... of `source`), each checked to be the frames
    the first pass found there (`pts_of(a, b)`: their pts): any other frame is an error, never
    a silently shifted grade. Returns the index after the last frame."""
    done = first
    for batch in batches:
        if batch.pts != pts_of(done, done + len(batch.pts)):
            raise VstError(f"{source.what} {str(source.path)!r}: frames {done}.. are not the ones "
                           "found by the first pass over it (did the file change?)")
        yield batch
        done += len(batch.pts)
    return done


class FollowedPlan:
    """The plan of a video read while its first pass (vst/first_pass.py) still runs in another
    thread, so that grading follows the pass instead of waiting for its end: a frame's rows
    as soon as its shot is settled, a chunk's end as soon as the cuts it depends on are. The
    chunks and rows are those of the finished pass (`plan_chunks`' rule), except that once
    the pass has met a frame without a time of its own, the chunk being decided runs to the
    end (later chunk starts could not be found by their time)."""

    def __init__(self, first_pass, longest: int | None):
        """longest: the most frames a chunk holds (None: the clip is one chunk)."""
        self.first, self.longest = first_pass, longest
        self._stops: dict[int, int | None] = {}   # chunk start -> stop (None: the clip's end)
        self._lock = threading.Lock()

    def rows(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Frames [start, stop)'s shot statistics and pictures, once their shots are settled."""
        return self.first.rows(start, stop)

    def stop(self, start: int) -> int | None:
        """The end of the chunk from `start`, decided once (None: it runs to the clip's end)."""
        with self._lock:
            if start not in self._stops:
                stop = None
                if self.longest is not None:
                    cuts, frames, repaired = self.first.cuts_through(start + self.longest)
                    stop = None if repaired else chunk_stop(cuts, start, self.longest, frames)
                self._stops[start] = stop
            return self._stops[start]

    def chunks(self) -> list[Chunk]:
        """Every chunk, once the pass is done."""
        frames, chunks = len(self.first.pts), []
        while not chunks or chunks[-1].stop < frames:
            start = chunks[-1].stop if chunks else 0
            chunks.append(Chunk(len(chunks), start, min(self.stop(start) or frames, frames)))
        return chunks

    def plan(self) -> GradePlan:
        found = self.first.result()
        return GradePlan(found.pts, found.shots, found.stats, found.boxes, None, found.exact_times)

    def chunk_frames(self, source, chunk: Chunk, batch: int) -> Iterator[FrameBatch]:
        """The frames of the chunk from `chunk.start` to the stop decided here, checked against
        the frames the pass found (its `stop` field is not read)."""
        start = chunk.start
        frames = source.stream(batch, start_pts=self.first.pts_of(start, start + 1)[0] if start else None)
        done = yield from found_frames(self._inside(frames, start), source, start, self.first.pts_of)
        at_stop = self.longest is not None and done > start + self.longest // 2 and self.stop(start) == done
        if not at_stop and self.first.pts_of(done, done + 1):  # the decoder ended before the clip did
            raise VstError(f"{source.what} {str(source.path)!r}: frames from {start} on end at frame "
                           f"{done} where the first pass found more (did the file change?)")

    def _inside(self, frames: Iterator[FrameBatch], start: int) -> Iterator[FrameBatch]:
        """The batches of `frames` (frames `start`, `start` + 1, ...) up to the chunk's stop."""
        # frames up to here are in the chunk wherever it stops
        sure = sys.maxsize if self.longest is None else start + self.longest // 2
        index = start
        for read in frames:
            keep = len(read.pts)
            if index + keep - 1 > sure and (stop := self.stop(start)) is not None:
                keep = max(0, min(keep, stop - index))
            if keep:
                yield read if keep == len(read.pts) else FrameBatch(read.frames[:keep], read.pts[:keep])
            index += keep
            if keep < len(read.pts):
                return


def file_identity(path: Path) -> dict:
    stat = path.stat()
    return {"path": str(path.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


class WorkFolder:
    """`.<output name>.vst-work` beside the output: plan.json (what the chunks are and what
    they were made from), plan.pt (the `GradePlan`), one file per complete chunk. Used while
    the output is claimed (vst.io.atomic), so no other job touches it meanwhile."""

    def __init__(self, out: Path):
        self.path = out.parent / f".{out.name}.vst-work"
        self.suffix = out.suffix
        self.plan_file, self.meta_file = self.path / "plan.pt", self.path / "plan.json"

    def resume(self, identity: dict) -> tuple[GradePlan, list[Chunk]] | None:
        """The plan and chunks of the last run, if it was the same run; else None, the folder
        emptied for this one. Partial chunk files (a killed run's) are removed."""
        if self.path.exists() and not (self.path / WORK_MARKER).is_file():
            raise VstError(f"{str(self.path)!r} is in the way of vst's work folder and vst did "
                           "not make it: move it away")
        if self.path.is_dir():
            for stale in self.path.glob(".*"):  # unfinished chunks and their locks
                if stale.name != WORK_MARKER:
                    stale.unlink(missing_ok=True)
            try:
                meta = json.loads(self.meta_file.read_text())
                if meta["identity"] == identity:
                    chunks = [Chunk(**c) for c in meta["chunks"]]
                    return GradePlan.load(self.plan_file), chunks
                log.info("the work folder %s is from another input, checkpoint or settings: "
                         "starting afresh", self.path)
            except Exception:  # noqa: BLE001 - a run killed before its plan was saved, a damaged file
                pass
            shutil.rmtree(self.path)
        self.path.mkdir()
        (self.path / WORK_MARKER).write_text("vst's chunks of a graded video: removed when it is "
                                             "complete; the same command resumes from them\n")
        return None

    def save(self, identity: dict, plan: GradePlan, chunks: list[Chunk]) -> None:
        plan.save(self.plan_file)
        tmp = self.path / ".plan.json.tmp"
        tmp.write_text(json.dumps({"identity": identity, "chunks": [asdict(c) for c in chunks]}))
        os.replace(tmp, self.meta_file)

    def chunk_file(self, chunk: Chunk) -> Path:
        return self.path / f"chunk_{chunk.index:05d}{self.suffix}"

    def is_done(self, chunk: Chunk) -> bool:
        from vst.io.video import count_frames

        path = self.chunk_file(chunk)
        return path.is_file() and count_frames(path) == chunk.frames

    def keep_for_resume(self) -> None:
        """After a failure: keep the folder if it holds a plan to resume from (and say so)."""
        if not self.meta_file.is_file():
            self.remove()
            return
        done = len(list(self.path.glob("chunk_*")))  # only complete chunks take these names
        log.warning("kept %s (%d chunk%s graded): the same command resumes from there",
                    self.path, done, "" if done == 1 else "s")

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


# what changes the pixels of a graded chunk: a run differing in any of these starts afresh
GRADE_SETTINGS = ("grade", "size", "work_size", "precision", "accelerator", "channels_last",
                  "codec", "bit_depth", "crf", "preset", "chunk_seconds")


def run_identity(cfg, video: Path, ckpt: Path) -> dict:
    """What a resumed run must share with the one that made the work folder."""
    from vst import __version__

    return {"video": file_identity(video), "ckpt": file_identity(ckpt), "vst": __version__,
            "settings": {key: cfg[key] for key in GRADE_SETTINGS}}


@dataclass(frozen=True)
class ChunkJob:
    """One chunk to grade: everything a fresh process (or another machine) needs, picklable."""

    video: str
    ckpt: str
    grader: dict[str, Any]   # Grader's settings
    grade: str               # network | lut
    encoding: dict[str, Any]
    batch_size: int
    plan: str                # the work folder's plan.pt
    chunk: Chunk
    target: str              # the chunk's file
    threads: int | None      # torch threads (None: as the process has them)


_graders: dict[tuple, Any] = {}


def job_grader(job: ChunkJob):
    """The job's Grader, made once per process (a worker grades chunk after chunk)."""
    from vst.grader import Grader

    key = (job.ckpt, tuple(sorted(job.grader.items())))
    if key not in _graders:
        _graders.clear()
        _graders[key] = Grader(Path(job.ckpt), **job.grader)
    return _graders[key]


def chunk_render(plan, grade: str, grader):
    """A chunk's render (vst.pipeline.grade_stream): its frames graded by the plan's (a
    GradePlan's or a FollowedPlan's) per-shot grade."""
    if grade == "lut":
        from vst.lut import LutRender

        return LutRender(plan.luts, plan.shots, grader)
    from vst.every_third_frame import EveryThirdFrame

    return EveryThirdFrame(grader, plan.rows)


def machine_share() -> int:
    """Torch threads for a chunk graded where no count was given: this process's, or in a Dask
    worker (whose nanny sets one thread) the machine's cores over the worker's threads."""
    if "distributed" not in sys.modules:  # not in a Dask worker (which has it imported)
        return torch.get_num_threads()
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:  # not in a Dask worker
        return torch.get_num_threads()
    return max(1, (os.cpu_count() or 1) // getattr(getattr(worker, "state", worker), "nthreads", 1))


def grade_chunk(job: ChunkJob, grader=None, on_frames=None, plan=None) -> int:
    """Grade and encode one chunk into job.target (renamed into place when complete and
    counted); returns its frame count. grader: this process's, if it has one; on_frames(n):
    progress; plan: a FollowedPlan (the chunk's stop is decided as it goes), else job.plan's."""
    from vst.io import open_frames
    from vst.io.writer import Encoding
    from vst.pipeline import grade_stream

    torch.set_num_threads(job.threads or machine_share())
    grader = grader or job_grader(job)
    plan = plan or GradePlan.load(Path(job.plan))
    source = open_frames(Path(job.video), "video")
    return grade_stream(plan.chunk_frames(source, job.chunk, job.batch_size),
                        chunk_render(plan, job.grade, grader), source, Path(job.target), grader.size,
                        Encoding(**job.encoding), first=job.chunk.start, on_frames=on_frames, audio=False)
