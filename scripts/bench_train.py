"""Seconds per training step on this machine, and what the levers buy.

For data.size 256 and 512 (frames of mountain_walk's 500x280 shape), times one full step of
the default config of a loss preset (generator forward, loss terms, backward, Adam; the
perceptual preset with a random VGG19 of the real shape) in fp32 and in bf16 autocast, with
and without channels_last, with glibc's default allocator and with it told to keep freed
memory. Each configuration runs in its own process (the allocator is set before a process
starts). Prints a table; not part of `make test`.

    python scripts/bench_train.py [--steps 8] [--sizes 256 512] [--loss color]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MALLOC_KEEP = {"MALLOC_MMAP_THRESHOLD_": "17179869184", "MALLOC_TRIM_THRESHOLD_": "17179869184"}


def default_config(loss: str) -> dict:
    """The run config train.py would use with `loss=<loss>` (VGG random: same cost, no file)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from vst.config import register_schemas

    register_schemas()
    with initialize_config_dir(config_dir=str(ROOT / "vst" / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[f"loss={loss}", "video=v.mp4", "style=s.png",
                                           "vgg.weights=random"])
    return OmegaConf.to_container(cfg, resolve=True)


def worker(size: int, precision: str, channels_last: bool, steps: int, loss: str) -> dict:
    import torch

    sys.path.insert(0, str(ROOT))
    from vst.io.image import resize_short_side
    from vst.train import build_module

    torch.manual_seed(0)
    module = build_module(default_config(loss))
    frame = resize_short_side(torch.rand(1, 3, 280 * 4, 500 * 4), size)
    style = resize_short_side(torch.rand(1, 3, 1000, 700), size)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    module = module.to(memory_format=fmt)
    frame, style = frame.to(memory_format=fmt), style.to(memory_format=fmt)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
    with autocast:
        module.objective.set_targets(style, {"train": frame}, module.generator)
    opt = module.configure_optimizers()
    index = torch.zeros(1, dtype=torch.long)
    times = []
    for _ in range(steps + 2):  # two warm-up steps
        t0 = time.perf_counter()
        with autocast:
            _, terms = module._step(frame, index, "train")
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return {"size": f"{frame.shape[-1]}x{frame.shape[-2]}", "s_per_step": sum(times[2:]) / steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--loss", default="perceptual", help="loss preset (conf/loss/)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        size, precision, cl = args.worker.split(",")
        print(json.dumps(worker(int(size), precision, cl == "cl", args.steps, args.loss)))
        return
    configs = [("fp32", "", False), ("fp32", "", True), ("bf16", "", False), ("bf16", "cl", False),
               ("bf16", "cl", True)]
    print(f"{'size':>9} {'precision':>9} {'layout':>13} {'allocator':>9} {'s/step':>7}", flush=True)
    for size in args.sizes:
        base = None
        for precision, cl, keep in configs:
            env = {k: v for k, v in os.environ.items() if k not in MALLOC_KEEP}
            if keep:
                env.update(MALLOC_KEEP)
            out = subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--loss",
                                  args.loss, "--worker", f"{size},{precision},{cl}"], env=env,
                                 capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            base = base or row["s_per_step"]
            print(f"{row['size']:>9} {precision:>9} {'channels_last' if cl else 'contiguous':>13} "
                  f"{'keep' if keep else 'default':>9} {row['s_per_step']:7.3f}  "
                  f"({base / row['s_per_step']:.2f}x)", flush=True)


if __name__ == "__main__":
    main()
