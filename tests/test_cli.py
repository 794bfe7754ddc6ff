"""The process set-up of the entry points (vst/cli.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import ROOT

_SHOW = ("from vst.cli import keep_freed_memory; keep_freed_memory({command!r}); import os; "
         "print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('MALLOC_TRIM_THRESHOLD_'))")


def _environment(command: str | None, **extra: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "OMP_WAIT"))}
    result = subprocess.run([sys.executable, "-c", _SHOW.format(command=command)], cwd=ROOT,
                            env={**env, **extra}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.mark.skipif(sys.platform != "linux", reason="the allocator settings are glibc's")
def test_predict_lets_the_codecs_have_the_cores_and_training_keeps_spinning():
    assert _environment("predict") == ["PASSIVE", "17179869184"]  # re-run with both set
    assert _environment("train") == ["None", "17179869184"]
    assert _environment("predict", OMP_WAIT_POLICY="ACTIVE")[0] == "ACTIVE"  # the user's wins
