"""train.py end to end, run as a user runs it, on real clips from ../shared."""

from __future__ import annotations

import io
import json
from fractions import Fraction

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import (
    ROOT,
    TINY,
    assert_user_error,
    compose_config,
    logged_hparams,
    read_tensorboard,
    run_cli,
    shared_file,
    write_clip,
)

SAMPLE_VIDEO, SAMPLE_STYLE = ROOT / "samples" / "mountain_walk_2s.mp4", ROOT / "samples" / "in47_360.jpg"


@pytest.fixture(scope="module")
def clip():
    return shared_file("video/mountain_walk.mp4"), shared_file("style/in47.png")


@pytest.fixture(scope="module")
def trained(clip, tmp_path_factory):
    """One tiny training run (30 steps, 48 px, random VGG) shared by the checks below."""
    video, style = clip
    run_dir = tmp_path_factory.mktemp("run")
    result = run_cli("train.py", f"video={video}", f"style={style}", *TINY,
                     f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-4000:]
    return run_dir, result


def test_run_folder_holds_both_checkpoints_and_says_where(trained):
    run_dir, result = trained
    assert (run_dir / "best.ckpt").is_file() and (run_dir / "last.ckpt").is_file()
    assert str(run_dir / "best.ckpt") in result.stdout
    assert "RANDOM" in result.stderr + result.stdout  # random VGG is announced loudly


def test_a_redirected_run_logs_plain_step_lines_on_stderr_and_no_bars(trained):
    run_dir, result = trained
    steps = [ln for ln in result.stderr.splitlines() if ln.startswith("training step ")]
    assert steps and steps[-1].startswith("training step 30/30") and "train/loss" in steps[-1]
    for stream in (result.stdout, result.stderr):
        assert "\r" not in stream and "\x1b[" not in stream  # no bar redrawn into a log file
        assert "Epoch" not in stream and "Validation" not in stream and "0/?" not in stream
    assert "held-out frames: style_moved" in result.stdout  # the run's figures (figures.json)
    figures = json.loads((run_dir / "figures.json").read_text())
    assert set(figures) >= {"style_moved", "ssim_structure", "grade_flicker_ratio", "best_ckpt"}


def test_checkpoint_holds_generator_and_config_not_vgg(trained):
    run_dir, _ = trained
    ckpt = torch.load(run_dir / "best.ckpt", map_location="cpu", weights_only=False)
    keys = list(ckpt["state_dict"])
    assert keys and all(k.startswith("generator.") for k in keys)
    assert ckpt["vst"]["model"]["name"] == "hrnet"
    assert (run_dir / "best.ckpt").stat().st_size < 1_000_000  # not the 80 MB VGG
    assert ckpt["hyper_parameters"]["loss"]["style_weight"] == 1e5


def test_tensorboard_has_losses_hparams_and_previews(trained):
    run_dir, _ = trained
    acc = read_tensorboard(run_dir / "tensorboard")
    scalars = set(acc.Tags()["scalars"])
    assert {"train/loss", "train/content", "train/style", "val/loss", "val/content",
            "val/style"} <= scalars
    images = set(acc.Tags()["images"])
    assert {"preview/keyframe", "preview/heldout_0", "preview/heldout_1"} <= images
    preview = acc.Images("preview/keyframe")[-1]
    assert preview.width > 2 * preview.height  # content | output | style side by side
    shown = Image.open(io.BytesIO(preview.encoded_image_string))
    assert shown.format == "JPEG" and shown.size == (preview.width, preview.height)
    hp = logged_hparams(run_dir / "tensorboard")
    assert hp["loss/style_weight"] == 1e5 and hp["data/size"] == 48


def test_loss_decreases_over_30_steps(trained):
    run_dir, _ = trained
    losses = [e.value for e in read_tensorboard(run_dir / "tensorboard").Scalars("train/loss")]
    assert len(losses) >= 25
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5]), losses


def test_best_is_chosen_by_heldout_loss(trained):
    run_dir, _ = trained
    vals = [e.value for e in read_tensorboard(run_dir / "tensorboard").Scalars("val/loss")]
    assert len(vals) == 3  # steps 10, 20, 30
    best = torch.load(run_dir / "best.ckpt", map_location="cpu", weights_only=False)
    assert best["global_step"] == 10 * (int(np.argmin(vals)) + 1), vals


