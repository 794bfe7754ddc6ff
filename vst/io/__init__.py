"""Reading and writing media: stills (Pillow) and videos (decord in, PyAV out)."""

from vst.io.frames import FrameSource, open_frames

__all__ = ["FrameSource", "open_frames"]
