"""Metrics on synthetic frames with known answers, and the sanity controls of the evaluate
command on real frames: identity -> 1.0, random gain flicker -> far above 1, blur -> below 1."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import run_cli, shared_file
from vst.evaluate import evaluate
from vst.metrics.color import LabStats, gaussian_w2
from vst.metrics.structure import ssim_luma
from vst.metrics.temporal import FlowEstimator, pair_errors


def _texture(h=120, w=160, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32), (0, 0), 2.0)
    return np.clip((noise - noise.min()) / (noise.max() - noise.min()), 0, 1)


def test_flow_recovers_a_pure_translation():
    big = _texture(160, 200)
    a, b = big[20:140, 20:180], big[18:138, 17:177]  # a(x, y) is found at b(x + 3, y + 2)
    flow = FlowEstimator()(a, b)
    inner = flow[20:-20, 20:-20].reshape(-1, 2)
    assert np.allclose(np.median(inner, axis=0), [3, 2], atol=0.5)


def test_identical_frames_have_zero_warping_error():
    a = _texture()
    assert pair_errors(FlowEstimator(), a, a, a, a) == (0.0, 0.0)


def test_ssim_and_structure_term():
    a = _texture()
    assert ssim_luma(a, a) == pytest.approx((1.0, 1.0), abs=1e-9)
    darker = a * 0.6 + 0.1  # a tone change: structure kept, SSIM lower
    s, st = ssim_luma(darker, a)
    assert st > 0.99 and s < 0.95
    blurred = cv2.GaussianBlur(a, (0, 0), 3.0)
    assert ssim_luma(blurred, a)[1] < 0.9


def test_gaussian_w2_known_answers():
    a = _texture()
    same = gaussian_w2(LabStats().add(a), LabStats().add(a))
    assert same == pytest.approx(0.0, abs=1e-3)
    grey1, grey2 = np.full((8, 8, 3), 0.2, np.float32), np.full((8, 8, 3), 0.6, np.float32)
    lab = [cv2.cvtColor(g, cv2.COLOR_RGB2Lab)[0, 0, 0] for g in (grey1, grey2)]
    assert gaussian_w2(LabStats().add(grey1), LabStats().add(grey2)) == pytest.approx(
        lab[1] - lab[0], rel=1e-3)  # two flat greys: W2 = the difference in L


def _strong_grade(frame: np.ndarray) -> np.ndarray:
    """One fixed S-curve (applied twice) and 1.4x saturation: strong, and the same on every frame."""
    x = frame.astype(np.float32) / 255
    for _ in range(2):
        x = 0.5 - 0.5 * np.cos(np.pi * x)
    grey = x.mean(-1, keepdims=True)
    return np.clip((grey + 1.4 * (x - grey)) * 255 + 0.5, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def controls(tmp_path_factory):
    """20 real frames as folders: the input, and three made-up outputs with known behaviour."""
    import decord

    video = shared_file("video/mountain_walk.mp4")
    frames = decord.VideoReader(str(video)).get_batch(list(range(20))).asnumpy()
    root = tmp_path_factory.mktemp("controls")
    rng = np.random.default_rng(0)
    variants = {
        "input": frames,
        "flicker": [np.clip(f * rng.uniform(0.9, 1.1), 0, 255).astype(np.uint8) for f in frames],
        "blur": [cv2.GaussianBlur(f, (0, 0), 2.0) for f in frames],
        "s_curve": [_strong_grade(f) for f in frames],
    }
    for name, images in variants.items():
        (root / name).mkdir()
        for i, img in enumerate(images):
            Image.fromarray(img).save(root / name / f"{i:03d}.png")
    return root


def test_input_against_itself_is_exactly_one(controls):
    figures, _ = evaluate(str(controls / "input"), str(controls / "input"), size=140, long_range=5)
    assert figures["warp_error_ratio"] == 1.0
    assert figures["warp_error_long_k5_ratio"] == 1.0
    assert figures["ssim_luma"] == pytest.approx(1.0)
    # the best LUT from the input to itself is the identity: the reference is the input
    assert figures["grade_flicker_ratio"] == pytest.approx(1.0, abs=1e-4)
    assert figures["grade_flicker_ratio_k5"] == pytest.approx(1.0, abs=1e-4)
    assert figures["lut_fit_psnr"] > 60


def test_a_strong_fixed_grade_is_as_stable_as_its_own_lut(controls):
    """The old yardstick calls a steady S-curve flicker (it raises the grain with the contrast);
    the grade flicker ratio, against the same look applied as one LUT, does not."""
    figures, _ = evaluate(str(controls / "input"), str(controls / "s_curve"), size=140, long_range=5)
    assert figures["warp_error_ratio"] > 1.5
    assert figures["grade_flicker_ratio"] == pytest.approx(1.0, abs=0.02)
    assert figures["grade_flicker_ratio_k5"] == pytest.approx(1.0, abs=0.02)
    assert figures["lut_fit_psnr"] > 40


def test_random_gain_flicker_is_far_above_one(controls):
    figures, _ = evaluate(str(controls / "input"), str(controls / "flicker"), size=140,
                          long_range=5)
    assert figures["warp_error_ratio"] > 5
    assert figures["luma_flicker_ratio"] > 3
    assert figures["grade_flicker_ratio"] > 2 and figures["grade_flicker_ratio_k5"] > 2


def test_blur_is_below_one(controls):
    figures, _ = evaluate(str(controls / "input"), str(controls / "blur"), size=140, long_range=5)
    assert figures["warp_error_ratio"] < 0.9


def test_vgg_gram_figure_when_weights_are_there(controls):
    style = shared_file("style/in47.png")
    figures, _ = evaluate(str(controls / "input"), str(controls / "blur"), str(style), size=96,
                          vgg_weights="random", vgg_every=10)
    assert figures["vgg_style_loss_input"] > 0 and figures["vgg_style_loss_output"] > 0
    without, _ = evaluate(str(controls / "input"), str(controls / "blur"), str(style), size=96)
    assert "vgg_style_loss_output" not in without


def test_evaluate_never_downloads_vgg_weights(monkeypatch, tmp_path):
    from vst.evaluate import _vgg_style_loss
    from vst.models import vgg as vgg_module

    monkeypatch.setattr(vgg_module, "hub_cache_file", lambda: tmp_path / "none.pth")
    monkeypatch.setattr(vgg_module, "_download", lambda: pytest.fail("must not download"))
    assert _vgg_style_loss("auto") is None


def test_evaluate_command_writes_json_and_plot(tmp_path):
    video = shared_file("video/mountain_walk.mp4")
    seed = shared_file("video/mountain_walk_seed_hrnet_output.mp4")
    style = shared_file("style/in47.png")
    out = tmp_path / "m.json"
    result = run_cli("vst/evaluate.py", f"input={video}", f"output={seed}", f"style={style}",
                     "max_frames=20", f"json={out}", "vgg.weights=null")
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["frames"] == 20
    assert figures["warp_error_ratio"] > 2  # the seed project's output flickers
    assert 0 < figures["style_moved"] < 1
    assert (tmp_path / "m.png").stat().st_size > 10_000
    assert "warp_error_ratio" in result.stdout


def test_shots_are_measured_one_by_one(tmp_path):
    """bikes frames 12..47 hold a cut at frame 30: grading only the first shot shows in the
    per-shot figures, and no pair across the cut counts in a warping error (short or long)."""
    import decord

    frames = decord.VideoReader(str(shared_file("video/bikes_6shots.mp4"))).get_batch(
        list(range(12, 48))).asnumpy()
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(tmp_path / "in" / f"{i:03d}.png")
        graded = np.clip(f * np.array([1.2, 0.9, 0.7]), 0, 255).astype(np.uint8) if i < 18 else f
        Image.fromarray(graded).save(tmp_path / "out" / f"{i:03d}.png")
    style = tmp_path / "style.png"
    Image.fromarray(np.clip(frames[0] * np.array([1.3, 0.85, 0.6]), 0, 255).astype(np.uint8)).save(style)
    figures, curves = evaluate(str(tmp_path / "in"), str(tmp_path / "out"), str(style), size=136)
    assert figures["shots"] == 2
    assert figures["style_moved_shot1"] > 0.3 and abs(figures["style_moved_shot2"]) < 0.05
    assert figures["style_moved_shot_min_over_max"] < 0.2
    assert np.isnan(curves["warp_error_output"][18])  # the cut: 17 -> 18
    # pairs inside the shots only, at exactly 1 and 10 frames apart: 2 x 17 and 2 x (18 - 10)
    assert figures["warp_error_pairs"] == 34 and figures["warp_error_long_k10_pairs"] == 16
    # the shot graded with a fixed gain has errors of its own; the untouched shot is the input
    assert figures["warp_error_ratio_shot2"] == pytest.approx(1.0)
    assert figures["warp_error_ratio_shot1"] != pytest.approx(1.0, abs=1e-3)
    assert figures["warp_error_ratio_shot_max"] == max(figures["warp_error_ratio_shot1"], 1.0)
    # one LUT per shot: a fixed gain in one shot, nothing in the other, each fitted exactly
    for i in (1, 2):
        assert figures[f"grade_flicker_ratio_shot{i}"] == pytest.approx(1.0, abs=0.02)
        assert figures[f"lut_fit_psnr_shot{i}"] > 40
    assert figures["grade_flicker_ratio_shot_max"] == max(figures["grade_flicker_ratio_shot1"],
                                                          figures["grade_flicker_ratio_shot2"])
    assert not np.isnan(curves["warp_error_output"][17]) and not np.isnan(curves["warp_error_output"][19])


def test_the_dense_8_bit_lut_agrees_with_the_trilinear_lookup():
    from vst.metrics.lut import apply_dense8, apply_table, dense_table8, lut_table

    rng = np.random.default_rng(0)
    grid = np.linspace(0, 1, 9)
    lut = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), -1) ** [1.2, 0.9, 1.0]
    lut = (lut + rng.normal(0, 0.02, lut.shape)).astype(np.float32)  # a grade with kinks
    table = lut_table(lut)
    frames = rng.integers(0, 256, (2, 30, 40, 3), dtype=np.uint8)
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    reference = (apply_table(table, x).clamp(0, 1) * 255).round().permute(0, 2, 3, 1).numpy()
    dense = apply_dense8(dense_table8(table), frames)
    assert dense.dtype == np.uint8 and dense.shape == frames.shape
    assert np.abs(dense.astype(int) - reference).max() <= 1
    assert np.abs(dense.astype(int) - frames).max() > 5  # not the identity
