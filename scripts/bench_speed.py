"""Speed on the current device at the three clip sizes users meet: training seconds per step
(default config of loss=perceptual and of loss=color, trained at the clip's own short side;
bf16 where native, channels_last, allocator kept) and predict frames/s with its peak memory (RSS),
next to a plain PyAV decode + encode of the same clip (the I/O limit). Not part of
`make test`; the finer tables are in bench_train.py and bench_predict.py.

    python scripts/bench_speed.py [--steps 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    bench_train, bench_predict = _load("bench_train"), _load("bench_predict")
    video = bench_predict.VIDEO
    if not video.is_dir():
        sys.exit(f"shared clips not found at {video}")
    tmp = Path(tempfile.mkdtemp(prefix="vst-speed-"))
    bench_predict.run([sys.executable, "train.py", f"video={video / 'mountain_walk.mp4'}",
                       f"style={bench_predict.ROOT / 'samples' / 'in47_360.jpg'}",
                       "vgg.weights=random", "trainer.max_steps=10", f"hydra.run.dir={tmp / 't'}"])
    ckpt = tmp / "t" / "best.ckpt"
    env = {**os.environ, **bench_train.MALLOC_KEEP}
    losses = ("perceptual", "color")
    print(f"{'clip':>8} " + " ".join(f"{'train s/step ' + loss:>24}" for loss in losses)
          + f" {'predict fps':>12} {'peak MB':>8} {'I/O limit fps':>14}", flush=True)
    for (name, file), short in zip(bench_predict.CLIPS.items(), (280, 720, 1080), strict=True):
        steps = []
        for loss in losses:  # data.size = the clip's own short side
            out = subprocess.run([sys.executable, str(HERE / "bench_train.py"), "--steps",
                                  str(args.steps), "--loss", loss, "--worker", f"{short},bf16,cl"],
                                 env=env, capture_output=True, text=True, check=True)
            steps.append(json.loads(out.stdout.strip().splitlines()[-1])["s_per_step"])
        fps, peak_mb = bench_predict.predict_fps(ckpt, video / file, tmp / f"p_{file}")
        io = bench_predict.io_limit_fps(video / file, tmp / f"io_{file}")
        print(f"{name:>8} " + " ".join(f"{s:>24.2f}" for s in steps)
              + f" {fps:>12.2f} {peak_mb:>8.0f} {io:>14.1f}", flush=True)


if __name__ == "__main__":
    main()
