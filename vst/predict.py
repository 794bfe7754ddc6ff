"""Prediction entry point: checkpoint + video -> graded video, streamed frame batch by batch.

    source.stream() (vst/io: reader thread) -> generator (main thread)
        -> writer.write() (vst/io/output.py: writer thread)

Bounded queues between the stages (vst/pipeline.py) keep memory constant whatever the clip
length, and let decoding, inference and encoding overlap so the slowest stage sets the pace.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from vst.cli import hydra_entry, path_setting
from vst.pipeline import DONE, Sink, Stage

log = logging.getLogger("vst")


def resolve_output(cfg: DictConfig, ckpt: Path, source) -> Path:
    """Where the result goes (default: beside the checkpoint, under the source's output name),
    refused before any work if it must not be written (vst.io.output.check_output)."""
    from vst.io.output import check_output

    out = path_setting(cfg, "output") or ckpt.resolve().parent / source.output_name
    check_output(out, source, bool(cfg.overwrite), cfg.codec)
    return out


class _Grader:
    """The generator on its device, with the configured precision and memory layout."""

    def __init__(self, cfg: DictConfig, ckpt: Path):
        import torch

        from vst.checkpoint import load_generator
        from vst.device import resolve_accelerator, resolve_precision

        self.torch = torch
        self.device = torch.device(resolve_accelerator(cfg.accelerator))
        precision = resolve_precision(cfg.precision, self.device.type)
        self.dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
        self.layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.size = cfg.size
        generator, meta = load_generator(ckpt)
        self.generator = generator.to(self.device, memory_format=self.layout)
        self.work_size = cfg.work_size
        if cfg.work_size == "auto":  # the size the network trained at (older checkpoints: data.size)
            self.work_size = generator.work_size or meta.get("train_size")
        log.info("generator on %s (%s), working size %s", self.device, precision,
                 f"{self.work_size} px (short side)" if self.work_size else "full resolution")

    def _input(self, frames: np.ndarray):
        from vst.io.frames import uint8_to_float
        from vst.io.image import resize_short_side

        x = resize_short_side(uint8_to_float(frames).to(self.device, non_blocking=True), self.size)
        return x.contiguous(memory_format=self.layout)

    def __call__(self, frames: np.ndarray, stats=None, boxes=None) -> np.ndarray:
        """NxHxWx3 uint8 frames (a FrameBatch's) -> NxHxWx3 uint8 graded frames.
        stats: what the global transform is chosen by (`shot_stats`); None = each frame's own.
        boxes: the picture of each frame (N x 4, vst/picture.py; `shot_stats`), graded while
        bars and blank frames pass through; None = each frame's own."""
        torch = self.torch
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=self.dtype or
                                                    torch.float32, enabled=self.dtype is not None):
            y = self.generator(self._input(frames), self.work_size, stats, boxes)
            rgb = y.float().clamp_(0, 1).mul_(255).round_().byte().permute(0, 2, 3, 1)
            return rgb.contiguous().cpu().numpy()

    def shot_stats(self, source, batch: int):
        """Per frame of a video, what its grade is chosen by: its shot's mean colour statistics
        (PySceneDetect finds the cuts), so the global part of the grade is one fixed transform
        per shot and cannot drift with what moves through the frame; and its shot's picture
        (vst/picture.py: inside the bars of every frame of the shot; a blank frame has none).
        Blank frames do not count in their shot's mean. Returns (stats, boxes, shots)."""
        from tqdm import tqdm

        from vst.picture import picture_boxes, union_box
        from vst.shots import detect_shots

        torch = self.torch
        rows, boxes = [], []
        with torch.inference_mode(), tqdm(total=source.frames_hint or None, unit="frame",
                                          desc="finding shots", dynamic_ncols=True) as bar:
            def add(rgbs):
                x = self._input(rgbs)
                rows.append(self.generator.frame_stats(x, self.work_size).cpu())
                boxes.append(picture_boxes(x))
                bar.update(len(rgbs))

            shots = detect_shots(source, batch=batch, on_batch=add)
        stats, boxes = torch.cat(rows), torch.cat(boxes)
        shown = (boxes[:, 1] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 2])
        for start, end in shots:
            seen = shown[start:end]
            stats[start:end] = stats[start:end][seen if seen.any() else slice(None)].mean(0)
            boxes[start:end] = union_box(boxes[start:end]) * seen[:, None]
        return stats, boxes, shots


def grade(cfg: DictConfig, source, grader: _Grader, out: Path) -> int:
    """Stream every frame of `source` through `grader` into the writer of `out`; returns the
    number of frames written. A video is graded one fixed transform per shot; stills each by
    their own colour statistics."""
    from tqdm import tqdm

    from vst.io.output import open_output

    batch = cfg.batch_size
    stats = boxes = None
    if source.kind == "video":
        stats, boxes, shots = grader.shot_stats(source, batch)
        log.info("%d shot%s: one global grade per shot", len(shots), "" if len(shots) == 1 else "s")

    def read(emit):
        done, warned = 0, False
        for frames, stamps in source.stream(batch):
            rows = pictures = None
            if stats is not None:
                rows, pictures = stats[done:done + len(frames)], boxes[done:done + len(frames)]
                if len(rows) < len(frames):  # this pass decoded more frames than the shot pass
                    if not warned:
                        log.warning("frames from %d on were not seen by the shot pass: each is "
                                    "graded by its own colour statistics", done + len(rows))
                        warned = True
                    rows = pictures = None
            emit((frames, stamps, rows, pictures))
            done += len(frames)

    with open_output(out, source, bool(cfg.overwrite), cfg.size, cfg.codec, cfg.crf,
                     cfg.preset) as writer, \
            tqdm(total=source.frames_hint or None, unit="frame", desc="grading",
                 dynamic_ncols=True, disable=source.kind == "still") as bar:
        def write(graded):
            for rgb, pts in zip(*graded, strict=True):
                writer.write(rgb, pts)
                bar.update(1)

        reader, encoder = Stage(read), Sink(write)
        reader.start()
        encoder.start()
        try:
            for frames, stamps, rows, pictures in reader.items():
                encoder.put((grader(frames, rows, pictures), stamps))
            encoder.finish()
        except BaseException:
            reader.stop.set()  # the reader stops before its next batch
            if encoder.is_alive():  # the encoder finishes what is queued (two batches at most)
                encoder.queue.put(DONE)
                encoder.join(timeout=30)
            raise  # the writer is aborted and the temporary removed on the way out
    return writer.frames


def predict(cfg: DictConfig) -> Path:
    """Grade cfg.video with cfg.ckpt; returns the output path."""
    from vst.io import open_frames

    ckpt = path_setting(cfg, "ckpt", "outputs/.../best.ckpt")
    source = open_frames(path_setting(cfg, "video", "clip.mp4"), "video")
    out = resolve_output(cfg, ckpt, source)
    grader = _Grader(cfg, ckpt)
    start = time.perf_counter()
    n = grade(cfg, source, grader, out)
    seconds = time.perf_counter() - start
    print(f"graded {n} frame{'s' if n != 1 else ''} in {seconds:.1f} s "
          f"({n / seconds:.2f} frames/s) -> {out}", flush=True)
    return out


main = hydra_entry("predict", predict)  # `python predict.py ...`


if __name__ == "__main__":
    main()
