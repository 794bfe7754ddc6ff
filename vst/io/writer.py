"""Video out (PyAV): encode frames as they come, copy every audio stream, rename when done.

Colour: frames are converted RGB -> YUV with the same matrix and range the decoder used for
the input (its tags, or BT.601 limited when untagged, which is FFmpeg's default), and the
input's colour tags are copied verbatim. An identity model therefore reproduces the input's
YUV values, and players read the output exactly as they read the input.

Timing: every frame keeps the presentation timestamp of the input frame it came from, in the
input's time base, so frame count, frame rate (variable included) and duration are kept.

Audio: packets are copied without re-encoding, interleaved with the video by time so memory
stays constant. Only when the output container cannot hold the input's audio codec are the
streams re-encoded (and the caller is told).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace

from vst.errors import VstError

log = logging.getLogger(__name__)

# output extension -> FFmpeg muxer
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
              ".avi": "avi"}


@dataclass(frozen=True)
class Codec:
    encoder: str
    pix_fmt: str
    options: dict[str, str]
    uses_crf: bool


CODECS = {
    "h264": Codec("libx264", "yuv420p", {}, True),
    "vp9": Codec("libvpx-vp9", "yuv420p", {"b": "0", "row-mt": "1"}, True),
    "prores": Codec("prores_ks", "yuv422p10le", {"profile": "3"}, False),  # ProRes 422 HQ
    "ffv1": Codec("ffv1", "yuv444p10le", {"level": "3", "slices": "4"}, False),  # lossless
}
ALLOWED = {"mp4": ("h264",), "mov": ("h264", "prores"), "matroska": ("h264", "ffv1", "prores", "vp9"),
           "webm": ("vp9",), "avi": ("h264", "ffv1")}
AUDIO_FALLBACK = {"mp4": "aac", "mov": "aac", "matroska": "aac", "webm": "libopus", "avi": "libmp3lame"}


def container_for(path: Path) -> str:
    fmt = CONTAINERS.get(path.suffix.lower())
    if fmt is None:
        raise VstError(f"output {str(path)!r}: no video container for {path.suffix or 'no extension'!r} "
                       f"(use one of {', '.join(sorted(CONTAINERS))})")
    return fmt


def codec_for(container: str, codec: str, path: Path) -> Codec:
    name = ALLOWED[container][0] if codec == "auto" else codec
    if name not in CODECS:
        raise VstError(f"codec={codec!r} is unknown (choose auto, {', '.join(CODECS)})")
    if name not in ALLOWED[container]:
        raise VstError(f"output {str(path)!r}: a {path.suffix} file cannot hold codec={name} "
                       f"(it can hold: {', '.join(ALLOWED[container])})")
    return CODECS[name]


@dataclass(frozen=True)
class SourceVideo:
    """What the writer copies from the input: timing, colour, geometry tags, audio."""

    path: Path
    time_base: Fraction
    rate: Fraction
    pts: list[int]
    colorspace: int
    color_range: int
    color_primaries: int
    color_trc: int
    sample_aspect_ratio: Fraction | None
    rotation: int


def inspect_source(path: Path, num_frames: int, fps: float) -> SourceVideo:
    """Timestamps of every frame (demux only, no decoding) and the tags of the first frame."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        cc = stream.codec_context
        first = next(container.decode(stream), None)
        container.seek(0)
        stamps = sorted(p.pts if p.pts is not None else p.dts
                        for p in container.demux(stream) if p.size and (p.pts or p.dts) is not None)
        time_base = stream.time_base or Fraction(1, 90000)
        rate = stream.average_rate or stream.guessed_rate or Fraction(fps).limit_denominator(1001)
    if len(stamps) != num_frames or len(set(stamps)) != len(stamps):
        # some containers (packed AVI, streams without pts) do not give one stamp per frame
        log.info("%s: %d packet timestamps for %d frames; using a constant %.3f fps",
                 path.name, len(stamps), num_frames, float(rate))
        step = 1 / (rate * time_base)
        start = stamps[0] if stamps else 0
        stamps = [start + round(i * step) for i in range(num_frames)]
    return SourceVideo(
        path=path, time_base=time_base, rate=rate, pts=stamps,
        colorspace=int(first.colorspace) if first is not None else 2,
        color_range=int(first.color_range) if first is not None else 0,
        color_primaries=int(cc.color_primaries), color_trc=int(cc.color_trc),
        sample_aspect_ratio=stream.sample_aspect_ratio,
        rotation=int(getattr(first, "rotation", 0) or 0) if first is not None else 0,
    )


