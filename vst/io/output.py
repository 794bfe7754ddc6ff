"""The graded copy of a frame source: a video for a video, an image for a still, a folder of
images for a folder. Each is written through one interface (`write(rgb, pts)` per frame, then
`frames` says how many) to a unique temporary that takes the output's name only when it is
complete and checked (vst.io.atomic)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vst.errors import VstError
from vst.io.atomic import atomic_file, atomic_folder, check_target
from vst.io.frames import FrameSource
from vst.io.image import IMAGE_SUFFIXES, write_image
from vst.io.writer import DEFAULT_ENCODING, Encoding

log = logging.getLogger(__name__)


def check_output(out: Path, source: FrameSource, overwrite: bool,
                 encoding: Encoding = DEFAULT_ENCODING) -> None:
    """Refuse, before any work, an output that is the input, must not be replaced, lies in an
    unwritable folder, or cannot hold what is written (checked again when the file is claimed)."""
    from vst.io.writer import choose_codec

    if out.resolve() == source.path.resolve():
        raise VstError(f"output {str(out)!r} is the input: choose another output")
    check_target(out, overwrite, folder=source.kind == "folder",
                 protect=source.path if source.kind == "folder" else None)
    if source.kind == "video":
        choose_codec(out, encoding, source.info.bit_depth)
    elif source.kind == "still" and out.suffix.lower() not in IMAGE_SUFFIXES:
        raise VstError(f"output {str(out)!r}: a still is written as an image "
                       f"({', '.join(sorted(IMAGE_SUFFIXES))})")


class ImageWriter:
    """Frame i of an image source goes to `targets[i]` (its pts is its index)."""

    def __init__(self, targets: list[Path]):
        self.targets, self.frames = targets, 0

    def write(self, rgb: np.ndarray, pts: int) -> None:
        write_image(rgb, self.targets[pts])
        self.frames += 1


def output_names(files: list[Path]) -> list[str]:
    """The PNG name each input image is written under: its stem, or its whole name where two
    inputs share a stem (x.jpg and x.png -> x.jpg.png and x.png.png): no result overwrites another."""
    stems = [f.stem for f in files]
    names = [f"{f.name if stems.count(f.stem) > 1 else f.stem}.png" for f in files]
    if len(set(names)) < len(names):
        names = [f"{f.name}.png" for f in files]
    return names


@contextlib.contextmanager
def open_output(out: Path, source: FrameSource, overwrite: bool = False, size: int | None = None,
                encoding: Encoding = DEFAULT_ENCODING, audio: bool = True) -> Iterator:
    """The writer of `source`'s graded copy at `out` (short side `size`; `encoding` and whether
    the audio is copied, for a video). `out` takes the result only if the block ends without an
    error and, for a video, the encoded file holds every frame written."""
    if source.kind == "video":
        from vst.io.video import count_frames
        from vst.io.writer import VideoWriter

        with atomic_file(out, overwrite) as tmp:
            with VideoWriter(tmp, source.info, size, encoding, audio) as writer:
                if writer.audio_reencoded:
                    log.warning("the %s container cannot hold the input's audio codec: audio "
                                "re-encoded", out.suffix)
                yield writer
            written = count_frames(tmp)
            if writer.frames == 0:
                raise VstError(f"output {str(out)!r}: no frame was graded; nothing was written")
            if written != writer.frames:  # checked before the file takes the output's name
                raise VstError(f"output {str(out)!r}: the encoded file holds {written} of the "
                               f"{writer.frames} frames graded; nothing was written")
    elif source.kind == "still":
        with atomic_file(out, overwrite) as tmp:
            yield ImageWriter([tmp])
    else:
        names = output_names(source.files)
        if len(set(f.stem for f in source.files)) < len(names):
            log.warning("%s holds images with the same name and another extension: they are "
                        "written under their whole names (x.jpg -> x.jpg.png)", source.path)
        with atomic_folder(out, overwrite, protect=source.path) as tmp:
            yield ImageWriter([tmp / name for name in names])
