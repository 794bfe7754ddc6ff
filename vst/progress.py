"""Training's console output: one bar counting optimiser steps, on stderr (where predict's bars
and every log line go), with the losses; validation runs inside it without a bar of its own.
Where stderr is not a terminal (a log file, a scheduler's capture) a bar would be a stream of
carriage returns: a plain line every few steps instead."""

from __future__ import annotations

import sys
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm

LINES_PER_RUN = 20  # plain lines a run writes where stderr is not a terminal


class StepBar(TQDMProgressBar):
    def __init__(self) -> None:
        super().__init__(leave=False)  # one bar for the run, not one per pass over the keyframes
        self.interactive = sys.stderr.isatty()

    def init_train_tqdm(self) -> Tqdm:
        return Tqdm(desc="training", unit="step", disable=self.is_disabled or not self.interactive,
                    leave=True, dynamic_ncols=True, file=sys.stderr, smoothing=0)

    def init_validation_tqdm(self) -> Tqdm:
        return Tqdm(disable=True)

    def init_sanity_tqdm(self) -> Tqdm:
        return Tqdm(disable=True)

    def on_train_epoch_start(self, trainer: L.Trainer, *_: Any) -> None:
        bar = self.train_progress_bar
        if bar.total is None:  # the first pass: the bar counts steps of the whole run
            bar.total = trainer.max_steps
            bar.n = bar.initial = trainer.global_step  # a resumed run starts where it stopped
            bar.refresh()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        step, total = trainer.global_step, trainer.max_steps
        metrics = {k: v for k, v in self.get_metrics(trainer, pl_module).items() if k != "v_num"}
        bar = self.train_progress_bar
        if not bar.disable:
            bar.n = step
            bar.set_postfix(metrics)  # refreshes the bar
        elif not self.is_disabled and (step % max(1, total // LINES_PER_RUN) == 0 or step == total):
            shown = "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                              for k, v in metrics.items())
            print(f"training step {step}/{total}  {shown}", file=sys.stderr, flush=True)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pass  # the bar goes on into the next pass over the keyframes