class VideoWriter:
    """Writes a graded copy of `source` to `path` (via a temporary name, renamed on close)."""

    def __init__(self, path: Path, source: SourceVideo, width: int, height: int,
                 codec: str = "auto", crf: int = 18, preset: str = "medium"):
        self.path, self.source = path, source
        self.container_format = container_for(path)
        self.codec = codec_for(self.container_format, codec, path)
        self.tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
        # 4:2:0 and 4:2:2 need even sizes: pad with the last row/column rather than lose one
        even_w = self.codec.pix_fmt.startswith(("yuv420", "yuv422"))
        even_h = self.codec.pix_fmt.startswith("yuv420")
        self.width, self.height = width, height
        self.pad = ((0, height % 2 if even_h else 0), (0, width % 2 if even_w else 0), (0, 0))
        if any(p for p, _ in self.pad[:2]) or self.pad[1][1]:
            log.warning("%dx%d is odd; %s needs even sizes, so the last row/column is repeated "
                        "(%dx%d)", width, height, self.codec.encoder, width + self.pad[1][1],
                        height + self.pad[0][1])
        # decord hands out frames turned upright (np.rot90 by rotation/90); the file keeps the
        # coded orientation and the rotation tag, so turn them back before encoding
        self.unrotate = -(source.rotation // 90) % 4
        self.matrix = source.colorspace if source.colorspace in _MATRICES else Colorspace.DEFAULT
        self.range = ColorRange.JPEG if source.color_range == 2 else ColorRange.MPEG
        self.audio_reencoded = False
        self._open(crf, preset, copy_audio=True)

    # ---- setup --------------------------------------------------------------------------
    def _open(self, crf: int, preset: str, copy_audio: bool) -> None:
        self.out = av.open(str(self.tmp), "w", format=self.container_format)
        self.audio = _AudioTracks(self.source.path, self.out, copy_audio)
        try:
            self._add_video(crf, preset)
            self.audio.add_streams()
            self.out.start_encoding()
        except (av.error.FFmpegError, ValueError) as err:
            self.abort()
            if copy_audio and self.audio.streams:
                self._open(crf, preset, copy_audio=False)
                self.audio_reencoded = True
                return
            raise VstError(f"output {str(self.path)!r}: cannot write this video ({err})") from None

    def _add_video(self, crf: int, preset: str) -> None:
        src, codec = self.source, self.codec
        stream = self.out.add_stream(codec.encoder, rate=src.rate)
        stream.width = self.width + self.pad[1][1]
        stream.height = self.height + self.pad[0][1]
        stream.pix_fmt = codec.pix_fmt
        stream.time_base = src.time_base
        cc = stream.codec_context
        cc.time_base = src.time_base
        cc.colorspace, cc.color_range = src.colorspace, src.color_range
        cc.color_primaries, cc.color_trc = src.color_primaries, src.color_trc
        if src.sample_aspect_ratio:
            cc.sample_aspect_ratio = src.sample_aspect_ratio
        options = dict(codec.options)
        if codec.uses_crf:
            options["crf"] = str(crf)
        if codec.encoder == "libx264":
            options["preset"] = preset
        stream.options = options
        if src.rotation:
            stream.set_display_rotation(src.rotation)
        self.video = stream

    # ---- writing ------------------------------------------------------------------------
    def write(self, rgb: np.ndarray, pts: int) -> None:
        """One HxWx3 uint8 frame as decord gave it (upright), shown at `pts` (input time base)."""
        if self.unrotate:
            rgb = np.ascontiguousarray(np.rot90(rgb, self.unrotate))
        if rgb.shape[:2] != (self.height, self.width):
            raise ValueError(f"frame is {rgb.shape[1]}x{rgb.shape[0]}, the stream "
                             f"{self.width}x{self.height}")
        if any(p for _, p in self.pad[:2]):
            rgb = np.pad(rgb, self.pad, mode="edge")
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
            format=self.codec.pix_fmt, dst_colorspace=self.matrix, dst_color_range=self.range)
        frame.pts, frame.time_base = pts, self.source.time_base
        self.audio.mux_until(float(pts * self.source.time_base))
        for packet in self.video.encode(frame):
            self.out.mux(packet)

    def close(self) -> None:
        """Flush, finish the file and move it to its final name."""
        for packet in self.video.encode():
            self.out.mux(packet)
        self.audio.mux_until(float("inf"))
        self.out.close()
        self.audio.close()
        self.tmp.replace(self.path)

    def abort(self) -> None:
        """Drop the half-written file; nothing is left at the output path."""
        with contextlib.suppress(Exception):  # already failing; the temp file goes either way
            self.out.close()
        self.audio.close()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


