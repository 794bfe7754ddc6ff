"""Prediction entry point: checkpoint + video -> graded video, streamed frame batch by batch.

    one pass over the clip: shots, each frame's grade statistics (vst/first_pass.py)
    -> chunks, each: source.stream() (reader thread) -> generator (grading thread)
                     -> writer.write() (the calling thread)  (vst/pipeline.py: grade_stream)
       in this process, following the pass in a thread (each frame graded once its shot is
       settled), or on workers once the pass has ended (vst/engine.py); resumable (the work
       folder)
    -> the chunks joined without re-encoding, the audio muxed once (vst/io/join.py)

Bounded queues between the stages keep memory constant whatever the clip length, and let
decoding, inference and encoding overlap so the slowest stage sets the pace.
"""

from __future__ import annotations

import gc
import logging
import time
from pathlib import Path

from omegaconf import DictConfig

from vst.cli import hydra_entry, path_setting
from vst.errors import VstError
from vst.grader import Grader
from vst.io.writer import Encoding

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


def grade(cfg: DictConfig, source, grader: Grader, out: Path, ckpt: Path) -> int:
    """Grade every frame of `source` (by the network, or with grade=lut by per-shot LUTs)
    into `out`; returns the number of frames written. A video goes in chunks (`grade_video`);
    stills are each graded by their own colour statistics."""
    from tqdm import tqdm

    from vst.pipeline import grade_stream

    if cfg.grade not in ("network", "lut"):
        raise VstError(f"grade={cfg.grade!r} is unknown (choose network | lut)")
    if source.kind == "video":
        return grade_video(cfg, source, grader, out, ckpt)
    if cfg.grade == "lut":
        from vst.lut import LutRender, predict_luts

        render = LutRender(predict_luts(source, grader, None, cfg.batch_size), [(0, len(source))], grader)
    else:
        def render(frames, start, after):
            return grader(frames)
    with tqdm(total=len(source), unit="frame", desc="grading", dynamic_ncols=True,
              disable=source.kind == "still") as bar:
        return grade_stream(source.stream(cfg.batch_size), render, source, out, cfg.size, encoding(cfg),
                            on_frames=bar.update, overwrite=bool(cfg.overwrite))


def log_shots(shots: list[tuple[int, int]]) -> None:
    log.info("%d shot%s: one global grade per shot", len(shots), "" if len(shots) == 1 else "s")


def grade_plan(cfg: DictConfig, source, grader: Grader):
    """The one pass over the whole video every chunk is graded by (vst.chunks.GradePlan)."""
    from vst.chunks import GradePlan

    found = grader.shot_stats(source, cfg.batch_size)
    log_shots(found.shots)
    luts = None
    if cfg.grade == "lut":
        from vst.lut import predict_luts

        luts = predict_luts(source, grader, found, cfg.batch_size)
    return GradePlan(found.pts, found.shots, found.stats, found.boxes, luts, found.exact_times)


def longest_chunk(cfg: DictConfig, source, out: Path) -> int | None:
    """The most frames a chunk holds (chunk_seconds), or None where the whole clip is one chunk
    because chunks could not be put back together (vst.chunks.plan_chunks)."""
    from vst.io.writer import container_for

    if container_for(out) == "avi":  # keeps no times: chunks could not be joined
        log.info("an .avi output keeps no frame times: graded as one chunk (an interrupted run "
                 "starts afresh; .mkv or .mp4 resume mid-clip)")
        return None
    return max(1, round(cfg.chunk_seconds * source.info.fps))


def new_plan(cfg: DictConfig, source, grader: Grader, out: Path):
    """The plan of a fresh run and its chunks: at most chunk_seconds each, or the whole clip
    as one where chunks could not be put back together (vst.chunks.plan_chunks)."""
    from vst.chunks import plan_chunks

    plan = grade_plan(cfg, source, grader)
    longest = longest_chunk(cfg, source, out) or len(plan.pts)
    if not plan.exact_times:  # frames cannot be found by their time: no seeking
        longest = len(plan.pts)
        log.info("%s has frames without a time of their own: graded as one chunk", source.path.name)
    return plan, plan_chunks(plan.shots, len(plan.pts), longest)


