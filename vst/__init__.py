"""vst: photorealistic video style transfer (HR-Net generator trained with a VGG19 loss)."""

__version__ = "0.1.0"
