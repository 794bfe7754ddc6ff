"""Every file and folder vst writes goes through here, so that a crash, a full disk, Ctrl-C or a
second job at the same time never leaves a broken, mixed or half-replaced result.

- The result is built under a unique temporary name beside the target, created exclusively
  (`mkstemp`/`mkdtemp`: a planted file or symlink at that name is never followed), and renamed
  over the target only when the block ends without an error. Any error, a failed close or
  fsync included, removes the temporary.
- A temporary that a killed job left (SIGKILL, power cut) is removed by the next write of the
  same target.
- The target's name is claimed for the whole write (an advisory lock file beside it, held with
  `flock`, so a killed job never leaves a stale claim): a second job writing the same target
  stops with a clear error instead of interleaving with the first.
- A folder is replaced only if vst wrote it (it holds the `MARKER` file) and never if it holds
  the input; the old folder is moved aside and deleted only once the new one is in place.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from vst.errors import VstError

MARKER = ".vst-output"  # in every folder vst writes: the only folders `overwrite` may replace


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_target(target: Path, overwrite: bool, folder: bool = False, protect: Path | None = None,
                 what: str = "output") -> None:
    """Refuse a target that must not be written: an existing file or folder (unless `overwrite`
    and it is of the right kind), a folder vst did not write, anything holding `protect`."""
    target = Path(target)
    if protect is not None:
        inside = Path(protect).resolve()
        if inside == target.resolve() or target.resolve() in inside.parents:
            raise VstError(f"{what} {str(target)!r} holds the input {str(protect)!r}: choose another {what}")
    parent = target.resolve().parent
    if not parent.is_dir():
        raise VstError(f"{what} folder {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise VstError(f"{what} folder {str(parent)!r} is not writable")
    if not (target.exists() or target.is_symlink()):
        return
    if target.is_dir() and not folder:
        raise VstError(f"{what} {str(target)!r} is an existing folder: give a file name")
    if folder and not target.is_dir():
        raise VstError(f"{what} {str(target)!r} is an existing file: give a folder name")
    if not overwrite:
        raise VstError(f"{what} {str(target)!r} already exists (pass overwrite=true to replace it)")
    if folder and not (target / MARKER).is_file():
        raise VstError(f"{what} {str(target)!r} is a folder vst did not write (no {MARKER} in it); "
                       f"vst replaces only its own output folders: choose another {what}")


@contextlib.contextmanager
def claim(target: Path, what: str = "output") -> Iterator[None]:
    """Hold the right to write `target` while the block runs; a concurrent claim of the same
    target (another process, or another thread of this one) raises VstError at once."""
    target = Path(target)
    lock = target.with_name(f".{target.name}.vst-lock")
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as err:
            raise VstError(f"{what} {str(target)!r}: cannot create the lock file {lock.name!r} "
                           f"beside it ({err.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise VstError(f"{what} {str(target)!r} is being written by another vst job right now; "
                           "wait for it to finish or choose another output") from None
        try:  # the holder before us may have removed the lock file after we opened it: retry
            same = os.stat(lock, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)


@contextlib.contextmanager
def atomic_file(target: str | Path, overwrite: bool = False, what: str = "output") -> Iterator[Path]:
    """Yield the path of a new, empty temporary file beside `target` (same extension, so
    writers pick the format from it); on success it is flushed to disk and renamed over
    `target`, on any error removed. Raise inside the block to refuse a result (a check)."""
    target = Path(target)
    check_target(target, overwrite, what=what)
    with claim(target, what):
        check_target(target, overwrite, what=what)  # again, now that nobody else can write it
        remove_stale_temporaries(target)
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.",
                                    suffix=f".partial{target.suffix}")
        tmp = Path(name)
        try:
            os.fchmod(fd, 0o666 & ~_umask())  # as a plain open() would have made it
            os.close(fd)
            yield tmp
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException as err:
            tmp.unlink(missing_ok=True)
            if is_disk_full(err):
                raise VstError(f"{what} {str(target)!r}: {_FULL} (nothing was written)") from None
            raise


def remove_stale_temporaries(target: Path) -> None:
    """Remove the temporaries of `target` a killed job left (SIGKILL, power cut: no cleanup
    ran). Called while `target` is claimed, so none of them belongs to a running job."""
    pattern = re.compile(rf"\.{re.escape(target.stem)}\.[a-z0-9_]{{8}}\.partial{re.escape(target.suffix)}")
    for path in target.parent.glob(f".{glob.escape(target.stem)}.*.partial*"):
        if pattern.fullmatch(path.name) and path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(target: str | Path, overwrite: bool = False, protect: Path | None = None,
                  what: str = "output") -> Iterator[Path]:
    """Yield a new, empty temporary folder beside `target`; on success it gets the MARKER file
    and takes the place of `target` (a previous vst output folder is moved aside first and
    deleted last), on any error it is removed and `target` is left as it was."""
    target = Path(target)
    check_target(target, overwrite, folder=True, protect=protect, what=what)
    with claim(target, what):
        check_target(target, overwrite, folder=True, protect=protect, what=what)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial"))
        aside = None
        try:
            tmp.chmod(0o777 & ~_umask())
            yield tmp
            (tmp / MARKER).write_text("written by vst; `overwrite=true` may replace this folder\n")
            if target.exists():
                aside = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".old"))
                try:
                    os.replace(target, aside)  # an empty folder is replaced by a rename
                except BaseException:
                    aside.rmdir()
                    aside = None
                    raise
            try:
                os.replace(tmp, target)
            except BaseException:
                if aside is not None:
                    os.replace(aside, target)
                    aside = None
                raise
        except BaseException as err:
            shutil.rmtree(tmp, ignore_errors=True)
            if is_disk_full(err):
                raise VstError(f"{what} {str(target)!r}: {_FULL} (nothing was written)") from None
            raise
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)


_FULL = "no space left on the disk"


def is_disk_full(err: BaseException) -> bool:
    """True for the OS errors that mean the disk (or the user's quota) has no room left."""
    return isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
