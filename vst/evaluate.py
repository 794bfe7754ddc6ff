"""`python -m vst.evaluate input=IN output=OUT [style=STYLE] [json=PATH]`: flicker,
structure and style figures of a graded clip, as a table, a flat JSON and a per-frame plot."""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from vst.cli import hydra_entry, path_setting
from vst.errors import VstError
from vst.io.atomic import atomic_file, check_target

log = logging.getLogger("vst")


def iter_frames(path: str, what: str, size: int | None, limit: int | None,
                full: bool = False) -> tuple[int, Iterator]:
    """Frame count and an iterator of HxWx3 float32 RGB frames at short side `size` (with
    `full`: (full-resolution frame, frame at `size`) pairs)."""
    from vst.io import open_frames
    from vst.io.frames import to_float

    source = open_frames(path, what)
    n = len(source) if limit is None else min(len(source), int(limit))

    def frames():
        for rgbs, _ in source.stream(8, n):
            batch = to_float(rgbs)
            small = _at_size(batch, size)
            yield from zip(batch.permute(0, 2, 3, 1).numpy(), small, strict=True) if full else small

    return n, frames()


def _at_size(batch, size: int | None) -> np.ndarray:
    """Nx3xHxW float tensor -> NxHxWx3 float32 array at short side `size` (evaluate's scale)."""
    from vst.io.image import resize_short_side

    return resize_short_side(batch, size).permute(0, 2, 3, 1).numpy()


def _vgg_style_loss(vgg_weights: str | None):
    """A function frame -> VGG Gram style loss against the style, or None without weights."""
    if not vgg_weights:
        return None
    from vst.losses.perceptual import PerceptualLoss
    from vst.models import vgg as vgg_module
    from vst.models.vgg import load_vgg19

    if vgg_weights == "auto":  # an optional figure: use weights already here, never download
        cached = vgg_module.hub_cache_file()
        if not cached.is_file():
            log.info("no VGG Gram figure: no VGG19 weights in %s", cached)
            return None
        vgg_weights = str(cached)
    try:
        vgg, source = load_vgg19(vgg_weights)
    except VstError as err:
        log.info("no VGG Gram figure: %s", str(err).split(".")[0])
        return None
    if source == "random":
        log.warning("VGG Gram figure from RANDOM VGG features: not meaningful")
    return PerceptualLoss(vgg, "conv4_2", {"conv1_1": 0.1, "conv2_1": 0.2, "conv3_1": 0.4,
                                           "conv4_1": 0.8, "conv5_1": 1.6})


