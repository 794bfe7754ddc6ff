"""Training stops when the held-out figure stops improving: a per-clip grade has no use for the
steps after it has converged, and a colourist trying three stills waits for each."""

from __future__ import annotations

import logging
from typing import Any

import lightning as L

log = logging.getLogger("vst")


class StopOnPlateau(L.Callback):
    """Stop when `monitor` (val/loss: the objective on held-out frames) has not improved on its
    best by at least `min_improvement` (a fraction of the best) for `patience` validations in a
    row. Relative, so that it means the same whatever the loss weights' scale."""

    def __init__(self, patience: int, min_improvement: float, monitor: str = "val/loss"):
        self.patience, self.min_improvement, self.monitor = patience, min_improvement, monitor
        self.best: float | None = None
        self.flat = 0  # validations in a row without enough improvement
        self.stopped_at: int | None = None

    def update(self, value: float) -> bool:
        """Take one validation's figure; True when training should stop."""
        if self.best is None or value < self.best - self.min_improvement * abs(self.best):
            self.best, self.flat = value, 0
        else:
            self.best, self.flat = min(self.best, value), self.flat + 1
        return self.flat >= self.patience

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if trainer.sanity_checking or value is None:
            return
        if self.update(float(value)) and not trainer.should_stop:
            trainer.should_stop = True
            self.stopped_at = trainer.global_step
            log.info("stopping at step %d of %d: %s has improved by less than %.0f%% in the last "
                     "%d validations (trainer.early_stop)", trainer.global_step, trainer.max_steps,
                     self.monitor, 100 * self.min_improvement, self.patience)

    def state_dict(self) -> dict[str, Any]:  # a resumed run goes on counting
        return {"best": self.best, "flat": self.flat}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best, self.flat = state_dict["best"], state_dict["flat"]
