"""The `vst` command: `vst <command> key=value ...` (and `python -m vst <command> ...`), the same
settings as the root scripts (`python train.py ...`); `vst <command> --help` lists them."""

from __future__ import annotations

import importlib
import sys

from vst import cli

COMMANDS = {  # command -> (module with main(), what it does)
    "train": ("vst.train", "learn a grade from a clip (or photo) and a reference still"),
    "predict": ("vst.predict", "grade a video, a still or a folder of frames with a checkpoint"),
    "evaluate": ("vst.evaluate", "measure a graded video: style moved, structure kept, flicker"),
    "lut": ("vst.lut", "export the grade as .cube 3D LUTs, one per shot"),
}


def usage(prog: str) -> str:
    width = max(map(len, COMMANDS))
    lines = [f"usage: {prog} <command> [key=value ...] [--help]", "",
             "Photorealistic video style transfer: re-grade a video to match a reference still.", "",
             "commands:"]
    lines += [f"  {name:<{width}}  {what}" for name, (_, what) in COMMANDS.items()]
    lines += ["", "examples:",
              f"  {prog} train video=clip.mp4 style=still.jpg",
              f"  {prog} predict ckpt=outputs/.../best.ckpt video=clip.mp4",
              f"  {prog} train --help      every setting of a command, with its meaning"]
    return "\n".join(lines)


def main(prog: str = "vst") -> None:
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage(prog), file=sys.stdout if args else sys.stderr)
        raise SystemExit(0 if args else 2)
    command = args[0]
    if command not in COMMANDS:
        print(f"{prog}: error: there is no command {command!r} (choose {' | '.join(COMMANDS)})",
              file=sys.stderr)
        raise SystemExit(2)
    cli.keep_freed_memory(command)  # re-runs this process with glibc's allocator tuned, before heavy imports
    cli.INVOKED_AS = [*prog.split(), command]
    sys.argv = [f"{prog} {command}", *args[1:]]
    importlib.import_module(COMMANDS[command][0]).main()
    cli.exit_now()  # the command is done: without the interpreter's slow teardown


if __name__ == "__main__":
    main("python -m vst")
