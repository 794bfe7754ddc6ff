"""Grade a video with a trained checkpoint: python predict.py ckpt=best.ckpt video=clip.mp4."""

from vst.cli import exit_now, keep_freed_memory

keep_freed_memory("predict")  # re-runs this process with glibc's allocator tuned, before the heavy imports

from vst.predict import main  # noqa: E402

if __name__ == "__main__":
    main()
    exit_now()  # (without the interpreter's slow teardown: vst/cli.py)
