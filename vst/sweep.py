"""A sweep's summary, to choose between its runs: `<sweep dir>/summary.md` (one row per run:
its settings, the figures of vst/run_report.py, training time, best.ckpt; the best run by the
rule below) and `<sweep dir>/contact_sheet.jpg` (one row per run, labelled with its settings:
the same keyframe and held-out frames graded, under the input and the style still).

A Hydra callback: it runs wherever the jobs run (any launcher), after each run ends and once
more when the sweep ends.

The best run: the highest `style_moved` among the runs that keep the picture's structure
(`ssim_structure` >= 0.95) and are as steady as a fixed grade (`grade_flicker_ratio` <= 1.2,
where measured); if no run qualifies, the one with the highest `ssim_structure`.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
from hydra.experimental.callback import Callback as HydraCallback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("vst")

MIN_STRUCTURE, MAX_FLICKER = 0.95, 1.2
ROW_HEIGHT, LABEL_WIDTH = 160, 320
NOT_SETTINGS = ("video=", "style=", "hydra.", "vgg.weights=")


def _runs(sweep_dir: Path) -> list[dict[str, Any]]:
    """The finished runs of a sweep (those with figures.json), in job order."""
    runs = []
    for folder in sweep_dir.iterdir():
        figures = folder / "figures.json"
        if not figures.is_file():
            continue
        overrides_file = folder / ".hydra" / "overrides.yaml"
        overrides = OmegaConf.to_container(OmegaConf.load(overrides_file)) if overrides_file.is_file() else []
        settings = [o for o in overrides if not o.startswith(NOT_SETTINGS)]
        num = folder.name.split("_", 1)[0]
        runs.append({"folder": folder, "num": int(num) if num.isdigit() else math.inf,
                     "overrides": settings, **json.loads(figures.read_text())})
    runs.sort(key=lambda r: (r["num"], r["folder"].name))
    common = set.intersection(*(set(r["overrides"]) for r in runs)) if runs else set()
    for r in runs:  # what sets a run apart; what all share is said once
        r["settings"] = " ".join(o for o in r["overrides"] if o not in common) or "(as the others)"
        r["common"] = " ".join(o for o in r["overrides"] if o in common)
    return runs


def best_run(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The module docstring's rule."""
    def steady(r):
        return not (r.get("grade_flicker_ratio", 0) > MAX_FLICKER)  # nan / absent: not measured

    good = [r for r in runs if r["ssim_structure"] >= MIN_STRUCTURE and steady(r)]
    if good:
        return max(good, key=lambda r: r["style_moved"])
    return max(runs, key=lambda r: r["ssim_structure"], default=None)


def _figure(value: Any) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def summary_markdown(sweep_dir: Path, runs: list[dict[str, Any]]) -> str:
    best = best_run(runs)
    rows = ["| run | settings | style moved | structure | grade flicker | train s | best.ckpt |",
            "|---|---|---|---|---|---|---|"]
    for r in runs:
        mark = " **best**" if r is best else ""
        rows.append(f"| {r['num']}{mark} | {r['settings']} | {_figure(r['style_moved'])} | "
                    f"{_figure(r['ssim_structure'])} | {_figure(r.get('grade_flicker_ratio'))} | "
                    f"{r['train_seconds']:.0f} | {r['best_ckpt']} |")
    return "\n".join([
        f"# Sweep {sweep_dir}", "",
        "Figures on frames the runs did not train on, comparable whatever the loss weights:",
        "style moved (0 = the colours did not move towards the style still, 1 = all the way), "
        "structure (SSIM structure term against the input, 1 = every edge kept), grade flicker "
        "(warping error against a fixed grade with the same look, 1 = as steady).", "",
        f"Best: the highest style moved among the runs with structure >= {MIN_STRUCTURE} and grade "
        f"flicker <= {MAX_FLICKER}; if none qualifies, the highest structure.", "",
        f"Settings of every run: {runs[0]['common'] or '(the defaults)'}", "",
        *rows, "",
        f"Best run: {best['folder'] if best else '-'}", "",
        "Contact sheet: contact_sheet.jpg (the input and the style still on top, then one row per run).",
        ""])


