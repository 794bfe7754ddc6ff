"""Video out (PyAV): encode frames as they come and copy every audio stream.

Colour: frames are converted RGB -> YUV (8-bit 4:2:0 by vst/io/yuv.py, the rest by swscale)
with the same matrix and range the decoder used for the input (its tags, or BT.601 limited
when untagged, which is FFmpeg's default), and the input's colour tags (matrix, range,
primaries, transfer) are written on every frame and on the stream, so every encoder keeps them
(ProRes reads them from the frame). An identity model therefore reproduces the input's YUV
values, and players read the output exactly as they read the input. An RGB-coded input is
written as YUV (BT.601 matrix, tagged so); an HDR input (PQ, HLG) is graded as if it were SDR,
with a warning.

Timing: every frame keeps the presentation timestamp of the input frame it came from (read
off the decoded frame, vst/io/video.py), in the input's time base, so frame count, frame rate
(variable included), duration and the sync with the copied audio are kept.

Size: the output has the input's size (or the one asked for) exactly; a side that 4:2:0
cannot hold (odd) is encoded 4:4:4 rather than padded.

Audio: packets are copied without re-encoding, interleaved with the video by time so memory
stays constant. Only when the output container cannot hold the input's audio codec are the
streams re-encoded (and the caller is told).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace

from vst.errors import VstError
from vst.io.image import short_side_size
from vst.io.video import VideoInfo
from vst.io.yuv import rgb_to_yuv420p

log = logging.getLogger(__name__)

# output extension -> FFmpeg muxer
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
              ".avi": "avi"}


@dataclass(frozen=True)
class Codec:
    encoder: str
    formats: dict[int, tuple[str, str]]  # bits -> pix_fmt, and the one for a frame with an odd side
    options: dict[str, str]
    uses_crf: bool
    full_chroma_options: dict[str, str]  # what the odd-side pix_fmt needs besides

    def format_for(self, depth: int, width: int, height: int) -> tuple[str, dict[str, str]]:
        """The pixel format and options that hold a width x height frame exactly at `depth`
        bits: 4:2:0 needs both sides even and 4:2:2 an even width (no container can crop one
        pixel off 4:2:0), so an odd side is encoded 4:4:4."""
        pix_fmt, full_chroma = self.formats[depth]
        sub_w = pix_fmt.startswith(("yuv420", "yuv422"))
        sub_h = pix_fmt.startswith("yuv420")
        if (width % 2 and sub_w) or (height % 2 and sub_h):
            return full_chroma, {**self.options, **self.full_chroma_options}
        return pix_fmt, dict(self.options)


CODECS = {
    "h264": Codec("libx264", {8: ("yuv420p", "yuv444p"), 10: ("yuv420p10le", "yuv444p10le")},
                  {}, True, {}),
    "hevc": Codec("libx265", {8: ("yuv420p", "yuv444p"), 10: ("yuv420p10le", "yuv444p10le")},
                  {"x265-params": "log-level=error"}, True, {}),
    "vp9": Codec("libvpx-vp9", {8: ("yuv420p", "yuv444p")},  # this libvpx has no profile 2
                 {"b": "0", "row-mt": "1"}, True, {}),
    "prores": Codec("prores_ks", {10: ("yuv422p10le", "yuv444p10le")}, {"profile": "3"},  # 422 HQ
                    False, {"profile": "4"}),                                             # 4444
    "ffv1": Codec("ffv1", {10: ("yuv444p10le", "yuv444p10le")}, {"level": "3", "slices": "4"},
                  False, {}),  # lossless
}
ALLOWED = {"mp4": ("h264", "hevc"), "mov": ("h264", "hevc", "prores"),
           "matroska": ("h264", "hevc", "ffv1", "prores", "vp9"), "webm": ("vp9",), "avi": ("h264", "ffv1")}
AUDIO_FALLBACK = {"mp4": "aac", "mov": "aac", "matroska": "aac", "webm": "libopus", "avi": "libmp3lame"}


@dataclass(frozen=True)
class Encoding:
    """How the graded video is encoded: predict.yaml's codec, bit_depth, crf and preset."""

    codec: str = "auto"
    bit_depth: int | str = "auto"
    crf: int = 18
    preset: str = "medium"


DEFAULT_ENCODING = Encoding()


def container_for(path: Path) -> str:
    fmt = CONTAINERS.get(path.suffix.lower())
    if fmt is None:
        raise VstError(f"output {str(path)!r}: no video container for {path.suffix or 'no extension'!r} "
                       f"(use one of {', '.join(sorted(CONTAINERS))})")
    return fmt