def on_this_machine(cfg: DictConfig) -> bool:
    """Whether the chunks are graded on this machine (no Dask scheduler's address)."""
    return cfg.engine.name == "local" or not cfg.engine.get("address")


def follows_the_pass(cfg: DictConfig) -> bool:
    """Whether grading follows the first pass (`grade_following_the_pass`): chunks graded one
    after another in this process by the network. (Workers need the whole plan before they
    start; grade=lut fits its LUTs from the finished pass.)"""
    return cfg.grade == "network" and cfg.workers == 1 and on_this_machine(cfg)


def grade_following_the_pass(cfg: DictConfig, source, grader: Grader, ckpt: Path, work, identity: dict,
                             out: Path):
    """Grade every chunk of a fresh run while the first pass over the clip runs in a thread
    ahead of the grading (vst/first_pass.py, vst.chunks.FollowedPlan): each frame is graded as
    soon as the pass has settled its shot, so the pass costs no time of its own where cores or
    a GPU would wait. The plan is saved in the work folder when the pass ends (a run stopped
    before that starts afresh). Returns the plan and the chunks."""
    import contextlib
    import threading

    import torch
    from tqdm import tqdm

    from vst.chunks import Chunk, FollowedPlan, grade_chunk
    from vst.first_pass import FirstPass
    from vst.pipeline import below_the_encoder

    first = FirstPass(grader, source, cfg.batch_size)
    followed = FollowedPlan(first, longest_chunk(cfg, source, out))

    def pass_done():
        log_shots(first.shots)
        work.save(identity, followed.plan(), followed.chunks())

    def run_pass():
        # the pass's operations are small (frames at the working size): on one thread (this
        # thread's count only), so that the cores go to the grading; and like the grading,
        # below the encoder (its decoder too: started from here)
        torch.set_num_threads(1)
        below_the_encoder()
        with contextlib.suppress(BaseException):  # kept by the pass: raised to the grading as it reads
            first.run(on_done=pass_done)

    thread = threading.Thread(target=run_pass, daemon=True)
    thread.start()
    try:
        with tqdm(total=source.frames_hint or None, unit="frame", desc="grading", dynamic_ncols=True) as bar:
            start, index = 0, 0
            while first.pts_of(start, start + 1):  # the clip goes on from `start`
                chunk = Chunk(index, start, start)  # its stop is decided as it is graded
                start += grade_chunk(chunk_job(cfg, source, ckpt, work, chunk), grader, bar.update,
                                     plan=followed)
                index += 1
        thread.join()
        if first.error is not None:
            raise first.error
    finally:
        first.stop()
    plan = followed.plan()
    if not plan.exact_times:
        log.info("%s has frames without a time of their own: from where the first was found, "
                 "the rest of it is one chunk", source.path.name)
    return plan, followed.chunks()


def grade_video(cfg: DictConfig, source, grader: Grader, out: Path, ckpt: Path) -> int:
    """Grade a video chunk by chunk (vst/chunks.py) in the work folder beside `out`, resuming
    the chunks of an interrupted run of the same command, then join them into `out`."""
    from vst.chunks import WorkFolder, run_identity
    from vst.io.atomic import atomic_file
    from vst.io.join import join_chunks
    from vst.io.video import count_frames

    identity = run_identity(cfg, source.path, ckpt)
    work = WorkFolder(out)
    with atomic_file(out, bool(cfg.overwrite)) as tmp:
        resumed = work.resume(identity)
        try:
            if resumed is not None:
                plan, chunks = resumed
            elif follows_the_pass(cfg):
                plan, chunks = grade_following_the_pass(cfg, source, grader, ckpt, work, identity, out)
            else:
                plan, chunks = new_plan(cfg, source, grader, out)
                work.save(identity, plan, chunks)
            pending = [c for c in chunks if not work.is_done(c)]
            if resumed is not None:
                log.info("resuming from %s: %d of %d chunks already graded", work.path,
                         len(chunks) - len(pending), len(chunks))
            if pending:
                grade_chunks(cfg, source, grader, ckpt, work, plan, pending)
            written = join_chunks([work.chunk_file(c) for c in chunks], tmp, source.info)
            if written != len(plan.pts) or count_frames(tmp) != written:
                raise VstError(f"output {str(out)!r}: the joined chunks hold {count_frames(tmp)} of "
                               f"{len(plan.pts)} frames; nothing was written")
        except BaseException:
            work.keep_for_resume()
            raise
    work.remove()
    return written


