"""predict.py speed and memory on this machine, next to the I/O limit.

For 500x280, 720p and 1080p clips from ../shared: frames/s of predict.py (working size auto,
and the full-resolution network where it is affordable), next to a plain PyAV
decode -> RGB -> libx264 (medium, CRF 18) + audio copy of the same clip (the I/O limit, no
model). Peak memory (max RSS) of predict.py on the 1080p clip (288 frames) and on the same
clip five times over (1440 frames, stream-copied): it must not grow with the clip's length.
Prints a table; not part of `make test`.

    python scripts/bench_predict.py [--ckpt best.ckpt]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parent.parent
VIDEO = ROOT.parent / "shared" / "data" / "video"
CLIPS = {"500x280": "mountain_walk.mp4", "720p": "bigbuckbunny_720p_aac51.mp4",
         "1080p": "kenburns_1080p_3shots_audio.mp4"}


def run(cmd: list[str]) -> tuple[str, float]:
    """Run a command; its stdout and its peak resident memory in MiB."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            cwd=ROOT)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        sys.exit(f"failed: {' '.join(cmd)}")
    return out, usage.ru_maxrss / 1024


def predict_fps(ckpt: Path, video: Path, out: Path, *extra: str) -> tuple[float, float]:
    stdout, rss = run([sys.executable, "predict.py", f"ckpt={ckpt}", f"video={video}",
                       f"output={out}", "overwrite=true", *extra])
    return float(re.search(r"\(([\d.]+) frames/s\)", stdout).group(1)), rss


def io_limit_fps(video: Path, out: Path) -> float:
    """Decode -> rgb24 -> encode (libx264 medium CRF 18), audio packets copied."""
    start = time.perf_counter()
    with av.open(str(video)) as src, av.open(str(out), "w") as dst:
        vin = src.streams.video[0]
        vout = dst.add_stream("libx264", rate=vin.average_rate)
        vout.width, vout.height, vout.pix_fmt = vin.width, vin.height, "yuv420p"
        vout.options = {"crf": "18", "preset": "medium"}
        aout = {s.index: dst.add_stream_from_template(s) for s in src.streams.audio}
        frames = 0
        for packet in src.demux():
            if packet.stream.type == "audio" and packet.size:
                packet.stream = aout[packet.stream.index]
                dst.mux(packet)
            elif packet.stream.type == "video":
                for frame in packet.decode():
                    rgb = frame.to_ndarray(format="rgb24")
                    dst.mux(vout.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
                    frames += 1
        dst.mux(vout.encode(None))
    return frames / (time.perf_counter() - start)


def loop(video: Path, times: int, out: Path) -> Path:
    """`video` played `times` times in a row (video and audio stream-copied, no re-encoding)."""
    with av.open(str(video)) as src:
        ends: dict[int, int] = {}
        for packet in src.demux():
            if packet.pts is not None:
                ends[packet.stream.index] = max(ends.get(packet.stream.index, 0),
                                                packet.pts + (packet.duration or 0))
    with av.open(str(video)) as src, av.open(str(out), "w") as dst:
        streams = {s.index: dst.add_stream_from_template(s) for s in src.streams
                   if s.type in ("video", "audio")}
        for k in range(times):
            src.seek(0)
            for packet in src.demux():
                if not packet.size or packet.dts is None or packet.stream.index not in streams:
                    continue
                if k and packet.stream.type == "audio" and packet.pts < 0:
                    continue  # the encoder-delay packet: once, at the start
                shift = k * ends[packet.stream.index]
                packet.pts += shift
                packet.dts += shift
                packet.stream = streams[packet.stream.index]
                dst.mux(packet)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ckpt", type=Path, help="a trained best.ckpt (default: train one)")
    args = parser.parse_args()
    if not VIDEO.is_dir():
        sys.exit(f"shared clips not found at {VIDEO}")
    tmp = Path(tempfile.mkdtemp(prefix="vst-bench-"))
    ckpt = args.ckpt
    if ckpt is None:
        run([sys.executable, "train.py", f"video={VIDEO / CLIPS['500x280']}",
             f"style={ROOT / 'samples' / 'in47_360.jpg'}", "vgg.weights=random",
             "trainer.max_steps=10", f"hydra.run.dir={tmp / 'train'}"])
        ckpt = tmp / "train" / "best.ckpt"
    print(f"{'clip':>8} {'I/O limit':>10} {'predict (auto)':>15} {'predict (full-res net)':>23}")
    for name, file in CLIPS.items():
        video = VIDEO / file
        io = io_limit_fps(video, tmp / f"io_{file}")
        auto, _ = predict_fps(ckpt, video, tmp / f"auto_{file}")
        full = "skipped" if name == "1080p" else \
            f"{predict_fps(ckpt, video, tmp / f'full_{file}', 'work_size=null')[0]:.2f} fps"
        print(f"{name:>8} {io:>6.1f} fps {auto:>11.2f} fps {full:>23}", flush=True)
    video = VIDEO / CLIPS["1080p"]
    _, rss_once = predict_fps(ckpt, video, tmp / "once_out.mp4")
    _, rss_five = predict_fps(ckpt, loop(video, 5, tmp / "five.mp4"), tmp / "five_out.mp4")
    print(f"peak memory of predict.py at 1080p: {rss_once:.0f} MiB for 288 frames, "
          f"{rss_five:.0f} MiB for the clip 5 times over (1440 frames, 1 minute)")


if __name__ == "__main__":
    main()