def _row(label: str, strip, extra=None):
    """A labelled row of the sheet: the label, then `strip` (and `extra`) at ROW_HEIGHT."""
    import textwrap

    from PIL import Image, ImageDraw, ImageFont

    parts = [strip] + ([extra] if extra is not None else [])
    parts = [p.resize((max(1, round(p.width * ROW_HEIGHT / p.height)), ROW_HEIGHT)) for p in parts]
    row = Image.new("RGB", (LABEL_WIDTH + sum(p.width for p in parts) + 8 * len(parts), ROW_HEIGHT),
                    (24, 24, 24))
    draw = ImageDraw.Draw(row)
    font = ImageFont.load_default(size=16)
    lines = [line for part in label.split("\n") for line in textwrap.wrap(part, 34)]
    draw.multiline_text((8, 8), "\n".join(lines[:8]), fill=(235, 235, 235), font=font)
    x = LABEL_WIDTH
    for p in parts:
        row.paste(p, (x, 0))
        x += p.width + 8
    return row


def contact_sheet(runs: list[dict[str, Any]]):
    """The sheet as a PIL image."""
    from PIL import Image

    first = runs[0]["folder"]
    style = OmegaConf.load(first / ".hydra" / "config.yaml").get("style") \
        if (first / ".hydra" / "config.yaml").is_file() else None
    style_image = None
    if style and Path(style).is_file():
        from vst.io.image import load_image, to_uint8_hwc

        style_image = Image.fromarray(to_uint8_hwc(load_image(style, "style")))
    rows = [_row("input  |  style still", Image.open(first / "strip_input.jpg").convert("RGB"), style_image)]
    rows += [_row(f"{r['folder'].name.split('_', 1)[0]}: {r['settings']}\nstyle moved "
                  f"{_figure(r['style_moved'])}\nstructure {_figure(r['ssim_structure'])}\nflicker "
                  f"{_figure(r.get('grade_flicker_ratio'))}",
                  Image.open(r["folder"] / "strip.jpg").convert("RGB")) for r in runs]
    sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height + 4 for r in rows)), (0, 0, 0))
    y = 0
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height + 4
    return sheet


def write_summary(sweep_dir: Path) -> Path | None:
    """Write summary.md and contact_sheet.jpg of the runs finished so far; the summary's path."""
    from vst.io.atomic import atomic_file
    from vst.io.image import save_image

    runs = _runs(sweep_dir) if sweep_dir.is_dir() else []
    if not runs:
        return None
    summary = sweep_dir / "summary.md"
    with atomic_file(summary, overwrite=True, what="sweep summary") as tmp:
        tmp.write_text(summary_markdown(sweep_dir, runs))
    save_image(np.asarray(contact_sheet(runs)), sweep_dir / "contact_sheet.jpg", overwrite=True)
    return summary


class SweepSummary(HydraCallback):
    """Writes the sweep's summary after each of its runs and when it ends."""

    def on_job_end(self, config: DictConfig, job_return: Any = None, **kwargs: Any) -> None:
        if str(OmegaConf.select(config, "hydra.mode")) != "RunMode.MULTIRUN":
            return
        try:  # another job may be writing it: the last to finish, and the sweep's end, rewrite it
            write_summary(Path(config.hydra.sweep.dir))
        except Exception as err:  # noqa: BLE001 - a summary never fails a run
            log.debug("sweep summary not written now: %s", err)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        summary = write_summary(Path(config.hydra.sweep.dir))
        if summary is not None:
            print(f"sweep summary:    {summary}\ncontact sheet:    {summary.parent / 'contact_sheet.jpg'}",
                  flush=True)
