"""Chunks of a graded video joined into one file without re-encoding (PyAV remux).

Each chunk was encoded by `VideoWriter` with the same settings and no audio, its frames at the
source's own timestamps; so the joined stream is the chunks' packets in order, under one header
(the first chunk's: every chunk's must be the same), and the source's audio is muxed once, in
time order, as `VideoWriter` muxes it. Frame count, every frame's time and the audio packets
are those of one uninterrupted run. (AVI keeps no presentation times, so its chunks could not
be put back at theirs: vst grades an .avi output as one chunk.)"""

from __future__ import annotations

import contextlib
import logging
import math
from pathlib import Path

import av

from vst.errors import VstError
from vst.io.video import VideoInfo
from vst.io.writer import open_muxer

log = logging.getLogger(__name__)


def join_chunks(chunks: list[Path], out: Path, source: VideoInfo) -> int:
    """Write the video packets of `chunks` (in order) and the audio of `source` to `out`;
    returns the number of video packets (frames) written."""
    first = av.open(str(chunks[0]))
    try:
        template = first.streams.video[0]
        header = bytes(template.codec_context.extradata or b"")

        def add_video(container):
            stream = container.add_stream_from_template(template)
            stream.codec_tag = template.codec_tag  # hvc1 (Apple's players), ap4h (ProRes 4444), ...
            if source.rotation:
                stream.set_display_rotation(source.rotation)
            return stream

        container, video, audio, reencoded = open_muxer(out, source, add_video)
    finally:
        first.close()
    if reencoded:
        log.warning("the %s container cannot hold the input's audio codec: audio re-encoded", out.suffix)
    frames, last_dts = 0, None
    try:
        for path in chunks:
            with av.open(str(path)) as chunk:
                stream = chunk.streams.video[0]
                if bytes(stream.codec_context.extradata or b"") != header:
                    raise VstError(f"chunk {str(path)!r} was encoded with other settings than the "
                                   "first: it cannot be joined without re-encoding")
                for packet in chunk.demux(stream):
                    if packet.size == 0:
                        continue
                    if packet.dts is None and last_dts is not None:
                        # Matroska keeps no decode times: the demuxer leaves the first frames of a
                        # chunk without one, and the muxer must not guess them before the last
                        packet.dts = min(math.floor(last_dts / packet.time_base) + 1, packet.pts)
                    if packet.dts is not None:
                        moment = packet.dts * packet.time_base
                        if last_dts is not None and moment <= last_dts:
                            raise VstError(f"chunk {str(path)!r} starts before the chunk it follows "
                                           "ends: the chunks cannot be joined")
                        last_dts = moment
                    if packet.pts is not None:
                        audio.mux_until(float(packet.pts * packet.time_base))
                    packet.stream = video
                    container.mux(packet)
                    frames += 1
        audio.mux_until(float("inf"))
        container.close()
    except BaseException:
        with contextlib.suppress(Exception):  # already failing
            container.close()
        raise
    finally:
        audio.close()
    return frames
