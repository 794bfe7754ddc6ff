"""Running a Hydra entry point so that config mistakes read as one line, not a stack trace."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from hydra.errors import HydraException
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException


def _one_line(err: BaseException) -> str:
    unknown = (ConfigKeyError, ConfigAttributeError)
    key_error = err if isinstance(err, unknown) else err.__cause__
    if isinstance(key_error, unknown) and getattr(key_error, "full_key", None):
        return (f"unknown config key {key_error.full_key!r} "
                f"(run with --help to see the settings, or --cfg job for all keys)")
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return " ".join(lines[:2]) if lines else type(err).__name__


def run_hydra_cli(hydra_main: Callable[[], Any]) -> None:
    """Call a @hydra.main function; Hydra/OmegaConf config errors exit 2 with one line."""
    # Hydra then raises instead of printing its own multi-line report and exiting; bugs in
    # our code still end in a full traceback, user mistakes in the config become one line.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        hydra_main()
    except (HydraException, OmegaConfBaseException) as err:
        print(f"vst: error: {_one_line(err)}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
