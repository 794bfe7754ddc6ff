"""Video in. One probe (PyAV) reads everything the rest of vst needs to know about the clip into
one `VideoInfo`; PyAV streams every frame in order, each with its own timestamp; decord reads
chosen frames by index (training keyframes).

One video stream everywhere: the first that is not an attached picture (cover art), or
FFmpeg's best stream when there are several. decord cannot be told which stream to read and
picks by its own rules, so it is used only for files with a single video stream; other files
(and files decord cannot open, such as GIFs) are read by index with PyAV too.

Why not decord for whole-clip passes: its CPU reader keeps decoding ahead of a slow consumer
with no bound (dmlc/decord#157, #208: while its worker has no frame ready, each read pushes
another packet, so the whole file is queued up front); grading a one-minute 1080p clip that
way held 9.8 GB of decoded frames. PyAV decodes a frame when it is asked for; both give the
same pixels (checked on every clip in ../shared).

Timestamps come from the decoded frames themselves (pts; the packet's dts only when a frame
has no pts), so every container keeps every frame's time, variable frame rates included.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from vst.errors import VstError
from vst.io.frames import FrameBatch, to_float
from vst.io.image import check_input_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoInfo:
    """What the probe of a clip found: its chosen video stream, timing, colour and geometry."""

    path: Path
    stream: int                 # index of the chosen video stream in the container
    video_streams: int          # how many video streams (not counting cover art) it holds
    width: int                  # coded size (before rotation)
    height: int
    rate: Fraction              # average frame rate
    time_base: Fraction         # of the frame timestamps
    codec: str
    frames_hint: int            # the container's frame count or an estimate; 0 if unknown
    has_audio: bool
    colorspace: int             # matrix, range, primaries, transfer: FFmpeg's AVCOL_* codes
    color_range: int
    color_primaries: int
    color_trc: int
    sample_aspect_ratio: Fraction | None
    rotation: int               # degrees the picture is turned when shown
    bit_depth: int              # bits per component of the decoded pictures (8, 10, 12, 16)

    @property
    def fps(self) -> float:
        return float(self.rate)


def pick_video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The stream vst reads: FFmpeg's best video stream unless that is cover art, else the first."""
    candidates = [s for s in container.streams.video
                  if not s.disposition & av.stream.Disposition.attached_pic]
    if not candidates:
        return None
    try:
        best = container.streams.best("video")
    except (av.error.FFmpegError, ValueError):
        best = None
    return best if any(best is s for s in candidates) else candidates[0]


def probe_video(path: str | Path, what: str = "video") -> VideoInfo:
    """Open `path` with PyAV, pick its video stream and decode its first frame for the tags."""
    p = check_input_file(path, what)
    try:
        with av.open(str(p)) as container:
            stream = pick_video_stream(container)
            if stream is None:
                raise VstError(f"{what} {str(path)!r} has no video stream")
            count = sum(not s.disposition & av.stream.Disposition.attached_pic
                        for s in container.streams.video)
            try:
                first = next(container.decode(stream), None)
            except av.error.FFmpegError as err:
                raise VstError(f"{what} {str(path)!r}: its first frame could not be decoded "
                               f"({err.strerror}; file damaged?)") from None
            if first is None:
                raise VstError(f"{what} {str(path)!r} holds no decodable frames")
            rate = stream.average_rate or stream.guessed_rate or Fraction(25)
            hint = stream.frames
            if not hint and container.duration:
                hint = round(container.duration / av.time_base * rate)
            info = VideoInfo(
                path=p, stream=stream.index, video_streams=count,
                width=stream.codec_context.width, height=stream.codec_context.height,
                rate=Fraction(rate), time_base=stream.time_base or Fraction(1, 90000),
                codec=stream.codec_context.name, frames_hint=int(hint or 0),
                has_audio=bool(container.streams.audio),
                colorspace=int(first.colorspace), color_range=int(first.color_range),
                color_primaries=int(first.color_primaries), color_trc=int(first.color_trc),
                sample_aspect_ratio=stream.sample_aspect_ratio, rotation=int(first.rotation or 0),
                bit_depth=max(c.bits for c in first.format.components),
            )
    except av.error.FFmpegError as err:
        raise VstError(f"{what} {str(path)!r} is not a readable video ({err.strerror})") from None
    if count > 1:
        log.info("%s holds %d video streams: reading stream #%d (%s %dx%d)", p.name, count,
                 info.stream, info.codec, info.width, info.height)
    return info


