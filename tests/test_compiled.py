"""The compiled loops' options (vst/models/compiled.py): a loop compiles where no cache can be
written, and runs on torch's thread count."""

from __future__ import annotations

import numpy as np
import torch


def test_a_loop_compiles_where_its_cache_cannot_be_written():
    """numba cannot cache a function that has no source file (as one with no writable cache
    folder): it is compiled for the process instead of failing at import."""
    from vst.models.compiled import compiled_loop

    namespace: dict = {}
    exec("def total(a):\n    s = 0.0\n    for i in range(a.shape[0]):\n        s += a[i]\n    return s",
         namespace)
    assert compiled_loop(namespace["total"])(np.arange(5.0)) == 10.0


def test_the_loops_use_torchs_threads():
    import numba

    from vst.models.compiled import use_torch_threads

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        use_torch_threads()
        assert numba.get_num_threads() == 1
        torch.set_num_threads(max(2, before))
        use_torch_threads()
        assert numba.get_num_threads() == min(max(2, before), numba.config.NUMBA_NUM_THREADS)
    finally:
        torch.set_num_threads(before)
        use_torch_threads()
