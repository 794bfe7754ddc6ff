"""The network looks at every third frame of a shot. The field of a frame in between takes as
its local part the linear mix of those of the two frames around it that the network looked at
(the global part is the shot's own anyway).

The local part is the one piece of a frame's grade that needs the network (HRNet.local), and
on a CPU the biggest: the rest is one multiply-add per pixel. It is a smooth field at the
working size (96 px), so over a frame or two of motion the mix lands close to the frame's own:
over the longest shot of each benchmark clip the graded frames differ from those graded by
their own fields by 0.01-0.19 code values on average (every other frame: 0.01-0.11), and on
bikes_6shots and band_stage no `vst.evaluate` figure moves by more than 0.004 (docs/levers.md,
#17). The network still looks
at the first and the last frame of every shot, so no frame takes anything from across a cut.

Which frames the network looks at depends only on the chunk's frames and shots (every third
frame from the chunk's first; each shot's first and last frame; the chunk's last), not on how
they are batched, so a chunk grades the same whatever its batches and wherever it runs. Each
batch comes with the frames after it (vst.pipeline.AHEAD), so a frame at the end of a batch
finds the next frame looked at.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from vst.pipeline import AHEAD

STEP = AHEAD + 1  # the network looks at every STEP-th frame


class EveryThirdFrame:
    """A chunk's render (vst.pipeline.grade_stream): (frames, index of the first, the frames
    after them) -> graded frames, each by its shot's statistics and picture (`rows(start,
    stop)`: a plan's), the network looking at every third frame of each shot."""

    def __init__(self, grader, rows: Callable[[int, int], tuple[torch.Tensor, torch.Tensor]]):
        self.grader, self.rows = grader, rows
        self.first: int | None = None       # the chunk's first frame
        self.before: tuple[torch.Tensor, torch.Tensor] | None = None  # the last batch's last rows
        self.local: dict[int, torch.Tensor] = {}  # frame -> its local field, around the batch

    def __call__(self, frames: np.ndarray, start: int, after: Sequence[np.ndarray] = ()) -> np.ndarray:
        if self.first is None:
            self.first = start
        n = len(frames)
        views = [frames[i:i + 1] for i in range(n)] + list(after)
        stats, boxes = self.rows(start, start + len(views))
        looked = self._looked(start, len(after) < AHEAD, stats, boxes)
        around = {}  # frame in between -> the frames looked at before and after it
        for i in range(n):
            if not looked[i]:
                before = [start + j for j in range(i) if looked[j]] or [k for k in self.local if k < start]
                after_it = [start + j for j in range(i + 1, len(views)) if looked[j]]
                if not before or not after_it:  # a bug, not input
                    raise RuntimeError(f"frame {start + i} has no frame looked at on one side")
                around[start + i] = max(before), min(after_it)
        needed = {start + i for i in range(n) if looked[i]} | {k for pair in around.values() for k in pair}
        new = sorted(k for k in needed if k not in self.local)
        if any(k < start for k in new):
            raise RuntimeError(f"frame {min(new)}'s local field was not kept")  # a bug, not input
        if new:
            fields = self.grader.local_field([views[k - start] for k in new]).unbind(0)
            self.local.update(zip(new, fields, strict=True))
        local = []
        for i in range(start, start + n):
            if i in around:
                a, b = around[i]
                local.append(self.local[a] + (i - a) / (b - a) * (self.local[b] - self.local[a]))
            else:
                local.append(self.local[i])
        self.local = {k: v for k, v in self.local.items() if k >= start + n - AHEAD}
        self.before = stats[n - 1], boxes[n - 1]
        return self.grader(frames, stats[:n], boxes[:n], torch.stack(local))

    def _looked(self, start: int, chunk_ends: bool, stats: torch.Tensor, boxes: torch.Tensor) -> list[bool]:
        """For each frame with rows (the batch's, then those after it), whether the network
        looks at it: every third frame from the chunk's first, the first and last frame of
        each shot (a shot's frames share their rows), and the chunk's last (`chunk_ends`: the
        rows end with it). The last row's own shot end is not known yet; no frame of the batch
        needs it (one frame looked at lies within STEP - 1 frames after each of them)."""
        count = len(stats)
        if self.before is not None:  # the frame before the batch: is the first one a shot's first?
            stats, boxes = torch.cat([self.before[0][None], stats]), torch.cat([self.before[1][None], boxes])
        cut = ((stats[1:] != stats[:-1]).any(1) | (boxes[1:] != boxes[:-1]).any(1)).tolist()
        shift = int(self.before is not None)  # frame i's row in stats
        flags = []
        for i in range(count):
            r = i + shift
            first_of_shot = r == 0 or cut[r - 1]
            last_of_shot = cut[r] if r < len(cut) else chunk_ends
            flags.append((start + i - self.first) % STEP == 0 or first_of_shot or last_of_shot)
        return flags
