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


def test_starting_the_loops_threads_leaves_torchs_thread_count_alone():
    """numba's OpenMP layer, started by the first loop, gives OpenMP every core, which torch
    reads as its own count: a worker set to one thread ran on all of them after its first
    frame. Checked in a fresh process (here the layer may have started already)."""
    import subprocess
    import sys

    code = ("import torch; torch.set_num_threads(1)\n"
            "from vst.models.full_res import full_res_pass\n"
            "full_res_pass(torch.zeros(1, 8, 8, 3, dtype=torch.uint8), torch.zeros(1, 12, 2, 2))\n"
            "print(torch.get_num_threads())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-1] == "1"


def test_loops_called_from_two_threads_on_numbas_workqueue_layer():
    """The first pass and the grading call the loops from two threads; numba's workqueue layer
    (its fallback where no OpenMP or TBB is found) is not thread-safe: they take turns there."""
    import subprocess
    import sys

    code = ("import threading, torch\n"
            "from vst.models.working_copy import working_copy\n"
            "from vst.models.full_res import full_res_pass\n"
            "frames = torch.randint(0, 256, (2, 64, 96, 3), dtype=torch.uint8)\n"
            "def grade():\n"
            "    for _ in range(200): full_res_pass(frames, torch.zeros(2, 12, 4, 6))\n"
            "def look():\n"
            "    for _ in range(200): working_copy(frames, (16, 24))\n"
            "threads = [threading.Thread(target=f) for f in (grade, look)]\n"
            "[t.start() for t in threads]; [t.join() for t in threads]\n"
            "import numba; print(numba.threading_layer())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env={**__import__("os").environ, "NUMBA_THREADING_LAYER": "workqueue"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-1] == "workqueue"
