"""Train a grade: python train.py video=clip.mp4 style=still.jpg  (--help for more)."""

from vst.cli import exit_now, keep_freed_memory

keep_freed_memory()  # re-runs this process with glibc's allocator tuned, before the heavy imports

from vst.train import main  # noqa: E402

if __name__ == "__main__":
    main()
    exit_now()  # (without the interpreter's slow teardown: vst/cli.py)
