"""`make demo`: train on the bundled sample clip, grade it, and say where everything went.

With the ImageNet VGG19 weights in torch hub's cache it trains the default perceptual loss;
without them (air-gapped machines, CI) it trains loss=color, which needs no pretrained
network, and says so.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_VIDEO = ROOT / "samples" / "mountain_walk_2s.mp4"
SAMPLE_STYLE = ROOT / "samples" / "in47_360.jpg"


def loss_preset() -> str:
    """perceptual when the VGG19 weights are already here, else color (no download attempted)."""
    sys.path.insert(0, str(ROOT))
    from vst.models.vgg import WEIGHTS_FILE, hub_cache_file, weights_available

    if weights_available():
        return "perceptual"
    print(f"No VGG19 ImageNet weights ({WEIGHTS_FILE}) in {hub_cache_file().parent}: "
          "using loss=color, which needs no pretrained network.", flush=True)
    return "color"


def main() -> int:
    run_dir = ROOT / "outputs" / "demo" / datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    train = [
        sys.executable, str(ROOT / "train.py"), f"video={SAMPLE_VIDEO}", f"style={SAMPLE_STYLE}",
        f"loss={loss_preset()}", "trainer.max_steps=120", "log.val_every=40",
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
    print(f"  TensorBoard  {run_dir / 'tensorboard'}   (tensorboard --logdir {ROOT / 'outputs'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
