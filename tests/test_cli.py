"""The process set-up of the entry points (vst/cli.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT

_SHOW = ("from vst.cli import keep_freed_memory; keep_freed_memory({command!r}); import os; "
         "print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('MALLOC_TRIM_THRESHOLD_'), "
         "os.environ.get('MALLOC_TOP_PAD_'))")


def _environment(command: str | None, **extra: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "OMP_WAIT"))}
    result = subprocess.run([sys.executable, "-c", _SHOW.format(command=command)], cwd=ROOT,
                            env={**env, **extra}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.mark.skipif(sys.platform != "linux", reason="the allocator settings are glibc's")
def test_predict_lets_the_codecs_have_the_cores_and_keeps_its_threads_heaps():
    assert _environment("predict") == ["PASSIVE", "17179869184", "268435456"]  # re-run with all set
    assert _environment("train") == ["None", "17179869184", "None"]
    assert _environment("predict", OMP_WAIT_POLICY="ACTIVE")[0] == "ACTIVE"  # the user's wins
    assert _environment("predict", MALLOC_TOP_PAD_="0")[2] == "0"


# a thread of the process allocates and frees two 40 MB buffers at a time, as the reading and
# grading threads do with batches of frames; the page faults of its last 15 rounds
_ROUNDS = """from vst.cli import keep_freed_memory; keep_freed_memory({command!r})
import resource, threading
import numpy as np
def rounds(faults):
    for i in range(20):
        a, b = np.ones(5 << 20), np.ones(5 << 20)
        del a, b
        if i == 4:
            faults.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt)
    faults.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt)
faults = []
thread = threading.Thread(target=rounds, args=(faults,))
thread.start()
thread.join()
print(faults[1] - faults[0])
"""


@pytest.mark.skipif(sys.platform != "linux", reason="the allocator settings are glibc's")
def test_a_predict_thread_allocates_its_batches_without_faulting_memory_in_again():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "OMP_WAIT"))}

    def faults(command: str) -> int:
        result = subprocess.run([sys.executable, "-c", _ROUNDS.format(command=command)], cwd=ROOT,
                                env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return int(result.stdout.split()[-1])

    assert faults("predict") < 50
    assert faults("train") > 1000  # the same rounds where the thread's heaps are given back


_EXIT = """import atexit, sys, threading, time
from vst.cli import exit_now
atexit.register(lambda: print("exit handler ran"))
if sys.argv[1] == "thread":  # a thread still writing when the command ends
    def work():
        time.sleep(0.5)
        print("thread finished", flush=True)
    threading.Thread(target=work).start()
print("printed last", end="")  # still in the stream's buffer (not a terminal)
exit_now()
print(" and after exit_now")  # where a thread still runs, the process ends the usual way
"""


def test_a_finished_command_exits_at_once_with_its_output_flushed_and_exit_handlers_run():
    def run(case: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", _EXIT, case], cwd=ROOT, capture_output=True,
                              text=True, timeout=60)

    done = run("alone")
    assert (done.returncode, done.stdout, done.stderr) == (0, "printed lastexit handler ran\n", "")
    waited = run("thread")  # nothing cut short: exit_now returns, the thread finishes
    assert waited.returncode == 0, waited.stderr
    assert waited.stdout == "printed last and after exit_now\nthread finished\nexit handler ran\n"
