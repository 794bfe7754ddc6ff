"""DataModule: the keyframe(s) to train on, held-out frames to validate on, the style still.

Keyframe default: the middle frame. The first frame of a clip is often a fade-in, a slate or
motion blur from the cut; the middle of the clip is the frame most likely to look like the
rest of it. `keyframe=N` picks frame N (negative counts from the end).
"""

from __future__ import annotations

import logging

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from vst.errors import VstError
from vst.io import open_frames
from vst.io.image import load_image, resize_short_side

log = logging.getLogger(__name__)


def spread_frames(num_frames: int, count: int, exclude: set[int]) -> list[int]:
    """Up to `count` frame indices spread evenly over the clip, avoiding `exclude`."""
    candidates = [i for i in range(num_frames) if i not in exclude]
    if not candidates or count <= 0:
        return []
    picks = np.linspace(0, len(candidates) - 1, count + 2)[1:-1] if count < len(candidates) \
        else np.arange(len(candidates))
    return sorted({candidates[int(round(p))] for p in picks})


class _RepeatKeyframes(Dataset):
    """`length` samples cycling through the keyframes (an epoch is as long as the training)."""

    def __init__(self, frames: torch.Tensor, length: int):
        self.frames, self.length = frames, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict[str, torch.Tensor | int]:
        k = i % len(self.frames)
        return {"index": k, "content": self.frames[k]}


class _Frames(Dataset):
    def __init__(self, frames: torch.Tensor):
        self.frames = frames

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor | int]:
        return {"index": i, "content": self.frames[i]}


class KeyframeDataModule(L.LightningDataModule):
    """Serves keyframes of `video` (decord) for training and other frames for validation."""

    def __init__(
        self,
        video: str,
        style: str,
        keyframe: int | None = None,
        size: int | None = 256,
        style_size: int | None = None,
        val_frames: int = 3,
        batch_size: int = 1,
        steps: int = 1000,
    ):
        super().__init__()
        self.video, self.style_path, self.keyframe = video, style, keyframe
        self.size, self.style_size = size, style_size if style_size is not None else size
        self.num_val, self.batch_size, self.steps = val_frames, batch_size, steps
        self.keyframes: torch.Tensor | None = None

    def setup(self, stage: str | None = None) -> None:
        """Read and resize everything once; every input problem surfaces here, before training."""
        if self.keyframes is not None:
            return
        source = open_frames(self.video, "video")
        n = len(source)
        key = (n // 2 if self.keyframe is None else int(self.keyframe))
        if not -n <= key < n:
            raise VstError(f"keyframe={key} is past the end of video {str(self.video)!r} "
                           f"({n} frame{'s' if n != 1 else ''}: 0..{n - 1})")
        key %= n
        self.keyframe_indices = [key]
        self.val_indices = spread_frames(n, self.num_val, exclude={key}) or [key]
        frames = source.read(self.keyframe_indices + self.val_indices)
        frames = resize_short_side(frames, self.size)
        self.keyframes = frames[: len(self.keyframe_indices)].contiguous()
        self.val = frames[len(self.keyframe_indices):].contiguous()
        self.style = resize_short_side(load_image(self.style_path, "style").unsqueeze(0),
                                       self.style_size).contiguous()
        log.info("keyframe %s of %d, validation frames %s, training size %dx%d",
                 self.keyframe_indices, n, self.val_indices, *self.keyframes.shape[-2:][::-1])

    def train_dataloader(self) -> DataLoader:
        return DataLoader(_RepeatKeyframes(self.keyframes, self.steps * self.batch_size),
                          batch_size=self.batch_size, shuffle=False, num_workers=0)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(_Frames(self.val), batch_size=1, shuffle=False, num_workers=0)
