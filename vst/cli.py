"""The command-line entry points (train, predict, evaluate): one factory builds each, so that
config mistakes read as one line, not a stack trace, and SIGTERM stops as cleanly as Ctrl-C."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    OmegaConfBaseException,
    ValidationError,
)

from vst.errors import VstError, report_user_errors

CONF_DIR = str(Path(__file__).resolve().parent / "conf")  # shipped in the package; ./conf links here
QUOTING_HELP = ("put a value with non-ASCII letters or any of = , [ ] { } ( ) ' \" ~ "
                "in quotes, e.g. \"video='my clip, v2.mp4'\" (README: File names that need quotes)")

# glibc hands freed tensor memory back to the OS and faults it in again on the next step;
# keeping it measured 1.14x (256 px) to 1.89x (512 px) faster fp32 training on CPU
# (scripts/bench_train.py). Must be set before the process starts.
MALLOC_KEEP = {"MALLOC_MMAP_THRESHOLD_": "17179869184", "MALLOC_TRIM_THRESHOLD_": "17179869184"}

# prediction shares the cores with the decoder's and the encoder's threads: torch's OpenMP
# threads then wait asleep between operations instead of spinning on cores x264 could use
# (a 720p predict on 2 cores: 58.9 -> 51.3 s with the compiled full-resolution pass of the
# time, 62.3 -> 60.3 s with the plain one). Training keeps spinning (its thousands of small operations a
# step would pay a wake-up each).
SHARED_CORES = {"OMP_WAIT_POLICY": "PASSIVE"}

# prediction reads and grades in threads of its own, and glibc gives each thread's allocations
# an arena of 64 MB heaps that it unmaps as soon as one empties (whatever the trim threshold):
# every batch of frames faulted its memory in again, zeroed. A top pad above two heaps keeps
# them. Training allocates on the main thread's arena, which the thresholds above already keep.
KEEP_THREAD_HEAPS = {"MALLOC_TOP_PAD_": str(256 << 20)}


# how the running command was invoked, for the commands vst prints back (resume=); the `vst`
# command sets it, the root scripts leave it
INVOKED_AS: list[str] = []


def invoked_as() -> list[str]:
    """The command line that runs this command again: `vst train`, or `python train.py`."""
    return INVOKED_AS or ["python", sys.argv[0]]


# settings renamed when train, predict and evaluate took one vocabulary (README: Renamed settings)
RENAMED = {"optim": "loss.lr", "optim.lr": "loss.lr", "device": "accelerator",
           "vgg_weights": "vgg.weights"}


def keep_freed_memory(command: str | None = None) -> None:
    """Re-run this process once with MALLOC_KEEP set (Linux/glibc; a user's own setting wins).
    For predict, also SHARED_CORES (set before torch loads OpenMP) and KEEP_THREAD_HEAPS."""
    if command == "predict":
        for key, value in SHARED_CORES.items():
            os.environ.setdefault(key, value)
    if sys.platform != "linux" or any(k in os.environ for k in MALLOC_KEEP):
        return
    os.environ.update(MALLOC_KEEP)
    if command == "predict":
        for key, value in KEEP_THREAD_HEAPS.items():
            os.environ.setdefault(key, value)
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def exit_now() -> None:
    """End a command that has finished, without the interpreter's teardown: with torch and
    Lightning loaded, freeing every module's objects one by one takes ~1 s after the last line
    is printed. First what that exit would do that matters: the exit handlers (log files,
    weakref finalizers), the standard streams. Where a thread other than a daemon still runs,
    nothing is cut short: the process ends the usual way, once that thread is done."""
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        return
    atexit._run_exitfuncs()  # logging's shutdown among them
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe, as at any exit
            stream.flush()
    os._exit(0)


def path_setting(cfg: DictConfig, key: str, example: str | None = None) -> Path | None:
    """Setting `key` as a Path; None when it is unset and optional (no `example`). A missing
    required path, or a value Hydra read as a number, list or mapping, is a one-line error."""
    value = OmegaConf.select(cfg, key)
    if value is None or value == "":
        if example is not None:
            raise VstError(f"{key}= is required, e.g. {key}={example}")
        return None
    if not isinstance(value, str):
        shown = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
        raise VstError(f"{key}={shown!r} was read as a {type(shown).__name__}, not a file name; "
                       f"{QUOTING_HELP}")
    return Path(value).expanduser()


def _bad_override() -> str | None:
    """The first command-line argument Hydra's override grammar cannot read."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    for arg in sys.argv[1:]:
        if arg.startswith("-") or "=" not in arg:
            continue
        try:
            parser.parse_override(arg)
        except HydraException:  # OverrideParseException, or a token the lexer does not know
            return arg
    return None


def _one_line(err: BaseException) -> str:
    if isinstance(err, OverrideParseException) or "LexerNoViableAlt" in str(err):
        bad = _bad_override()
        return f"cannot read the setting {bad!r}: {QUOTING_HELP}" if bad else \
            f"{str(err).splitlines()[0]}; {QUOTING_HELP}"
    if isinstance(err, MissingConfigException) and err.options:
        group, _, name = str(err.missing_cfg_file).rpartition("/")
        return f"there is no {group}={name} (choose {' | '.join(err.options)})"
    cause = err if isinstance(err, ValidationError) else err.__cause__
    if isinstance(cause, ValidationError) and getattr(cause, "full_key", None):
        return f"{cause.full_key}: {str(cause.msg).splitlines()[0]}"
    unknown = (ConfigKeyError, ConfigAttributeError)
    key_error = err if isinstance(err, unknown) else err.__cause__
    if isinstance(key_error, unknown) and key_error.full_key in RENAMED:
        return f"{key_error.full_key!r} is now {RENAMED[key_error.full_key]!r}"
    if isinstance(key_error, unknown) and getattr(key_error, "full_key", None):
        return (f"unknown config key {key_error.full_key!r} "
                f"(run with --help to see the settings, or --cfg job for all keys)")
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return " ".join(lines[:2]) if lines else type(err).__name__


def _stop(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # unwinds like Ctrl-C: temporary outputs are removed on the way


def run_hydra_cli(hydra_main: Callable[[], Any]) -> None:
    """Call a @hydra.main function; Hydra/OmegaConf config errors exit 2 with one line.
    SIGTERM (a scheduler, `timeout`, `kill`) stops it as cleanly as Ctrl-C."""
    keep_freed_memory()
    signal.signal(signal.SIGTERM, _stop)
    # Hydra then raises instead of printing its own multi-line report and exiting; bugs in
    # our code still end in a full traceback, user mistakes in the config become one line.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        with report_user_errors():  # mistakes found before the task runs (Hydra callbacks)
            hydra_main()
    except (HydraException, OmegaConfBaseException) as err:
        print(f"vst: error: {_one_line(err)}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def hydra_entry(config_name: str, task: Callable[[DictConfig], Any]) -> Callable[[], None]:
    """`main()` of a command: Hydra composes conf/<config_name>.yaml with the command line,
    typed by the schemas of vst/config.py, and runs `task(cfg)`; user mistakes, in the config
    or found by the task, end in one line."""
    from hydra.core.hydra_config import HydraConfig

    import vst.help  # noqa: F401 - the resolvers of the --help pages
    from vst.config import check_ranges, register_schemas
    from vst.runs import discard_if_failed

    register_schemas()

    def task_function(cfg: DictConfig) -> Any:
        # a run folder Hydra made for a run that then stops on a mistake is not left behind
        with report_user_errors(), discard_if_failed(Path(HydraConfig.get().runtime.output_dir)):
            check_ranges(cfg)
            return task(cfg)

    hydra_main = hydra.main(config_path=CONF_DIR, config_name=config_name, version_base="1.3")(task_function)

    def main() -> None:
        run_hydra_cli(hydra_main)

    main.__doc__ = f"The `{config_name}` command: Hydra CLI; config mistakes are reported in one line."
    return main
