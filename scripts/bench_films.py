"""The targets of issue #19 (films: chunked, resumable, parallel predict), measured in one run
on ../shared's band_stage_audio.mp4 looped 4 times (5764 frames, 4 minutes, AAC audio):

1. a full predict (workers=1): wall time and peak memory, and the peak memory on the clip
   played once (memory flat in clip length); the same run again (how far two identical runs
   differ: the yardstick for "the same output");
2. the same command SIGKILLed once more than half of its chunks are complete, then run again:
   the re-run's wall time against the full run's (target <= 0.6) and its output against the
   full run's (frames, every timestamp, audio packets, pixels);
3. workers=2: wall time, speed-up, the same output; the work folder's largest size during the
   run against the output's size plus one chunk per worker.

The checkpoint is a quick training run on the clip (experiment=quick). Not part of `make test`.

    python scripts/bench_films.py
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_predict import ROOT, VIDEO, loop  # noqa: E402

STYLE = ROOT.parent / "shared" / "data" / "style" / "in47.png"


def predict(ckpt: Path, video: Path, out: Path, *extra: str, kill_at: float | None = None,
            watch: Path | None = None) -> tuple[float, float, float, int]:
    """Run predict.py: (wall seconds, peak MiB of its largest process, peak MiB of all its
    processes together, largest size of the folder `watch` in bytes). kill_at: SIGKILL the
    run once this share of its planned chunks is complete."""
    import psutil

    cmd = [sys.executable, "predict.py", f"ckpt={ckpt}", f"video={video}", f"output={out}", *extra]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    peaks, stop = {"one": 0, "all": 0, "folder": 0}, threading.Event()

    def measure():
        root = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                rss = [p.memory_info().rss for p in [root, *root.children(recursive=True)]]
                peaks["one"], peaks["all"] = max(peaks["one"], *rss), max(peaks["all"], sum(rss))
            except psutil.Error:
                pass
            if watch is not None and watch.is_dir():
                size = sum(f.stat().st_size for f in watch.iterdir() if f.is_file())
                peaks["folder"] = max(peaks["folder"], size)
                if kill_at is not None and (watch / "plan.json").is_file():
                    planned = len(json.loads((watch / "plan.json").read_text())["chunks"])
                    if len(list(watch.glob("chunk_*"))) >= kill_at * planned:
                        os.killpg(proc.pid, signal.SIGKILL)
                        return
            time.sleep(0.05)

    watcher = threading.Thread(target=measure, daemon=True)
    watcher.start()
    status = proc.wait()
    seconds = time.perf_counter() - start
    stop.set()
    watcher.join()
    if kill_at is None and status != 0:
        sys.exit(f"failed: {' '.join(cmd)}")
    return seconds, peaks["one"] / 2**20, peaks["all"] / 2**20, peaks["folder"]


def compare(a: Path, b: Path) -> str:
    """Frames, timestamps, audio packets and pixels of b against a."""
    with av.open(str(a)) as x, av.open(str(b)) as y:
        count = (x.streams.video[0].frames, y.streams.video[0].frames)
        same_pts, diffs = True, []
        for f, g in zip(x.decode(x.streams.video[0]), y.decode(y.streams.video[0]), strict=False):
            same_pts &= f.pts == g.pts
            rgb = f.to_ndarray(format="rgb24").astype(np.int16)
            diffs.append(np.abs(rgb - g.to_ndarray(format="rgb24")).mean())
    with av.open(str(a)) as x, av.open(str(b)) as y:
        audio = ([bytes(p) for p in x.demux(*x.streams.audio) if p.size],
                 [bytes(p) for p in y.demux(*y.streams.audio) if p.size])
    return (f"frames {count[1]} of {count[0]}, every timestamp the same: {same_pts}, audio packets "
            f"{len(audio[1])} of {len(audio[0])} the same: {audio[0] == audio[1]}, pixels: mean "
            f"difference {np.mean(diffs):.3f} code values (worst frame {max(diffs):.2f}, "
            f"{int(np.count_nonzero(diffs))} frames differ)")


def main() -> None:
    if not VIDEO.is_dir():
        sys.exit(f"skipped: shared clips not found at {VIDEO}")
    sys.path.insert(0, str(ROOT))
    import vst

    tmp = Path(tempfile.mkdtemp(prefix="vst-films-"))
    once = VIDEO / "band_stage_audio.mp4"
    clip = loop(once, 4, tmp / "band_stage_x4.mp4")
    ckpt = vst.fit(once, STYLE, "experiment=quick", run_dir=tmp / "run")

    _, once_mib, _, _ = predict(ckpt, once, tmp / "once.mp4")
    full, full_mib, _, _ = predict(ckpt, clip, tmp / "full.mp4")
    print(f"full run (workers=1): {full:.1f} s, peak {full_mib:.0f} MiB ({once_mib:.0f} MiB on the "
          "clip played once)")
    again_full, _, _, _ = predict(ckpt, clip, tmp / "full_again.mp4")
    print(f"  the same run again: {again_full:.1f} s; against the first:",
          compare(tmp / "full.mp4", tmp / "full_again.mp4"))

    out, work = tmp / "resumed.mp4", tmp / ".resumed.mp4.vst-work"
    killed, _, _, _ = predict(ckpt, clip, out, kill_at=0.5, watch=work)
    done = len(list(work.glob("chunk_*")))
    planned = len(json.loads((work / "plan.json").read_text())["chunks"])
    again, _, _, _ = predict(ckpt, clip, out)
    print(f"SIGKILL after {killed:.1f} s with {done} of {planned} chunks complete; the same command "
          f"again: {again:.1f} s = {again / full:.2f} of a full run (target <= 0.6)")
    print("  resumed output against the full run:", compare(tmp / "full.mp4", out))

    out, work = tmp / "two.mp4", tmp / ".two.mp4.vst-work"
    two, one_mib, all_mib, largest = predict(ckpt, clip, out, "workers=2", watch=work)
    size = out.stat().st_size
    print(f"workers=2: {two:.1f} s, speed-up {full / two:.2f} (target >= 0.8 x 2 where the encoder "
          f"is not saturated; this machine has {os.cpu_count()} cores); largest process "
          f"{one_mib:.0f} MiB, all {all_mib:.0f} MiB")
    print(f"  work folder at most {largest / 2**20:.1f} MiB; output {size / 2**20:.1f} MiB "
          f"(limit: the output plus one chunk per worker)")
    print("  workers=2 output against the full run:", compare(tmp / "full.mp4", out))
    print(f"files in {tmp}")


if __name__ == "__main__":
    main()
