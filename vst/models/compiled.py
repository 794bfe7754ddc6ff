"""The loops prediction runs on the CPU, compiled by numba: one set of options for all of them,
and the thread count torch has (a Dask worker's share, or the process's)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from numba import njit

# parallel over rows (prange), vectorised (fastmath lets float sums reorder), no bounds checks
# or Python exceptions in the loops (the callers size every array)
_OPTIONS = {"parallel": True, "fastmath": True, "nogil": True, "error_model": "numpy",
            "boundscheck": False}


def compiled_loop(fn: Callable) -> Callable:
    """`fn` compiled, its machine code cached on disk beside the package or in the user's cache
    folder (the first run compiles for a few seconds); where neither can be written, compiled
    afresh in each process."""
    try:
        return njit(cache=True, **_OPTIONS)(fn)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return njit(**_OPTIONS)(fn)


def use_torch_threads() -> None:
    """The compiled loops run on as many threads as torch's operations do."""
    import numba

    threads = torch.get_num_threads()
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    if torch.get_num_threads() != threads:  # numba's OpenMP layer, starting, gave OpenMP all cores
        torch.set_num_threads(threads)


_ONE_AT_A_TIME = threading.Lock()


@contextmanager
def loop_threads() -> Iterator[None]:
    """Around each call of a compiled loop: torch's thread count (`use_torch_threads`), and
    where numba fell back to its workqueue layer (no OpenMP or TBB found), which is not
    thread-safe, one loop at a time in the process (the first pass and the grading call loops
    from two threads)."""
    import numba

    use_torch_threads()
    if numba.threading_layer() == "workqueue":
        with _ONE_AT_A_TIME:
            yield
    else:
        yield
