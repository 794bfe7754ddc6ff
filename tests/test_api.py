"""vst.fit and vst.load from a plain Python process: no command line, no Hydra runtime."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT, TINY

SAMPLE_VIDEO, SAMPLE_STYLE = ROOT / "samples" / "mountain_walk_2s.mp4", ROOT / "samples" / "in47_360.jpg"


def test_fit_then_load_grades_frames_in_a_plain_python_process(tmp_path):
    code = f"""
import numpy as np, av, vst
from vst.errors import VstError
ckpt = vst.fit({str(SAMPLE_VIDEO)!r}, {str(SAMPLE_STYLE)!r}, *{TINY!r}, "trainer.max_steps=4",
               "log.val_every=2", run_dir={str(tmp_path / 'run')!r})
assert ckpt.name == "best.ckpt" and ckpt.is_file(), ckpt
with av.open({str(SAMPLE_VIDEO)!r}) as c:
    frames = np.stack([f.to_ndarray(format="rgb24") for f, _ in zip(c.decode(video=0), range(3))])
grade = vst.load(ckpt, "accelerator=cpu")
graded = grade(frames)
assert graded.shape == frames.shape and graded.dtype == np.uint8
assert np.abs(graded.astype(int) - frames).mean() > 2  # the grade changed the colours
as_float = grade(frames.astype(np.float32) / 255)
assert as_float.dtype == np.float32 and as_float.shape == frames.shape
assert np.abs(as_float * 255 - graded).max() <= 2  # the same grade, in the caller's type
one = grade(frames[0])
assert one.shape == frames[0].shape
steady = grade(frames, shot=True)  # one transform for the shot
assert steady.shape == frames.shape
try:
    grade(frames[..., :2])
except VstError as err:
    assert "N x H x W x 3" in str(err)
else:
    raise AssertionError("two channels were graded")
try:  # the folder now holds a run: a second fit there is refused, not mixed into it
    vst.fit({str(SAMPLE_VIDEO)!r}, {str(SAMPLE_STYLE)!r}, *{TINY!r}, run_dir={str(tmp_path / 'run')!r})
except VstError as err:
    assert "resume=" in str(err)
else:
    raise AssertionError("a used run folder was reused")
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          timeout=600)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-4000:]
    assert (tmp_path / "run" / ".hydra" / "config.yaml").is_file()  # resumable like a CLI run
