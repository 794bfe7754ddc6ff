"""The video writer and the output of each kind of source, without a model: what goes in comes
out with its timestamps, colour tags, rotation, size and audio; a failed write leaves nothing."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from tests.helpers import ROOT, encode_clip
from vst.errors import VstError
from vst.io import open_frames
from vst.io.output import check_output, open_output
from vst.io.video import probe_video
from vst.io.writer import Encoding, VideoWriter

SAMPLE = ROOT / "samples" / "mountain_walk_2s.mp4"


def _clip_with_audio(path, seconds: float = 1.0):
    """25 fps 64x48 H.264 tagged BT.709, with one AAC stereo track."""
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        v.codec_context.colorspace = v.codec_context.color_primaries = v.codec_context.color_trc = 1
        a = c.add_stream("aac", rate=48000)
        a.layout = "stereo"
        samples = 0
        for i in range(round(25 * seconds)):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 8 * i, np.uint8), format="rgb24")
            frame.pts = i
            c.mux(v.encode(frame))
            while samples < (i + 1) * 48000 // 25:
                chunk = av.AudioFrame.from_ndarray(np.zeros((2, 1024), np.float32), format="fltp",
                                                   layout="stereo")
                chunk.sample_rate, chunk.pts = 48000, samples
                samples += 1024
                c.mux(a.encode(chunk))
        c.mux(v.encode(None))
        c.mux(a.encode(None))


def _copy(source, out, **options) -> int:
    with open_output(out, source, **options) as writer:
        for frames, stamps in source.stream(batch=8):
            for rgb, pts in zip(frames, stamps, strict=True):
                writer.write(rgb, pts)
    return writer.frames


def _stream_facts(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = list(c.decode(s))
        return {"pts": [float(f.pts * f.time_base) for f in frames], "size": (s.width, s.height),
                "colorspace": frames[0].colorspace, "audio": [a.codec_context.name for a in c.streams.audio]}


def test_a_copy_keeps_every_frame_time_tag_and_audio_track(tmp_path):
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    _clip_with_audio(src)
    source = open_frames(src)
    assert _copy(source, out) == 25
    assert _stream_facts(out) == _stream_facts(src)
    assert _audio_packets(out) == _audio_packets(src)  # copied, not re-encoded


def _audio_packets(path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(audio=0) if p.size]


def test_size_sets_the_short_side(tmp_path):
    source = open_frames(SAMPLE)  # 500x280
    with pytest.raises(ValueError, match="frame is 500x280, the stream 250x140"), \
            open_output(tmp_path / "small.mkv", source, size=140, encoding=Encoding("ffv1")) as writer:
        assert (writer.width, writer.height) == (250, 140)
        writer.write(next(source.stream(1)).frames[0], 0)
    assert list(tmp_path.iterdir()) == []  # nothing written, no temporary left


def test_an_output_with_no_frame_never_takes_the_name(tmp_path):
    with pytest.raises(VstError, match="no frame was graded; nothing was written"), \
            open_output(tmp_path / "empty.mp4", open_frames(SAMPLE)):
        pass
    assert list(tmp_path.iterdir()) == []


def test_rotation_is_kept_and_frames_are_turned_back(tmp_path):
    coded = np.zeros((32, 64, 3), np.uint8)
    coded[:8, :16] = 255
    src, out = tmp_path / "turned.mp4", tmp_path / "out.mp4"
    encode_clip(src, [coded] * 3, [0, 1, 2], rotation=90)
    _copy(open_frames(src), out)
    info = probe_video(out)
    assert (info.rotation, info.width, info.height) == (90, 64, 32)
    with av.open(str(out)) as c:
        assert next(c.decode(video=0)).to_ndarray(format="rgb24")[:8, :16].mean() > 200


def test_odd_sides_are_encoded_444_at_their_exact_size(tmp_path):
    info = probe_video(SAMPLE)
    writer = VideoWriter(tmp_path / "odd.mp4", info, size=141)
    rgb = np.zeros((141, 252, 3), np.uint8)
    writer.write(rgb, 0)
    writer.close()
    with av.open(str(tmp_path / "odd.mp4")) as c:
        cc = c.streams.video[0].codec_context
        assert (cc.width, cc.height, cc.pix_fmt) == (252, 141, "yuv444p")


def test_a_10_bit_output_holds_every_pixel_of_every_frame(tmp_path):
    """RGB -> 10-bit YUV in the writer is exact to a code (threaded swscale put stray values
    into the first pixels of some rows at heights such as 280: run to run, up to 125 off)."""
    info = probe_video(SAMPLE)  # 500x280
    rgb = np.random.default_rng(0).integers(0, 256, (280, 500, 3), dtype=np.uint8)
    rgb[:, :100] = 255  # saturated colours, as a strong grade makes them
    rgb[:, 100:200, 0] = 0
    writer = VideoWriter(tmp_path / "out.mkv", info, encoding=Encoding("ffv1"))
    for pts in range(8):
        writer.write(rgb, pts)
    writer.close()
    with av.open(str(tmp_path / "out.mkv")) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv444p10le"
        for frame in c.decode(video=0):
            assert np.abs(frame.to_ndarray(format="rgb24").astype(int) - rgb).max() <= 1


@pytest.mark.parametrize("name, codec, message", [
    ("out.xyz", "auto", "no video container for '.xyz'"),
    ("out.webm", "h264", "a .webm file cannot hold codec=h264"),
    ("out.mp4", "theora", "codec='theora' is unknown"),
    ("mountain_walk_2s.mp4", "auto", "is the input"),
])
def test_an_output_that_cannot_be_written_is_refused_before_any_work(tmp_path, name, codec, message):
    source = open_frames(SAMPLE)
    out = SAMPLE if name == SAMPLE.name else tmp_path / name
    with pytest.raises(VstError, match=message):
        check_output(out, source, overwrite=True, encoding=Encoding(codec))


def test_images_are_written_under_their_names_and_an_error_leaves_nothing(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for name, shade in (("a.png", 10), ("b.jpg", 20), ("b.png", 30)):
        Image.new("RGB", (12, 8), (shade,) * 3).save(folder / name)
    source = open_frames(folder)
    out = tmp_path / "graded"
    assert _copy(source, out) == 3
    assert sorted(p.name for p in out.iterdir()) == [".vst-output", "a.png", "b.jpg.png", "b.png.png"]

    with pytest.raises(RuntimeError), open_output(tmp_path / "broken", source) as writer:
        writer.write(next(source.stream(1)).frames[0], 0)
        raise RuntimeError("the grader failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "graded"]


def test_a_still_is_written_as_one_image(tmp_path):
    source = open_frames(ROOT / "samples" / "in47_360.jpg")
    out = tmp_path / "still.png"
    assert _copy(source, out) == 1
    assert Image.open(out).size == Image.open(source.path).size


def test_timestamps_in_a_fine_time_base_are_written_as_given(tmp_path):
    """A variable frame rate: the writer is handed each frame's own pts, in the source's time base."""
    info = probe_video(SAMPLE)
    stamps = [0, 512, 1536, 1792, 4096]  # time base 1/12800: uneven gaps
    with VideoWriter(tmp_path / "vfr.mkv", info) as writer:
        for pts in stamps:
            writer.write(np.zeros((280, 500, 3), np.uint8), pts)
    times = _stream_facts(tmp_path / "vfr.mkv")["pts"]
    assert times == pytest.approx([float(Fraction(p, 12800)) for p in stamps], abs=1e-3)


def _first_frame(path):
    with av.open(str(path)) as c:
        return next(c.decode(video=0))


def test_prores_keeps_the_bt709_tags(tmp_path):
    src, out = tmp_path / "in.mp4", tmp_path / "out.mov"
    _clip_with_audio(src)  # tagged BT.709 matrix, primaries and transfer
    _copy(open_frames(src), out, encoding=Encoding("prores"))
    frame = _first_frame(out)
    assert (frame.colorspace, frame.color_primaries, frame.color_trc) == (1, 1, 1)


def test_an_rgb_coded_source_is_written_as_yuv_tagged_so(tmp_path):
    """Its "RGB" matrix tag copied onto a YUV stream would make players read YUV as RGB."""
    from tests.helpers import write_clip

    src, out = tmp_path / "rgb.mkv", tmp_path / "out.mp4"
    write_clip(src, list(range(3)), Fraction(1, 25), "libx264rgb", "rgb24")
    assert probe_video(src).colorspace == 0
    _copy(open_frames(src), out)
    frame = _first_frame(out)
    assert frame.colorspace == 6  # BT.601, the matrix it was converted with
    source = _first_frame(src).to_ndarray(format="rgb24").astype(int)
    assert np.abs(frame.to_ndarray(format="rgb24").astype(int) - source).mean() < 3


def test_an_hdr_source_is_graded_with_a_warning(tmp_path, caplog):
    import dataclasses

    info = dataclasses.replace(probe_video(SAMPLE), color_trc=16)
    with caplog.at_level("WARNING"), \
            VideoWriter(tmp_path / "pq.mkv", info, encoding=Encoding("ffv1")) as writer:
        writer.write(np.zeros((280, 500, 3), np.uint8), 0)
    assert "HDR (PQ (SMPTE ST 2084) transfer): vst grades display-referred SDR" in caplog.text
    assert _first_frame(tmp_path / "pq.mkv").color_trc == 16


def _ten_bit_ramp(path, width: int = 400):
    """A grey ramp over about 200 of 10-bit luma's code values on every row (FFV1 4:4:4 10-bit)."""
    ramp = np.linspace(0.30, 0.53, width)
    rgb = np.repeat(np.round(ramp * 65535).astype(np.uint16)[None, :, None], 3, axis=2)
    rgb = np.repeat(rgb, 16, axis=0)
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = width, 16, "yuv444p10le"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb48le")
            frame.pts = i
            c.mux(s.encode(frame))
        c.mux(s.encode(None))