def evaluate(input: str, output: str, style: str | None = None, size: int | None = 360,
             long_range: int = 10, max_frames: int | None = None,
             vgg_weights: str | None = None, vgg_every: int = 10, quiet: bool = False,
             ) -> tuple[dict, dict]:
    """(figures, per-frame curves) for `output` graded from `input`. With VGG19 weights
    (vgg_weights: auto, a path, or random for tests) and a style, every `vgg_every`-th frame
    also gets the Gram style loss of the perceptual training objective. quiet: no progress bars.

    Three passes over the frames: shots (in the input); colour, structure and the per-shot
    LUT fits; then the warping errors of the output, the input and the LUT reference."""
    import torch
    from tqdm import tqdm

    from vst.io.image import load_image, resize_short_side
    from vst.metrics.color import LabStats, gaussian_w2
    from vst.metrics.lut import LutFit, apply_lut, sample_pixels
    from vst.metrics.structure import ssim_luma
    from vst.metrics.temporal import FlowEstimator, WarpErrors, luma, pair_errors
    from vst.picture import picture_of
    from vst.shots import ShotDetector

    def both(desc: str):
        n_in, ins = iter_frames(input, "input", size, max_frames, full=True)
        n_out, outs = iter_frames(output, "output", size, max_frames, full=True)
        if n_in != n_out:
            raise VstError(f"input has {n_in} frames but output has {n_out}: not the same clip")
        return n_in, tqdm(zip(ins, outs, strict=True), total=n_in, unit="frame", desc=desc, disable=quiet)

    # pass 1: shots of the input. A pair of frames across a cut is not motion (its flow is
    # meaningless, its change is the cut itself): warping errors and flicker are taken
    # inside shots only, and each shot gets its own LUT.
    n_in, ins = iter_frames(input, "input", size, max_frames)
    shot_detector = ShotDetector()
    for a in tqdm(ins, total=n_in, unit="frame", desc="shots", disable=quiet):
        shot_detector.add(np.clip(a * 255 + 0.5, 0, 255).astype(np.uint8))
    shots = shot_detector.shots()
    shot_id = np.concatenate([np.full(e - s, i) for i, (s, e) in enumerate(shots)])

    # pass 2: per-frame colour and structure figures, and one LUT fitted per shot
    curves: dict[str, list[float]] = {k: [] for k in (
        "warp_error_output", "warp_error_input", "luma_output", "luma_input", "ssim_luma",
        "ssim_structure", "lut_fit_mse")}
    lab_in: list[LabStats] = []
    lab_out: list[LabStats] = []
    fits = [LutFit(bins=48) for _ in shots]
    gram = _vgg_style_loss(vgg_weights) if style else None
    gram_target, gram_in, gram_out = None, [], []
    if gram is not None:
        style_image = resize_short_side(load_image(style, "style").unsqueeze(0), size)
        gram_target = gram.style_targets(style_image)

        def gram_loss(frame):
            x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None]
            with torch.no_grad():
                return float(gram(x, gram.content_targets(x), gram_target)["style"])
    n_in, pairs_of_frames = both("evaluating")
    for t, ((a_full, a), (b_full, b)) in enumerate(pairs_of_frames):
        if a_full.shape != b_full.shape:
            raise VstError(f"frames differ in size: input {a_full.shape[1]}x{a_full.shape[0]}, "
                           f"output {b_full.shape[1]}x{b_full.shape[0]}")
        s, st = ssim_luma(b, a)
        curves["ssim_luma"].append(s)
        curves["ssim_structure"].append(st)
        curves["luma_output"].append(float(luma(b).mean()))
        curves["luma_input"].append(float(luma(a).mean()))
        # colours of the picture only: letterbox bars are not graded (vst/picture.py)
        picture = picture_of(a[::2, ::2])
        lab_in.append(LabStats().add(a[::2, ::2], picture))
        lab_out.append(LabStats().add(b[::2, ::2], picture))
        fits[shot_id[t]].add(sample_pixels(a_full), sample_pixels(b_full))
        if gram is not None and t % vgg_every == 0:
            gram_in.append(gram_loss(a))
            gram_out.append(gram_loss(b))
    luts = [fit.solve() for fit in tqdm(fits, unit="shot", desc="fitting LUTs", disable=quiet)]

    # pass 3: warping errors of the output, the input and the reference R_t = LUT(input_t),
    # all with the input's flow and occlusion mask. R is rendered as the output was: at full
    # resolution, 8 bits, then scaled like every frame here (a curve applied before or after
    # scaling a noisy frame does not give the same noise)
    flow = FlowEstimator()
    pairs: dict[int, list[tuple[int, float, float, float]]] = {1: [], long_range: []}  # (t, out, ref, in)
    history: deque = deque(maxlen=long_range)  # the last `long_range` (input, output, reference)
    _, pairs_of_frames = both("warping errors")
    for t, ((a_full, a), (_, b)) in enumerate(pairs_of_frames):
        graded = np.round(apply_lut(luts[shot_id[t]], a_full) * 255) / 255
        r = _at_size(torch.from_numpy(graded).permute(2, 0, 1)[None], size)[0]
        curves["lut_fit_mse"].append(float(np.mean((b - r) ** 2)))
        for k, prev in ((1, history[-1] if history else None),
                        (long_range, history[0] if len(history) == long_range else None)):
            if prev is not None and shot_id[t] == shot_id[t - k]:
                pairs[k].append((t, *pair_errors(flow, prev[0], a, prev[1], b, prev[2], r)))
        history.append((a, b, r))

    def warp_errors(k: int, shot: int | None = None, reference: bool = False) -> WarpErrors:
        rows = [row for row in pairs[k] if shot is None or shot_id[row[0]] == shot]
        return WarpErrors([row[1] for row in rows], [row[3 if not reference else 2] for row in rows])

    short, long = warp_errors(1), warp_errors(long_range)
    for name, column in (("warp_error_output", 1), ("warp_error_input", 3)):
        curves[name] = [float("nan")] * n_in
        for row in pairs[1]:
            curves[name][row[0]] = row[column]

    def flicker(series: list[float]) -> float:
        steps = np.abs(np.diff(series))[shot_id[1:] == shot_id[:-1]]
        return float(np.mean(steps)) if len(steps) else 0.0

    def psnr(mse: list[float]) -> float:
        return float(10 * np.log10(1 / max(float(np.mean(mse)), 1e-12)))

    figures = {
        "frames": n_in,
        "shots": len(shots),
        "warp_error_output": float(np.mean(short.output)) if short.output else 0.0,
        "warp_error_input": float(np.mean(short.input)) if short.input else 0.0,
        "warp_error_ratio": short.ratio,
        "warp_error_pairs": len(pairs[1]),
        f"warp_error_long_k{long_range}_output": float(np.mean(long.output)) if long.output else 0.0,
        f"warp_error_long_k{long_range}_input": float(np.mean(long.input)) if long.input else 0.0,
        f"warp_error_long_k{long_range}_ratio": long.ratio,
        f"warp_error_long_k{long_range}_pairs": len(pairs[long_range]),
        # flicker against a fixed grade with the same look (the shot's best LUT), not against
        # the input: a strong but steady grade scores 1.0 however much it raises contrast
        "grade_flicker_ratio": warp_errors(1, reference=True).ratio,
        f"grade_flicker_ratio_k{long_range}": warp_errors(long_range, reference=True).ratio,
        "lut_fit_psnr": psnr(curves["lut_fit_mse"]),
        "luma_flicker_output": flicker(curves["luma_output"]),
        "luma_flicker_input": flicker(curves["luma_input"]),
        "ssim_luma": float(np.mean(curves["ssim_luma"])),
        "ssim_structure": float(np.mean(curves["ssim_structure"])),
    }
    if len(shots) > 1:  # a short, calm shot can shimmer while the clip's mean hides it
        for k, key, reference in ((1, "warp_error_ratio", False),
                                  (long_range, f"warp_error_long_k{long_range}_ratio", False),
                                  (1, "grade_flicker_ratio", True),
                                  (long_range, f"grade_flicker_ratio_k{long_range}", True)):
            per_shot = [warp_errors(k, i, reference).ratio for i in range(len(shots))]
            figures.update({f"{key}_shot{i + 1}": r for i, r in enumerate(per_shot)})
            figures[f"{key}_shot_max"] = float(np.nanmax(per_shot)) \
                if np.isfinite(per_shot).any() else float("nan")
        per_shot = [psnr(curves["lut_fit_mse"][s:e]) for s, e in shots]
        figures.update({f"lut_fit_psnr_shot{i + 1}": p for i, p in enumerate(per_shot)})
        figures["lut_fit_psnr_shot_min"] = min(per_shot)
    li, lo = figures["luma_flicker_input"], figures["luma_flicker_output"]
    figures["luma_flicker_ratio"] = lo / li if li > 0 else float("nan")
    if style:
        image = resize_short_side(load_image(style, "style").unsqueeze(0), size)[0]
        lab_style = LabStats().add(image.permute(1, 2, 0).numpy()[::2, ::2])

        def moved(frames: slice) -> tuple[float, float, float]:
            a, b = LabStats.merge(lab_in[frames]), LabStats.merge(lab_out[frames])
            if not a.n:  # blank frames only: no picture to grade
                return float("nan"), float("nan"), float("nan")
            before, after = gaussian_w2(a, lab_style), gaussian_w2(b, lab_style)
            return before, after, 1 - after / before if before > 0 else float("nan")

        before, after, whole = moved(slice(None))
        figures.update({"lab_w2_input_to_style": before, "lab_w2_output_to_style": after,
                        "style_moved": whole})
        if len(shots) > 1:  # does every shot take the look, or only the one trained on?
            per_shot = [moved(slice(s, e))[2] for s, e in shots]
            figures.update({f"style_moved_shot{i + 1}": m for i, m in enumerate(per_shot)})
            low, high = float(np.nanmin(per_shot)), float(np.nanmax(per_shot))  # (blank shots: nan)
            figures.update({"style_moved_shot_min": low, "style_moved_shot_max": high,
                            "style_moved_shot_min_over_max": low / high if high > 0 else float("nan")})
    if gram_out:
        figures.update({"vgg_style_loss_input": float(np.mean(gram_in)),
                        "vgg_style_loss_output": float(np.mean(gram_out))})
    return figures, curves


