"""One interface over "something with frames": a video file or a single still."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import torch

from vst.errors import VstError
from vst.io.image import IMAGE_SUFFIXES, is_image_path, load_image
from vst.io.video import VideoFrames, uint8_to_float


class FrameSource(Protocol):
    path: Path
    fps: float | None

    def __len__(self) -> int: ...

    def read(self, indices: list[int]) -> torch.Tensor:
        """Frames at `indices` as an Nx3xHxW float tensor in [0, 1]."""
        ...


class StillFrames:
    """A single image seen as a one-frame clip (photo grading)."""

    fps = None

    def __init__(self, path: str | Path, what: str = "video"):
        self.path = Path(path)
        self.what = what
        self._image = load_image(path, what)

    def __len__(self) -> int:
        return 1

    def read(self, indices: list[int]) -> torch.Tensor:
        for i in indices:
            if i != 0:
                raise VstError(f"frame {i} is past the end of {self.what} {str(self.path)!r} "
                               "(a still image has only frame 0)")
        return self._image.unsqueeze(0).expand(len(indices), -1, -1, -1).clone()


class FolderFrames:
    """A folder of numbered images (frame_0001.png, ...), in numeric order."""

    fps = None

    def __init__(self, path: str | Path, what: str = "video"):
        self.path, self.what = Path(path), what
        self.files = sorted((p for p in self.path.iterdir() if is_image_path(p)), key=_natural_key)
        if not self.files:
            raise VstError(f"{what} {str(path)!r} is a folder with no images in it "
                           f"({', '.join(sorted(IMAGE_SUFFIXES))})")

    def __len__(self) -> int:
        return len(self.files)

    def read(self, indices: list[int]) -> torch.Tensor:
        for i in indices:
            if not 0 <= i < len(self.files):
                raise VstError(f"frame {i} is past the end of {self.what} {str(self.path)!r} "
                               f"({len(self.files)} images)")
        return torch.stack([load_image(self.files[i], self.what) for i in indices])


def _natural_key(path: Path) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def open_frames(path: str | Path, what: str = "video") -> FrameSource:
    """A still for image files, a folder of numbered images, or a video file."""
    if path is None or str(path) in ("", "???"):
        raise VstError(f"no {what} given: pass {what}=PATH")
    if is_image_path(path):
        return StillFrames(path, what)
    if Path(path).is_dir():
        return FolderFrames(path, what)
    return VideoFrames(path, what)


def iter_batches(source: FrameSource, batch: int, stop: int | None = None) -> Iterator[torch.Tensor]:
    """Frames 0..stop-1 (all by default) in order, as Nx3xHxW float batches in [0, 1]. A video
    is streamed (memory holds one batch); images are read by index."""
    if isinstance(source, VideoFrames):
        yield from (uint8_to_float(b) for b in source.iter_rgb8(batch, stop))
        return
    n = len(source) if stop is None else min(len(source), stop)
    for start in range(0, n, batch):
        yield source.read(list(range(start, min(n, start + batch))))
