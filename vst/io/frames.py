"""One interface over "something with frames": a video file or a single still."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import torch

from vst.errors import VstError
from vst.io.image import is_image_path, load_image
from vst.io.video import VideoFrames


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


def open_frames(path: str | Path, what: str = "video") -> FrameSource:
    """A still for image files, a decord-backed reader for everything else."""
    if path is None or str(path) in ("", "???"):
        raise VstError(f"no {what} given: pass {what}=PATH")
    if is_image_path(path):
        return StillFrames(path, what)
    return VideoFrames(path, what)
