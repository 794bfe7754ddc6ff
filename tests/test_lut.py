"""LUT export (python -m vst.lut): .cube files a colourist's tools read the same way vst does,
one per shot, with honest fit errors in luts.json."""

from __future__ import annotations

import json
from fractions import Fraction

import av
import numpy as np
import pytest

from tests.helpers import ROOT, compose_config, encode_clip, generator_checkpoint
from vst.errors import VstError
from vst.io.cube import read_cube
from vst.io.video import probe_video
from vst.metrics.lut import apply_lut

SAMPLE = ROOT / "samples" / "mountain_walk_2s.mp4"
STILL = ROOT / "samples" / "in47_360.jpg"


@pytest.fixture(scope="module")
def monge_ckpt(tmp_path_factory):
    """The Monge grade onto the sample still: a global grade, so a LUT should hold it."""
    from vst.io.image import load_image

    return generator_checkpoint(tmp_path_factory.mktemp("monge") / "monge.ckpt", load_image(STILL)[None])


def _export(ckpt, video, out, *overrides):
    from vst.lut import export

    export(compose_config("lut", f"ckpt={ckpt}", f"video={video}", f"output={out}", *overrides))
    return json.loads((out / "luts.json").read_text())


def test_the_identity_grade_exports_the_identity_cube_red_fastest(tmp_path):
    ckpt = generator_checkpoint(tmp_path / "identity.ckpt")
    report = _export(ckpt, SAMPLE, tmp_path / "luts", "size=17")
    (entry,) = report["luts"]
    assert entry["file"] == "mountain_walk_2s_shot001.cube"
    assert (entry["first_frame"], entry["last_frame"]) == (0, 49)
    assert (entry["timecode_in"], entry["timecode_out"]) == ("00:00:00:00", "00:00:01:24")  # 25 fps
    cube = tmp_path / "luts" / entry["file"]
    grid = np.linspace(0, 1, 17)
    identity = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), -1)
    np.testing.assert_allclose(read_cube(cube), identity, atol=1e-4)
    lines = cube.read_text().splitlines()
    assert lines[1:4] == ["LUT_3D_SIZE 17", "DOMAIN_MIN 0.0 0.0 0.0", "DOMAIN_MAX 1.0 1.0 1.0"]
    entries = [[float(v) for v in lines[4 + k].split()] for k in (0, 1, 17)]
    np.testing.assert_allclose(entries, [[0, 0, 0], [1 / 16, 0, 0], [0, 1 / 16, 0]], atol=1e-4)


def test_ffmpeg_s_lut3d_applies_the_cube_as_vst_does(monge_ckpt, tmp_path):
    report = _export(monge_ckpt, SAMPLE, tmp_path / "luts")
    cube = tmp_path / "luts" / report["luts"][0]["file"]
    with av.open(str(SAMPLE)) as c:
        rgb = next(c.decode(video=0)).to_ndarray(format="rgb24")
    graph = av.filter.Graph()
    src = graph.add_buffer(width=rgb.shape[1], height=rgb.shape[0], format="rgb24",
                           time_base=Fraction(1, 25))
    lut3d = graph.add("lut3d", f"file={cube}:interp=trilinear")
    sink = graph.add("buffersink")
    src.link_to(lut3d)
    lut3d.link_to(sink)
    graph.configure()
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    frame.pts = 0
    graph.push(frame)
    by_ffmpeg = graph.pull().to_ndarray(format="rgb24").astype(int)
    by_vst = np.clip(np.round(apply_lut(read_cube(cube), rgb.astype(np.float32) / 255) * 255), 0, 255)
    assert np.abs(by_ffmpeg - by_vst).max() <= 1
    assert np.abs(by_vst - rgb).mean() > 10  # a real grade, not the identity


