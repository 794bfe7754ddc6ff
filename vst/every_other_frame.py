"""The network looks at every other frame of a shot. The field of a frame in between takes as
its local part the mean of its two neighbours' (the global part is the shot's own anyway).

The local part is the one piece of a frame's grade that needs the network (HRNet.local), and
on a CPU the biggest: the rest is one multiply-add per pixel. It is a smooth field at the
working size (96 px), so over one frame of motion a neighbour's differs from the frame's own
by a fraction of one of its cells, and the mean of the two neighbours lands where the frame's
own would. The network still looks at the first and the last frame of every shot, so no frame
takes anything from across a cut. Measured on the benchmark clips, every `vst.evaluate` figure
stays within its noise (docs/levers.md, #17).

Which frames the network looks at depends only on the chunk's frames and shots (every other
frame from the chunk's first; each shot's first and last frame), not on how they are batched,
so a chunk grades the same whatever its batches and wherever it runs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


class EveryOtherFrame:
    """A chunk's render (vst.pipeline.grade_stream) by the network: (frames, index of the
    first, the next batch's first frame or None at the chunk's end) -> graded frames, each by
    its shot's statistics and picture (`rows(start, stop)`: a plan's), the network looking at
    every other frame of each shot."""

    def __init__(self, grader, rows: Callable[[int, int], tuple[torch.Tensor, torch.Tensor]]):
        self.grader, self.rows = grader, rows
        self.first: int | None = None       # the chunk's first frame
        self.before: tuple[torch.Tensor, torch.Tensor] | None = None  # the last batch's last rows
        self.local: dict[int, torch.Tensor] = {}  # frame -> its local field, around the batch

    def __call__(self, frames: np.ndarray, start: int, after: np.ndarray | None = None) -> np.ndarray:
        if self.first is None:
            self.first = start
        n = len(frames)
        count = n + (after is not None)
        stats, boxes = self.rows(start, start + count)
        looked = self._looked(start, n, stats, boxes)
        needed = sorted({i for i in range(n) if looked[i]} |
                        {j for i in range(n) if not looked[i] for j in (i - 1, i + 1)})
        new = [i for i in needed if start + i not in self.local]
        if any(i < 0 for i in new):
            raise RuntimeError(f"frame {start - 1}'s local field was not kept")  # a bug, not input
        if new:
            views = [frames[i:i + 1] if i < n else after for i in new]
            for i, field in zip(new, self.grader.local_field(views).unbind(0), strict=True):
                self.local[start + i] = field
        local = torch.stack([self.local[start + i] if looked[i] else
                             (self.local[start + i - 1] + self.local[start + i + 1]) / 2 for i in range(n)])
        self.local = {k: v for k, v in self.local.items() if k >= start + n - 1}
        self.before = stats[n - 1], boxes[n - 1]
        return self.grader(frames, stats[:n], boxes[:n], local)

    def _looked(self, start: int, n: int, stats: torch.Tensor, boxes: torch.Tensor) -> list[bool]:
        """For each of the batch's n frames (rows: theirs and the next frame's, if any), whether
        the network looks at it: every other frame from the chunk's first, and the first and
        last frame of each shot (a shot's frames share their rows)."""
        if self.before is not None:  # the frame before the batch: is the first one a shot's first?
            stats, boxes = torch.cat([self.before[0][None], stats]), torch.cat([self.before[1][None], boxes])
        cut = ((stats[1:] != stats[:-1]).any(1) | (boxes[1:] != boxes[:-1]).any(1)).tolist()
        shift = int(self.before is not None)  # frame i's row in stats
        return [(start + i - self.first) % 2 == 0 or i + shift == 0 or cut[i + shift - 1]
                or i + shift == len(stats) - 1 or cut[i + shift] for i in range(n)]
