"""`python -m vst.evaluate input=IN output=OUT [style=STYLE] [json=PATH]`: flicker,
structure and style figures of a graded clip, as a table, a flat JSON and a per-frame plot."""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import hydra
import numpy as np
from omegaconf import DictConfig

from vst.cli import path_setting, run_hydra_cli
from vst.errors import VstError, report_user_errors
from vst.io.atomic import atomic_file, check_target

log = logging.getLogger("vst")
CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")


def iter_frames(path: str, what: str, size: int | None, limit: int | None) -> tuple[int, Iterator]:
    """Frame count and an iterator of HxWx3 float32 RGB frames at short side `size`."""
    from vst.io import open_frames
    from vst.io.frames import iter_batches
    from vst.io.image import resize_short_side

    source = open_frames(path, what)
    n = len(source) if limit is None else min(len(source), int(limit))

    def frames():
        for batch in iter_batches(source, 8, n):
            yield from resize_short_side(batch, size).permute(0, 2, 3, 1).numpy()

    return n, frames()


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
             vgg_weights: str | None = None, vgg_every: int = 10) -> tuple[dict, dict]:
    """(figures, per-frame curves) for `output` graded from `input`. With VGG19 weights
    (vgg_weights: auto, a path, or random for tests) and a style, every `vgg_every`-th frame
    also gets the Gram style loss of the perceptual training objective."""
    from tqdm import tqdm

    from vst.io.image import load_image, resize_short_side
    from vst.metrics.color import LabStats, gaussian_w2
    from vst.metrics.structure import ssim_luma
    from vst.metrics.temporal import FlowEstimator, WarpErrors, luma, pair_errors
    from vst.shots import ShotDetector

    n_in, ins = iter_frames(input, "input", size, max_frames)
    n_out, outs = iter_frames(output, "output", size, max_frames)
    if n_in != n_out:
        raise VstError(f"input has {n_in} frames but output has {n_out}: not the same clip")
    flow = FlowEstimator()
    shot_detector = ShotDetector()
    pairs: dict[int, list[tuple[int, float, float]]] = {1: [], long_range: []}  # k -> (t, out, in)
    curves: dict[str, list[float]] = {k: [] for k in (
        "warp_error_output", "warp_error_input", "luma_output", "luma_input", "ssim_luma",
        "ssim_structure")}
    lab_in: list[LabStats] = []
    lab_out: list[LabStats] = []
    history: deque = deque(maxlen=long_range)  # the last `long_range` (input, output) pairs
    gram = _vgg_style_loss(vgg_weights) if style else None
    gram_target, gram_in, gram_out = None, [], []
    if gram is not None:
        import torch

        style_image = resize_short_side(load_image(style, "style").unsqueeze(0), size)
        gram_target = gram.style_targets(style_image)

        def gram_loss(frame):
            x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None]
            with torch.no_grad():
                return float(gram(x, gram.content_targets(x), gram_target)["style"])
    for a, b in tqdm(zip(ins, outs, strict=True), total=n_in, unit="frame", desc="evaluating"):
        if a.shape != b.shape:
            raise VstError(f"frames differ in size: input {a.shape[1]}x{a.shape[0]}, "
                           f"output {b.shape[1]}x{b.shape[0]}")
        s, st = ssim_luma(b, a)
        curves["ssim_luma"].append(s)
        curves["ssim_structure"].append(st)
        curves["luma_output"].append(float(luma(b).mean()))
        curves["luma_input"].append(float(luma(a).mean()))
        lab_in.append(LabStats().add(a[::2, ::2]))
        lab_out.append(LabStats().add(b[::2, ::2]))
        shot_detector.add(np.clip(a * 255 + 0.5, 0, 255).astype(np.uint8))
        t = len(lab_in) - 1
        if gram is not None and len(curves["ssim_luma"]) % vgg_every == 1:
            gram_in.append(gram_loss(a))
            gram_out.append(gram_loss(b))
        if history:
            pairs[1].append((t, *pair_errors(flow, history[-1][0], a, history[-1][1], b)))
        if len(history) == long_range:  # history[0] is frame t - long_range
            pairs[long_range].append((t, *pair_errors(flow, history[0][0], a, history[0][1], b)))
        history.append((a, b))

    # a pair of frames across a cut is not motion: its flow is meaningless, its change is the
    # cut itself. Warping errors and flicker are taken inside shots only.
    shots = shot_detector.shots()
    shot_id = np.concatenate([np.full(e - s, i) for i, (s, e) in enumerate(shots)])
    same = {k: [(t, eo, ei) for t, eo, ei in v if shot_id[t] == shot_id[t - k]] for k, v in pairs.items()}
    short = WarpErrors([eo for _, eo, _ in same[1]], [ei for _, _, ei in same[1]])
    long = WarpErrors([eo for _, eo, _ in same[long_range]], [ei for _, _, ei in same[long_range]])
    for name, column in (("warp_error_output", 1), ("warp_error_input", 2)):
        curves[name] = [float("nan")] * n_in
        for row in same[1]:
            curves[name][row[0]] = row[column]

    def flicker(series: list[float]) -> float:
        steps = np.abs(np.diff(series))[shot_id[1:] == shot_id[:-1]]
        return float(np.mean(steps)) if len(steps) else 0.0

    figures = {
        "frames": n_in,
        "shots": len(shots),
        "warp_error_output": float(np.mean(short.output)) if short.output else 0.0,
        "warp_error_input": float(np.mean(short.input)) if short.input else 0.0,
        "warp_error_ratio": short.ratio,
        "warp_error_pairs": len(same[1]),
        f"warp_error_long_k{long_range}_output": float(np.mean(long.output)) if long.output else 0.0,
        f"warp_error_long_k{long_range}_input": float(np.mean(long.input)) if long.input else 0.0,
        f"warp_error_long_k{long_range}_ratio": long.ratio,
        f"warp_error_long_k{long_range}_pairs": len(same[long_range]),
        "luma_flicker_output": flicker(curves["luma_output"]),
        "luma_flicker_input": flicker(curves["luma_input"]),
        "ssim_luma": float(np.mean(curves["ssim_luma"])),
        "ssim_structure": float(np.mean(curves["ssim_structure"])),
    }
    if len(shots) > 1:  # a short, calm shot can shimmer while the clip's mean hides it
        for k, key in ((1, "warp_error_ratio"), (long_range, f"warp_error_long_k{long_range}_ratio")):
            per_shot = [WarpErrors([eo for t, eo, _ in same[k] if shot_id[t] == i],
                                   [ei for t, _, ei in same[k] if shot_id[t] == i]).ratio
                        for i in range(len(shots))]
            figures.update({f"{key}_shot{i + 1}": r for i, r in enumerate(per_shot)})
            figures[f"{key}_shot_max"] = float(np.nanmax(per_shot)) \
                if np.isfinite(per_shot).any() else float("nan")
    li, lo = figures["luma_flicker_input"], figures["luma_flicker_output"]
    figures["luma_flicker_ratio"] = lo / li if li > 0 else float("nan")
    if style:
        image = resize_short_side(load_image(style, "style").unsqueeze(0), size)[0]
        lab_style = LabStats().add(image.permute(1, 2, 0).numpy()[::2, ::2])

        def moved(frames: slice) -> tuple[float, float, float]:
            before = gaussian_w2(LabStats.merge(lab_in[frames]), lab_style)
            after = gaussian_w2(LabStats.merge(lab_out[frames]), lab_style)
            return before, after, 1 - after / before if before > 0 else float("nan")

        before, after, whole = moved(slice(None))
        figures.update({"lab_w2_input_to_style": before, "lab_w2_output_to_style": after,
                        "style_moved": whole})
        if len(shots) > 1:  # does every shot take the look, or only the one trained on?
            per_shot = [moved(slice(s, e))[2] for s, e in shots]
            figures.update({f"style_moved_shot{i + 1}": m for i, m in enumerate(per_shot)})
            figures.update({"style_moved_shot_min": min(per_shot), "style_moved_shot_max": max(per_shot),
                            "style_moved_shot_min_over_max": min(per_shot) / max(per_shot)
                            if max(per_shot) > 0 else float("nan")})
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
    figures, curves = evaluate(source, graded, style, cfg.size, int(cfg.long_range),
                               cfg.max_frames, cfg.vgg_weights)
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


@hydra.main(config_path=CONF_DIR, config_name="evaluate", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> None:
    with report_user_errors():
        run(cfg)


def main() -> None:
    run_hydra_cli(_hydra_main)


if __name__ == "__main__":
    main()
