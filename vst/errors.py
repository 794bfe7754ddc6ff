"""The one exception type for mistakes a user can make, and how entry points report it."""

from __future__ import annotations

import errno
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn


class VstError(Exception):
    """A user-facing problem (bad path, bad file, bad setting): printed as one line, no traceback."""


def user_error_line(err: BaseException) -> str | None:
    """The one line a user mistake or a full disk is reported with; None for anything else (a bug)."""
    if isinstance(err, VstError):
        return str(err)
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        where = f" ({err.filename})" if getattr(err, "filename", None) else ""
        return f"no space left on the disk{where}"
    return None


def exit_with(line: str) -> NoReturn:
    """Print `vst: error: LINE` on stderr and exit with status 2."""
    print(f"vst: error: {line}", file=sys.stderr, flush=True)
    raise SystemExit(2) from None


@contextmanager
def report_user_errors() -> Iterator[None]:
    """A VstError (or a full disk) becomes one line on stderr and exit status 2; Ctrl-C or
    SIGTERM becomes `vst: interrupted` and exit status 130."""
    try:
        yield
    except KeyboardInterrupt:
        print("vst: interrupted", file=sys.stderr, flush=True)
        raise SystemExit(130) from None
    except Exception as err:
        line = user_error_line(err)
        if line is None:
            raise
        exit_with(line)
