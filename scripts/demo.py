"""`make demo`: train on the bundled sample clip, grade it, and say where everything went.

The default loss=auto trains the perceptual loss where the ImageNet VGG19 weights are in
torch hub's cache and loss=color (no pretrained network) where they are not (air-gapped
machines, CI), and says which.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_VIDEO = ROOT / "samples" / "mountain_walk_2s.mp4"
SAMPLE_STYLE = ROOT / "samples" / "in47_360.jpg"


def main() -> int:
    run_dir = ROOT / "outputs" / "demo" / datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    train = [
        sys.executable, str(ROOT / "train.py"), f"video={SAMPLE_VIDEO}", f"style={SAMPLE_STYLE}",
        "trainer.max_steps=120", "log.val_every=40",
        f"hydra.run.dir={run_dir}",
    ]
    print("$ python", " ".join(train[1:]), flush=True)
    if subprocess.call(train, cwd=ROOT) != 0:
        return 1
    graded = run_dir / f"{SAMPLE_VIDEO.stem}_vst.mp4"
    predict = [sys.executable, str(ROOT / "predict.py"), f"ckpt={run_dir / 'best.ckpt'}",
               f"video={SAMPLE_VIDEO}", f"output={graded}"]
    print("$ python", " ".join(predict[1:]), flush=True)
    if subprocess.call(predict, cwd=ROOT) != 0:
        return 1
    print("\ndemo done:")
    print(f"  graded video {graded}")
    print(f"  checkpoint   {run_dir / 'best.ckpt'}")
    print(f"  figures      {run_dir / 'figures.json'}   (style moved, structure kept, flicker)")
    print(f"  TensorBoard  {run_dir / 'tensorboard'}   (tensorboard --logdir {ROOT / 'outputs'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
