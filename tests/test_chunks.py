"""Chunked prediction (vst/chunks.py, vst/io/join.py, vst/engine.py): the joined output equals
one uninterrupted run, an interrupted run resumes where it stopped, workers and Dask give the
same frames."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from tests.helpers import ROOT, compose_config, generator_checkpoint, sample_frame_and_style, shared_file
from vst.chunks import Chunk, plan_chunks


def test_chunks_end_at_the_last_cut_in_their_second_half_and_cover_every_frame():
    shots = [(0, 30), (30, 45), (45, 100), (100, 400), (400, 410)]
    chunks = plan_chunks(shots, 410, 100)
    assert chunks == [Chunk(0, 0, 100), Chunk(1, 100, 200), Chunk(2, 200, 300), Chunk(3, 300, 400),
                      Chunk(4, 400, 410)]
    # a cut in the first half is not taken (too short a chunk): 45 < 50 -> at 100 (a cut too)
    assert plan_chunks([(0, 45), (45, 120)], 120, 100) == [Chunk(0, 0, 100), Chunk(1, 100, 120)]
    assert plan_chunks([(0, 70), (70, 120)], 120, 100) == [Chunk(0, 0, 70), Chunk(1, 70, 120)]
    assert plan_chunks([(0, 5)], 5, 100) == [Chunk(0, 0, 5)]
    for longest in (1, 7, 64):
        chunks = plan_chunks(shots, 410, longest)
        assert chunks[0].start == 0 and chunks[-1].stop == 410
        assert all(a.stop == b.start for a, b in zip(chunks[:-1], chunks[1:], strict=True))
        assert all(0 < c.frames <= longest for c in chunks)


def test_a_clip_of_no_frames_is_one_empty_chunk():
    assert plan_chunks([(0, 0)], 0, 100) == [Chunk(0, 0, 0)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """The first 12 s of band_stage_audio.mp4 (176x144, AAC audio, cuts at frames 32, 109,
    182, 243), copied without re-encoding."""
    source = shared_file("video/band_stage_audio.mp4")
    out = tmp_path_factory.mktemp("clip") / "stage.mp4"
    with av.open(str(source)) as src, av.open(str(out), "w") as dst:
        kept = (src.streams.video[0], src.streams.audio[0])
        streams = {s.index: dst.add_stream_from_template(s) for s in kept}
        for packet in src.demux(*[src.streams[i] for i in streams]):
            if packet.dts is None or packet.dts * packet.time_base >= 12:
                continue
            packet.stream = streams[packet.stream.index]
            dst.mux(packet)
    return out


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """A real global grade without training (the Monge grade onto a still): each shot graded
    by its own statistics, so a chunk graded with another shot's rows would show."""
    _, style = sample_frame_and_style()
    return generator_checkpoint(tmp_path_factory.mktemp("ckpt") / "monge.ckpt", style)


def _predict(ckpt: Path, video: Path, out: Path, *overrides: str) -> Path:
    from vst.predict import predict

    cfg = compose_config("predict", f"ckpt={ckpt}", f"video={video}", f"output={out}", *overrides)
    return predict(cfg)


def _read(path: Path) -> dict:
    with av.open(str(path)) as c:
        frames = [(f.pts, f.to_ndarray(format="rgb24")) for f in c.decode(c.streams.video[0])]
    with av.open(str(path)) as c:
        audio = [bytes(p) for p in c.demux(*c.streams.audio) if p.size]
    return {"pts": [p for p, _ in frames], "rgb": np.stack([f for _, f in frames]), "audio": audio}


@pytest.fixture(scope="module")
def lossless(clip, ckpt, tmp_path_factory) -> dict:
    """One uninterrupted lossless run: the reference every output is compared with."""
    return _read(_predict(ckpt, clip, tmp_path_factory.mktemp("one") / "one.mkv", "codec=ffv1",
                          "chunk_seconds=1000"))


