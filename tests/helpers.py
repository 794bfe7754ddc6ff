"""Test helpers: where ../shared is, how to run the real CLIs, how to read TensorBoard logs,
how to make a small clip. (Fixtures live in conftest.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
TINY = ["debug=tiny"]  # vst/conf/debug/tiny.yaml: 30 steps at 48 px, random VGG


def compose_config(name: str, *overrides: str):
    """conf/<name>.yaml composed with `overrides` as the command composes it (vst.api.compose)."""
    from vst.api import compose

    return compose(name, *overrides)


def shared_file(relative: str) -> Path:
    """A file under ../shared/data, or skip the test saying the shared data is absent."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"shared test data not found: {path} (expected ../shared beside the checkout)")
    return path


def run_cli(script: str, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run `python <script> args...` from the repo root, as a user would."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, str(ROOT / script), *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=timeout)


def assert_user_error(result: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 2, no traceback, and one `vst: error:` line that mentions every needle."""
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("vst: error:")]
    assert len(lines) == 1, result.stderr[-3000:]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def read_tensorboard(log_dir: Path):
    """EventAccumulator with everything loaded (scalars, images, plugin data)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def logged_hparams(log_dir: Path) -> dict[str, object]:
    """The hyper-parameters a run logged to TensorBoard's HParams plugin."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    acc = read_tensorboard(log_dir)
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    data = plugin_data_pb2.HParamsPluginData.FromString(content)
    out: dict[str, object] = {}
    for name, value in data.session_start_info.hparams.items():
        kind = value.WhichOneof("kind")
        out[name] = getattr(value, kind)
    return out


def encode_clip(path: Path, images: list[np.ndarray], stamps: list[int], rotation: int = 0) -> None:
    """A small lossless H.264 clip (time base 1/25) with the given frames, timestamps, rotation."""
    h, w = images[0].shape[:2]
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt, s.options = w, h, "yuv444p", {"crf": "0"}
        s.codec_context.time_base = s.time_base = Fraction(1, 25)
        if rotation:
            s.set_display_rotation(rotation)
        for image, pts in zip(images, stamps, strict=True):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = pts
            c.mux(s.encode(frame))
        c.mux(s.encode(None))


def write_clip(path: Path, stamps: list[int], time_base: Fraction, codec: str = "libx264",
               pix_fmt: str = "yuv420p", size: tuple[int, int] = (64, 48), streams: int = 1) -> None:
    """A small clip with frames at `stamps`; with `streams` > 1, video stream k (0-based) is
    k+1 times as large and holds 1/(k+1) of the frames."""
    w, h = size
    with av.open(str(path), "w") as c:
        outs = []
        for k in range(streams):
            s = c.add_stream(codec, rate=25)
            s.width, s.height, s.pix_fmt = w * (k + 1), h * (k + 1), pix_fmt
            s.time_base = s.codec_context.time_base = time_base
            outs.append(s)
        for k, s in enumerate(outs):
            for i, pts in enumerate(stamps[: len(stamps) // (k + 1)]):
                rgb = np.full((s.height, s.width, 3), (i * 23) % 256, np.uint8)
                rgb[: s.height // 2, : s.width // 3] = 255 - rgb[0, 0]
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts = pts
                c.mux(s.encode(frame))
            c.mux(s.encode(None))


def sample_frame_and_style(size: int = 96):
    """The bundled sample clip's first frame and the sample still (1x3xHxW float), `size` px
    high: real pictures that every machine has."""
    import torch

    from vst.io.image import load_image, resize_short_side

    with av.open(str(ROOT / "samples" / "mountain_walk_2s.mp4")) as container:
        rgb = next(container.decode(video=0)).to_ndarray(format="rgb24")
    frame = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
    style = load_image(ROOT / "samples" / "in47_360.jpg")[None]
    return resize_short_side(frame, size), resize_short_side(style, size)


def sample_frames(n: int = 3) -> np.ndarray:
    """The bundled sample clip's first `n` frames (n x H x W x 3 uint8)."""
    with av.open(str(ROOT / "samples" / "mountain_walk_2s.mp4")) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f, _ in zip(c.decode(video=0), range(n),
                                                                       strict=False)])


def generator_checkpoint(path: Path, style=None, local_field: bool = False) -> Path:
    """A checkpoint of an untrained generator: the identity grade, or with `style` (1x3xHxW) the
    Monge grade onto that still (its starting grade, vst/models/monge.py): a real, global grade
    without training. local_field: random weights for the last convolution too, so that the
    field varies across the frame."""
    import torch

    from vst.checkpoint import GRADE_FORMAT
    from vst.models.hrnet import HRNet

    if local_field:
        torch.manual_seed(0)  # the same field in every run
    net = HRNet()
    if style is not None:
        net.set_style(style)
    if local_field:
        with torch.no_grad():
            for p in net.to_coeffs.parameters():
                p.normal_(0, 0.05)
    state = {f"generator.{k}": v for k, v in net.state_dict().items()}
    torch.save({"state_dict": state, "vst": {"model": {"name": "hrnet"}, "train_size": 64,
                                             "grade_format": GRADE_FORMAT}}, path)
    return path
