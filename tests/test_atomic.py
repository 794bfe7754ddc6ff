"""vst.io.atomic: results appear whole or not at all, never over what must not be replaced."""

from __future__ import annotations

import os

import pytest

from vst.errors import VstError
from vst.io import atomic
from vst.io.atomic import MARKER, atomic_file, atomic_folder, claim


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_file_appears_only_when_complete(tmp_path):
    target = tmp_path / "out.mp4"
    with atomic_file(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".mp4" and tmp != target
        tmp.write_bytes(b"done")
        assert not target.exists()
    assert target.read_bytes() == b"done"
    assert _leftovers(tmp_path) == []
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())  # not mkstemp's 0600


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_failure_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_file(target, overwrite=True) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("encoder died")
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_an_existing_output_or_folder_is_refused(tmp_path):
    (tmp_path / "x.mp4").mkdir()
    (tmp_path / "kept.mp4").write_bytes(b"precious")
    with pytest.raises(VstError, match="is an existing folder"), atomic_file(tmp_path / "x.mp4", True):
        pass
    with pytest.raises(VstError, match="already exists"), atomic_file(tmp_path / "kept.mp4"):
        pass
    assert (tmp_path / "kept.mp4").read_bytes() == b"precious"


def test_a_second_writer_of_the_same_target_is_refused(tmp_path):
    target = tmp_path / "out.mp4"
    with claim(target), pytest.raises(VstError, match="another vst job"), claim(target):
        pass
    with claim(target):  # the first claim was released
        pass
    assert _leftovers(tmp_path) == []


def test_a_planted_symlink_is_never_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (tmp_path / ".out.mp4.vst-lock").symlink_to(victim)
    (tmp_path / ".out.partial.mp4").symlink_to(victim)  # the fixed temporary name of old
    with pytest.raises(VstError, match="lock file"), atomic_file(tmp_path / "out.mp4") as tmp:
        tmp.write_bytes(b"evil")
    (tmp_path / ".out.mp4.vst-lock").unlink()
    with atomic_file(tmp_path / "out.mp4") as tmp:
        tmp.write_bytes(b"graded")
    assert victim.read_bytes() == b"precious"
    assert (tmp_path / "out.mp4").read_bytes() == b"graded"


def test_a_failed_flush_to_disk_removes_the_temporary(tmp_path, monkeypatch):
    def failing(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(atomic.os, "fsync", failing)
    with pytest.raises(OSError), atomic_file(tmp_path / "out.mp4") as tmp:
        tmp.write_bytes(b"data")
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_is_one_clear_error_and_leaves_nothing(full_disk):
    with pytest.raises(VstError, match="no space left"), atomic_file(full_disk / "big.mp4") as tmp:
        tmp.write_bytes(b"x" * 2_000_000)
    assert list(full_disk.iterdir()) == []


def test_only_a_folder_vst_wrote_is_replaced(tmp_path):
    mine = tmp_path / "graded"
    with atomic_folder(mine) as tmp:
        (tmp / "a.png").write_bytes(b"1")
    assert (mine / MARKER).is_file() and (mine / "a.png").read_bytes() == b"1"
    with atomic_folder(mine, overwrite=True) as tmp:
        (tmp / "b.png").write_bytes(b"2")
    assert sorted(p.name for p in mine.iterdir()) == [MARKER, "b.png"]
    assert _leftovers(tmp_path) == []

    theirs = tmp_path / "project"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("keep")
    with pytest.raises(VstError, match="did not write"), atomic_folder(theirs, overwrite=True):
        pass
    assert (theirs / "notes.txt").read_text() == "keep"


def test_a_folder_holding_the_input_is_never_replaced(tmp_path):
    out = tmp_path / "proj"
    (out / "frames").mkdir(parents=True)
    (out / MARKER).write_text("")  # even one that looks like a vst output
    with pytest.raises(VstError, match="holds the input"), \
            atomic_folder(out, overwrite=True, protect=out / "frames"):
        pass
    assert (out / "frames").is_dir()


def test_a_failed_folder_swap_puts_the_old_folder_back(tmp_path, monkeypatch):
    out = tmp_path / "graded"
    with atomic_folder(out) as tmp:
        (tmp / "old.png").write_bytes(b"old")
    real, calls = os.replace, []

    def second_fails(src, dst):
        calls.append(src)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", second_fails)
    with pytest.raises(VstError, match="no space"), atomic_folder(out, overwrite=True) as tmp:
        (tmp / "new.png").write_bytes(b"new")
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "old.png"]
    assert _leftovers(tmp_path) == []


def test_the_temporaries_a_killed_writer_left_are_removed_by_the_next(tmp_path):
    """SIGKILL runs no cleanup: the next write of the same target removes that target's stale
    temporaries, and only those (not another target's, not a folder, not a link)."""
    stale = tmp_path / ".out.k3j4h5g6.partial.mp4"
    others = [tmp_path / ".out.b.k3j4h5g6.partial.mp4",   # out.b.mp4's
              tmp_path / ".out.k3j4h5g6.partial.mkv",     # out.mkv's
              tmp_path / ".out.x.partial.mp4"]            # not a name vst makes
    for path in [stale, *others]:
        path.write_bytes(b"half a file")
    (tmp_path / ".out.abcdefgh.partial.mp4").symlink_to(others[0])
    with atomic_file(tmp_path / "out.mp4") as tmp:
        tmp.write_bytes(b"whole")
        assert not stale.exists()
    assert (tmp_path / "out.mp4").read_bytes() == b"whole"
    assert all(p.exists() for p in others) and (tmp_path / ".out.abcdefgh.partial.mp4").is_symlink()
