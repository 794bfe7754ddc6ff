"""Prediction entry point: checkpoint + video -> graded video, streamed frame batch by batch.

    read frames (PyAV, reader thread) -> generator (main thread) -> encode (PyAV, writer thread)

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
from vst.errors import VstError
from vst.pipeline import DONE, Sink, Stage

log = logging.getLogger("vst")


def _default_output(ckpt: Path, source_path: Path, kind: str) -> Path:
    from vst.io.writer import CONTAINERS

    folder = ckpt.resolve().parent
    if kind == "folder":
        return folder / f"{source_path.name}_vst"
    if kind == "still":
        return folder / f"{source_path.stem}_vst.png"
    suffix = source_path.suffix.lower() if source_path.suffix.lower() in CONTAINERS else ".mp4"
    return folder / f"{source_path.stem}_vst{suffix}"


def resolve_output(cfg: DictConfig, ckpt: Path, source_path: Path, kind: str) -> Path:
    """Where the result goes; refuses the input itself, what must not be replaced, unwritable
    folders, a container that cannot hold the codec (checked again when the file is claimed)."""
    from vst.io.atomic import check_target
    from vst.io.image import IMAGE_SUFFIXES
    from vst.io.writer import codec_for, container_for

    out = path_setting(cfg, "output") or _default_output(ckpt, source_path, kind)
    if out.resolve() == source_path.resolve():
        raise VstError(f"output {str(out)!r} is the input: choose another output")
    check_target(out, bool(cfg.overwrite), folder=kind == "folder",
                 protect=source_path if kind == "folder" else None)
    if kind == "video":
        codec_for(container_for(out), cfg.codec, out)
    elif kind == "still" and out.suffix.lower() not in IMAGE_SUFFIXES:
        raise VstError(f"output {str(out)!r}: a still is written as an image "
                       f"({', '.join(sorted(IMAGE_SUFFIXES))})")
    return out


class _Grader:
    """The generator on its device, with the configured precision and memory layout."""

    def __init__(self, cfg: DictConfig, ckpt: Path):
        import torch

        from vst.checkpoint import load_generator
        from vst.device import resolve_accelerator, resolve_precision

        self.torch = torch
        self.device = torch.device(resolve_accelerator(cfg.device))
        precision = resolve_precision(cfg.precision, cfg.device)
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

    def _input(self, frames):
        from vst.io.image import resize_short_side
        from vst.io.video import uint8_to_float

        if isinstance(frames, np.ndarray):
            frames = uint8_to_float(frames)
        x = resize_short_side(frames.to(self.device, non_blocking=True), self.size)
        return x.contiguous(memory_format=self.layout)

    def __call__(self, frames, stats=None, boxes=None):
        """Nx3xHxW float [0, 1] tensor or NxHxWx3 uint8 array -> NxHxWx3 uint8 array.
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
        with torch.inference_mode(), tqdm(total=source.info.frames_hint or None, unit="frame",
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


def _grade_video(cfg: DictConfig, source, grader: _Grader, out: Path) -> int:
    from tqdm import tqdm

    from vst.io.atomic import atomic_file
    from vst.io.image import short_side_size
    from vst.io.video import count_frames
    from vst.io.writer import VideoWriter

    info = source.info
    height, width = short_side_size(info.height, info.width, cfg.size)
    batch = int(cfg.batch_size)

    stats, boxes, shots = grader.shot_stats(source, batch)
    log.info("%d shot%s: one global grade per shot", len(shots), "" if len(shots) == 1 else "s")

    def read(emit):
        done, warned = 0, False
        for frames, stamps in source.iter_timed(batch):
            rows, pictures = stats[done:done + len(frames)], boxes[done:done + len(frames)]
            seen = len(rows) == len(frames)
            if not seen and not warned:  # this pass decoded more frames
                log.warning("frames from %d on were not seen by the shot pass: each is graded "
                            "by its own colour statistics", done + len(rows))
                warned = True
            emit((frames, stamps, rows if seen else None, pictures if seen else None))
            done += len(frames)

    with atomic_file(out, bool(cfg.overwrite)) as tmp:
        with VideoWriter(tmp, info, width, height, cfg.codec, cfg.crf, cfg.preset) as writer, \
                tqdm(total=info.frames_hint or None, unit="frame", desc="grading",
                     dynamic_ncols=True) as bar:
            if writer.audio_reencoded:
                log.warning("the %s container cannot hold the input's audio codec: audio re-encoded",
                            out.suffix)

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
        written = count_frames(tmp)
        if written != writer.frames:  # checked before the file takes the output's name
            raise VstError(f"output {str(out)!r}: the encoded file holds {written} of the "
                           f"{writer.frames} frames graded; nothing was written")
    return writer.frames


def output_names(files: list[Path]) -> list[str]:
    """The PNG name each input image is written under: its stem, or its whole name where two
    inputs share a stem (x.jpg and x.png -> x.jpg.png and x.png.png): no result overwrites another."""
    stems = [f.stem for f in files]
    names = [f"{f.name if stems.count(f.stem) > 1 else f.stem}.png" for f in files]
    if len(set(names)) < len(names):
        names = [f"{f.name}.png" for f in files]
    return names


def _grade_images(cfg: DictConfig, source, grader: _Grader, out: Path, kind: str) -> int:
    from tqdm import tqdm

    from vst.io.atomic import atomic_folder
    from vst.io.image import save_image, write_image

    if kind == "still":
        save_image(grader(source.read([0]))[0], out, bool(cfg.overwrite))
        return 1
    names = output_names(source.files)
    if len(set(f.stem for f in source.files)) < len(names):
        log.warning("%s holds images with the same name and another extension: they are written "
                    "under their whole names (x.jpg -> x.jpg.png)", source.path)
    with atomic_folder(out, bool(cfg.overwrite), protect=source.path) as tmp:
        for i in tqdm(range(len(source)), unit="image", desc="grading", dynamic_ncols=True):
            write_image(grader(source.read([i]))[0], tmp / names[i])
    return len(source)


def predict(cfg: DictConfig) -> Path:
    """Grade cfg.video with cfg.ckpt; returns the output path."""
    from vst.io.frames import FolderFrames, StillFrames, open_frames

    ckpt = path_setting(cfg, "ckpt", "outputs/.../best.ckpt")
    video = path_setting(cfg, "video", "clip.mp4")
    source = open_frames(video, "video")
    kind = {StillFrames: "still", FolderFrames: "folder"}.get(type(source), "video")
    out = resolve_output(cfg, ckpt, video, kind)
    grader = _Grader(cfg, ckpt)
    start = time.perf_counter()
    if kind == "video":
        n = _grade_video(cfg, source, grader, out)
    else:
        n = _grade_images(cfg, source, grader, out, kind)
    seconds = time.perf_counter() - start
    print(f"graded {n} frame{'s' if n != 1 else ''} in {seconds:.1f} s "
          f"({n / seconds:.2f} frames/s) -> {out}", flush=True)
    return out


main = hydra_entry("predict", predict)  # `python predict.py ...`


if __name__ == "__main__":
    main()