class VideoFrames:
    """The frames of a video file (a `FrameSource`): streamed in order with their timestamps,
    or read by index. Probed once: `info` is everything the writer needs to copy its format."""

    kind = "video"

    def __init__(self, path: str | Path, what: str = "video"):
        self.info = probe_video(path, what)
        self.path, self.what = self.info.path, what
        self.frames_hint = self.info.frames_hint
        self._decord = None           # opened on the first read by index
        self._num_frames: int | None = None
        self.pts_repaired = False     # a decode found frames without a time of their own

    # ---- in order, with timestamps (whole-clip passes) -------------------------------------
    def _decode(self, stop: int | None = None, deep: bool = True,
                start_pts: int | None = None) -> Iterator[tuple[np.ndarray, int]]:
        """(upright HxWx3 frame, its pts in info.time_base) for `stop` frames (all by default)
        from the start, or from the frame shown at `start_pts` (a pts a whole pass returned):
        uint16 for a source of more than 8 bits (with `deep`), else uint8."""
        fmt = "rgb48le" if deep and self.info.bit_depth > 8 else "rgb24"
        if stop is not None and stop <= 0:
            return
        step = max(1, round(1 / (self.info.rate * self.info.time_base)))
        last, done = None, 0
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams[self.info.stream]
                stream.thread_type = "AUTO"
                frames = container.decode(stream)
                if start_pts is not None:
                    frames = self._from(container, stream, start_pts)
                for frame in frames:
                    pts = frame.pts if frame.pts is not None else frame.dts
                    if pts is None:  # neither: one frame duration after the last
                        pts = 0 if last is None else last + step
                    if last is not None and pts <= last:  # encoders need strictly increasing times
                        pts = last + 1
                    if pts != frame.pts:
                        self.pts_repaired = True
                    last = pts
                    rgb = frame.to_ndarray(format=fmt, threads=1)  # (see VideoWriter.write)
                    if frame.rotation:  # turned upright, as decord does
                        rgb = np.rot90(rgb, frame.rotation // 90)
                    yield rgb, pts
                    done += 1
                    if done == stop:
                        return
        except av.error.FFmpegError as err:
            raise VstError(f"{self.what} {str(self.path)!r}: frame {done} could not be decoded "
                           f"({err.strerror}; file damaged or truncated?)") from None
        if self._num_frames is None and stop is None and start_pts is None:
            self._num_frames = done

    def _from(self, container, stream, start_pts: int) -> Iterator[av.VideoFrame]:
        """The decoded frames from the one shown at `start_pts` on: a seek to the keyframe before
        it, then decoding up to it (from the start if the seek cannot land before it)."""
        try:
            container.seek(start_pts, stream=stream, backward=True, any_frame=False)
            frames = container.decode(stream)
            first = next(frames, None)
        except av.error.FFmpegError:
            first = None
        if first is None or first.pts is None or first.pts > start_pts:  # landed past it
            container.seek(0, stream=stream, backward=True, any_frame=False)
            frames, first = container.decode(stream), None
        for frame in itertools.chain([first] if first is not None else [], frames):
            if frame.pts is None or frame.pts >= start_pts:
                if frame.pts != start_pts:
                    raise VstError(f"{self.what} {str(self.path)!r}: no frame is shown at {start_pts} "
                                   f"(time base {self.info.time_base}); the file changed?")
                yield frame
                yield from frames
                return

    def stream(self, batch: int = 8, stop: int | None = None,
               start_pts: int | None = None) -> Iterator[FrameBatch]:
        """`stop` frames (all by default) in order with their pts, from the start or from the
        frame shown at `start_pts`, decoded as they are asked for: memory holds one batch
        whatever the length."""
        frames: list[np.ndarray] = []
        stamps: list[int] = []
        for rgb, pts in self._decode(stop, start_pts=start_pts):
            frames.append(rgb)
            stamps.append(pts)
            if len(frames) == batch:
                yield FrameBatch(np.stack(frames), stamps)
                frames, stamps = [], []
        if frames:
            yield FrameBatch(np.stack(frames), stamps)

    # ---- by index (keyframes) ------------------------------------------------------------
    def _decord_reader(self):
        """decord's reader when it reads the same stream as PyAV (a single video stream), else None."""
        if self._decord is None:
            self._decord = False
            if self.info.video_streams == 1:
                # cv2 first: decord bundles zlib 1.2.3, and a cv2 loaded after it fails on every
                # 16-bit PNG ("libpng error: bad parameters to zlib")
                import cv2  # noqa: F401
                import decord  # imported here: it loads its own FFmpeg, only needed by index reads

                try:
                    self._decord = decord.VideoReader(str(self.path), ctx=decord.cpu(0))
                except Exception as err:  # noqa: BLE001 - decord raises bare RuntimeError / DECORDError
                    log.debug("decord cannot open %s (%s): frames are read with PyAV", self.path, err)
        return self._decord or None

    @property
    def output_name(self) -> str:
        """<stem>_vst with the input's extension where vst can write it, else .mp4."""
        from vst.io.writer import CONTAINERS

        suffix = self.path.suffix.lower()
        return f"{self.path.stem}_vst{suffix if suffix in CONTAINERS else '.mp4'}"

    def __len__(self) -> int:
        if self._num_frames is None:
            reader = self._decord_reader()
            self._num_frames = len(reader) if reader is not None else sum(1 for _ in self._decode())
            if self._num_frames == 0:
                raise VstError(f"{self.what} {str(self.path)!r} holds no frames")
        return self._num_frames

    def read(self, indices: list[int]) -> torch.Tensor:
        """Frames at `indices` as an Nx3xHxW float tensor in [0, 1]."""
        return to_float(self.read_rgb8(indices))

    def read_rgb8(self, indices: list[int]) -> np.ndarray:
        """Frames at `indices` as an NxHxWx3 uint8 array (upright), frame-exact."""
        n = len(self)
        for i in indices:
            if not 0 <= i < n:
                raise VstError(f"frame {i} is past the end of {self.what} {str(self.path)!r} "
                               f"({n} frames: 0..{n - 1})")
        reader = self._decord_reader()
        if reader is None:  # one pass in order, keeping the frames asked for
            wanted = set(indices)
            found = {i: rgb for i, (rgb, _) in enumerate(self._decode(max(indices) + 1, deep=False))
                     if i in wanted}
            if len(found) < len(wanted):
                raise VstError(f"{self.what} {str(self.path)!r}: frame {max(wanted - set(found))} "
                               "could not be decoded (file damaged or truncated?)")
            return np.stack([found[i] for i in indices])
        try:
            return reader.get_batch(list(indices)).asnumpy()
        except Exception as err:
            raise VstError(
                f"{self.what} {str(self.path)!r}: frames {indices[0]}..{indices[-1]} could not be "
                f"decoded (file damaged or truncated?)"
            ) from err


def count_frames(path: str | Path) -> int:
    """Video packets in the chosen stream of `path` (demux only): the frames a file holds
    (0 for a file FFmpeg cannot read)."""
    try:
        with av.open(str(path)) as container:
            stream = pick_video_stream(container)
            return 0 if stream is None else sum(1 for p in container.demux(stream) if p.size)
    except av.error.FFmpegError:
        return 0