_MATRICES = {1: Colorspace.ITU709, 5: Colorspace.ITU601, 6: Colorspace.SMPTE170M,
             7: Colorspace.SMPTE240M, 4: Colorspace.FCC}


class _AudioTracks:
    """Every audio stream of the input, copied (or re-encoded) into `out`, muxed in time order."""

    def __init__(self, path: Path, out: av.container.OutputContainer, copy: bool):
        self.input = av.open(str(path))
        self.out, self.copy = out, copy
        self.streams = list(self.input.streams.audio)
        self.map: dict[int, av.stream.Stream] = {}
        self.resamplers: dict[int, av.AudioResampler] = {}
        self._packets = self.input.demux(*self.streams) if self.streams else iter(())
        self._next = None

    def add_streams(self) -> None:
        out = self.out
        fallback = AUDIO_FALLBACK[out.format.name.split(",")[0]]
        for s in self.streams:
            if self.copy:
                self.map[s.index] = out.add_stream_from_template(s)
            else:
                enc = out.add_stream(fallback, rate=48000 if fallback == "libopus" else s.rate)
                enc.layout = s.layout
                self.map[s.index] = enc
                fmt = enc.codec_context.codec.audio_formats[0].name
                self.resamplers[s.index] = av.AudioResampler(format=fmt, layout=s.layout,
                                                             rate=enc.rate)

    def mux_until(self, seconds: float) -> None:
        """Mux input audio packets that start before `seconds`."""
        while True:
            if self._next is None:
                self._next = next(self._packets, None)
                if self._next is None:
                    if not self.copy:
                        self._flush_encoders()
                    return
            packet = self._next
            if packet.dts is None or packet.size == 0:
                self._next = None
                continue
            if float(packet.dts * packet.time_base) > seconds:
                return
            self._next = None
            out_stream = self.map[packet.stream.index]
            if self.copy:
                packet.stream = out_stream
                out_stream.container.mux(packet)
            else:
                for frame in packet.decode():
                    for chunk in self.resamplers[packet.stream.index].resample(frame):
                        chunk.pts = None
                        out_stream.container.mux(out_stream.encode(chunk))

    def _flush_encoders(self) -> None:
        for index, stream in self.map.items():
            for chunk in self.resamplers[index].resample(None):
                chunk.pts = None
                stream.container.mux(stream.encode(chunk))
            stream.container.mux(stream.encode(None))
        self.map = {}

    def close(self) -> None:
        self.input.close()
