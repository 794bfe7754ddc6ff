"""A multi-shot clip end to end: train (loss=color, keyframes per shot, stability) ->
predict -> evaluate, on 30 real frames holding a cut."""

from __future__ import annotations

import json

import av
import decord
import pytest

from tests.helpers import TINY, run_cli, shared_file


@pytest.mark.slow
def test_train_predict_evaluate_on_30_frames_with_a_cut(tmp_path):
    frames = decord.VideoReader(str(shared_file("video/bikes_6shots.mp4"))).get_batch(
        list(range(15, 45))).asnumpy()  # the cut at frame 30 is frame 15 here
    clip = tmp_path / "clip.mp4"
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"crf": "12"})
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(stream.encode())
    style = shared_file("style/tar49.png")
    run_dir = tmp_path / "run"
    result = run_cli("train.py", f"video={clip}", f"style={style}", "loss=color", *TINY,
                     f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 shots; keyframes [7, 22]" in result.stderr + result.stdout  # the middle of each

    graded = tmp_path / "graded.mp4"
    result = run_cli("predict.py", f"ckpt={run_dir / 'best.ckpt'}", f"video={clip}", f"output={graded}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 shots: one global grade per shot" in result.stdout + result.stderr
    metrics = tmp_path / "metrics.json"
    result = run_cli("vst/evaluate.py", f"input={clip}", f"output={graded}", f"style={style}",
                     f"json={metrics}", "vgg.weights=null")
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(metrics.read_text())
    assert figures["frames"] == 30 and figures["shots"] == 2
    for key in ("warp_error_ratio", "warp_error_long_k10_ratio", "luma_flicker_ratio", "ssim_structure",
                "style_moved", "style_moved_shot1", "style_moved_shot2", "style_moved_shot_min_over_max",
                "grade_flicker_ratio", "grade_flicker_ratio_k10", "grade_flicker_ratio_shot1",
                "grade_flicker_ratio_shot2", "grade_flicker_ratio_shot_max", "lut_fit_psnr"):
        assert isinstance(figures[key], float), key
    assert figures["style_moved_shot1"] > 0 and figures["style_moved_shot2"] > 0  # both shots graded
    assert (tmp_path / "metrics.png").is_file()