def _same_video(a: Path, b: Path, reference: dict) -> None:
    """b holds a's frames at a's times and a's audio; pixels the same where both are lossless,
    else b within a's own codec noise of the lossless reference (every chunk starts with a
    keyframe: no more than that)."""
    x, y = _read(a), _read(b)
    assert x["pts"] == y["pts"] and len(x["pts"]) == 290
    assert x["audio"] == y["audio"] and len(x["audio"]) > 200
    if a.suffix == b.suffix == ".mkv":  # ffv1 in these tests
        assert np.array_equal(x["rgb"], y["rgb"])
        return
    noise = [np.abs(v["rgb"].astype(int) - reference["rgb"]).mean() for v in (x, y)]
    assert noise[1] <= 1.1 * noise[0] + 0.1, noise


def _left_behind(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("ext, codec", [("mp4", "h264"), ("mkv", "ffv1")])
def test_joined_chunks_equal_one_run(clip, ckpt, lossless, tmp_path, ext, codec):
    """Frame count, every frame's time and the audio packets are those of one run; pixels the
    same (lossless) or within codec noise; the work folder is gone."""
    one = _predict(ckpt, clip, tmp_path / f"one.{ext}", f"codec={codec}", "chunk_seconds=1000")
    many = _predict(ckpt, clip, tmp_path / f"many.{ext}", f"codec={codec}", "chunk_seconds=2")
    _same_video(one, many, lossless)
    assert _left_behind(tmp_path) == []


def test_per_shot_luts_are_the_same_in_chunks(clip, ckpt, tmp_path):
    """grade=lut: the LUTs are fitted once, in the first pass; every chunk applies its shots'."""
    one = _predict(ckpt, clip, tmp_path / "one.mkv", "grade=lut", "codec=ffv1", "chunk_seconds=1000")
    many = _predict(ckpt, clip, tmp_path / "many.mkv", "grade=lut", "codec=ffv1", "chunk_seconds=2")
    x, y = _read(one), _read(many)
    assert x["pts"] == y["pts"] and np.array_equal(x["rgb"], y["rgb"])  # each frame its shot's LUT


def test_a_run_stopped_between_chunks_resumes_from_the_chunks_it_finished(clip, ckpt, lossless, tmp_path,
                                                                          monkeypatch):
    import vst.chunks

    original, graded = vst.chunks.grade_chunk, []

    def stopping(job, grader=None, on_frames=None, plan=None):
        if len(graded) == 2:
            # Ctrl-C between chunks, once the first pass (ahead of the grading) has saved the plan
            deadline = time.time() + 60
            while not (Path(job.plan).parent / "plan.json").exists() and time.time() < deadline:
                time.sleep(0.01)
            raise KeyboardInterrupt
        graded.append(job.chunk.index)
        return original(job, grader, on_frames, plan)

    monkeypatch.setattr(vst.chunks, "grade_chunk", stopping)
    out = tmp_path / "out.mkv"
    with pytest.raises(KeyboardInterrupt):
        _predict(ckpt, clip, out, "codec=ffv1", "chunk_seconds=2")
    work = tmp_path / ".out.mkv.vst-work"
    assert not out.exists() and _left_behind(tmp_path) == [".out.mkv.vst-work"]
    assert sorted(p.name for p in work.glob("chunk_*")) == ["chunk_00000.mkv", "chunk_00001.mkv"]

    graded.clear()
    monkeypatch.setattr(vst.chunks, "grade_chunk", lambda job, grader=None, on_frames=None, plan=None: (
        graded.append(job.chunk.index), original(job, grader, on_frames, plan))[1])
    _predict(ckpt, clip, out, "codec=ffv1", "chunk_seconds=2")
    assert graded and graded[0] == 2 and 0 not in graded and 1 not in graded
    assert np.array_equal(_read(out)["rgb"], lossless["rgb"])
    assert _read(out)["pts"] == lossless["pts"]
    assert _left_behind(tmp_path) == []

    # a run with another setting does not reuse another run's chunks
    with monkeypatch.context() as m:
        m.setattr(vst.chunks, "grade_chunk", stopping)
        graded.clear()
        with pytest.raises(KeyboardInterrupt):
            _predict(ckpt, clip, tmp_path / "again.mkv", "codec=ffv1", "chunk_seconds=2")
    assert len(list((tmp_path / ".again.mkv.vst-work").glob("chunk_*"))) == 2
    graded.clear()
    _predict(ckpt, clip, tmp_path / "again.mkv", "codec=ffv1", "chunk_seconds=2", "size=96")
    assert graded[:3] == [0, 1, 2]  # started afresh


def test_a_chunk_whose_frames_are_not_the_planned_ones_stops_the_run(clip, ckpt, tmp_path, monkeypatch):
    """Should a chunk decode other frames than the first pass found (a file changed under the
    run, a seek that lands elsewhere), the run stops with an error; never a shifted grade."""
    import vst.first_pass
    from vst.errors import VstError

    add = vst.first_pass.FirstPass._add

    def shifted(self, read):
        if len(self.pts) <= 100 < len(self.pts) + len(read.pts):
            read.pts[100 - len(self.pts)] += 1  # the pass finds frame 100 at another time
        return add(self, read)

    monkeypatch.setattr(vst.first_pass.FirstPass, "_add", shifted)
    out = tmp_path / "out.mp4"
    with pytest.raises(VstError, match=r"frames 100\.\. are not the ones found by the first pass"):
        _predict(ckpt, clip, out, "chunk_seconds=2", "batch_size=4")
    # the work folder stays where the plan was saved before the error (the same command resumes)
    assert not out.exists() and set(_left_behind(tmp_path)) <= {".out.mp4.vst-work"}


@pytest.mark.slow
def test_a_kill_inside_a_chunk_loses_only_that_chunk(clip, ckpt, lossless, tmp_path):
    """SIGKILL (no cleanup runs) while a chunk is being written, then the same command: the
    complete chunks are kept, the killed one is graded again, nothing stale is left."""
    out = tmp_path / "out.mp4"
    command = [sys.executable, str(ROOT / "predict.py"), f"ckpt={ckpt}", f"video={clip}",
               f"output={out}", "chunk_seconds=1", "batch_size=1"]
    work = tmp_path / ".out.mp4.vst-work"
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 180
    while time.time() < deadline and not (len(list(work.glob("chunk_*.mp4"))) >= 3
                                          and list(work.glob(".chunk_*.partial.mp4"))
                                          and (work / "plan.json").exists()):  # the pass has ended
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    done = sorted(p.name for p in work.glob("chunk_*.mp4"))
    assert len(done) >= 3 and list(work.glob(".chunk_*.partial.mp4")), "not killed inside a chunk"
    assert not out.exists()
    planned = len(json.loads((work / "plan.json").read_text())["chunks"])

    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{len(done)} of {planned} chunks already graded" in result.stdout + result.stderr
    assert _left_behind(tmp_path) == []  # the killed run's temporaries and locks included
    one = _predict(ckpt, clip, tmp_path / "one.mp4", "chunk_seconds=1000")
    _same_video(one, out, lossless)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["local", "dask"])
def test_workers_give_the_same_frames(clip, ckpt, lossless, tmp_path, engine):
    """workers=2 on this machine (processes) and on a local Dask cluster: the same output as
    one process, frame for frame (lossless, so any misplaced or missing frame shows)."""
    environment = dict(os.environ)
    two = _predict(ckpt, clip, tmp_path / "two.mkv", "codec=ffv1", "chunk_seconds=2", "workers=2",
                   f"engine={engine}")
    # Dask's local cluster sets its workers' OMP_NUM_THREADS=1 (and more) in our environment:
    # undone, or every process started later would run on one thread
    assert dict(os.environ) == environment
    x, y = lossless, _read(two)
    assert x["pts"] == y["pts"] and x["audio"] == y["audio"]
    diff = np.abs(x["rgb"].astype(int) - y["rgb"].astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3  # bf16 on other thread counts: +-1 at most
    assert _left_behind(tmp_path) == []