def chunk_job(cfg: DictConfig, source, ckpt: Path, work, chunk, threads: int | None = None):
    """A vst.chunks.ChunkJob: `chunk` of `source` graded into its file in the work folder."""
    from dataclasses import asdict

    from vst.chunks import ChunkJob

    settings = {"accelerator": cfg.accelerator, "precision": cfg.precision,
                "channels_last": cfg.channels_last, "work_size": cfg.work_size, "size": cfg.size}
    return ChunkJob(str(source.path), str(ckpt), settings, cfg.grade, asdict(encoding(cfg)),
                    cfg.batch_size, str(work.plan_file), chunk, str(work.chunk_file(chunk)), threads)


def grade_chunks(cfg: DictConfig, source, grader: Grader, ckpt: Path, work, plan, pending) -> None:
    """Grade the `pending` chunks on cfg.engine: in this process, or spread over workers."""
    from concurrent.futures import as_completed

    from tqdm import tqdm

    from vst.chunks import grade_chunk
    from vst.engine import open_engine, threads_per_worker

    local = on_this_machine(cfg)
    threads = threads_per_worker(cfg.workers) if local and cfg.workers > 1 else None
    jobs = [chunk_job(cfg, source, ckpt, work, chunk, threads) for chunk in pending]
    total, left = len(plan.pts), sum(c.frames for c in pending)
    with tqdm(total=total, initial=total - left, unit="frame", desc="grading", dynamic_ncols=True) as bar, \
            open_engine(cfg.engine.name, cfg.workers, cfg.engine.get("address")) as executor:
        if executor is None:
            for job in jobs:
                grade_chunk(job, grader, bar.update)
            return
        futures = {executor.submit(grade_chunk, job): job for job in jobs}
        for future in as_completed(futures):
            future.result()  # a chunk's error stops the run (the others are cancelled)
            bar.update(futures[future].chunk.frames)


# the most pixels a batch of frames holds: four 1080p frames (one 4K frame). Larger frames go
# fewer at a time, as each batch also waits in the reader's and the encoder's queues (96 4K
# frames: 1 a batch peaked at 2729 MiB, 2 at 3343 MiB, 3.8 and 4.0 frames/s); the network
# at the working size costs less a frame in larger batches (1080p: 13.4 frames/s 2 a batch,
# 14.1 four).
BATCH_PIXELS = 4 * 1920 * 1088


def frames_per_batch(batch_size: int, source) -> int:
    """`batch_size` (predict.yaml), or fewer for frames so large that it would pass BATCH_PIXELS."""
    info = getattr(source, "info", None)
    if info is None:
        return batch_size
    return max(1, min(batch_size, BATCH_PIXELS // (info.width * info.height)))


def predict(cfg: DictConfig) -> Path:
    """Grade cfg.video with cfg.ckpt; returns the output path."""
    from vst.io import open_frames

    ckpt = path_setting(cfg, "ckpt", "outputs/.../best.ckpt")
    source = open_frames(path_setting(cfg, "video", "clip.mp4"), "video")
    cfg.batch_size = frames_per_batch(cfg.batch_size, source)
    out = resolve_output(cfg, ckpt, source)
    grader = Grader(ckpt, cfg.accelerator, cfg.precision, cfg.channels_last, cfg.work_size, cfg.size)
    # what is loaded by now (modules, the model, compiled loops) is left out of the garbage
    # collector's passes: grading makes short-lived objects by the thousand a frame, and each
    # full pass walked all of it
    gc.freeze()
    start = time.perf_counter()
    try:
        n = grade(cfg, source, grader, out, ckpt)
    finally:
        gc.unfreeze()  # (a caller's process goes on: its garbage is collected again)
    seconds = time.perf_counter() - start
    print(f"graded {n} frame{'s' if n != 1 else ''} in {seconds:.1f} s "
          f"({n / seconds:.2f} frames/s) -> {out}", flush=True)
    return out


main = hydra_entry("predict", predict)  # `python predict.py ...`


if __name__ == "__main__":
    main()
