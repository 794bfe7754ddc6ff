"""Training entry point: compose the config, build data, module and trainer, fit."""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from vst.cli import hydra_entry, path_setting
from vst.errors import VstError
from vst.losses.objective import TERMS, term_weights
from vst.runs import discard_if_failed, resume_checkpoint, resume_command

log = logging.getLogger("vst")


def _check_types(cfg: DictConfig) -> None:
    """The knobs users type by hand, checked before anything is read or built."""
    checks = [("trainer.max_steps", int, False), ("data.size", int, True),
              ("data.style_size", int, True), ("data.val_frames", int, False),
              ("data.batch_size", int, False), ("log.val_every", int, False),
              ("optim.lr", float, False), ("data.keyframes_per_shot", int, False),
              ("data.shot_threshold", float, False)]
    checks += [(f"loss.{term}_weight", float, False) for term in TERMS
               if OmegaConf.select(cfg, f"loss.{term}_weight") is not None]
    for key, kind, nullable in checks:
        value = OmegaConf.select(cfg, key)
        if value is None and nullable:
            continue
        ok = isinstance(value, (int, float) if kind is float else int) \
            and not isinstance(value, bool)
        if not ok:
            raise VstError(f"{key}={value!r} must be {'a number' if kind is float else 'an integer'}"
                           f"{' or null' if nullable else ''}")
        if value < (1 if kind is int and key != "data.val_frames" else 0):
            raise VstError(f"{key}={value!r} is out of range")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _quiet_lightning() -> None:
    """Keep the console to our own lines and the progress bar."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*litlogger.*")
    # vst.runs refuses a used run folder itself; resuming in one is meant
    warnings.filterwarnings("ignore", message=".*Checkpoint directory .* exists and is not empty.*")
    # training cycles through the keyframes: no position in an epoch to resume from
    warnings.filterwarnings("ignore", message=".*resuming from a checkpoint that ended before.*")
    warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")


def _progress_bar():
    from lightning.pytorch.callbacks import TQDMProgressBar

    class TrainingBar(TQDMProgressBar):
        """One bar with the losses; validation runs inside it without bars of its own."""

        def init_validation_tqdm(self):
            bar = super().init_validation_tqdm()
            bar.disable = True
            return bar

    return TrainingBar()


def train(cfg: DictConfig) -> float:
    """Fit one run; returns the best validation loss (Hydra sweeps report it)."""
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import TensorBoardLogger

    from vst.checkpointing import AtomicCheckpointIO, LastCheckpoint
    from vst.data import KeyframeDataModule
    from vst.device import resolve_accelerator, resolve_precision
    from vst.models.vgg import MIN_SIZE
    from vst.module import StyleTransferModule

    video = path_setting(cfg, "video", "clip.mp4")
    style = path_setting(cfg, "style", "still.jpg")
    resume = resume_checkpoint(path_setting(cfg, "resume"))
    _check_types(cfg)
    keys = OmegaConf.to_container(cfg.keyframes) if OmegaConf.is_list(cfg.keyframes) else cfg.keyframes
    if not (keys is None or _is_int(keys) or (isinstance(keys, list) and keys and all(map(_is_int, keys)))):
        raise VstError(f"keyframes={keys!r} must be a frame number, a list like [0,120], "
                       "or null (one per shot)")
    if not term_weights(cfg.loss):
        raise VstError(f"loss={cfg.loss.name}: every loss weight is 0, nothing to train")
    _quiet_lightning()
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    L.seed_everything(cfg.seed, verbose=False)
    config: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]

    max_steps = int(cfg.trainer.max_steps)
    data = KeyframeDataModule(
        video=video, style=style, size=cfg.data.size,
        keyframes=keys,
        keyframes_per_shot=cfg.data.keyframes_per_shot, shot_threshold=cfg.data.shot_threshold,
        style_size=cfg.data.style_size, val_frames=cfg.data.val_frames,
        batch_size=cfg.data.batch_size, steps=max_steps,
    )
    data.setup("fit")  # reads the inputs now, so a bad file stops us before anything starts
    if data.num_frames == 1 and config["loss"].get("stability_weight"):
        log.info("a still image has no time axis: loss.stability_weight set to 0 for this run")
        config["loss"]["stability_weight"] = 0.0
    module = StyleTransferModule(config)
    if module.vgg_source is None:
        log.info("loss=%s: no pretrained network used", cfg.loss.name)
    elif module.vgg_source == "random":
        log.warning("VGG19: RANDOM features (%s). The loss is not a real perceptual loss and "
                     "the grade is not meaningful; this run only exercises the pipeline.",
                     "asked for with vgg.weights=random" if cfg.vgg.weights == "random"
                     else "ImageNet weights not found, vgg.if_missing=random")
    else:
        log.info("VGG19 weights: %s", module.vgg_source)
    if module.vgg_source is not None:
        for what, images in (("style", data.style), ("video", data.keyframes)):
            if min(images.shape[-2:]) < MIN_SIZE:
                raise VstError(f"{what} {str(style if what == 'style' else video)!r} is "
                               f"{images.shape[-1]}x{images.shape[-2]} px for training: the VGG19 "
                               f"loss needs at least {MIN_SIZE} px on each side (use a larger "
                               f"{'still' if what == 'style' else 'data.size'} or loss=color)")

    accelerator = resolve_accelerator(cfg.trainer.accelerator)
    precision = resolve_precision(cfg.trainer.precision, cfg.trainer.accelerator)
    best = ModelCheckpoint(dirpath=run_dir, filename="best", monitor="val/loss", mode="min",
                           save_top_k=1, save_weights_only=True, auto_insert_metric_name=False,
                           enable_version_counter=False)
    last = LastCheckpoint(run_dir / "last.ckpt")
    trainer = L.Trainer(
        accelerator=accelerator, devices=1, precision=precision,
        max_steps=max_steps, max_epochs=-1,
        val_check_interval=min(int(cfg.log.val_every), max_steps), check_val_every_n_epoch=None,
        num_sanity_val_steps=0, log_every_n_steps=cfg.trainer.log_every_n_steps,
        logger=TensorBoardLogger(save_dir=run_dir, name="tensorboard", version=""),
        callbacks=[best, last, _progress_bar()], plugins=[AtomicCheckpointIO()],
        enable_model_summary=False, default_root_dir=run_dir,
    )
    log.info("training %d steps on %s (%s), frames %dx%d, run folder %s", max_steps,
             accelerator, precision, data.keyframes.shape[-1], data.keyframes.shape[-2], run_dir)
    if resume is not None:
        log.info("resuming from %s (step %d)", resume, _step_of(resume))
    try:
        trainer.fit(module, datamodule=data, ckpt_path=resume)
    except SystemExit:  # Lightning ends a second Ctrl-C with exit(1); it is an interrupt
        if not trainer.interrupted:
            raise
    if last.stopped_by or trainer.interrupted:
        if last.path.is_file():
            print(f"vst: stopped at step {_step_of(last.path)}; continue with:\n  "
                  f"{resume_command(last.path, list(HydraConfig.get().overrides.task))}",
                  file=sys.stderr, flush=True)
        raise KeyboardInterrupt
    score = float(best.best_model_score) if best.best_model_score is not None else float("nan")
    print(f"best checkpoint:  {best.best_model_path}  (val/loss {score:.4g})", flush=True)
    print(f"last checkpoint:  {run_dir / 'last.ckpt'}", flush=True)
    print(f"TensorBoard logs: {run_dir / 'tensorboard'}   (tensorboard --logdir outputs)", flush=True)
    return score


def _step_of(checkpoint: Path) -> int:
    import torch

    return int(torch.load(checkpoint, map_location="cpu", weights_only=True).get("global_step", 0))


def _run(cfg: DictConfig) -> float:
    """train(cfg) in its run folder; a run that fails before its first checkpoint leaves none."""
    with discard_if_failed(Path(HydraConfig.get().runtime.output_dir)):
        return train(cfg)


main = hydra_entry("config", _run)  # `python train.py ...`


if __name__ == "__main__":
    main()
