"""One interface over "something with frames": a video file, a single still, a folder of
numbered images. Callers read frames by index (`read`, training keyframes) or stream them in
order with their timestamps (`stream`, every whole-clip pass), and never ask which kind it is
except where the kinds truly differ (shots exist in a video only; the output's kind)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np
import torch

from vst.errors import VstError
from vst.io.image import IMAGE_SUFFIXES, is_image_path, load_image_and_depth


class FrameBatch(NamedTuple):
    """Consecutive frames as they are shown, with the time each is shown at."""

    frames: np.ndarray  # N x H x W x 3 code values, upright: uint8, or uint16 from a deeper source
    pts: list[int]      # each frame's presentation time in the source's time base (images: index)


class FrameSource(Protocol):
    path: Path
    what: str           # how errors name it: "video", "clip", ...
    kind: str           # "video" | "still" | "folder": what the graded copy is written as
    frames_hint: int    # the number of frames expected (progress bars); 0 = unknown

    def __len__(self) -> int: ...

    def read(self, indices: list[int]) -> torch.Tensor:
        """Frames at `indices` as an Nx3xHxW float tensor in [0, 1]."""
        ...

    def stream(self, batch: int = 8, stop: int | None = None) -> Iterator[FrameBatch]:
        """Frames 0..stop-1 (all by default) in order, `batch` at a time; memory holds one batch."""
        ...

    @property
    def output_name(self) -> str:
        """File (or folder) name of the graded copy: <name>_vst.<ext>."""
        ...


class ImageFrames:
    """Stills seen as frames: one image (kind "still", photo grading) or a folder of numbered
    images (kind "folder": frame_0001.png, ... in numeric order). A frame's time is its index."""

    def __init__(self, path: str | Path, what: str = "video"):
        self.path, self.what = Path(path), what
        self._cache: dict[int, torch.Tensor] = {}
        self._bits: dict[int, int] = {}  # of each image read: 16-bit ones stream as uint16
        if self.path.is_dir():
            self.kind = "folder"
            self.files = sorted((p for p in self.path.iterdir() if is_image_path(p)), key=_natural_key)
            if not self.files:
                raise VstError(f"{what} {str(path)!r} is a folder with no images in it "
                               f"({', '.join(sorted(IMAGE_SUFFIXES))})")
        else:
            self.kind, self.files = "still", [self.path]
            self._cache[0] = self._load(0)  # a bad still is an error now, not later

    def __len__(self) -> int:
        return len(self.files)

    @property
    def frames_hint(self) -> int:
        return len(self.files)

    @property
    def output_name(self) -> str:
        return f"{self.path.stem}_vst.png" if self.kind == "still" else f"{self.path.name}_vst"

    def read(self, indices: list[int]) -> torch.Tensor:
        n = len(self.files)
        for i in indices:
            if not 0 <= i < n:
                raise VstError(f"frame {i} is past the end of {self.what} {str(self.path)!r} "
                               + ("(a still image has only frame 0)" if self.kind == "still"
                                  else f"({n} images)"))
        return torch.stack([self._cache[i] if i in self._cache else self._load(i) for i in indices])

    def _load(self, i: int) -> torch.Tensor:
        image, bits = load_image_and_depth(self.files[i], self.what)
        self._bits[i] = bits
        return image

    def stream(self, batch: int = 8, stop: int | None = None) -> Iterator[FrameBatch]:
        """As for a video (uint16 frames for 16-bit images); a batch never mixes image sizes or
        depths (a folder of photos may)."""
        frames: list[np.ndarray] = []
        stamps: list[int] = []
        for i in range(len(self.files) if stop is None else min(len(self.files), stop)):
            image = self.read([i])
            rgb = from_float(image, np.uint16 if self._bits[i] > 8 else np.uint8)[0]
            if frames and (len(frames) == batch or rgb.shape != frames[0].shape
                           or rgb.dtype != frames[0].dtype):
                yield FrameBatch(np.stack(frames), stamps)
                frames, stamps = [], []
            frames.append(rgb)
            stamps.append(i)
        if frames:
            yield FrameBatch(np.stack(frames), stamps)


def to_float(batch: np.ndarray | torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """NxHxWx3 uint8 or uint16 code values -> Nx3xHxW float32 in [0, 1], on `device` (None: where
    they are). The codes travel, not the floats: a quarter of the bytes to a GPU."""
    if isinstance(batch, np.ndarray):
        batch = torch.from_numpy(batch.astype(np.int32) if batch.dtype == np.uint16 else batch)
    scale = 255.0 if batch.dtype == torch.uint8 else 65535.0
    return batch.to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(scale)


def from_float(x: torch.Tensor, dtype: np.dtype) -> np.ndarray:
    """Nx3xHxW float in [0, 1] -> NxHxWx3 code values of `dtype` (uint8 or uint16), rounded."""
    top = float(np.iinfo(dtype).max)
    codes = x.float().clamp(0, 1).mul_(top).round_().permute(0, 2, 3, 1).contiguous().cpu()
    return codes.to(torch.int32 if top > 255 else torch.uint8).numpy().astype(dtype, copy=False)



def _natural_key(path: Path) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def open_frames(path: str | Path, what: str = "video") -> FrameSource:
    """A still for image files, a folder of numbered images, or a video file."""
    if path is None or str(path) in ("", "???"):
        raise VstError(f"no {what} given: pass {what}=PATH")
    if is_image_path(path) or Path(path).is_dir():
        return ImageFrames(path, what)
    from vst.io.video import VideoFrames  # PyAV (and decord) only for videos

    return VideoFrames(path, what)
