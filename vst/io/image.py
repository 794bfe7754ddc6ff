"""Stills in and out. Every image in vst is a float tensor, RGB, [0, 1], CHW."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from vst.errors import VstError
from vst.io.atomic import atomic_file

# Pillow knows many more; these are the ones we treat as "a still" when given as video=.
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}


def is_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def check_input_file(path: str | Path, what: str) -> Path:
    """Fail with a clear message unless `path` is a non-empty readable file."""
    p = Path(path).expanduser()
    if not p.exists():
        raise VstError(f"{what} {str(path)!r} does not exist")
    if p.is_dir():
        raise VstError(f"{what} {str(path)!r} is a folder, expected a file")
    if p.stat().st_size == 0:
        raise VstError(f"{what} {str(path)!r} is empty (0 bytes)")
    return p


def _to_float_rgb(img: Image.Image) -> np.ndarray:
    """Any Pillow mode (RGBA, grey, 16-bit grey, palette, CMYK) -> HxWx3 float32 in [0, 1]."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float32)
        scale = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = np.clip(arr / scale, 0.0, 1.0)
        return np.repeat(arr[..., None], 3, axis=2)
    if img.mode == "F":
        arr = np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
        return np.repeat(arr[..., None], 3, axis=2)
    # Alpha is dropped (a reference still is judged by its visible colours), grey is replicated.
    return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


def load_image(path: str | Path, what: str = "image") -> torch.Tensor:
    """Read a still as a 3xHxW float tensor in [0, 1], honouring EXIF orientation."""
    return load_image_and_depth(path, what)[0]


def load_image_and_depth(path: str | Path, what: str = "image") -> tuple[torch.Tensor, int]:
    """`load_image` and the bits per component of the file (8 or 16). A 16-bit colour PNG or
    TIFF is read by OpenCV (Pillow reads it as 8 bits)."""
    p = check_input_file(path, what)
    deep = _read_deep_colour(p)
    if deep is not None:
        return torch.from_numpy(deep).permute(2, 0, 1), 16
    try:
        with Image.open(p) as img:
            img = ImageOps.exif_transpose(img)
            bits = 16 if img.mode.startswith("I") else 8
            arr = _to_float_rgb(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise VstError(f"{what} {str(path)!r} is not a readable image ({err})") from None
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1), bits


def _read_deep_colour(path: Path) -> np.ndarray | None:
    """HxWx3 float32 of a 16-bit colour PNG/TIFF, else None."""
    if path.suffix.lower() not in (".png", ".tif", ".tiff"):
        return None
    import cv2

    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.dtype != np.uint16 or arr.ndim != 3:
        return None
    rgb = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGB if arr.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(rgb, np.float32) / 65535.0


def to_uint8_hwc(image: torch.Tensor) -> np.ndarray:
    """3xHxW float [0, 1] -> HxWx3 uint8 (rounded, not truncated)."""
    return image.detach().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()


def to_uint8(codes: np.ndarray) -> np.ndarray:
    """uint8 or uint16 code values -> uint8 (rounded), for what holds 8 bits only."""
    if codes.dtype == np.uint8:
        return codes
    return ((codes.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def write_image(image: torch.Tensor | np.ndarray, path: str | Path) -> None:
    """Write a 3xHxW float tensor or an HxWx3 uint8 or uint16 array to `path` (format from its
    suffix; 16 bits as a 16-bit PNG or TIFF)."""
    if isinstance(image, np.ndarray) and Path(path).suffix.lower() not in (".png", ".tif", ".tiff"):
        image = to_uint8(image)  # a format of 8 bits
    if isinstance(image, np.ndarray) and image.dtype == np.uint16:
        import cv2

        if not cv2.imwrite(str(path), np.ascontiguousarray(image[..., ::-1])):
            raise OSError(f"cannot write a 16-bit image to {str(path)!r}")
        return
    Image.fromarray(image if isinstance(image, np.ndarray) else to_uint8_hwc(image)).save(path)


def save_image(image: torch.Tensor | np.ndarray, path: str | Path, overwrite: bool = False) -> None:
    """`write_image`, atomically: the file appears whole or not at all (vst.io.atomic)."""
    with atomic_file(path, overwrite) as tmp:
        write_image(image, tmp)


def short_side_size(h: int, w: int, size: int | None) -> tuple[int, int]:
    """(h, w) scaled so the short side is `size`; unchanged if already smaller or size is None."""
    if size is None or min(h, w) <= size:
        return h, w
    scale = size / min(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def resize_short_side(images: torch.Tensor, size: int | None) -> torch.Tensor:
    """Scale Nx3xHxW so the short side is `size` (never upscales; None keeps the size)."""
    h, w = images.shape[-2:]
    out = short_side_size(h, w, size)
    if out == (h, w):
        return images
    return F.interpolate(images, size=out, mode="bilinear", antialias=True, align_corners=False) \
        .clamp_(0, 1)
