"""The full-resolution pass grades real frames as the generator itself does (within 1 code
value), on the CPU and on a GPU, with memory flat in the frame size."""

from __future__ import annotations

import numpy as np
import torch

from tests.helpers import ROOT, generator_checkpoint, sample_frame_and_style, sample_frames


def _checkpoint(path):
    """A generator with a style (a global grade) and a local field that varies across the frame."""
    return generator_checkpoint(path, sample_frame_and_style()[1], local_field=True)


def test_the_plain_pass_is_the_generator_itself(tmp_path):
    from vst.grader import Grader
    from vst.io.frames import from_float, to_float

    ckpt = _checkpoint(tmp_path / "g.ckpt")
    frames = sample_frames(2)
    grader = Grader(ckpt, accelerator="cpu", precision="32-true")
    with torch.inference_mode():
        reference = from_float(grader.generator(to_float(frames), grader.work_size), np.uint8)
        field = grader.generator.field(to_float(frames), upsample=False)
    graded = grader(frames)
    assert graded.shape == frames.shape and graded.dtype == np.uint8
    assert np.abs(graded.astype(int) - reference).max() <= 1
    assert np.abs(graded.astype(int) - frames).mean() > 3  # a real grade, not the identity
    assert field[:, :9].std(dim=(2, 3)).mean() > 1e-3  # that varies across the frame


def _whole_frame(frames: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
    """The generator's own way: F.interpolate's full-size field, applied to the whole frame."""
    from vst.io.frames import to_float
    from vst.models.hrnet import HRNet, upsample_field

    x = to_float(frames)
    graded = HRNet().apply_field(x, upsample_field(coarse, x.shape[-2:]))
    return graded.mul(255).round().to(torch.uint8).permute(0, 2, 3, 1)


def test_the_cpu_pass_grades_as_the_whole_frame_does():
    """The CPU pass (numba, each pixel's field made from two rows of the field brought across
    the width) and the GPU's (torch on whole frames) give the grade of F.interpolate's whole
    field, frame by frame, at sizes that are not multiples of anything."""
    from vst.models.full_res import grade_on_cpu, grade_whole_frames

    frames = torch.from_numpy(sample_frames(2))[:, :101, :157]
    torch.manual_seed(0)
    coarse = torch.nn.functional.avg_pool2d(torch.randn(2, 12, 20, 30) * 0.5, 3, 1, 1)  # smooth, varied
    whole = _whole_frame(frames, coarse)
    assert (whole.int() - frames.int()).abs().float().mean() > 3  # the field grades
    for graded in grade_on_cpu(frames, coarse), grade_whole_frames(frames, coarse):
        assert graded.shape == frames.shape and graded.dtype == torch.uint8
        assert (graded.int() - whole.int()).abs().max() <= 1
        assert (graded != whole).float().mean() < 1e-3  # rounding ties, not a different field
    # frames independent
    assert torch.equal(grade_on_cpu(frames[1:], coarse[1:]), grade_on_cpu(frames, coarse)[1:])


_PEAK = """
import resource, sys
import numpy as np
from vst.grader import Grader
grader = Grader(sys.argv[1], accelerator="cpu")
ramp = np.linspace(0, 255, 3840, dtype=np.float32)
frames = np.empty((2, 2160, 3840, 3), np.uint8)
frames[...] = (ramp[None, :, None] * np.array([1.0, 0.8, 0.6]))[None].astype(np.uint8)
grader(frames[:, :64, :64].copy())  # everything loaded and warmed up on a small batch
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
graded = grader(frames)
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024
assert graded.shape == frames.shape and (graded[:, ::64, ::64] != frames[:, ::64, ::64]).mean() > 0.5
print(grown)
"""


def test_two_4k_frames_are_graded_without_a_full_size_field(tmp_path):
    """Memory stays flat with the frame size: two 4K frames (50 MB in, 50 MB out) take a few
    hundred MB more (measured 210), not the 0.8 GB of their full-size fields and the float
    copies of the whole batch (1710 MB more before the pass went in bands)."""
    import subprocess
    import sys

    ckpt = _checkpoint(tmp_path / "g.ckpt")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("MALLOC_")}
    result = subprocess.run([sys.executable, "-c", _PEAK, str(ckpt)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    grown = int(result.stdout.split()[-1])
    assert grown < 600, f"grading two 4K frames took {grown} MiB more"
