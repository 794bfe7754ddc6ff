"""What a film-maker sees, measured: flicker (warping error), structure kept (SSIM), style
match (Lab colour distance). Frames are HxWx3 float32 numpy arrays, RGB in [0, 1]."""
