"""Fixtures shared by the tests (helpers to import are in tests/helpers.py)."""

from __future__ import annotations

import shutil
import subprocess

import cv2  # noqa: F401 - before any test imports decord, whose bundled zlib breaks cv2's 16-bit PNG
import pytest


@pytest.fixture(autouse=True)
def never_download(monkeypatch):
    """No test downloads the 548 MB VGG19 weights: one that tries fails, saying so."""
    from vst.models import vgg

    monkeypatch.setattr(vgg, "_download", lambda: pytest.fail("a test tried to download VGG19 weights"))


@pytest.fixture
def full_disk(tmp_path):
    """A folder on a 1 MiB tmpfs: writing more than that fails with ENOSPC, as on a full disk."""
    folder = tmp_path / "full"
    folder.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command here to make a small tmpfs to fill up")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up here ({mounted.stderr.strip()[:100]})")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)