def choose_codec(path: Path, encoding: Encoding, source_depth: int) -> tuple[Codec, int]:
    """The codec and bit depth `path` is written with. auto: H.264 (VP9 for .webm), HEVC for a
    source of more than 8 bits; bit_depth auto: the source's depth where the codec holds it,
    except H.264, which stays 8-bit (10-bit H.264 plays almost nowhere) unless asked."""
    container = container_for(path)
    name = encoding.codec
    if name == "auto":
        name = "hevc" if source_depth > 8 and "hevc" in ALLOWED[container] else ALLOWED[container][0]
    if name not in CODECS:
        raise VstError(f"codec={name!r} is unknown (choose auto, {', '.join(CODECS)})")
    if name not in ALLOWED[container]:
        raise VstError(f"output {str(path)!r}: a {path.suffix} file cannot hold codec={name} "
                       f"(it can hold: {', '.join(ALLOWED[container])})")
    codec, depth = CODECS[name], encoding.bit_depth
    if depth == "auto":
        deeper = [d for d in codec.formats if d >= source_depth]
        depth = 8 if name == "h264" else min(deeper) if deeper else max(codec.formats)
    elif depth not in codec.formats:
        held = " or ".join(map(str, codec.formats))
        raise VstError(f"bit_depth={depth!r}: codec={name} is written at {held} bits here "
                       "(10 bits: hevc, prores, ffv1 or h264; auto = the source's depth)")
    return codec, depth


