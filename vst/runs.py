"""A training run's folder: never reused by accident, continued by `resume=`, and not left
behind empty by a run that failed. (How checkpoints are written into it: vst/checkpointing.py.)

- `RunFolderGuard` (a Hydra callback, before Hydra writes anything into the folder): a folder
  that already holds checkpoints is refused unless `resume=` continues the run in it.
- `resume=RUN/last.ckpt` (or `resume=RUN`) continues that run in its own folder
  (`hydra.run.dir` follows it through the `vst_run_dir` resolver).
- `discard_if_failed`: a run that stops on a mistake before its first checkpoint removes the
  folder it made.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback as HydraCallback
from omegaconf import DictConfig, OmegaConf

from vst.errors import VstError, exit_with, user_error_line

# folders this process is about to create for its runs: the topmost new one of each run folder
_NEW_FOLDERS: dict[Path, Path] = {}


def holds_checkpoints(folder: Path) -> bool:
    return folder.is_dir() and any(folder.rglob("*.ckpt"))


def run_dir(resume: Any, default: str) -> str:
    """Resolver for `hydra.run.dir`: the run folder of `resume=` when it is one (holds Hydra's
    .hydra/), else `default` (a new, dated folder)."""
    if isinstance(resume, str) and resume:
        path = Path(resume).expanduser()
        folder = path if path.is_dir() else path.parent
        if (folder / ".hydra").is_dir():
            return str(folder)
    return default


OmegaConf.register_new_resolver("vst_run_dir", run_dir, replace=True)


def _first_new(folder: Path) -> Path:
    """The topmost folder of `folder`'s path that does not exist yet (what mkdir -p creates)."""
    top = folder
    for parent in folder.parents:
        if parent.exists():
            break
        top = parent
    return top


class RunFolderGuard(HydraCallback):
    """Refuses a run folder holding an earlier run's checkpoints, before Hydra writes into it.
    (Hydra turns a callback's exceptions into warnings, so the refusal exits by itself.)"""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        folder = Path(config.hydra.run.dir).resolve()
        resume = OmegaConf.select(config, "resume")
        resumed = None
        if isinstance(resume, str) and resume:
            path = Path(resume).expanduser().resolve()
            resumed = path if path.is_dir() else path.parent
        if holds_checkpoints(folder) and resumed != folder:
            exit_with(f"run folder {str(folder)!r} already holds the checkpoints of an earlier "
                      f"run: continue it with resume={folder / 'last.ckpt'}, or leave "
                      "hydra.run.dir out for a new folder")
        if not folder.exists():
            _NEW_FOLDERS[folder] = _first_new(folder)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        folder = Path(config.hydra.sweep.dir).resolve()
        if holds_checkpoints(folder):
            exit_with(f"sweep folder {str(folder)!r} already holds the checkpoints of an "
                      "earlier sweep: leave hydra.sweep.dir out for a new folder")
        if not folder.exists():
            _NEW_FOLDERS[folder] = _first_new(folder)


@contextlib.contextmanager
def discard_if_failed(folder: Path) -> Iterator[None]:
    """If the run stops on a user mistake, a full disk or Ctrl-C before it wrote any checkpoint,
    remove the folder it made (Hydra's config and log are all it holds). A bug keeps it."""
    try:
        yield
    except BaseException as err:
        folder = folder.resolve()
        made = next((top for f, top in _NEW_FOLDERS.items() if f == folder or f in folder.parents),
                    None)
        failed = isinstance(err, KeyboardInterrupt) or user_error_line(err) is not None
        if made is not None and failed and not holds_checkpoints(folder):
            shutil.rmtree(folder, ignore_errors=True)
            for parent in [folder, *folder.parents]:  # and the empty folders mkdir -p made above it
                with contextlib.suppress(OSError):
                    parent.rmdir()
                if parent == made:
                    break
        raise


def resume_checkpoint(value: Path | None) -> Path | None:
    """The checkpoint `resume=` names (a file, or a run folder's last.ckpt), checked to be a
    whole training state and not just weights."""
    from vst.checkpoint import read_checkpoint

    if value is None:
        return None
    path = value / "last.ckpt" if value.is_dir() else value
    if value.is_dir() and not path.is_file():
        raise VstError(f"resume={str(value)!r}: the folder holds no last.ckpt to continue from")
    ckpt = read_checkpoint(path, "resume")
    if "optimizer_states" not in ckpt or "loops" not in ckpt:
        raise VstError(f"resume={str(path)!r} holds the generator's weights only (best.ckpt is kept "
                       f"that way); continue from the run's last.ckpt: resume={path.parent / 'last.ckpt'}")
    return path


def resume_command(last: Path, overrides: list[str]) -> str:
    """The command that continues this run from `last`."""
    kept = [o for o in overrides if not o.startswith("resume=")]
    from vst.cli import invoked_as

    return shlex.join([*invoked_as(), *kept, f"resume={last}"])
