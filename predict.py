"""Grade a video with a trained checkpoint: python predict.py ckpt=best.ckpt video=clip.mp4."""

from vst.predict import main

if __name__ == "__main__":
    main()