def test_the_reported_psnr_is_what_the_lut_scores_against_the_network(monge_ckpt, tmp_path):
    """Measured here on whole frames (the export samples pixels): the same figure within 1 dB."""
    from vst.grader import Grader
    from vst.io import open_frames
    from vst.shots import shot_keyframes

    report = _export(monge_ckpt, SAMPLE, tmp_path / "luts")
    (entry,) = report["luts"]
    lut = read_cube(tmp_path / "luts" / entry["file"])
    source, grader = open_frames(SAMPLE), Grader(monge_ckpt)
    found = grader.shot_stats(source, 8)
    stats, boxes, shots = found.stats, found.boxes, found.shots
    errors = []
    for i in shot_keyframes(shots, 8):
        rgb = source.read_rgb8([i])
        network = grader(rgb, stats[i:i + 1], boxes[i:i + 1])[0] / 255
        by_lut = np.clip(np.round(apply_lut(lut, rgb[0] / 255) * 255), 0, 255) / 255
        errors.append(np.mean((by_lut - network) ** 2))
    assert 10 * np.log10(1 / np.mean(errors)) == pytest.approx(entry["psnr"], abs=1.0)
    assert entry["psnr"] > 35 and entry["delta_e"] < 3  # a global grade: the LUT holds it


def test_one_lut_per_shot_and_one_for_the_clip(monge_ckpt, tmp_path):
    x = np.linspace(0, 4 * np.pi, 96)[None, :, None]
    y = np.linspace(0, 2 * np.pi, 64)[:, None, None]
    dark = 40 + 30 * np.sin(x + y) * np.array([0.2, 0.5, 1.0])
    bright = 200 + 40 * np.sin(3 * y) * np.array([1.0, 0.6, 0.1])
    clip = tmp_path / "cut.mp4"
    encode_clip(clip, [np.roll(dark if i < 20 else bright, i, 1).astype(np.uint8) for i in range(40)],
                list(range(40)))
    report = _export(monge_ckpt, clip, tmp_path / "luts", "size=17", "frames_per_shot=3")
    assert [(e["file"], e["shot"], e["first_frame"], e["last_frame"]) for e in report["luts"]] == [
        ("cut_shot001.cube", 1, 0, 19), ("cut_shot002.cube", 2, 20, 39), ("cut_all.cube", None, 0, 39)]
    assert sorted(p.name for p in (tmp_path / "luts").iterdir()) == [
        ".vst-output", "cut_all.cube", "cut_shot001.cube", "cut_shot002.cube", "luts.json"]
    one, two = (read_cube(tmp_path / "luts" / f"cut_shot00{k}.cube") for k in (1, 2))
    assert np.abs(one - two).max() > 0.05  # each shot has its own grade


def test_a_still_gives_one_lut_and_a_bad_cube_is_a_clear_error(monge_ckpt, tmp_path):
    report = _export(monge_ckpt, STILL, tmp_path / "luts", "size=9")
    assert [(e["file"], e["timecode_in"]) for e in report["luts"]] == [("in47_360_shot001.cube", None)]
    (tmp_path / "1d.cube").write_text("LUT_1D_SIZE 2\n0 0 0\n1 1 1\n")
    with pytest.raises(VstError, match="1d.cube.*LUT_1D_SIZE"):
        read_cube(tmp_path / "1d.cube")


def test_predict_grade_lut_renders_the_network_s_grade_by_its_luts(monge_ckpt, tmp_path):
    from vst.predict import predict

    outputs = {}
    for grade in ("network", "lut"):
        out = tmp_path / f"{grade}.mkv"
        predict(compose_config("predict", f"ckpt={monge_ckpt}", f"video={SAMPLE}", f"output={out}",
                               f"grade={grade}", "codec=ffv1"))
        with av.open(str(out)) as c:
            outputs[grade] = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    assert outputs["lut"].shape == outputs["network"].shape == (50, 280, 500, 3)
    mse = np.mean((outputs["lut"].astype(float) - outputs["network"]) ** 2)
    assert 10 * np.log10(255**2 / mse) > 40
    small = tmp_path / "small.mkv"  # graded at another size than the source's: fitted there
    predict(compose_config("predict", f"ckpt={monge_ckpt}", f"video={SAMPLE}", f"output={small}",
                           "grade=lut", "codec=ffv1", "size=140"))
    assert probe_video(small).height == 140
    with pytest.raises(VstError, match="grade='neural' is unknown"):
        predict(compose_config("predict", f"ckpt={monge_ckpt}", f"video={SAMPLE}",
                               f"output={tmp_path / 'x.mp4'}", "grade=neural"))
