"""Reading and writing media. In: one `FrameSource` per input (frames.py: stills and folders
with Pillow; video.py: PyAV streams, decord reads training keyframes by index). Out: one
writer per kind (output.py; writer.py encodes video), every file written atomically
(atomic.py)."""

from vst.io.frames import FrameSource, open_frames

__all__ = ["FrameSource", "open_frames"]
