"""What of a frame is picture: letterbox and pillarbox bars, and blank frames, are not.

A grade is for the picture. Matched to a still, black bars would be lifted toward the still's
colours (navy bars on a stage clip graded toward a sunset) and a black frame between shots
would come out as a flat coloured card; and the bars' pixels would drag the picture's own
colour statistics toward black, so the picture itself would be graded as if it were darker and
more contrasty than it is. So the grade's statistics (the Monge start, the colour loss, the
`style_moved` figure) are taken over the picture alone, and prediction leaves bars and blank
frames as they are.

A bar is a run of rows (or columns) from an edge of the frame whose mean luma is at most
`BLANK_LEVEL`, about 10 code values of 255, as ffmpeg's cropdetect judges black. Bars come in
pairs, top and bottom or left and right, of about the same size (a letterbox is centred):
one-sided black, like the unlit ground under a night sky in a photo, is picture, and where
one side's dark run is much longer than the other's, the extra is taken for dark picture.
A frame with no row above the level is blank. Rows inside the picture are never cut, however
dark.
"""

from __future__ import annotations

import numpy as np
import torch

BLANK_LEVEL = 0.04
_LUMA = (0.299, 0.587, 0.114)


def _bars(lit: torch.Tensor) -> tuple[int, int]:
    """Bools along one axis (True = a row above the black level) -> (start, end) of the picture:
    the dark runs from both ends, where both exist, trimmed to about the shorter one's size."""
    where = lit.nonzero()[:, 0]
    first, last = int(where[0]), len(lit) - 1 - int(where[-1])
    shorter = min(first, last)
    if shorter == 0:
        return 0, len(lit)
    most = shorter + shorter // 4 + 2  # a letterbox off centre by a row or two, or by 25%
    return min(first, most), len(lit) - min(last, most)


def picture_boxes(x: torch.Tensor) -> torch.Tensor:
    """Nx3xHxW in [0, 1] -> N x 4 int64 (top, bottom, left, right; bottom and right exclusive):
    each frame's picture inside its bars. A blank frame gets (0, 0, 0, 0)."""
    x = x.float()
    # each channel's row and column means (no full-size luma image: at 1080p this pass took
    # 12.8 ms a frame that way), summed in the frame's own memory layout (across a
    # channels-last frame's rows as NCHW: 7x slower)
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        nhwc = x.permute(0, 2, 3, 1)
        return boxes_from_means(nhwc.mean(2).transpose(1, 2), nhwc.mean(1).transpose(1, 2))
    return boxes_from_means(x.mean(3), x.mean(2))


def boxes_from_means(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """`picture_boxes` from each channel's row means (N x 3 x H) and column means (N x 3 x W):
    the mean luma of a row is the luma of its channels' means (luma is linear)."""
    weights = torch.tensor(_LUMA, device=rows.device, dtype=torch.float32).view(1, 3, 1)
    row_luma, col_luma = (rows * weights).sum(1), (cols * weights).sum(1)  # N x H, N x W
    boxes = torch.zeros(rows.shape[0], 4, dtype=torch.int64)
    for i, (lit_rows, lit_cols) in enumerate(zip((row_luma > BLANK_LEVEL).cpu(),
                                                 (col_luma > BLANK_LEVEL).cpu(), strict=True)):
        if lit_rows.any() and lit_cols.any():
            boxes[i] = torch.tensor([*_bars(lit_rows), *_bars(lit_cols)])
    return boxes


def union_box(boxes: torch.Tensor) -> torch.Tensor:
    """The smallest box holding every non-blank box of N x 4 `boxes` (all blank: a blank box).
    A shot's bars are the rows that are bar in all its frames, so a dark frame's dark top rows
    do not drop out of the grade and back in from one frame to the next."""
    shown = boxes[(boxes[:, 1] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 2])]
    if not len(shown):
        return torch.zeros(4, dtype=torch.int64)
    return torch.stack([shown[:, 0].min(), shown[:, 1].max(), shown[:, 2].min(), shown[:, 3].max()])


def box_masks(boxes: torch.Tensor, height: int, width: int,
              device: torch.device | str = "cpu") -> torch.Tensor:
    """N x 4 boxes -> N x 1 x height x width float masks (1 = picture)."""
    rows = torch.arange(height, device=device).view(1, -1, 1)
    cols = torch.arange(width, device=device).view(1, 1, -1)
    b = boxes.to(device).view(-1, 4, 1, 1)
    inside = (rows >= b[:, 0]) & (rows < b[:, 1]) & (cols >= b[:, 2]) & (cols < b[:, 3])
    return inside.unsqueeze(1).float()


def picture_masks(x: torch.Tensor) -> torch.Tensor:
    """Nx3xHxW -> N x 1 x H x W float: 1 on each frame's picture, 0 on its bars (all 0: blank)."""
    return box_masks(picture_boxes(x), *x.shape[-2:], device=x.device)


def picture_of(frame: np.ndarray) -> np.ndarray:
    """An HxWx3 float RGB frame (as vst.metrics reads them) -> HxW bool: its picture."""
    x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None]
    return picture_masks(x)[0, 0].numpy() > 0


def all_picture(boxes: torch.Tensor, height: int, width: int) -> bool:
    """Whether every one of N x 4 `boxes` is the whole height x width frame (no bars, no blank
    frame), as in most clips."""
    return bool((boxes == torch.tensor([0, height, 0, width], dtype=boxes.dtype, device=boxes.device)).all())


def keep_bars(graded: torch.Tensor, frames: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """The graded picture inside the bars of the frames as they were (boxes: N x 4,
    `picture_boxes`). No mask is built when every box is the whole frame (`all_picture`)."""
    h, w = frames.shape[-2:]
    if all_picture(boxes, h, w):
        return graded
    masks = box_masks(boxes, h, w, device=frames.device)
    return torch.where(masks > 0, graded, frames.to(graded.dtype))
