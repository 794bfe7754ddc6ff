"""How a training run writes its checkpoints: whole or not at all, `last.ckpt` after every
validation, and a stop on Ctrl-C or SIGTERM that saves first (resumed with `resume=`).

- `LastCheckpoint`: `last.ckpt` (weights, optimiser, step, best score) after every validation
  and at the end. The first Ctrl-C or SIGTERM stops after the current step (validated once
  more, so `last.ckpt` and `best.ckpt` are up to date); a second one stops at once.
- `AtomicCheckpointIO`: every checkpoint goes through vst.io.atomic (a full disk leaves the
  previous `last.ckpt` intact, never a truncated one).
"""

from __future__ import annotations

import errno
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO

from vst.io.atomic import atomic_file


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, through vst.io.atomic: a checkpoint is whole or absent."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        with atomic_file(Path(path), overwrite=True, what="checkpoint") as tmp, open(tmp, "wb") as f:
            try:
                torch.save(checkpoint, f)  # through a Python file: a full disk is an OSError...
            except RuntimeError as err:  # ...or, when the zip writer sees the short write first, this
                if shutil.disk_usage(tmp.parent).free < _FULL:
                    raise OSError(errno.ENOSPC, "No space left on device", str(path)) from err
                raise


_FULL = 1 << 20  # bytes free below which a failed checkpoint write is a full disk


class LastCheckpoint(Checkpoint):
    """`last.ckpt` (weights, optimiser, step, best score) after every validation and at the
    end; Ctrl-C / SIGTERM ends training after the current step. A `Checkpoint`, so Lightning
    runs it after the best-checkpoint callback: the best score it saves is up to date."""

    def __init__(self, path: Path):
        self.path = path
        self.stopped_by: str | None = None  # the signal that stopped training, if one did
        self._saved_step = -1
        self._previous: dict[int, Any] = {}

    def _signal(self, signum: int, frame: Any) -> None:
        if self.stopped_by is not None:
            raise KeyboardInterrupt  # the second one: stop now
        self.stopped_by = signal.Signals(signum).name
        print(f"\nvst: {self.stopped_by}: stopping after this step and saving last.ckpt "
              "(Ctrl-C again stops at once)", file=sys.stderr, flush=True)

    def _restore_signals(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def _save(self, trainer: Any) -> None:
        if trainer.global_step != self._saved_step:
            trainer.save_checkpoint(self.path)
            self._saved_step = trainer.global_step

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):  # after Lightning's own handlers
            self._previous[signum] = signal.signal(signum, self._signal)

    def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
        if self.stopped_by is not None:
            trainer.should_stop = True  # Lightning validates once more, then ends

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.sanity_checking:
            self._save(trainer)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self._save(trainer)
        self._restore_signals()

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        self._restore_signals()
