"""`python -m vst.lut ckpt=CKPT video=VIDEO [output=DIR] [size=33]`: the trained grade as 3D LUTs
(.cube) for a colourist's tools: one per shot (shots found as predict finds them) and one for
the whole clip, each fitted to the network's own render of frames spread over its shot.

A LUT is one global colour transform. The network's grade is mostly that (its locality term
holds it there), but it may still vary across the frame: `luts.json` says for each LUT how
far it is from the network's render (PSNR in dB, mean CIEDE2000), so a colourist knows when
the LUT is the grade and when it is an approximation of it.
"""

from __future__ import annotations

import bisect
import functools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from vst.cli import hydra_entry, path_setting

log = logging.getLogger("vst")
LUT_SIZE = 33        # what Resolve and most tools expect; predict's grade=lut uses it too
FRAMES_PER_SHOT = 8  # frames of a shot the network grades for its fit


@dataclass
class FittedLut:
    """A LUT and the frames it stands for, with its error against the network's render."""

    lut: np.ndarray          # n x n x n x 3, indexed [r, g, b]
    first_frame: int
    last_frame: int
    psnr: float              # dB, LUT(input) vs the network's output on the sampled frames
    delta_e: float           # mean CIEDE2000 of the same pixels


def _errors(lut: np.ndarray, pairs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float]:
    """(PSNR dB, mean CIEDE2000) of LUT(input) against the network's output, 8-bit as rendered."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    from vst.metrics.lut import apply_lut

    x = np.concatenate([p[0] for p in pairs])[None]
    y = np.concatenate([p[1] for p in pairs])[None]
    z = np.clip(np.round(apply_lut(lut, x) * 255), 0, 255) / 255
    mse = float(np.mean((z - y) ** 2))
    psnr = float(10 * np.log10(1 / max(mse, 1e-12)))
    return psnr, float(np.mean(deltaE_ciede2000(rgb2lab(y), rgb2lab(z))))


def fit_luts(source, grader, size: int = 33, per_shot: int = 8, batch: int = 2, shot_pass=None,
             ) -> tuple[list[FittedLut], FittedLut]:
    """One LUT per shot of `source` (a still or a folder is one shot) and one for all of it,
    fitted to `grader`'s render of `per_shot` frames spread over each shot (a video's shots
    as `shot_pass` found them, or as a pass made here finds them)."""
    from tqdm import tqdm

    from vst.io.frames import from_float
    from vst.metrics.lut import LutFit, sample_pixels
    from vst.shots import shot_keyframes

    stats = boxes = None
    if source.kind == "video":
        found = shot_pass or grader.shot_stats(source, batch)
        stats, boxes, shots = found.stats, found.boxes, found.shots
    else:
        shots = [(0, len(source))]
    pairs: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in shots]
    fits, whole = [LutFit(size) for _ in shots], LutFit(size)
    for k, (start, end) in enumerate(tqdm(shots, unit="shot", desc="fitting LUTs", dynamic_ncols=True)):
        for i in shot_keyframes([(start, end)], per_shot):
            rgb = from_float(source.read([i]), np.uint8)
            graded = grader(rgb, None if stats is None else stats[i:i + 1],
                            None if boxes is None else boxes[i:i + 1])
            shown = from_float(grader.prepare(rgb), np.uint8)  # the input at the graded size
            x, y = (sample_pixels(a[0].astype(np.float32) / 255) for a in (shown, graded))
            fits[k].add(x, y)
            whole.add(x, y)
            pairs[k].append((x, y))
    shot_luts = []
    for (start, end), fit, shot_pairs in zip(shots, fits, pairs, strict=True):
        lut = fit.solve()
        shot_luts.append(FittedLut(lut, start, end - 1, *_errors(lut, shot_pairs)))
    if len(shots) == 1:  # the same pixels: the same fit
        return shot_luts, shot_luts[0]
    lut = whole.solve()
    every = [p for shot_pairs in pairs for p in shot_pairs]
    return shot_luts, FittedLut(lut, 0, shots[-1][1] - 1, *_errors(lut, every))


def predict_luts(source, grader, shot_pass, batch: int = 2) -> list[np.ndarray]:
    """predict's grade=lut: the LUT of each shot `shot_pass` found, then the whole clip's."""
    shot_luts, whole = fit_luts(source, grader, LUT_SIZE, FRAMES_PER_SHOT, batch, shot_pass)
    log.info("grade=lut: %d shot%s, each graded by its %d^3 LUT (fit to the network: PSNR "
             "%.1f dB at worst, mean dE2000 %.2f at worst)", len(shot_luts),
             "" if len(shot_luts) == 1 else "s", LUT_SIZE, min(f.psnr for f in shot_luts),
             max(f.delta_e for f in shot_luts))
    return [f.lut for f in shot_luts] + [whole.lut]


class LutRender:
    """predict's grade=lut: frames, index of the first -> frames graded by their shot's LUT
    (`predict_luts`: one per shot, then the whole clip's), on the grader's device. A fixed LUT
    per shot cannot flicker or place colour by position."""

    def __init__(self, luts: list[np.ndarray], shots: list[tuple[int, int]], grader):
        from vst.metrics.lut import dense_table8, lut_table

        self.grader = grader
        self.tables = [lut_table(lut, grader.device) for lut in luts[:-1]]
        self.whole = lut_table(luts[-1], grader.device)
        self.ends = [end for _, end in shots]
        # 8-bit frames graded as they come: one gather in the LUT at every 8-bit colour (48 MB,
        # built when its shot starts; only the current one is kept)
        self._dense = functools.lru_cache(maxsize=1)(dense_table8)

    def _table(self, frame: int):
        shot = bisect.bisect_right(self.ends, frame)
        return self.tables[shot] if shot < len(self.tables) else self.whole

    def __call__(self, frames: np.ndarray, start: int, after: Sequence[np.ndarray] = ()) -> np.ndarray:
        import torch

        from vst.io.frames import from_float
        from vst.metrics.lut import apply_dense8, apply_table

        if frames.dtype == np.uint8 and self.grader.size is None:
            return np.stack([apply_dense8(self._dense(self._table(start + i)), frame)
                             for i, frame in enumerate(frames)])
        with torch.inference_mode():
            x = self.grader.prepare(frames)
            y = torch.cat([apply_table(self._table(start + i), x[i:i + 1]) for i in range(len(x))])
            return from_float(y, frames.dtype)


def timecode(frame: int, fps: float) -> str:
    """SMPTE non-drop-frame timecode HH:MM:SS:FF of frame `frame` (the first frame is 00:00:00:00)."""
    rate = max(1, round(fps))
    seconds, frames = divmod(frame, rate)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}:{frames:02d}"


def write_luts(folder: Path, source, shot_luts: list[FittedLut], whole: FittedLut, ckpt: Path,
               overwrite: bool) -> list[dict]:
    """DIR/<name>_shotNNN.cube per shot, DIR/<name>_all.cube, DIR/luts.json; all or nothing."""
    from vst.io.atomic import atomic_folder
    from vst.io.cube import cube_text

    stem = source.path.stem
    fps = source.info.fps if source.kind == "video" else None
    named = [(f"{stem}_shot{k + 1:03d}.cube", k + 1, fitted) for k, fitted in enumerate(shot_luts)]
    if len(shot_luts) > 1:  # one shot: its LUT is the whole clip's
        named.append((f"{stem}_all.cube", None, whole))
    entries = []
    with atomic_folder(folder, overwrite, protect=source.path) as tmp:
        for name, shot, fitted in named:
            (tmp / name).write_text(cube_text(fitted.lut, f"vst {stem} " + (
                f"shot {shot}" if shot else "whole clip")))
            entries.append({
                "file": name, "shot": shot, "first_frame": fitted.first_frame,
                "last_frame": fitted.last_frame,
                "timecode_in": timecode(fitted.first_frame, fps) if fps else None,
                "timecode_out": timecode(fitted.last_frame, fps) if fps else None,
                "psnr": round(fitted.psnr, 2), "delta_e": round(fitted.delta_e, 3)})
        (tmp / "luts.json").write_text(json.dumps({
            "source": str(source.path), "ckpt": str(ckpt), "size": int(whole.lut.shape[0]),
            "note": "each LUT is one global colour transform fitted to the network's render of "
                    "frames of its shot; psnr (dB) and delta_e (mean CIEDE2000) say how far it "
                    "is from that render (the network's grade may vary across the frame)",
            "luts": entries}, indent=2))
    return entries


def export(cfg: DictConfig) -> Path:
    """Write the LUTs of cfg.ckpt's grade of cfg.video; returns the folder."""
    from vst.grader import Grader
    from vst.io import open_frames

    ckpt = path_setting(cfg, "ckpt", "outputs/.../best.ckpt")
    source = open_frames(path_setting(cfg, "video", "clip.mp4"), "video")
    folder = path_setting(cfg, "output") or ckpt.resolve().parent / f"{source.path.stem}_luts"
    grader = Grader(ckpt, cfg.accelerator, cfg.precision, cfg.channels_last, cfg.work_size)
    shot_luts, whole = fit_luts(source, grader, cfg.size, cfg.frames_per_shot, cfg.batch_size)
    entries = write_luts(folder, source, shot_luts, whole, ckpt, cfg.overwrite)
    for e in entries:
        span = f"frames {e['first_frame']}-{e['last_frame']}"
        print(f"{e['file']:<32} {span:<18} PSNR {e['psnr']:.1f} dB, mean dE2000 {e['delta_e']:.2f}")
    print(f"{len(entries)} LUT{'s' if len(entries) != 1 else ''} ({cfg.size}^3) and luts.json -> "
          f"{folder}", flush=True)
    return folder


main = hydra_entry("lut", export)  # `python -m vst.lut ...`


if __name__ == "__main__":
    main()
