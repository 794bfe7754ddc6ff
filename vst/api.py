"""The Python API: train a grade and apply it from Python, without the command line or a Hydra
runtime. The settings are the commands' (`key=value` strings, the same config files).

    import vst
    ckpt = vst.fit("clip.mp4", "still.jpg", "trainer.max_steps=200")  # -> .../best.ckpt
    grade = vst.load(ckpt)
    graded = grade(frames)  # N x H x W x 3 uint8, uint16 or float in [0, 1] -> the same type
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from vst.errors import VstError


def compose(config_name: str, *overrides: str) -> DictConfig:
    """vst/conf/<config_name>.yaml with `overrides`, typed and checked as the commands compose
    it, without Hydra's own run settings."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from vst.cli import CONF_DIR
    from vst.config import check_ranges, register_schemas

    register_schemas()
    with initialize_config_dir(CONF_DIR, version_base="1.3", job_name=config_name):
        cfg = hydra_compose(config_name, list(overrides))
    check_ranges(cfg)
    return cfg


def _new_run_dir() -> Path:
    """outputs/<date>/<time> under the working folder, as the command makes it (-1, -2, ... when
    two runs start within a second)."""
    base = Path("outputs") / time.strftime("%Y-%m-%d") / time.strftime("%H-%M-%S")
    folder, n = base, 0
    while folder.exists():
        n += 1
        folder = base.with_name(f"{base.name}-{n}")
    return folder


def fit(video: str | Path, style: str | Path, *overrides: str, run_dir: str | Path | None = None) -> Path:
    """Train a grade of `video` (a clip, a still or a folder of frames) to the look of the still
    `style`; `overrides` are the settings of `vst train` ("loss=color", "trainer.max_steps=200").
    The run goes to `run_dir` (default: a new outputs/<date>/<time> in the working folder), or
    to the folder of the run that `resume=` continues. Returns the path of its best.ckpt."""
    from vst.runs import holds_checkpoints
    from vst.runs import run_dir as resumed_run_dir
    from vst.train import train

    cfg = compose("config", *overrides)
    OmegaConf.update(cfg, "video", str(video))  # set, not parsed: any file name works unquoted
    OmegaConf.update(cfg, "style", str(style))
    folder = Path(resumed_run_dir(cfg.resume, str(run_dir or _new_run_dir())))
    if holds_checkpoints(folder) and not cfg.resume:
        raise VstError(f"run folder {str(folder)!r} already holds the checkpoints of an earlier run: "
                       f"continue it with resume={folder / 'last.ckpt'}, or give another run_dir")
    (folder / ".hydra").mkdir(parents=True, exist_ok=True)  # the folder reads as the command's
    OmegaConf.save(cfg, folder / ".hydra" / "config.yaml")
    OmegaConf.save(OmegaConf.create([*overrides, f"video={video}", f"style={style}"]),
                   folder / ".hydra" / "overrides.yaml")
    train(cfg, folder)
    return folder / "best.ckpt"


class Grade:
    """A trained grade, callable on frames: `grade(frames)`. Each frame is graded by its own
    colour statistics (predict grades a video shot by shot: give it the frames of one shot
    with `shot=True` to do the same)."""

    def __init__(self, ckpt: str | Path, *overrides: str):
        from vst.grader import Grader

        cfg = compose("predict", f"ckpt={ckpt}", *overrides)
        self.ckpt = Path(ckpt)
        self.grader = Grader(self.ckpt, cfg.accelerator, cfg.precision, cfg.channels_last,
                             cfg.work_size, cfg.size)

    def __call__(self, frames: np.ndarray, shot: bool = False) -> np.ndarray:
        """N x H x W x 3 (or one H x W x 3) frames, uint8, uint16 or float in [0, 1] -> graded
        frames of the same shape and type. shot=True: the frames are one shot, graded by one
        transform chosen from all of them together (no flicker between them)."""
        frames = np.asarray(frames)
        single = frames.ndim == 3
        batch = frames[None] if single else frames
        if batch.ndim != 4 or batch.shape[-1] != 3:
            raise VstError(f"frames of shape {frames.shape}: expected N x H x W x 3 (or H x W x 3)")
        floating = np.issubdtype(batch.dtype, np.floating)
        if not floating and batch.dtype not in (np.uint8, np.uint16):
            raise VstError(f"frames of dtype {batch.dtype}: expected uint8, uint16 or float in [0, 1]")
        codes = (np.clip(batch, 0, 1) * 65535 + 0.5).astype(np.uint16) if floating else batch
        graded = self.grader(codes, self.grader.one_shot_stats(codes) if shot else None)
        if floating:
            graded = (graded.astype(np.float32) / 65535).astype(batch.dtype, copy=False)
        return graded[0] if single else graded


def load(ckpt: str | Path, *overrides: str) -> Grade:
    """The grade in `ckpt` (a best.ckpt), ready to call on frames; `overrides` are the settings
    of `vst predict` that concern the network (accelerator=cpu, precision=32, size=720)."""
    return Grade(ckpt, *overrides)
