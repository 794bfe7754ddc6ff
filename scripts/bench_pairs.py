"""Photo benchmark: the 10 Deep Photo Style Transfer pairs of ../shared/data/pairs.

For each pair: train on the content still (loss=color, no pretrained network; 100 steps at
256 px), grade it at full size, and score ours, the published DPST result and a global Lab mean/std
transfer (Reinhard et al. 2001) with the project's own metrics:
  moved  = 1 - W2(output, style) / W2(content, style)   (Gaussian W2 on CIELAB pixels)
  struct = SSIM's structure term on luma, output vs content (ignores tone changes)
Writes docs/pairs.md (per-pair table, train seconds) and docs/pairs_sheet.jpg
(content | style | DPST | Reinhard | ours). Not part of `make test`.

    python scripts/bench_pairs.py [--pairs 1 2 ...] [--out docs] [hydra overrides ...]
    e.g. python scripts/bench_pairs.py --pairs 1 3 trainer.max_steps=40 data.size=256
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
PAIRS = ROOT.parent / "shared" / "data" / "pairs"
sys.path.insert(0, str(ROOT))


def reinhard(content: Path, style: Path, out: Path) -> None:
    """Global colour transfer: match each Lab channel's mean and std to the style's."""
    def lab(p: Path) -> np.ndarray:
        rgb = np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 255
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)

    c, s = lab(content), lab(style)
    mc, sc = c.reshape(-1, 3).mean(0), c.reshape(-1, 3).std(0)
    ms, ss = s.reshape(-1, 3).mean(0), s.reshape(-1, 3).std(0)
    rgb = cv2.cvtColor(((c - mc) / np.maximum(sc, 1e-6) * ss + ms).astype(np.float32), cv2.COLOR_Lab2RGB)
    Image.fromarray((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)).save(out)


def run(cmd: list[str]) -> None:
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{result.stderr[-3000:]}")


def score(content: Path, output: Path, style: Path) -> tuple[float, float]:
    from vst.evaluate import evaluate

    figures, _ = evaluate(str(content), str(output), str(style), size=None)
    return figures["style_moved"], figures["ssim_structure"]


def sheet(rows: list[list[Path]], path: Path, height: int = 160) -> None:
    """One row per pair, the given images side by side at a common height."""
    tiles = [[Image.open(p).convert("RGB") for p in row] for row in rows]
    tiles = [[t.resize((round(t.width * height / t.height), height), Image.LANCZOS) for t in row]
             for row in tiles]
    width = max(sum(t.width for t in row) + 4 * (len(row) - 1) for row in tiles)
    out = Image.new("RGB", (width, len(tiles) * (height + 4)), "white")
    for r, row in enumerate(tiles):
        x = 0
        for t in row:
            out.paste(t, (x, r * (height + 4)))
            x += t.width + 4
    tmp = path.with_name(f".{path.name}.partial{path.suffix}")
    out.save(tmp, quality=88)  # JPEG: the sheet is ~0.7 MB instead of 3.3 MB as PNG
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, nargs="+", default=list(range(1, 11)))
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("overrides", nargs="*", help="extra train.py overrides")
    args = parser.parse_args()
    if not PAIRS.is_dir():
        sys.exit(f"skipped: {PAIRS} not found (the shared benchmark data)")
    # trained as experiment=stills says, graded and scored at full size (700 px wide)
    overrides = ["experiment=stills", *args.overrides]  # conf/experiment/stills.yaml
    work = Path(tempfile.mkdtemp(prefix="vst_pairs_"))
    rows, table = [], []
    for n in args.pairs:
        content, style, dpst = PAIRS / f"in{n}.png", PAIRS / f"tar{n}.png", PAIRS / f"dpst_out{n}.png"
        run_dir, ours, base = work / f"pair{n}", work / f"ours{n}.png", work / f"reinhard{n}.png"
        start = time.perf_counter()
        run([sys.executable, "train.py", f"video={content}", f"style={style}", *overrides,
             f"hydra.run.dir={run_dir}"])
        train_s = time.perf_counter() - start
        run([sys.executable, "predict.py", f"ckpt={run_dir / 'best.ckpt'}", f"video={content}",
             f"output={ours}"])
        reinhard(content, style, base)
        figures = [score(content, p, style) for p in (dpst, base, ours)]
        table.append((n, figures, train_s))
        rows.append([content, style, dpst, base, ours])
        print(f"pair {n:2d}: moved/struct  DPST {figures[0][0]:.2f}/{figures[0][1]:.3f}  "
              f"Reinhard {figures[1][0]:.2f}/{figures[1][1]:.3f}  ours {figures[2][0]:.2f}/"
              f"{figures[2][1]:.3f}  train {train_s:.0f} s", flush=True)
    means = np.mean([[v for f in figs for v in f] for _, figs, _ in table], axis=0)
    print(f"mean   : moved/struct  DPST {means[0]:.2f}/{means[1]:.3f}  Reinhard {means[2]:.2f}/"
          f"{means[3]:.3f}  ours {means[4]:.2f}/{means[5]:.3f}")
    args.out.mkdir(parents=True, exist_ok=True)
    sheet(rows, args.out / "pairs_sheet.jpg")
    lines = [
        "# Photo benchmark: the Deep Photo Style Transfer pairs",
        "",
        f"`python scripts/bench_pairs.py {' '.join(args.overrides)}`".replace(" `", "`"),
        f"({date.today()}; train.py {' '.join(overrides)}; CPU, 2 cores).",
        "moved = 1 - W2(output, style) / W2(content, style), Gaussian W2 on CIELAB pixels; "
        "struct = structure term of SSIM on luma, output vs content; both at full size.",
        "",
        "| pair | DPST moved | DPST struct | Reinhard moved | Reinhard struct | ours moved "
        "| ours struct | ours train s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n, figs, train_s in table:
        lines.append(f"| {n} | " + " | ".join(f"{v:.2f}" if i % 2 == 0 else f"{v:.3f}"
                                                for i, v in enumerate(v for f in figs for v in f))
                     + f" | {train_s:.0f} |")
    lines.append("| **mean** | " + " | ".join(f"{v:.2f}" if i % 2 == 0 else f"{v:.3f}"
                                             for i, v in enumerate(means))
                 + f" | {np.mean([t for *_, t in table]):.0f} |")
    lines += ["", "![content | style | DPST | Reinhard | ours](pairs_sheet.jpg)", ""]
    (args.out / "pairs.md").write_text("\n".join(lines))
    print(f"wrote {args.out / 'pairs.md'} and {args.out / 'pairs_sheet.jpg'}")


if __name__ == "__main__":
    main()
