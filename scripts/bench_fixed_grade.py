"""What the warping-error ratio of a grade owes to its strength alone.

A grade that raises contrast or saturation raises every frame-to-frame difference the flow
cannot explain (grain, compression noise, motion edges) by the same factor, so even a grade
that cannot flicker has a warping-error ratio above 1. This grades a clip with the most
stable grade there is, one fixed linear Lab transform per shot (Monge-Kantorovich: the
shot's middle frame's Lab Gaussian onto the style's, `--amount` of the way), and prints the
ratios `python -m vst.evaluate` would report for it next to how far it moved each shot.

    python scripts/bench_fixed_grade.py CLIP STYLE [--amount 1.0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vst.io import open_frames  # noqa: E402
from vst.io.frames import to_float  # noqa: E402
from vst.io.image import load_image, resize_short_side  # noqa: E402
from vst.metrics.color import LabStats, gaussian_w2, sqrtm_psd, to_lab  # noqa: E402
from vst.metrics.temporal import FlowEstimator, luma, pair_errors  # noqa: E402
from vst.picture import picture_of  # noqa: E402
from vst.shots import detect_shots  # noqa: E402


def monge_kantorovich(a: LabStats, b: LabStats) -> np.ndarray:
    """The linear map taking Gaussian a's covariance onto b's with the least motion."""
    sa = sqrtm_psd(a.cov)
    inv = np.linalg.inv(sa + 1e-6 * np.eye(3))
    return inv @ sqrtm_psd(sa @ b.cov @ sa) @ inv


def fixed_grade_figures(clip: str | Path, style: str | Path, amount: float = 1.0,
                        size: int = 360) -> dict:
    """evaluate's flicker and style figures for the fixed per-shot grade of `clip`."""
    source = open_frames(str(clip), "clip")
    shots = detect_shots(source)
    frames = [f for rgbs, _ in source.stream(16)
              for f in resize_short_side(to_float(rgbs), size).permute(0, 2, 3, 1).numpy()]
    image = resize_short_side(load_image(str(style), "style")[None], size)[0]
    lab_style = LabStats().add(image.permute(1, 2, 0).numpy()[::2, ::2])
    graded = []
    for s, e in shots:
        key = LabStats().add(frames[(s + e) // 2], picture_of(frames[(s + e) // 2]))
        t = amount * monge_kantorovich(key, lab_style) + (1 - amount) * np.eye(3)
        mean = amount * lab_style.mean + (1 - amount) * key.mean
        for f in frames[s:e]:
            lab = ((to_lab(f) - key.mean) @ t.T + mean).reshape(f.shape).astype(np.float32)
            graded.append(np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0, 1))
    shot_id = np.concatenate([np.full(e - s, i) for i, (s, e) in enumerate(shots)])
    flow = FlowEstimator()
    figures: dict = {"shots": len(shots)}
    for k, key in ((1, "warp_error_ratio"), (10, "warp_error_long_k10_ratio")):
        pairs = [pair_errors(flow, frames[t - k], frames[t], graded[t - k], graded[t])
                 for t in range(k, len(frames)) if shot_id[t] == shot_id[t - k]]
        figures[key] = float(np.mean([o for o, _ in pairs]) / np.mean([i for _, i in pairs]))
    same = shot_id[1:] == shot_id[:-1]
    steps_out = np.abs(np.diff([luma(g).mean() for g in graded]))[same]
    steps_in = np.abs(np.diff([luma(f).mean() for f in frames]))[same]
    figures["luma_flicker_ratio"] = float(steps_out.mean() / steps_in.mean())

    def moved(part: slice) -> float:
        masks = [picture_of(f[::2, ::2]) for f in frames[part]]
        before = gaussian_w2(LabStats.merge([LabStats().add(f[::2, ::2], m)
                                             for f, m in zip(frames[part], masks, strict=True)]), lab_style)
        after = gaussian_w2(LabStats.merge([LabStats().add(g[::2, ::2], m)
                                            for g, m in zip(graded[part], masks, strict=True)]), lab_style)
        return 1 - after / before if before > 0 else float("nan")

    figures["style_moved"] = moved(slice(None))
    per_shot = [moved(slice(s, e)) for s, e in shots]
    figures.update({f"style_moved_shot{i + 1}": m for i, m in enumerate(per_shot)})
    figures["style_moved_shot_min"] = float(np.nanmin(per_shot))
    figures["style_moved_shot_min_over_max"] = float(np.nanmin(per_shot) / np.nanmax(per_shot))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip")
    parser.add_argument("style")
    parser.add_argument("--amount", type=float, default=1.0, help="0 = no grade, 1 = full match")
    parser.add_argument("--size", type=int, default=360, help="short side compared (as evaluate)")
    args = parser.parse_args()
    figures = fixed_grade_figures(args.clip, args.style, args.amount, args.size)
    print(f"{Path(args.clip).name} + {Path(args.style).name}, amount {args.amount}: "
          f"one fixed Lab transform per shot")
    for key, value in figures.items():
        print(f"  {key:<32} {value:.3f}" if isinstance(value, float) else f"  {key:<32} {value}")


if __name__ == "__main__":
    main()
