"""What a finished training run reports about itself, for choosing between runs: figures that
do not depend on the loss weights, measured on frames it did not train on (`figures.json`,
and TensorBoard's HParams tab), and a strip of the same frames graded (`strip.jpg`), the rows
of a sweep's contact sheet (vst/sweep.py).

- style_moved: how far the held-out frames' colours moved to the style still's (1 - Lab W2
  after / before; 0 = not at all, 1 = all the way), as `vst evaluate` measures it;
- ssim_structure: SSIM's structure term of graded against input luma (1 = every edge and
  texture kept);
- grade_flicker_ratio: on a run of consecutive frames of the longest shot, the warping error
  of the grade against that of a fixed LUT with the same look (1 = as steady as a fixed grade);
  absent for a still.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import torch

FIGURES = ("style_moved", "ssim_structure", "grade_flicker_ratio")
FLICKER_FRAMES = 8  # consecutive frames for grade_flicker_ratio


def _floats(codes: np.ndarray) -> np.ndarray:
    return codes.astype(np.float32) / 255  # what vst.metrics reads


def _style_and_structure(inputs: np.ndarray, outputs: np.ndarray, style: torch.Tensor) -> dict:
    """style_moved and ssim_structure of uint8 frames graded, against the style still."""
    from vst.metrics.color import LabStats, gaussian_w2
    from vst.metrics.structure import ssim_luma
    from vst.picture import picture_of

    inputs, outputs = _floats(inputs), _floats(outputs)
    lab_in, lab_out = LabStats(), LabStats()
    for a, b in zip(inputs, outputs, strict=True):
        picture = picture_of(a)
        lab_in.add(a, picture)
        lab_out.add(b, picture)
    lab_style = LabStats().add(style[0].permute(1, 2, 0).numpy())
    before, after = gaussian_w2(lab_in, lab_style), gaussian_w2(lab_out, lab_style)
    return {"style_moved": 1 - after / before if before > 0 else float("nan"),
            "ssim_structure": float(np.mean([ssim_luma(b, a)[1] for a, b in zip(inputs, outputs,
                                                                                 strict=True)]))}


def _grade_flicker(inputs: np.ndarray, outputs: np.ndarray, style: str) -> float:
    """`vst evaluate`'s grade_flicker_ratio of these consecutive uint8 frames (as folders of
    BMPs: lossless like PNG, with no compression to spend time on)."""
    from vst.evaluate import evaluate
    from vst.io.image import write_image

    with tempfile.TemporaryDirectory(prefix="vst-report-") as tmp:
        for name, frames in (("in", inputs), ("out", outputs)):
            (Path(tmp) / name).mkdir()
            for i, f in enumerate(frames):
                write_image(f, Path(tmp) / name / f"{i:04d}.bmp")
        figures, _ = evaluate(str(Path(tmp) / "in"), str(Path(tmp) / "out"), style, size=None,
                              long_range=min(4, len(frames) - 1), quiet=True)
    return float(figures["grade_flicker_ratio"])


def report_run(ckpt: Path, data, run_dir: Path, train_seconds: float) -> dict:
    """Grade the run's keyframe and held-out frames with `ckpt` (its best.ckpt); write
    `figures.json` and `strip.jpg` (and `strip_input.jpg`, the same frames ungraded) into
    `run_dir`. Returns the figures."""
    from vst.grader import Grader
    from vst.io.frames import from_float, open_frames
    from vst.io.image import resize_short_side, save_image

    grader = Grader(ckpt, work_size="auto")
    # the same frames in every run of a sweep, as 8-bit frames like predict's
    inputs = from_float(torch.cat([data.keyframes[:1], data.val]), np.uint8)
    outputs = grader(inputs)
    figures = _style_and_structure(inputs[1:] if len(inputs) > 1 else inputs,
                                   outputs[1:] if len(outputs) > 1 else outputs, data.style)
    start, end = max(data.shots, key=lambda s: s[1] - s[0])
    if end - start >= 3:  # a run of consecutive frames from the middle of the longest shot
        first = max(start, (start + end) // 2 - FLICKER_FRAMES // 2)
        frames = open_frames(data.video, "video").read(list(range(first, min(end, first + FLICKER_FRAMES))))
        clip = from_float(resize_short_side(frames, data.size), np.uint8)
        graded = grader(clip, grader.one_shot_stats(clip))  # one shot: one transform, as predict's
        figures["grade_flicker_ratio"] = _grade_flicker(clip, graded, data.style_path)
    figures.update(train_seconds=round(train_seconds, 1), best_ckpt=str(ckpt))
    (run_dir / "figures.json").write_text(json.dumps(figures, indent=1) + "\n")
    for name, strip in (("strip.jpg", outputs), ("strip_input.jpg", inputs)):
        save_image(np.concatenate(list(strip), 1), run_dir / name, overwrite=True)
    return figures