def test_resume_from_last_continues_the_step_count(trained, clip, tmp_path):
    run_dir, _ = trained
    video, style = clip
    result = run_cli("train.py", f"video={video}", f"style={style}", *TINY,
                     "trainer.max_steps=40", f"resume={run_dir / 'last.ckpt'}",
                     f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-4000:]
    assert torch.load(tmp_path / "last.ckpt", weights_only=False)["global_step"] == 40


def _sweep_runs(sweep_dir):
    return sorted(p for p in sweep_dir.iterdir() if p.is_dir() and (p / "best.ckpt").exists())


def _assert_summary_has_one_row_per_run(sweep_dir, runs):
    from PIL import Image

    from vst.sweep import ROW_HEIGHT

    table = [ln for ln in (sweep_dir / "summary.md").read_text().splitlines()
             if ln.startswith("| ") and not ln.startswith("| run")]
    assert len(table) == len(runs) and sum("**best**" in ln for ln in table) == 1, table
    for line, run in zip(table, runs, strict=True):
        figures = json.loads((run / "figures.json").read_text())
        assert str(run / "best.ckpt") in line and f"{figures['style_moved']:.3f}" in line
        assert 0 < figures["ssim_structure"] <= 1 and figures["grade_flicker_ratio"] > 0
    sheet = Image.open(sweep_dir / "contact_sheet.jpg")
    assert sheet.height >= (len(runs) + 1) * ROW_HEIGHT  # the input row, then one per run