def save_plot(curves: dict[str, list[float]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(10, 7), sharex=True)
    axes[0].plot(curves["warp_error_output"], label="output")
    axes[0].plot(curves["warp_error_input"], label="input")
    axes[0].set_ylabel("warping error (t-1 -> t)")
    axes[1].plot(curves["luma_output"], label="output")
    axes[1].plot(curves["luma_input"], label="input")
    axes[1].set_ylabel("mean luma")
    axes[2].plot(curves["ssim_luma"], label="SSIM")
    axes[2].plot(curves["ssim_structure"], label="structure term")
    axes[2].set_ylabel("output vs input")
    axes[2].set_xlabel("frame")
    for ax in axes:
        ax.legend(loc="upper right")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_file(path, overwrite=True) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def run(cfg: DictConfig) -> dict:
    source = path_setting(cfg, "input", "clip.mp4")
    graded = path_setting(cfg, "output", "clip_vst.mp4")
    style = path_setting(cfg, "style")
    json_path = path_setting(cfg, "json") or Path(f"{graded}".rstrip("/") + ".metrics.json")
    plot_path = path_setting(cfg, "plot") or json_path.with_suffix(".png")
    for p in (json_path, plot_path):
        check_target(p, overwrite=True, what="figures file")
    figures, curves = evaluate(source, graded, style, cfg.size, cfg.long_range,
                               cfg.max_frames, cfg.vgg.weights)
    with atomic_file(json_path, overwrite=True) as tmp:
        tmp.write_text(json.dumps({"input": str(source), "output": str(graded),
                                   "style": None if style is None else str(style), "size": cfg.size,
                                   **figures}, indent=2))
    save_plot(curves, plot_path, f"{Path(cfg.output).name} vs {Path(cfg.input).name}")
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value:.4g}" if isinstance(value, float) else f"{key:<{width}}  {value}")
    print(f"figures -> {json_path}\nper-frame plot -> {plot_path}", flush=True)
    return figures


main = hydra_entry("evaluate", run)  # `python -m vst.evaluate ...`


if __name__ == "__main__":
    main()
