"""DataModule: the keyframes to train on, held-out frames to validate on, the style still.

Keyframes by default: one per shot (vst/shots.py: shots found by PySceneDetect), the middle
frame of each. One grade has to work on every shot of the clip, so it learns from all of
them; the middle of a shot is the frame most like the rest of it (its first frames are often
a fade, a slate or motion blur from the cut). `keyframes=N` or `keyframes=[N,M]` picks frames
by hand (negative counts from the end).
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
from vst.shots import SHOT_THRESHOLD, detect_shots, shot_keyframes

log = logging.getLogger(__name__)


def spread_frames(num_frames: int, count: int, exclude: set[int]) -> list[int]:
    """Up to `count` frame indices spread evenly over the clip, avoiding `exclude`."""
    candidates = [i for i in range(num_frames) if i not in exclude]
    if not candidates or count <= 0:
        return []
    picks = np.linspace(0, len(candidates) - 1, count + 2)[1:-1] if count < len(candidates) \
        else np.arange(len(candidates))
    return sorted({candidates[int(round(p))] for p in picks})


def _frame_name(source, i: int) -> str:
    files = getattr(source, "files", None)
    return files[i].name if files else f"frame {i}"


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
    """Serves keyframes of `video` (read by index) for training and other frames for validation."""

    def __init__(
        self,
        video: str,
        style: str,
        keyframes: int | list[int] | None = None,
        keyframes_per_shot: int = 1,
        shot_threshold: float = SHOT_THRESHOLD,
        size: int | None = 256,
        style_size: int | None = None,
        val_frames: int = 3,
        batch_size: int = 1,
        steps: int = 1000,
    ):
        super().__init__()
        self.video, self.style_path = video, style
        self.keyframes_asked = [keyframes] if isinstance(keyframes, int) else keyframes
        self.keyframes_per_shot, self.shot_threshold = keyframes_per_shot, shot_threshold
        self.size, self.style_size = size, style_size if style_size is not None else size
        self.num_val, self.batch_size, self.steps = val_frames, batch_size, steps
        self.keyframes: torch.Tensor | None = None

    def setup(self, stage: str | None = None) -> None:
        """Read and resize everything once; every input problem surfaces here, before training."""
        if self.keyframes is not None:
            return
        source = open_frames(self.video, "video")
        n = self.num_frames = len(source)
        self.shots = detect_shots(source, self.shot_threshold)
        if self.keyframes_asked is None:
            keys = shot_keyframes(self.shots, self.keyframes_per_shot)
        else:
            for key in self.keyframes_asked:
                if not -n <= int(key) < n:
                    raise VstError(f"keyframes={key} is past the end of video {str(self.video)!r} "
                                   f"({n} frame{'s' if n != 1 else ''}: 0..{n - 1})")
            keys = sorted({int(k) % n for k in self.keyframes_asked})
        self.keyframe_indices = keys
        self.val_indices = spread_frames(n, self.num_val, exclude=set(keys)) or keys[:1]
        wanted = self.keyframe_indices + self.val_indices  # one at a time: a clip of many shots
        frames = [resize_short_side(source.read([i]), self.size) for i in wanted]
        sizes: dict[tuple, int] = {}
        for i, f in zip(wanted, frames, strict=True):
            sizes.setdefault(tuple(f.shape[-2:]), i)
        if len(sizes) > 1:
            (a, i), (b, j) = list(sizes.items())[:2]
            raise VstError(f"video {str(self.video)!r}: frames differ in size ({_frame_name(source, i)} "
                           f"is {a[1]}x{a[0]}, {_frame_name(source, j)} {b[1]}x{b[0]} at the training "
                           "size); a folder is read as the frames of one clip: use images of one size")
        frames = torch.cat(frames)
        self.keyframes = frames[: len(self.keyframe_indices)].contiguous()
        self.val = frames[len(self.keyframe_indices):].contiguous()
        self.style = resize_short_side(load_image(self.style_path, "style").unsqueeze(0),
                                       self.style_size).contiguous()
        log.info("%d shot%s; keyframes %s of %d, validation frames %s, training size %dx%d",
                 len(self.shots), "s" if len(self.shots) != 1 else "", self.keyframe_indices, n,
                 self.val_indices, *self.keyframes.shape[-2:][::-1])

    def train_dataloader(self) -> DataLoader:
        return DataLoader(_RepeatKeyframes(self.keyframes, self.steps * self.batch_size),
                          batch_size=self.batch_size, shuffle=False, num_workers=0)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(_Frames(self.val), batch_size=1, shuffle=False, num_workers=0)