class VideoWriter:
    """Writes a graded copy of the clip `source` describes (its probe record) to `path`, frame
    by frame, in the source's format: timestamps, colour tags, aspect, rotation, audio.

    `path` is written as it is (vst.io.output hands it a temporary, renamed when the file is
    complete and checked); `abort()` leaves whatever was written for the caller to remove."""

    def __init__(self, path: Path, source: VideoInfo, size: int | None = None,
                 encoding: Encoding = DEFAULT_ENCODING, audio: bool = True):
        """size: the short side of the output (None = the source's size, never upscaled);
        audio: copy the source's audio (a chunk, joined later, has none of its own)."""
        self.path, self.source = Path(path), source
        self.container_format = container_for(self.path)
        self.codec, depth = choose_codec(self.path, encoding, source.bit_depth)
        self.height, self.width = height, width = short_side_size(source.height, source.width, size)
        self.pix_fmt, self.options = self.codec.format_for(depth, width, height)
        if self.pix_fmt != self.codec.formats[depth][0]:
            log.warning("%dx%d has an odd side, which %s cannot hold: encoding %s to keep the exact "
                        "size (some players, browsers and QuickTime among them, do not play 4:4:4 "
                        "H.264; scale to an even size first if they must)", width, height,
                        self.codec.formats[depth][0], self.pix_fmt)
        # frames come in upright (turned by the rotation tag); the file keeps the coded
        # orientation and the tag, so turn them back before encoding
        self.unrotate = -(source.rotation // 90) % 4
        self.matrix = source.colorspace if source.colorspace in _MATRICES else Colorspace.DEFAULT
        self.range = ColorRange.JPEG if source.color_range == 2 else ColorRange.MPEG
        if self.codec.encoder == "prores_ks":  # ProRes holds limited range only
            self.range = ColorRange.MPEG
        # the tags every frame and the stream carry (some encoders, ProRes among them, take them
        # from the frame): the input's, except that an RGB-coded input (matrix tag 0) is written
        # as YUV by the BT.601 matrix, and says so
        self.tags = {"colorspace": source.colorspace if source.colorspace != _RGB else _BT601,
                     "color_range": 0 if source.color_range == 0 and source.colorspace != _RGB
                     else int(self.range),  # the range encoded (untagged stays untagged)
                     "color_primaries": source.color_primaries, "color_trc": source.color_trc}
        if source.bit_depth > depth:
            log.warning("%s has %d bits per component; %s output holds %d: depth reduced (bit_depth=10 "
                        "keeps 10 with codec=hevc, h264, prores or ffv1)", source.path.name,
                        source.bit_depth, self.pix_fmt, depth)
        if source.color_trc in _HDR:
            log.warning("%s is HDR (%s transfer): vst grades display-referred SDR pictures; the "
                        "output keeps the input's tags, but its grade was judged as SDR",
                        source.path.name, _HDR[source.color_trc])
        self.frames = 0
        self.out, self.video, self.audio, self.audio_reencoded = open_muxer(
            self.path, source, lambda out: self._add_video(out, encoding), audio)

    # ---- setup --------------------------------------------------------------------------
    def _add_video(self, out: av.container.OutputContainer, encoding: Encoding):
        src, codec = self.source, self.codec
        stream = out.add_stream(codec.encoder, rate=src.rate)
        stream.width, stream.height = self.width, self.height
        stream.pix_fmt = self.pix_fmt
        stream.time_base = src.time_base
        cc = stream.codec_context
        cc.time_base = src.time_base
        for name, value in self.tags.items():
            setattr(cc, name, value)
        if src.sample_aspect_ratio:
            cc.sample_aspect_ratio = src.sample_aspect_ratio
        options = dict(self.options)
        if codec.uses_crf:
            options["crf"] = str(encoding.crf)
        if codec.encoder in ("libx264", "libx265"):
            options["preset"] = encoding.preset
        stream.options = options
        if codec.encoder == "libx265" and self.container_format in ("mp4", "mov"):
            stream.codec_tag = "hvc1"  # what Apple's players need to play HEVC
        if src.rotation:
            stream.set_display_rotation(src.rotation)
        return stream

    # ---- writing ------------------------------------------------------------------------
    def write(self, rgb: np.ndarray, pts: int) -> None:
        """One HxWx3 frame (uint8, or uint16 from a deeper source), upright, shown at `pts`
        (in the source's time base)."""
        if self.unrotate:
            rgb = np.ascontiguousarray(np.rot90(rgb, self.unrotate))
        if rgb.shape[:2] != (self.height, self.width):
            raise ValueError(f"frame is {rgb.shape[1]}x{rgb.shape[0]}, the stream "
                             f"{self.width}x{self.height}")
        if self.pix_fmt == "yuv420p" and rgb.dtype == np.uint8:  # the common case, faster (vst/io/yuv.py)
            frame = rgb_to_yuv420p(rgb, int(self.matrix), self.range == ColorRange.JPEG)
        else:
            # swscale on one thread: its threaded RGB -> 10-bit YUV conversion (libswscale 9.5)
            # writes stray values into the first pixels of a slice's first row where the height
            # does not split evenly (280 rows: rows 94 and 188, up to 125 codes off, differing
            # from run to run); on one thread it is exact, and no slower beside the encoder
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb48le" if rgb.dtype == np.uint16
                                               else "rgb24").reformat(
                format=self.pix_fmt, dst_colorspace=self.matrix, dst_color_range=self.range, threads=1)
        for name, value in self.tags.items():
            setattr(frame, name, value)
        frame.pts, frame.time_base = pts, self.source.time_base
        self.audio.mux_until(float(pts * self.source.time_base))
        for packet in self.video.encode(frame):
            self.out.mux(packet)
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder, copy the rest of the audio and finish the file."""
        for packet in self.video.encode():
            self.out.mux(packet)
        self.audio.mux_until(float("inf"))
        self.out.close()
        self.audio.close()

    def abort(self) -> None:
        """Stop writing (the file is incomplete: the caller removes it)."""
        with contextlib.suppress(Exception):  # already failing
            self.out.close()
        self.audio.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def open_muxer(path: Path, source: VideoInfo, add_video, audio: bool = True):
    """Open `path` for writing with the video stream `add_video(container)` makes and every
    audio stream of `source` (with `audio`), copied, or re-encoded only when the container
    cannot hold the copy. Returns (container, video stream, audio tracks, audio re-encoded).

    MP4 and MOV count the movie's time (its edit lists among it) in the source's own time base
    rather than in milliseconds, so a video that starts late (a chunk, a trimmed source) keeps
    its first frame's time exactly."""
    fmt = container_for(path)
    options = {"movie_timescale": str(source.time_base.denominator)} if fmt in ("mp4", "mov") else {}
    for copy in (True, False):
        out = av.open(str(path), "w", format=fmt, container_options=options)
        tracks = _AudioTracks(source.path if audio else None, out, copy)
        try:
            video = add_video(out)
            tracks.add_streams()
            out.start_encoding()
            return out, video, tracks, not copy
        except (av.error.FFmpegError, ValueError) as err:
            with contextlib.suppress(Exception):  # already failing
                out.close()
            tracks.close()
            if not (copy and tracks.streams):
                raise VstError(f"output {str(path)!r}: cannot write this video ({err})") from None
    raise AssertionError("unreachable")


_RGB, _BT601 = 0, 6  # FFmpeg's AVCOL_SPC_RGB and AVCOL_SPC_SMPTE170M
_HDR = {16: "PQ (SMPTE ST 2084)", 18: "HLG (ARIB STD-B67)"}  # AVCOL_TRC_*
_MATRICES = {1: Colorspace.ITU709, 5: Colorspace.ITU601, 6: Colorspace.SMPTE170M,
             7: Colorspace.SMPTE240M, 4: Colorspace.FCC}


class _AudioTracks:
    """Every audio stream of the input, copied (or re-encoded) into `out`, muxed in time order."""

    def __init__(self, path: Path | None, out: av.container.OutputContainer, copy: bool):
        self.input = av.open(str(path)) if path is not None else None
        self.out, self.copy = out, copy
        self.streams = list(self.input.streams.audio) if self.input is not None else []
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
        if self.input is not None:
            self.input.close()
