"""The one exception type for mistakes a user can make, and how entry points report it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


class VstError(Exception):
    """A user-facing problem (bad path, bad file, bad setting): printed as one line, no traceback."""


@contextmanager
def report_user_errors() -> Iterator[None]:
    """Turn a VstError into one line on stderr and exit status 2."""
    try:
        yield
    except VstError as err:
        print(f"vst: error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("vst: interrupted", file=sys.stderr, flush=True)
        raise SystemExit(130) from None
