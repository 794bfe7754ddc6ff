"""Reading and writing media: stills (Pillow), videos (PyAV; decord for frames by index), and
the one way every output is written (atomic)."""

from vst.io.frames import FrameSource, open_frames

__all__ = ["FrameSource", "open_frames"]
