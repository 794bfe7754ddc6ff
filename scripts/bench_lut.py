"""LUT export and grade=lut on the benchmark clips (issue #15's figures).

For each clip of scripts/bench_quality.py: train the default grade (loss=auto: loss=color where
the ImageNet weights are absent), export its LUTs (python -m vst.lut) and
print each LUT's fit error against the network's render (PSNR dB, mean CIEDE2000). Then
predict frames/s at 720p and 1080p with grade=network and grade=lut, next to the I/O limit
(scripts/bench_predict.py: decode -> RGB -> libx264 medium CRF 18 + audio copy). Writes
docs/luts.md; not part of `make test`.

    python scripts/bench_lut.py [--quick] [--clips mountain_walk ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_predict import io_limit_fps, predict_fps, run  # noqa: E402
from bench_quality import CLIPS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
SPEED = {"720p": "bigbuckbunny_720p_aac51.mp4", "1080p": "kenburns_1080p_3shots_audio.mp4"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="experiment=quick training")
    parser.add_argument("--clips", nargs="+", help="a subset of the clips, by file name stem")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs", help="where luts.md goes")
    args = parser.parse_args()
    if not (SHARED / "video").is_dir():
        sys.exit(f"skipped: {SHARED / 'video'} not found (the shared benchmark data)")
    overrides = ["experiment=quick"] if args.quick else []  # loss=auto: color where the VGG weights are not
    work = Path(tempfile.mkdtemp(prefix="vst-lut-"))
    rows = ["| clip | shot | frames | PSNR dB | mean dE2000 |", "|---|---|---|---|---|"]
    ckpts = {}
    for clip, style in (c for c in CLIPS if not args.clips or Path(c[0]).stem in args.clips):
        name = Path(clip).stem
        run_dir = work / name
        run([sys.executable, "train.py", f"video={SHARED / 'video' / clip}",
             f"style={SHARED / 'style' / style}", *overrides, f"hydra.run.dir={run_dir}"])
        ckpts[name] = run_dir / "best.ckpt"
        run([sys.executable, "-m", "vst.lut", f"ckpt={ckpts[name]}", f"video={SHARED / 'video' / clip}",
             f"output={work / (name + '_luts')}"])
        for e in json.loads((work / f"{name}_luts" / "luts.json").read_text())["luts"]:
            rows.append(f"| {name} | {e['shot'] or 'whole clip'} | {e['first_frame']}-{e['last_frame']} "
                        f"| {e['psnr']:.1f} | {e['delta_e']:.2f} |")
            print(rows[-1], flush=True)
    ckpt = next(iter(ckpts.values()))
    speed = ["| clip | I/O limit | grade=network | grade=lut (fit included) |", "|---|---|---|---|"]
    for label, clip in SPEED.items():
        video = SHARED / "video" / clip
        limit = io_limit_fps(video, work / f"io_{clip}")
        network, _ = predict_fps(ckpt, video, work / f"net_{clip}")
        lut, _ = predict_fps(ckpt, video, work / f"lut_{clip}", "grade=lut")
        speed.append(f"| {label} ({clip}) | {limit:.1f} | {network:.1f} | {lut:.1f} |")
        print(speed[-1], flush=True)
    text = ("# LUT export (scripts/bench_lut.py)\n\nEach LUT's fit to the network's render of frames "
            f"of its shot (33^3; {' '.join(overrides) or 'default config, loss=auto'}):\n\n" + "\n".join(rows)
            + f"\n\nPredict frames/s (checkpoint of {next(iter(ckpts))}; frames/s over the whole "
            "run, the LUT fit included):\n\n" + "\n".join(speed) + "\n")
    args.docs.mkdir(exist_ok=True)
    (args.docs / "luts.md").write_text(text)
    print(f"-> {args.docs / 'luts.md'}")


if __name__ == "__main__":
    main()