def test_sweep_gives_one_run_per_style_weight_and_a_summary(clip, tmp_path):
    video, style = clip
    result = run_cli("train.py", "-m", f"video={video}", f"style={style}", *TINY,
                     "trainer.max_steps=4", "log.val_every=2", "loss.style_weight=1e4,1e5",
                     f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-4000:]
    runs = _sweep_runs(tmp_path)
    assert len(runs) == 2
    assert "loss.style_weight=10000.0" in runs[0].name and "loss.style_weight=100000.0" in runs[1].name
    weights = [logged_hparams(p / "tensorboard")["loss/style_weight"] for p in runs]
    assert weights == [1e4, 1e5]
    _assert_summary_has_one_row_per_run(tmp_path, runs)
    assert "loss.style_weight=10000.0 |" in (tmp_path / "summary.md").read_text()
    # the same figures in TensorBoard, where HParams shows them against the settings
    figures = json.loads((runs[0] / "figures.json").read_text())
    logged = read_tensorboard(runs[0] / "tensorboard").Scalars("figures/style_moved")[-1].value
    assert logged == pytest.approx(figures["style_moved"], rel=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_a_sweep_runs_on_hydras_launchers(clip, tmp_path, launcher):
    video, style = clip
    result = run_cli("train.py", "-m", f"video={video}", f"style={style}", *TINY,
                     "trainer.max_steps=4", "log.val_every=2", "loss.style_weight=1e4,1e5",
                     f"hydra/launcher={launcher}", f"hydra.sweep.dir={tmp_path}",
                     *(["hydra.launcher.n_jobs=2"] if launcher == "joblib" else []))
    assert result.returncode == 0, result.stderr[-4000:]
    runs = _sweep_runs(tmp_path)
    assert len(runs) == 2
    _assert_summary_has_one_row_per_run(tmp_path, runs)


def _train_in_process(run_dir, *overrides: str) -> float:
    """train() on the real config composed with `overrides`, in this process."""
    from vst.train import train

    return train(compose_config("config", *overrides), run_dir)


def test_a_still_image_can_be_graded(tmp_path, caplog):
    content, style = shared_file("pairs/in3.png"), shared_file("pairs/tar3.png")
    with caplog.at_level("INFO", logger="vst"):
        score = _train_in_process(tmp_path, f"video={content}", f"style={style}", *TINY,
                                  "loss=color", "trainer.max_steps=3")
    assert np.isfinite(score) and (tmp_path / "best.ckpt").is_file()
    assert "stability_weight set to 0" in caplog.text  # no time axis in a photo
    assert "train/stability" not in read_tensorboard(tmp_path / "tensorboard").Tags()["scalars"]


def test_the_gpu_preset_never_falls_back_to_the_cpu(tmp_path):
    from vst.errors import VstError

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present: trainer=gpu is meant to use it")
    with pytest.raises(VstError, match="trainer.accelerator=gpu but PyTorch sees no CUDA GPU"):
        _train_in_process(tmp_path, f"video={SAMPLE_VIDEO}", f"style={SAMPLE_STYLE}", "trainer=gpu")
    assert list(tmp_path.iterdir()) == []


def test_color_loss_grades_without_any_pretrained_network(clip, tmp_path, caplog):
    """loss=color: 30 steps move the keyframe's Lab statistics toward the style's, and VGG is
    never loaded (a weights path that does not exist would stop any attempt)."""
    from vst.checkpoint import load_generator
    from vst.io import open_frames
    from vst.io.image import load_image, resize_short_side
    from vst.metrics.color import LabStats, gaussian_w2

    video, style = clip
    # stability off: in 30 tiny steps its weight would hold the grade near the identity
    with caplog.at_level("INFO", logger="vst"):
        _train_in_process(tmp_path, f"video={video}", f"style={style}", "loss=color",
                          "loss.stability_weight=0", "vgg.weights=/nonexistent/vgg19.pth", *TINY)
    assert "no pretrained network" in caplog.text
    scalars = set(read_tensorboard(tmp_path / "tensorboard").Tags()["scalars"])
    assert {"train/color", "train/structure", "val/color", "val/structure"} <= scalars
    assert not {"train/content", "train/style"} & scalars

    source = open_frames(str(video))
    frame = resize_short_side(source.read([len(source) // 2]), 64)
    generator, _ = load_generator(tmp_path / "best.ckpt")
    with torch.no_grad():
        graded = generator(frame)

    def stats(x):
        return LabStats().add(x[0].permute(1, 2, 0).numpy())

    target = LabStats().add(resize_short_side(load_image(style)[None], 64)[0].permute(1, 2, 0).numpy())
    moved = 1 - gaussian_w2(stats(graded), target) / gaussian_w2(stats(frame), target)
    assert moved > 0.2, moved


def _audio_only(path):
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=44100, layout="mono")
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts = 44100, i * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.mark.parametrize("case", ["missing_video", "missing_style", "zero_byte", "not_a_video",
                                  "no_video_stream", "bad_style", "keyframe_past_end",
                                  "unknown_key", "no_video_given", "bad_value", "tiny_style_for_vgg",
                                  "mixed_size_folder", "number_as_path", "resume_weights_only",
                                  "resume_truncated", "resume_empty_folder", "not_an_integer",
                                  "out_of_range", "renamed_key", "no_such_preset"])
def test_bad_input_stops_with_one_clear_line(case, tmp_path):
    from PIL import Image

    video, style = SAMPLE_VIDEO, SAMPLE_STYLE  # bundled: runs anywhere, 50 frames to scan
    Image.new("RGB", (8, 8), (0, 0, 200)).save(tmp_path / "tiny.png")
    (tmp_path / "mixed").mkdir()
    Image.new("RGB", (64, 48)).save(tmp_path / "mixed" / "a.png")
    Image.new("RGB", (48, 64)).save(tmp_path / "mixed" / "b.png")
    torch.save({"state_dict": {}, "vst": {"model": {"name": "hrnet"}}}, tmp_path / "weights.ckpt")
    (tmp_path / "cut.ckpt").write_bytes((tmp_path / "weights.ckpt").read_bytes()[:200])
    (tmp_path / "nothing").mkdir()
    args, needles = {
        "missing_video": ([f"video={tmp_path / 'nope.mp4'}", f"style={style}"],
                          ["nope.mp4", "does not exist"]),
        "missing_style": ([f"video={video}", f"style={tmp_path / 'nope.png'}"],
                          ["nope.png", "does not exist"]),
        "zero_byte": ([f"video={tmp_path / 'empty.mp4'}", f"style={style}"],
                      ["empty.mp4", "empty"]),
        "not_a_video": ([f"video={tmp_path / 'text.mp4'}", f"style={style}"],
                        ["text.mp4", "not a readable video"]),
        "no_video_stream": ([f"video={tmp_path / 'sound.m4a'}", f"style={style}"],
                            ["sound.m4a", "no video stream"]),
        "bad_style": ([f"video={video}", f"style={tmp_path / 'text.mp4'}"],
                      ["text.mp4", "not a readable image"]),
        "keyframe_past_end": ([f"video={video}", f"style={style}", "keyframes=50"],
                              ["keyframes=50", "past the end", "50 frames"]),
        "unknown_key": ([f"video={video}", f"style={style}", "loss.stlye_weight=1"],
                        ["unknown config key", "loss.stlye_weight"]),
        "no_video_given": ([f"style={style}"], ["video= is required"]),
        "bad_value": ([f"video={video}", f"style={style}", "data.size=big"], ["data.size"]),
        "tiny_style_for_vgg": ([f"video={video}", f"style={tmp_path / 'tiny.png'}"],
                               ["tiny.png", "8x8", "at least 16 px"]),
        "mixed_size_folder": ([f"video={tmp_path / 'mixed'}", f"style={style}", "loss=color"],
                              ["mixed", "differ in size", "a.png", "b.png"]),
        "number_as_path": (["video=123", f"style={style}"], ["video=123", "was read as a int"]),
        "not_an_integer": ([f"video={video}", f"style={style}", "trainer.max_steps=ten"],
                           ["trainer.max_steps", "'ten'", "Integer"]),
        "out_of_range": ([f"video={video}", f"style={style}", "data.val_frames=-1"],
                         ["data.val_frames=-1", "out of range"]),
        "renamed_key": ([f"video={video}", f"style={style}", "optim.lr=1e-3"], ["is now 'loss.lr'"]),
        "no_such_preset": ([f"video={video}", f"style={style}", "trainer=cpu"],
                           ["no trainer=cpu", "default | gpu"]),
        "resume_weights_only": ([f"video={video}", f"style={style}",
                                 f"resume={tmp_path / 'weights.ckpt'}"], ["weights only", "last.ckpt"]),
        "resume_truncated": ([f"video={video}", f"style={style}", f"resume={tmp_path / 'cut.ckpt'}"],
                             ["cut.ckpt", "not a readable checkpoint"]),
        "resume_empty_folder": ([f"video={video}", f"style={style}", f"resume={tmp_path / 'nothing'}"],
                                ["holds no last.ckpt"]),
    }[case]
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("this is not a video")
    _audio_only(tmp_path / "sound.m4a")
    run_dir = tmp_path / "new" / "run"
    result = run_cli("train.py", *TINY, *args, f"hydra.run.dir={run_dir}")
    assert_user_error(result, *needles)
    assert not (tmp_path / "new").exists()  # no empty run folder left behind


def test_ctrl_c_saves_last_ckpt_and_resume_continues_from_its_step(clip, tmp_path):
    """SIGINT mid-training (long before the first validation): last.ckpt is saved after the
    current step, the resume command is printed, exit 130; resume= goes on from that step
    with the optimiser's state, in the same run folder."""
    import shlex
    import signal
    import subprocess
    import sys
    import time

    video, style = clip
    run_dir = tmp_path / "run"
    args = [f"video={video}", f"style={style}", "loss=color", *TINY, "log.val_every=1000"]
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args, "trainer.max_steps=1000",
                             f"hydra.run.dir={run_dir}"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while time.time() < deadline and "training 1000 steps" not in _read(run_dir / "train.log"):
        time.sleep(0.2)
    time.sleep(3)  # a few steps in
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-3000:]
    assert "vst: interrupted" in stderr and "Traceback" not in stderr
    step = torch.load(run_dir / "last.ckpt", weights_only=True)["global_step"]
    assert 0 < step < 1000
    command = shlex.split(stderr.split("continue with:")[1].strip().splitlines()[0])
    assert command[-1] == f"resume={run_dir / 'last.ckpt'}" and "trainer.max_steps=1000" in command

    result = run_cli("train.py", *args, f"trainer.max_steps={step + 3}", f"resume={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    last = torch.load(run_dir / "last.ckpt", weights_only=True)
    assert last["global_step"] == step + 3
    adam_steps = {float(s["step"]) for s in last["optimizer_states"][0]["state"].values()}
    assert adam_steps == {step + 3.0}  # the optimiser went on, it did not start again
    events = sorted(read_tensorboard(run_dir / "tensorboard").Scalars("train/loss"),
                    key=lambda e: e.wall_time)
    resumed = [e.step for e in events[step:]]  # the resumed run's 3 points, in the same log
    # (Lightning saves its logging counter one behind when it checkpoints in validation)
    assert len(resumed) == 3 and resumed == sorted(resumed) and resumed[0] >= step - 1


def _read(path):
    return path.read_text() if path.exists() else ""


def test_a_used_run_folder_is_refused_and_left_as_it_was(trained, clip):
    run_dir, _ = trained
    video, style = clip
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    result = run_cli("train.py", f"video={video}", f"style={style}", *TINY, f"hydra.run.dir={run_dir}")
    assert_user_error(result, "already holds the checkpoints", "resume=")
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before


def test_training_reads_the_one_video_stream_prediction_reads(tmp_path):
    """Two video streams (40 and 20 frames): shots, keyframes and held-out frames all come from
    FFmpeg's best stream, the one predict grades, not from the one decord would pick."""
    src = tmp_path / "two.mp4"
    write_clip(src, list(range(40)), Fraction(1, 25), size=(96, 64), streams=2)
    result = run_cli("train.py", f"video={src}", f"style={shared_file('style/in47.png')}", "loss=color",
                     *TINY, "trainer.max_steps=2", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert "2 video streams: reading stream #0" in log
    assert "keyframes [20] of 40" in log and "training size 72x48" in log


def test_a_full_disk_during_training_is_one_line(clip, full_disk):
    video, style = clip
    result = run_cli("train.py", f"video={video}", f"style={style}", "loss=color", *TINY,
                     "trainer.max_steps=20", "log.val_every=5", f"hydra.run.dir={full_disk / 'run'}")
    assert_user_error(result, "no space left")
    assert not list(full_disk.rglob("*.partial*"))  # no half-written checkpoint either


def test_the_default_loss_falls_back_to_color_where_the_vgg_weights_are_missing(tmp_path, caplog,
                                                                                  monkeypatch):
    from vst.errors import VstError
    from vst.models import vgg as vgg_module

    monkeypatch.setattr(vgg_module, "hub_cache_file", lambda: tmp_path / "no-weights.pth")
    with caplog.at_level("INFO", logger="vst"):
        _train_in_process(tmp_path / "run", f"video={SAMPLE_VIDEO}", f"style={SAMPLE_STYLE}", *TINY,
                          "vgg.weights=auto", "trainer.max_steps=2", "log.val_every=2", "loss.lr=2e-3")
    assert "training with loss=color" in caplog.text
    loss = torch.load(tmp_path / "run" / "best.ckpt", weights_only=False)["hyper_parameters"]["loss"]
    assert loss["name"] == "color" and loss["color_weight"] > 0 and loss["style_weight"] == 0
    assert loss["lr"] == 2e-3  # what was asked for is kept
    with pytest.raises(VstError, match="loss.style_weight is a setting of loss=perceptual"):
        _train_in_process(tmp_path / "run2", f"video={SAMPLE_VIDEO}", f"style={SAMPLE_STYLE}", *TINY,
                          "vgg.weights=auto", "loss.style_weight=1e4")
    # where the weights are (here: random ones, as the tests use), the default is perceptual
    _train_in_process(tmp_path / "run3", f"video={SAMPLE_VIDEO}", f"style={SAMPLE_STYLE}", *TINY,
                      "trainer.max_steps=2", "log.val_every=2")
    loss = torch.load(tmp_path / "run3" / "best.ckpt", weights_only=False)["hyper_parameters"]["loss"]
    assert loss["name"] == "perceptual" and loss["style_weight"] > 0


def test_a_run_whose_held_out_loss_is_flat_stops_early(tmp_path, caplog):
    """loss.lr=0: the held-out loss cannot move, so training stops after `patience` flat
    validations; early_stop=null runs every step."""
    with caplog.at_level("INFO", logger="vst"):
        _train_in_process(tmp_path / "a", f"video={SAMPLE_VIDEO}", f"style={SAMPLE_STYLE}", *TINY,
                          "loss.lr=0", "trainer.max_steps=100", "trainer.early_stop.patience=2")
    assert torch.load(tmp_path / "a" / "last.ckpt", weights_only=False)["global_step"] == 30  # 10, 20, 30
    assert "stopping at step 30 of 100" in caplog.text
    _train_in_process(tmp_path / "b", f"video={SAMPLE_VIDEO}", f"style={SAMPLE_STYLE}", *TINY,
                      "loss.lr=0", "trainer.max_steps=40", "trainer.early_stop=null")
    assert torch.load(tmp_path / "b" / "last.ckpt", weights_only=False)["global_step"] == 40
