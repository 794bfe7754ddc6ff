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

from omegaconf import DictConfig

from vst.cli import hydra_entry, path_setting
from vst.errors import VstError
from vst.grader import Grader
from vst.io.writer import Encoding
from vst.pipeline import DONE, Sink, Stage

log = logging.getLogger("vst")


def resolve_output(cfg: DictConfig, ckpt: Path, source) -> Path:
    """Where the result goes (default: beside the checkpoint, under the source's output name),
    refused before any work if it must not be written (vst.io.output.check_output)."""
    from vst.io.output import check_output

    out = path_setting(cfg, "output") or ckpt.resolve().parent / source.output_name
    check_output(out, source, bool(cfg.overwrite), encoding(cfg))
    return out


def encoding(cfg: DictConfig) -> Encoding:
    return Encoding(cfg.codec, cfg.bit_depth, cfg.crf, cfg.preset)


def network_render(source, grader: Grader, batch: int):
    """frames, index of the first -> graded frames, by the network: a video one fixed global
    transform per shot (its shot's statistics, `Grader.shot_stats`), stills each by their own."""
    stats = boxes = None
    if source.kind == "video":
        stats, boxes, shots = grader.shot_stats(source, batch)
        log.info("%d shot%s: one global grade per shot", len(shots), "" if len(shots) == 1 else "s")
    warned = False

    def render(frames, start: int):
        nonlocal warned
        rows = pictures = None
        if stats is not None:
            rows, pictures = stats[start:start + len(frames)], boxes[start:start + len(frames)]
            if len(rows) < len(frames):  # this pass decoded more frames than the shot pass
                if not warned:
                    log.warning("frames from %d on were not seen by the shot pass: each is "
                                "graded by its own colour statistics", start + len(rows))
                    warned = True
                rows = pictures = None
        return grader(frames, rows, pictures)

    return render


def grade(cfg: DictConfig, source, grader: Grader, out: Path) -> int:
    """Stream every frame of `source` through the grade (the network, or with grade=lut its
    per-shot LUTs) into the writer of `out`; returns the number of frames written."""
    from tqdm import tqdm

    from vst.io.output import open_output

    batch = cfg.batch_size
    if cfg.grade not in ("network", "lut"):
        raise VstError(f"grade={cfg.grade!r} is unknown (choose network | lut)")
    if cfg.grade == "lut":
        from vst.lut import LutRender

        render = LutRender(source, grader, batch)
    else:
        render = network_render(source, grader, batch)

    def read(emit):
        done = 0
        for frames, stamps in source.stream(batch):
            emit((frames, stamps, done))
            done += len(frames)

    with open_output(out, source, bool(cfg.overwrite), cfg.size, encoding(cfg)) as writer, \
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
            for frames, stamps, start in reader.items():
                encoder.put((render(frames, start), stamps))
            encoder.finish()
        except BaseException:
            reader.stop.set()  # the reader stops before its next batch
            if encoder.is_alive():  # the encoder finishes what is queued (two batches at most)
                encoder.queue.put(DONE)
                encoder.join(timeout=30)
            raise  # the writer is aborted and the temporary removed on the way out
    return writer.frames


# Compiling the full-resolution pass costs ~20 s the first time on a machine (then about a
# second: the compiled code is cached). Grading a 720p frame then takes 32 ms instead of 70 on
# 2 CPU cores, but a whole predict there gains only ~5% (x264 and the shot pass hold the
# cores): worth it on long clips only, from about this many frames x pixels on.
COMPILE_FROM_MEGAPIXELS = 2000


def worth_compiling(source) -> bool:
    info = getattr(source, "info", None)
    return info is not None and source.frames_hint * info.width * info.height >= COMPILE_FROM_MEGAPIXELS * 1e6


def predict(cfg: DictConfig) -> Path:
    """Grade cfg.video with cfg.ckpt; returns the output path."""
    from vst.io import open_frames

    ckpt = path_setting(cfg, "ckpt", "outputs/.../best.ckpt")
    source = open_frames(path_setting(cfg, "video", "clip.mp4"), "video")
    out = resolve_output(cfg, ckpt, source)
    grader = Grader(ckpt, cfg.accelerator, cfg.precision, cfg.channels_last, cfg.work_size, cfg.size,
                    compiled=worth_compiling(source) and cfg.grade == "network")
    start = time.perf_counter()
    n = grade(cfg, source, grader, out)
    seconds = time.perf_counter() - start
    print(f"graded {n} frame{'s' if n != 1 else ''} in {seconds:.1f} s "
          f"({n / seconds:.2f} frames/s) -> {out}", flush=True)
    return out


main = hydra_entry("predict", predict)  # `python predict.py ...`


if __name__ == "__main__":
    main()