def _luma_levels(path) -> int:
    """Distinct code values of the luma plane on row 8 of the first frame, as stored."""
    frame = _first_frame(path)
    plane = frame.planes[0]
    dtype = np.uint16 if frame.format.components[0].bits > 8 else np.uint8
    row = np.frombuffer(plane, dtype).reshape(plane.height, -1)[8, :plane.width]
    return len(np.unique(row))


def test_a_10_bit_source_keeps_its_levels_by_default_and_h264_says_it_does_not(tmp_path, caplog):
    from tests.helpers import compose_config, generator_checkpoint
    from vst.predict import predict

    src = tmp_path / "ramp.mkv"
    _ten_bit_ramp(src)
    assert probe_video(src).bit_depth == 10
    assert _luma_levels(src) >= 190
    ckpt = generator_checkpoint(tmp_path / "identity.ckpt")
    for name, overrides, codec in (("prores.mov", ["codec=prores"], "prores"),
                                   ("default.mp4", [], "hevc"),  # auto: HEVC 10-bit
                                   ("h264.mp4", ["codec=h264"], "h264"),
                                   ("h264_10.mp4", ["codec=h264", "bit_depth=10"], "h264")):
        out = tmp_path / name
        caplog.clear()
        with caplog.at_level("WARNING"):
            predict(compose_config("predict", f"ckpt={ckpt}", f"video={src}", f"output={out}",
                                   *overrides))
        with av.open(str(out)) as c:
            assert c.streams.video[0].codec_context.name == codec
            if codec == "hevc":
                assert c.streams.video[0].codec_tag == "hvc1"  # plays in Apple's players
        if name == "h264.mp4":
            assert _luma_levels(out) < 100
            assert "10 bits per component; yuv420p output holds 8: depth reduced" in caplog.text
        else:
            assert _luma_levels(out) >= 150
            assert "depth reduced" not in caplog.text
    with pytest.raises(VstError, match="bit_depth=10: codec=vp9 is written at 8 bits here"):
        predict(compose_config("predict", f"ckpt={ckpt}", f"video={src}",
                               f"output={tmp_path / 'x.webm'}", "bit_depth=10"))


def test_a_16_bit_still_is_graded_and_written_at_16_bits(tmp_path):
    import cv2

    from tests.helpers import compose_config, generator_checkpoint
    from vst.predict import predict

    ramp = np.linspace(0.2, 0.4, 600)  # ~13,000 16-bit code values, ~51 of 8 bits
    rgb = np.repeat(np.round(ramp * 65535).astype(np.uint16)[None, :, None], 3, axis=2)
    rgb = np.repeat(rgb, 8, axis=0)
    cv2.imwrite(str(tmp_path / "ramp.png"), rgb)
    out = tmp_path / "graded.png"
    predict(compose_config("predict", f"ckpt={generator_checkpoint(tmp_path / 'id.ckpt')}",
                           f"video={tmp_path / 'ramp.png'}", f"output={out}"))
    graded = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert graded.dtype == np.uint16 and graded.shape == (8, 600, 3)
    assert len(np.unique(graded[4, :, 1])) > 500
    assert np.abs(graded.astype(int) - rgb).max() < 0.002 * 65535  # the identity grade
