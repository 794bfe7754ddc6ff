"""Train a grade: python train.py video=clip.mp4 style=still.jpg  (--help for more)."""

from vst.train import main

if __name__ == "__main__":
    main()
