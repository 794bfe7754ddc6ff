"""predict.py end to end on real clips from ../shared: timing, audio, colour, bad input."""

from __future__ import annotations

import hashlib
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import (
    ROOT,
    TINY,
    assert_user_error,
    compose_config,
    encode_clip,
    run_cli,
    shared_file,
    write_clip,
)
from vst.checkpoint import GRADE_FORMAT
from vst.models.hrnet import HRNet


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """A tiny checkpoint trained in the test (4 steps, 48 px, random VGG)."""
    video, style = shared_file("video/mountain_walk.mp4"), shared_file("style/in47.png")
    run_dir = tmp_path_factory.mktemp("train")
    result = run_cli("train.py", f"video={video}", f"style={style}", *TINY, "trainer.max_steps=4",
                     "log.val_every=2", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir / "best.ckpt"


@pytest.fixture(scope="module")
def identity_ckpt(tmp_path_factory) -> Path:
    """An untrained generator: its output head is zero, so output = input (within 1e-4)."""
    path = tmp_path_factory.mktemp("identity") / "identity.ckpt"
    state = {f"generator.{k}": v for k, v in HRNet().state_dict().items()}
    torch.save({"state_dict": state, "vst": {"model": {"name": "hrnet"}, "train_size": 64,
                                             "grade_format": GRADE_FORMAT}}, path)
    return path


def _probe(path: Path) -> dict:
    audio = {}
    with av.open(str(path)) as c:  # a fresh open per pass: seeking back can skip packets
        for s in c.streams.audio:
            audio[s.index] = []
        for p in c.demux(*c.streams.audio) if audio else ():
            if p.size:
                audio[p.stream.index].append(bytes(p))
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        packets = [p for p in c.demux(v) if p.size]
        stamps = sorted(p.pts for p in packets)
        return {
            "format": c.format.name, "frames": len(packets), "rate": v.average_rate,
            "size": (v.codec_context.width, v.codec_context.height),
            "start": float(stamps[0] * v.time_base),
            "end": float((stamps[-1] + packets[-1].duration) * v.time_base),
            "audio": [(s.codec_context.name, s.codec_context.channels) for s in c.streams.audio],
            "audio_md5": [hashlib.md5(b"".join(a)).hexdigest() for a in audio.values()],
        }


def _predict(ckpt: Path, video: Path, out: Path, *extra: str):
    result = run_cli("predict.py", f"ckpt={ckpt}", f"video={video}", f"output={out}", *extra)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"-> {out}" in result.stdout  # the one-line summary names the output
    return result


@pytest.mark.slow
def test_720p_aac51_keeps_frames_rate_size_and_audio_packets(ckpt, tmp_path):
    video = shared_file("video/bigbuckbunny_720p_aac51.mp4")
    out = tmp_path / "bbb.mp4"
    _predict(ckpt, video, out)
    src, dst = _probe(video), _probe(out)
    assert dst["frames"] == 132 and dst["rate"] == 25 and dst["size"] == (1280, 720)
    assert dst["audio"] == [("aac", 6)]
    assert dst["audio_md5"] == src["audio_md5"]  # copied packet for packet, not re-encoded
    assert abs((dst["end"] - dst["start"]) - (src["end"] - src["start"])) <= 1 / 25
    assert not list(tmp_path.glob(".*partial*"))


def _frame_times(path: Path) -> list[float]:
    """Every decoded frame's presentation time in seconds, as a player shows it."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        return [round(float(f.pts * v.time_base), 6) for f in c.decode(v)]


@pytest.mark.slow
@pytest.mark.parametrize("ext", ["mov", "mkv", "webm", "avi"])
def test_other_containers_round_trip(ckpt, tmp_path, ext):
    video = shared_file(f"video/formats/demo.{ext}")
    out = tmp_path / f"demo.{ext}"
    _predict(ckpt, video, out, "batch_size=16")
    src, dst = _probe(video), _probe(out)
    assert dst["format"] == src["format"]
    assert dst["frames"] == src["frames"] == 1441
    assert len(dst["audio"]) == 1 and dst["audio_md5"] == src["audio_md5"]
    if ext != "avi":  # AVI keeps no presentation times: FFmpeg guesses them on reading
        # every frame at its own time, so the copied audio stays in sync (mkv: B-frames, a
        # first packet at pts 0 without dts, once dropped and every frame shown one late)
        assert _frame_times(out) == _frame_times(video)


@pytest.mark.slow
def test_1080p_round_trip_at_full_size(ckpt, tmp_path):
    video = shared_file("video/kenburns_1080p_3shots_audio.mp4")
    out = tmp_path / "kb.mp4"
    _predict(ckpt, video, out, "preset=ultrafast")
    src, dst = _probe(video), _probe(out)
    assert (dst["frames"], dst["rate"], dst["size"]) == (288, 24, (1920, 1080))
    assert dst["audio_md5"] == src["audio_md5"]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / max(mse, 1e-10)))


def test_identity_generator_reproduces_the_input(identity_ckpt, tmp_path):
    """No colour-matrix, range or off-by-one-frame mistakes: PSNR > 35 dB frame by frame."""
    import decord

    video = shared_file("video/bikes_6shots.mp4")
    out = tmp_path / "bikes.mp4"
    _predict(identity_ckpt, video, out, "crf=12")
    src, dst = decord.VideoReader(str(video)), decord.VideoReader(str(out))
    assert len(dst) == len(src) == 250
    for i in (0, 1, 60, 124, 200, 249):
        a, b = src[i].asnumpy(), dst[i].asnumpy()
        assert _psnr(a, b) > 35, (i, _psnr(a, b))
        if i + 1 < len(src):  # the neighbour frame is clearly worse: frames are not shifted
            assert _psnr(src[i + 1].asnumpy(), b) < _psnr(a, b) - 3


def test_still_and_folder_of_frames(ckpt, tmp_path):
    still = tmp_path / "photo.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (37, 51, 3), np.uint8)).save(still)
    result = run_cli("predict.py", f"ckpt={ckpt}", f"video={still}")
    assert result.returncode == 0, result.stderr[-3000:]
    graded = ckpt.parent / "photo_vst.png"  # default: beside the checkpoint
    assert Image.open(graded).size == (51, 37)

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in (1, 2, 10):
        Image.fromarray(np.full((20, 30, 3), 20 * i, np.uint8)).save(frames / f"f_{i}.png")
    out = tmp_path / "graded"
    _predict(ckpt, frames, out)
    assert sorted(p.name for p in out.iterdir()) == [".vst-output", "f_1.png", "f_10.png", "f_2.png"]


def test_a_crash_leaves_no_file_at_the_output(ckpt, tmp_path, monkeypatch):
    from vst import predict as predict_module

    calls = []

    def failing(self, frames, *args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, frames, *args)

    original = predict_module.Grader.__call__
    monkeypatch.setattr(predict_module.Grader, "__call__", failing)
    cfg = compose_config("predict")
    out = tmp_path / "out.mp4"
    cfg.ckpt, cfg.video, cfg.output = str(ckpt), str(shared_file("video/mountain_walk.mp4")), str(out)
    with pytest.raises(KeyboardInterrupt):
        predict_module.predict(cfg)
    assert len(calls) == 3
    # neither the output nor a temporary file: the work folder alone, to resume from
    assert [p.name for p in tmp_path.iterdir()] == [".out.mp4.vst-work"]
    assert not list((tmp_path / ".out.mp4.vst-work").glob(".*partial*"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread's own priority is Linux's")
def test_the_first_pass_runs_below_the_encoder(identity_ckpt, tmp_path, monkeypatch):
    """The first pass, which grading follows, yields the cores to the encoder as the grading
    does (vst.pipeline.below_the_encoder); the caller's own priority is left as it was."""
    import os
    import threading

    from vst import first_pass
    from vst import predict as predict_module

    seen, original = [], first_pass.FirstPass._add

    def spy(self, read):
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return original(self, read)

    monkeypatch.setattr(first_pass.FirstPass, "_add", spy)
    cfg = compose_config("predict")
    cfg.ckpt, cfg.output = str(identity_ckpt), str(tmp_path / "out.mp4")
    cfg.video = str(ROOT / "samples" / "mountain_walk_2s.mp4")
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    predict_module.predict(cfg)
    assert seen and set(seen) == {19}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before


def test_a_file_missing_frames_never_takes_the_output_name(identity_ckpt, tmp_path, monkeypatch):
    """The encoded file is counted before the rename: one that holds fewer frames than were
    graded (a muxer that dropped some) is refused and removed."""
    from vst import predict as predict_module
    from vst.errors import VstError
    from vst.io import video

    monkeypatch.setattr(video, "count_frames", lambda path: 49)
    cfg = compose_config("predict")
    out = tmp_path / "out.mp4"
    cfg.ckpt, cfg.output = str(identity_ckpt), str(out)
    cfg.video = str(ROOT / "samples" / "mountain_walk_2s.mp4")
    with pytest.raises(VstError, match="holds 49 of the 50 frames"):
        predict_module.predict(cfg)
    assert [p.name for p in tmp_path.iterdir()] == [".out.mp4.vst-work"]  # no output, no temporary
    assert not list((tmp_path / ".out.mp4.vst-work").glob("*chunk*"))


def test_any_damaged_checkpoint_is_a_clear_error(identity_ckpt, tmp_path):
    """Random bytes make the unpickler raise all sorts of exceptions; each must become a VstError."""
    from vst.checkpoint import load_generator
    from vst.errors import VstError

    rng = np.random.default_rng(1)
    whole = identity_ckpt.read_bytes()
    payloads = [rng.bytes(int(n)) for n in rng.integers(1, 4000, 40)]
    payloads += [whole[:n] for n in (10, len(whole) // 2, len(whole) - 10)]
    for i, payload in enumerate(payloads):
        path = tmp_path / f"damaged{i}.ckpt"
        path.write_bytes(payload)
        with pytest.raises(VstError, match="not a readable checkpoint"):
            load_generator(path)


@pytest.mark.parametrize("case", ["missing_ckpt", "corrupt_ckpt", "foreign_ckpt", "wrong_weights",
                                  "older_grade", "zero_byte_video", "truncated_video", "not_a_video",
                                  "output_exists", "output_folder_missing", "bad_extension",
                                  "codec_container_mismatch", "output_is_input",
                                  "corrupt_first_frames", "output_is_a_folder", "number_as_path",
                                  "list_as_path", "unquoted_non_ascii"])
def test_bad_input_stops_with_one_clear_line(case, ckpt, tmp_path):
    video = shared_file("video/mountain_walk.mp4")
    (tmp_path / "corrupt.ckpt").write_bytes(np.random.default_rng(0).bytes(2000))
    torch.save({"state_dict": {"layer.weight": torch.zeros(3)}}, tmp_path / "foreign.ckpt")
    torch.save({"state_dict": {"generator.x": torch.zeros(3)}, "vst": {"model": {"name": "hrnet"},
                                                                   "grade_format": GRADE_FORMAT}},
               tmp_path / "wrong.ckpt")
    old = torch.load(ckpt, weights_only=True)
    old["vst"].pop("grade_format")  # as the vst before the rescaled statistics wrote it
    torch.save(old, tmp_path / "old.ckpt")
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "cut.mp4").write_bytes(video.read_bytes()[: video.stat().st_size // 3])
    (tmp_path / "text.mp4").write_text("not a video")
    (tmp_path / "exists.mp4").write_bytes(b"precious")
    (tmp_path / "folder.mp4").mkdir()
    _corrupt_first_packets(video, tmp_path / "damaged.mp4")
    out = tmp_path / "out.mp4"
    args, needles = {
        "missing_ckpt": ([f"ckpt={tmp_path / 'nope.ckpt'}", f"video={video}"], ["nope.ckpt"]),
        "corrupt_ckpt": ([f"ckpt={tmp_path / 'corrupt.ckpt'}", f"video={video}"],
                         ["corrupt.ckpt", "not a readable checkpoint"]),
        "foreign_ckpt": ([f"ckpt={tmp_path / 'foreign.ckpt'}", f"video={video}"],
                         ["foreign.ckpt", "not a vst checkpoint"]),
        "wrong_weights": ([f"ckpt={tmp_path / 'wrong.ckpt'}", f"video={video}"],
                          ["wrong.ckpt", "do not fit"]),
        "older_grade": ([f"ckpt={tmp_path / 'old.ckpt'}", f"video={video}"],
                        ["old.ckpt", "older vst", "train it again"]),
        "zero_byte_video": ([f"ckpt={ckpt}", f"video={tmp_path / 'empty.mp4'}"],
                            ["empty.mp4", "empty"]),
        "truncated_video": ([f"ckpt={ckpt}", f"video={tmp_path / 'cut.mp4'}"],
                            ["cut.mp4", "not a readable video"]),
        "not_a_video": ([f"ckpt={ckpt}", f"video={tmp_path / 'text.mp4'}"], ["text.mp4"]),
        "output_exists": ([f"ckpt={ckpt}", f"video={video}", f"output={tmp_path / 'exists.mp4'}"],
                          ["exists.mp4", "already exists", "overwrite=true"]),
        "output_folder_missing": ([f"ckpt={ckpt}", f"video={video}",
                                   f"output={tmp_path / 'no' / 'out.mp4'}"], ["does not exist"]),
        "bad_extension": ([f"ckpt={ckpt}", f"video={video}", f"output={tmp_path / 'out.txt'}"],
                          ["out.txt", ".txt"]),
        "codec_container_mismatch": ([f"ckpt={ckpt}", f"video={video}", f"output={out}",
                                      "codec=prores"], ["prores"]),
        "output_is_input": ([f"ckpt={ckpt}", f"video={video}", f"output={video}",
                             "overwrite=true"], ["is the input"]),
        "corrupt_first_frames": ([f"ckpt={ckpt}", f"video={tmp_path / 'damaged.mp4'}"],
                                 ["damaged.mp4", "first frame could not be decoded"]),
        "output_is_a_folder": ([f"ckpt={ckpt}", f"video={video}", f"output={tmp_path / 'folder.mp4'}",
                                "overwrite=true"], ["folder.mp4", "is an existing folder"]),
        "number_as_path": ([f"ckpt={ckpt}", "video=0.10"], ["video=0.1", "was read as a float",
                                                             "quotes"]),
        "list_as_path": ([f"ckpt={ckpt}", "video=[a.mp4,b.mp4]"], ["was read as a list"]),
        "unquoted_non_ascii": ([f"ckpt={ckpt}", f"video={tmp_path / 'vidéo.mp4'}"],
                               ["vidéo.mp4", "quotes", "README"]),
    }[case]
    before = sorted(tmp_path.iterdir())
    result = run_cli("predict.py", *args)
    assert_user_error(result, *needles)
    assert sorted(tmp_path.iterdir()) == before  # nothing written
    assert (tmp_path / "exists.mp4").read_bytes() == b"precious"


def _corrupt_first_packets(video: Path, out: Path) -> None:
    """A copy of `video` whose first two video packets are noise (their headers kept)."""
    data = bytearray(video.read_bytes())
    with av.open(str(video)) as c:
        packets = [p for _, p in zip(range(2), c.demux(video=0), strict=False)]
    rng = np.random.default_rng(0)
    for p in packets:
        data[p.pos + 4: p.pos + p.size] = rng.integers(0, 256, p.size - 4, np.uint8).tobytes()
    out.write_bytes(bytes(data))


def test_overwrite_true_replaces_an_existing_output(ckpt, tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"old")
    _predict(ckpt, shared_file("video/mountain_walk.mp4"), out, "overwrite=true")
    assert _probe(out)["frames"] == 250


def test_variable_frame_rate_timestamps_are_kept(ckpt, tmp_path):
    """A clip whose frame durations vary keeps every timestamp."""
    src = tmp_path / "vfr.mp4"
    stamps = [0, 1, 2, 4, 5, 8, 9, 10, 14, 15]  # in 1/25 s
    encode_clip(src, [np.full((48, 64, 3), 20 * i, np.uint8) for i in range(10)], stamps)
    out = tmp_path / "out.mp4"
    _predict(ckpt, src, out)

    def times(path):
        with av.open(str(path)) as c:
            v = c.streams.video[0]
            return sorted(round(float(f.pts * v.time_base), 4) for f in c.decode(v))

    assert times(out) == times(src) == [t / 25 for t in stamps]


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_rotation_metadata_and_orientation_are_kept(identity_ckpt, tmp_path, rotation):
    """decord hands out upright frames; the output keeps coded orientation and the tag."""
    coded = np.zeros((32, 64, 3), np.uint8)
    coded[:8, :16] = 255  # a mark in the coded top-left corner
    src = tmp_path / "rot.mp4"
    encode_clip(src, [coded] * 3, [0, 1, 2], rotation=rotation)
    out = tmp_path / "out.mp4"
    _predict(identity_ckpt, src, out)
    with av.open(str(out)) as c:
        first = next(c.decode(video=0))
        assert abs(first.rotation) == abs(rotation) and (first.width, first.height) == (64, 32)
        picture = first.to_ndarray(format="rgb24")
    assert picture[:8, :16].mean() > 200 and picture[16:, 32:].mean() < 30


@pytest.mark.slow
def test_audio_is_reencoded_only_when_the_container_refuses_it(ckpt, tmp_path):
    """Opus cannot go into .mov: it is re-encoded to AAC, and the user is told."""
    out = tmp_path / "demo.mov"
    result = _predict(ckpt, shared_file("video/formats/demo.webm"), out, "size=64", "batch_size=16")
    assert "re-encoded" in result.stdout + result.stderr
    assert _probe(out)["audio"] == [("aac", 2)]


def test_sigterm_leaves_no_file_behind(ckpt, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "kb.mp4"
    proc = subprocess.Popen([sys.executable, str(ROOT / "predict.py"), f"ckpt={ckpt}",
                             f"video={shared_file('video/kenburns_1080p_3shots_audio.mp4')}",
                             f"output={out}"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    work = tmp_path / ".kb.mp4.vst-work"
    deadline = time.time() + 120
    while time.time() < deadline and not (list(work.glob(".*partial*")) and (work / "plan.json").exists()):
        time.sleep(0.2)  # wait until it is writing a chunk and the first pass has saved the plan
    assert list(work.glob(".*partial*")), "predict never started writing"
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr[-2000:]
    assert "the same command resumes from there" in stdout + stderr
    assert [p.name for p in tmp_path.iterdir()] == [".kb.mp4.vst-work"]  # the work folder alone
    assert not list((tmp_path / ".kb.mp4.vst-work").glob(".*partial*"))


@pytest.mark.parametrize("name, stamps, time_base, codec, pix_fmt", [
    ("vfr.mkv", [0, 40, 80, 160, 200, 320, 360, 400, 560, 600], Fraction(1, 1000), "libx264", "yuv420p"),
    ("bframes.mp4", list(range(40)), Fraction(1, 25), "libx264", "yuv420p"),
    ("hevc10.mkv", list(range(30)), Fraction(1, 25), "libx265", "yuv420p10le"),
    ("late_start.mov", list(range(7, 37)), Fraction(1, 25), "libx264", "yuv420p"),
])
def test_every_frame_keeps_its_time(identity_ckpt, tmp_path, name, stamps, time_base, codec, pix_fmt):
    src = tmp_path / name
    write_clip(src, stamps, time_base, codec, pix_fmt)
    out = tmp_path / f"out{src.suffix}"
    _predict(identity_ckpt, src, out)
    times = _frame_times(src)
    assert len(times) == len(stamps)
    assert _frame_times(out) == times


def test_odd_sizes_are_kept_exactly(identity_ckpt, tmp_path):
    """4:2:0 cannot hold 501x281: the frame is encoded 4:4:4, not padded to 502x282."""
    src = tmp_path / "odd.mkv"
    write_clip(src, list(range(5)), Fraction(1, 25), "ffv1", "yuv444p", size=(501, 281))
    for out, codec, pix_fmt in ((tmp_path / "odd.mp4", "auto", "yuv444p"),
                                (tmp_path / "odd.mov", "prores", "yuv444p12le")):  # 4444 decodes 12-bit
        result = _predict(identity_ckpt, src, out, f"codec={codec}")
        assert "4:4:4" in result.stdout + result.stderr
        with av.open(str(out)) as c:
            cc = c.streams.video[0].codec_context
            assert (cc.width, cc.height, cc.pix_fmt) == (501, 281, pix_fmt)
            graded = next(c.decode(video=0)).to_ndarray(format="rgb24")
        with av.open(str(src)) as c:
            source = next(c.decode(video=0)).to_ndarray(format="rgb24")
        assert _psnr(source, graded) > 35


def test_the_same_video_stream_is_read_everywhere(identity_ckpt, tmp_path):
    """Two video streams: FFmpeg's best one (here the first, 40 frames) is graded whole and
    named in the log; decord, left to itself, would pick the other."""
    src = tmp_path / "two.mp4"
    write_clip(src, list(range(40)), Fraction(1, 25), size=(96, 64), streams=2)
    out = tmp_path / "out.mp4"
    import decord

    assert len(decord.VideoReader(str(src))) != 40  # the file where the choice matters
    result = _predict(identity_ckpt, src, out)
    assert "2 video streams: reading stream #0" in result.stdout + result.stderr
    with av.open(str(out)) as c:
        assert len(c.streams.video) == 1
        assert (c.streams.video[0].frames, c.streams.video[0].codec_context.width) == (40, 96)


def test_a_gif_is_graded(identity_ckpt, tmp_path):
    src = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (40, 30), (60 * i, 20, 200)) for i in range(4)]
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=100)
    out = tmp_path / "anim.mp4"
    _predict(identity_ckpt, src, out)
    assert _frame_times(out) == [0.0, 0.1, 0.2, 0.3]


def test_images_with_the_same_stem_are_all_graded(identity_ckpt, tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    Image.new("RGB", (32, 24), (200, 0, 0)).save(frames / "x.jpg", quality=95)
    Image.new("RGB", (32, 24), (0, 200, 0)).save(frames / "x.png")
    Image.new("RGB", (32, 24), (0, 0, 200)).save(frames / "y.png")
    out = tmp_path / "graded"
    _predict(identity_ckpt, frames, out)
    assert sorted(p.name for p in out.iterdir()) == [".vst-output", "x.jpg.png", "x.png.png", "y.png"]
    assert np.asarray(Image.open(out / "x.jpg.png"))[0, 0, 0] > 150
    assert np.asarray(Image.open(out / "x.png.png"))[0, 0, 1] > 150


def test_a_folder_output_never_replaces_the_input_or_what_vst_did_not_write(identity_ckpt, tmp_path):
    proj = tmp_path / "proj"
    (proj / "frames").mkdir(parents=True)
    for i in range(3):
        Image.new("RGB", (32, 24), (40 * i, 0, 0)).save(proj / "frames" / f"f_{i}.png")
    (proj / "notes.txt").write_text("keep")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    # the command that once deleted all of proj/
    result = run_cli("predict.py", f"ckpt={identity_ckpt}", f"video={proj / 'frames'}",
                     f"output={proj}", "overwrite=true")
    assert_user_error(result, "holds the input")
    other = tmp_path / "other"
    other.mkdir()
    (other / "mine.txt").write_text("keep")
    result = run_cli("predict.py", f"ckpt={identity_ckpt}", f"video={proj / 'frames'}",
                     f"output={other}", "overwrite=true")
    assert_user_error(result, "vst did not write")
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == sorted(
        [*before, Path("other"), Path("other/mine.txt")])
    assert (proj / "notes.txt").read_text() == "keep"
    graded = tmp_path / "graded"  # a folder vst wrote is replaced whole on request
    _predict(identity_ckpt, proj / "frames", graded)
    (graded / "f_9.png").write_bytes(b"stale")
    _predict(identity_ckpt, proj / "frames", graded, "overwrite=true")
    assert sorted(p.name for p in graded.iterdir()) == [".vst-output", "f_0.png", "f_1.png", "f_2.png"]


@pytest.mark.slow
def test_two_predicts_to_one_output_leave_the_whole_file_of_the_one_that_succeeded(ckpt, tmp_path):
    import subprocess
    import sys
    import time

    out = tmp_path / "out.mp4"
    first = subprocess.Popen([sys.executable, str(ROOT / "predict.py"), f"ckpt={ckpt}",
                              f"video={shared_file('video/mountain_walk.mp4')}", f"output={out}"],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (tmp_path / ".out.mp4.vst-lock").exists():
        time.sleep(0.1)
    second = run_cli("predict.py", f"ckpt={ckpt}", f"video={shared_file('video/formats/demo.mkv')}",
                     f"output={out}", "overwrite=true")
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr[-2000:]
    if second.returncode == 0:  # it started after the first had finished: then it replaced it whole
        assert _probe(out)["frames"] == 1441
    else:
        assert_user_error(second, "being written by another vst job")
        assert _probe(out)["frames"] == 250 and _probe(out)["size"] == (500, 280)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_a_planted_symlink_is_not_followed(identity_ckpt, tmp_path):
    victim = tmp_path / "victim.mp4"
    victim.write_bytes(b"precious")
    (tmp_path / ".out.partial.mp4").symlink_to(victim)  # the old fixed temporary name
    out = tmp_path / "out.mp4"
    _predict(identity_ckpt, ROOT / "samples" / "mountain_walk_2s.mp4", out)
    assert victim.read_bytes() == b"precious"
    assert _probe(out)["frames"] == 50


def test_a_full_disk_is_one_line_and_leaves_nothing(identity_ckpt, full_disk):
    out = full_disk / "out.mp4"
    result = run_cli("predict.py", f"ckpt={identity_ckpt}",
                     f"video={shared_file('video/mountain_walk.mp4')}", f"output={out}", "crf=0")
    assert_user_error(result, "out.mp4", "no space left")
    # no output, no temporary; the work folder at most (what was graded, kept for a re-run)
    assert [p.name for p in full_disk.iterdir()] in ([], [".out.mp4.vst-work"])
    assert not list(full_disk.glob(".out.mp4.vst-work/.*partial*"))


def test_frames_larger_than_1080p_go_fewer_at_a_time():
    """Each batch also waits in the reader's and the encoder's queues: a batch holds at most
    four 1080p frames' worth of pixels (one 4K frame)."""
    from types import SimpleNamespace

    from vst.predict import frames_per_batch

    def clip(width, height):
        return SimpleNamespace(info=SimpleNamespace(width=width, height=height))

    assert frames_per_batch(4, clip(1920, 1080)) == 4
    assert frames_per_batch(8, clip(1920, 1080)) == 4
    assert frames_per_batch(16, clip(1280, 720)) == 9
    assert frames_per_batch(4, clip(3840, 2160)) == 1
    assert frames_per_batch(2, clip(8192, 4320)) == 1  # never none
    assert frames_per_batch(3, SimpleNamespace()) == 3  # stills: as configured
