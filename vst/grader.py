"""The trained generator as prediction runs it: on its device, at the configured precision and
memory layout, graded frame batches in and out as code values (uint8, or uint16 from a deeper
source); and the per-shot statistics that make its global transform one fixed grade per shot."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vst.io.frames import from_float

if TYPE_CHECKING:
    import torch

log = logging.getLogger("vst")


class Grader:
    """The generator on its device, with the configured precision and memory layout."""

    def __init__(self, ckpt: Path, accelerator: str = "auto", precision: str = "auto",
                 channels_last: bool = True, work_size: int | str | None = "auto",
                 size: int | None = None):
        """The settings of predict.yaml: work_size "auto" = the size the network trained at;
        size: the short side frames are graded at (None = as they come)."""
        import torch

        from vst.checkpoint import load_generator
        from vst.device import resolve_accelerator, resolve_precision

        self.torch = torch
        self.device = torch.device(resolve_accelerator(accelerator))
        precision = resolve_precision(precision, self.device.type)
        self.dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
        self.layout = torch.channels_last if channels_last else torch.contiguous_format
        self.size = size
        generator, meta = load_generator(ckpt)
        self.generator = generator.to(self.device, memory_format=self.layout)
        self.work_size = work_size
        if work_size == "auto":  # the size the network trained at (older checkpoints: data.size)
            self.work_size = generator.work_size or meta.get("train_size")
        log.info("generator on %s (%s), working size %s", self.device, precision,
                 f"{self.work_size} px (short side)" if self.work_size else "full resolution")

    def prepare(self, frames):
        """NxHxWx3 code values (an array, or a tensor on the device) -> Nx3xHxW float on the
        device, at `size`, in the memory layout."""
        from vst.io.frames import to_float
        from vst.io.image import resize_short_side

        x = resize_short_side(to_float(frames, self.device), self.size)
        return x.contiguous(memory_format=self.layout)

    def looked_at(self, frames, boxes: bool = True):
        """NxHxWx3 code values (`prepare`'s) -> (the frames at the working size, Nx3xhxw on
        the device; their picture boxes, N x 4, or None where not asked for). 8-bit frames on
        the CPU straight from their codes (vst/models/working_copy.py); others one frame at a
        time, so that the full-size float copy of a batch (100 MB a 4K frame) is never made."""
        from vst.picture import picture_boxes

        codes = frames if isinstance(frames, self.torch.Tensor) else self.torch.from_numpy(frames)
        size = self.generator.working_shape(*codes.shape[1:3], self.work_size)
        if codes.dtype == self.torch.uint8 and codes.device.type == "cpu" and self.size is None \
                and size is not None:  # 8-bit frames on the CPU: no float copy
            from vst.models.working_copy import line_means, working_copy
            from vst.picture import boxes_from_means

            small = working_copy(codes, size).to(self.device).contiguous(memory_format=self.layout)
            return small, boxes_from_means(*line_means(codes)) if boxes else None
        small, found = [], []
        for i in range(len(frames)):
            x = self.prepare(frames[i:i + 1])
            small.append(self.generator.working(x, self.work_size))
            if boxes:
                found.append(picture_boxes(x))
        return self.torch.cat(small), self.torch.cat(found) if boxes else None

    def __call__(self, frames: np.ndarray, stats=None, boxes=None, local=None) -> np.ndarray:
        """NxHxWx3 frames (a FrameBatch's) -> NxHxWx3 graded frames of the same dtype.
        stats: what the global transform is chosen by (`shot_stats`); None = each frame's own.
        boxes: the picture of each frame (N x 4, vst/picture.py; `shot_stats`), graded while
        bars and blank frames pass through; None = each frame's own. local: the local part
        of each frame's field (`local_field`'s, or one made from them); None = the network
        looks at these frames."""
        from vst.models.full_res import full_res_pass
        from vst.picture import keep_bars

        torch = self.torch
        with torch.inference_mode():
            if frames.dtype != np.uint8 or self.size is not None:  # deep or resized frames
                x = self.prepare(frames)
                with self.autocast():
                    return from_float(self.generator(x, self.work_size, stats, boxes, local), frames.dtype)
            codes = torch.from_numpy(frames).to(self.device)  # sent to a GPU once, as codes
            own_boxes = None
            if local is None or stats is None or boxes is None:
                small, own_boxes = self.looked_at(codes, boxes=boxes is None)
                with self.autocast():
                    local = self.generator.local(small) if local is None else local
                    stats = self.generator.frame_stats(small, None) if stats is None else stats
            with self.autocast():
                coarse = self.generator.with_global(local, stats)
            graded = full_res_pass(codes, coarse)
            nchw = keep_bars(graded.permute(0, 3, 1, 2), codes.permute(0, 3, 1, 2),
                             own_boxes if boxes is None else boxes)
            return nchw.permute(0, 2, 3, 1).contiguous().cpu().numpy()

    def local_field(self, frames: list) -> torch.Tensor:
        """The local part of the field (Nx12xhxw float32 on the device, HRNet.local) of each
        frame in `frames` (arrays of code values, kxHxWx3 each): what the network sees in them,
        in one pass."""
        with self.torch.inference_mode():
            small = self.torch.cat([self.looked_at(f, boxes=False)[0] for f in frames])
            with self.autocast():
                return self.generator.local(small)

    def autocast(self):
        return self.torch.autocast(self.device.type, dtype=self.dtype or self.torch.float32,
                                   enabled=self.dtype is not None)

    def one_shot_stats(self, frames: np.ndarray):
        """`__call__`'s stats for frames that are all one shot: their mean, for each of them."""
        with self.torch.inference_mode():
            stats = self.generator.frame_stats(self.looked_at(frames, boxes=False)[0], self.work_size)
            return stats.mean(0, keepdim=True).expand_as(stats)

    def shot_stats(self, source, batch: int):
        """Per frame of a video, what its grade is chosen by: its shot's mean colour statistics
        (PySceneDetect finds the cuts), so the global part of the grade is one fixed transform
        per shot and cannot drift with what moves through the frame; and its shot's picture
        (vst/picture.py: inside the bars of every frame of the shot; a blank frame has none).
        Blank frames do not count in their shot's mean. (vst/first_pass.py: a ShotPass.)"""
        from vst.first_pass import FirstPass

        return FirstPass(self, source, batch).run()
