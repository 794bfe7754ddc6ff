"""The loops prediction runs on the CPU, compiled by numba: one set of options for all of them,
and the thread count torch has (a Dask worker's share, or the process's)."""

from __future__ import annotations

from collections.abc import Callable

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

    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
