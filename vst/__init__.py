"""vst: photorealistic video style transfer (HR-Net generator trained with a VGG19 loss).

    import vst
    ckpt = vst.fit("clip.mp4", "still.jpg")   # train, as `vst train` does -> best.ckpt
    graded = vst.load(ckpt)(frames)           # N x H x W x 3 frames in, graded frames out
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    """`vst.fit`, `vst.load`, `vst.Grade` (vst/api.py), imported on first use: `import vst` stays light."""
    if name in ("fit", "load", "Grade", "compose"):
        from vst import api

        return getattr(api, name)
    raise AttributeError(f"module 'vst' has no attribute {name!r}")
