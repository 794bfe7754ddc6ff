"""LightningModule: the generator trained against the objective of `conf/loss/`
(vst/losses/objective.py).

Validation figure (what `best.ckpt` is chosen by): ``val/loss``, the training objective
(the weighted sum of the loss terms) measured on held-out frames of the clip
that the generator never trained on. It rewards a grade that carries over to the rest of the
clip, not one that only fits the keyframe.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from vst import __version__
from vst.checkpoint import CHECKPOINT_KEY, GRADE_FORMAT
from vst.losses.objective import Objective
from vst.models.hrnet import build_generator


class StyleTransferModule(L.LightningModule):
    def __init__(self, model: dict[str, Any], loss: dict[str, Any], vgg: dict[str, Any],
                 lr: float, channels_last: bool = True, train_size: int | None = None):
        """model, loss, vgg: those config groups (plain dicts); lr: Adam's; channels_last: the
        convolutions' memory layout (faster under bf16 on CPU); train_size: the short side
        trained at (kept in the checkpoint)."""
        super().__init__()
        self.save_hyperparameters(logger=False)  # train logs the whole run config itself
        self.generator = build_generator(model)
        self.objective = Objective(loss, vgg)
        self.lr, self.train_size = lr, train_size
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self._val: list[dict[str, torch.Tensor]] = []

    # ---- targets: computed once per fit, never saved --------------------------------------
    def on_fit_start(self) -> None:
        self.to(memory_format=self.memory_format)
        dm = self.trainer.datamodule
        style = dm.style.to(self.device)
        self.generator.set_style(style)
        frames = {split: f.to(self.device).contiguous(memory_format=self.memory_format)
                  for split, f in (("train", dm.keyframes), ("val", dm.val))}
        with self.trainer.precision_plugin.forward_context():
            self.objective.set_targets(style, frames, self.generator)

    @property
    def vgg_source(self) -> str | None:
        """Where the VGG19 weights came from; None when no term uses VGG."""
        return self.objective.vgg_source

    def _step(self, content: torch.Tensor, index: torch.Tensor, split: str,
              rng: torch.Generator | None = None, step: int | None = None):
        return self.objective(self.generator, content.contiguous(memory_format=self.memory_format),
                              split, index, rng, step)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        _, terms = self._step(batch["content"], batch["index"], "train", step=self.global_step)
        self.log("train/loss", terms["loss"], prog_bar=True)
        self.log_dict({f"train/{k}": v for k, v in terms.items() if k != "loss"})
        return terms["loss"]

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        # validate after the very last step too, so best.ckpt considers the final weights
        if self.global_step >= self.trainer.max_steps:
            self.trainer.should_stop = True

    def on_validation_epoch_start(self) -> None:
        # the same random colour-loss samples at every validation: val/loss is comparable
        self._val_rng = torch.Generator().manual_seed(0)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """Returns the graded frame (vst/previews.py shows the first few)."""
        output, terms = self._step(batch["content"], batch["index"], "val", self._val_rng)
        self._val.append({k: v.detach().float() for k, v in terms.items()})
        return output

    def on_validation_epoch_end(self) -> None:
        if not self._val:
            return
        for name in self._val[0]:
            self.log(f"val/{name}", torch.stack([t[name] for t in self._val]).mean(),
                     prog_bar=name == "loss")
        self._val.clear()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # fused: one kernel updates every parameter (else a loop over ~130 tensors a step)
        return torch.optim.Adam(self.generator.parameters(), lr=self.lr, fused=True)

    # ---- checkpoints hold the generator and its config, never the VGG -------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["state_dict"] = {
            k: v for k, v in checkpoint["state_dict"].items() if k.startswith("generator.")
        }
        checkpoint[CHECKPOINT_KEY] = {"model": dict(self.hparams["model"]), "version": __version__,
                                      "grade_format": GRADE_FORMAT,
                                      "train_size": self.train_size}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # put back the frozen VGG (rebuilt from config) so strict loading still checks the rest
        own = self.state_dict()
        checkpoint["state_dict"].update({k: v for k, v in own.items() if not k.startswith("generator.")})
