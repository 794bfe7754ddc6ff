"""Training entry point: compose the config, build data, module and trainer, fit."""

from __future__ import annotations

import logging
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from vst.cli import hydra_entry, path_setting
from vst.errors import VstError
from vst.losses.objective import term_weights
from vst.run_report import FIGURES, report_run
from vst.runs import resume_checkpoint, resume_command

log = logging.getLogger("vst")


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


# loss settings that only the VGG terms use: loss=auto cannot fall back to loss=color with them
VGG_ONLY = ("content_weight", "style_weight", "content_layer", "style_layers")


def loss_preset(name: str) -> DictConfig:
    """The `loss` group's preset `name` as composed on its own (inside a command or not)."""
    from hydra import compose
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():  # a command: Hydra's own config search path
        return compose("config", [f"loss={name}"]).loss
    from vst.api import compose as compose_fresh

    return compose_fresh("config", f"loss={name}").loss


def choose_auto_loss(cfg: DictConfig) -> DictConfig:
    """loss=auto: loss=perceptual where the VGG19 weights are here (or vgg.weights names them),
    else loss=color with the settings given that it shares. Returns the run's loss config."""
    from vst.models.vgg import hub_cache_file, weights_available

    if cfg.vgg.weights not in (None, "auto") or weights_available():
        return OmegaConf.merge(cfg.loss, {"name": "perceptual"})
    perceptual = OmegaConf.to_container(loss_preset("perceptual"))
    given = {k: v for k, v in OmegaConf.to_container(cfg.loss).items()
             if k != "name" and perceptual.get(k) != v}  # what the command line changed
    vgg_only = [k for k in given if k in VGG_ONLY]
    if vgg_only:
        raise VstError(f"loss.{vgg_only[0]} is a setting of loss=perceptual, which needs the VGG19 "
                       f"ImageNet weights (not found in {hub_cache_file()}): give them with "
                       "vgg.weights=PATH or use loss=perceptual to download them; or leave it "
                       "out and train loss=color (its look knob: loss.color_weight)")
    log.info("loss=auto: no VGG19 ImageNet weights here (%s), training with loss=color "
             "(no pretrained network); loss=perceptual downloads them (548 MB)", hub_cache_file())
    return OmegaConf.merge(loss_preset("color"), given)


def build_module(config: dict[str, Any]):
    """The LightningModule of a resolved run config (plain dict): its groups and knobs mapped
    onto the module's arguments, in this one place."""
    from vst.module import StyleTransferModule

    return StyleTransferModule(model=config["model"], loss=config["loss"], vgg=config["vgg"],
                               lr=config["loss"]["lr"], channels_last=config["trainer"]["channels_last"],
                               train_size=config["data"]["size"])


def train(cfg: DictConfig, run_dir: Path) -> float:
    """Fit one run of the composed config `cfg` into `run_dir`; returns the best validation
    loss (Hydra sweeps report it)."""
    import lightning as L
    from hydra.utils import instantiate
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import TensorBoardLogger

    from vst.checkpointing import AtomicCheckpointIO, LastCheckpoint
    from vst.device import resolve_accelerator, resolve_precision
    from vst.early_stop import StopOnPlateau
    from vst.models.vgg import MIN_SIZE
    from vst.previews import PreviewImages
    from vst.progress import StepBar

    video = path_setting(cfg, "video", "clip.mp4")
    style = path_setting(cfg, "style", "still.jpg")
    resume = resume_checkpoint(path_setting(cfg, "resume"))
    keys = OmegaConf.to_container(cfg.keyframes) if OmegaConf.is_list(cfg.keyframes) else cfg.keyframes
    if not (keys is None or _is_int(keys) or (isinstance(keys, list) and keys and all(map(_is_int, keys)))):
        raise VstError(f"keyframes={keys!r} must be a frame number, a list like [0,120], "
                       "or null (one per shot)")
    if cfg.loss.name == "auto":
        cfg = cfg.copy()
        cfg.loss = choose_auto_loss(cfg)
    if not term_weights(cfg.loss):
        raise VstError(f"loss={cfg.loss.name}: every loss weight is 0, nothing to train")
    accelerator = resolve_accelerator(cfg.trainer.accelerator, "trainer.accelerator")
    precision = resolve_precision(cfg.trainer.precision, accelerator)
    _quiet_lightning()
    L.seed_everything(cfg.seed, verbose=False)
    config: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]

    max_steps = cfg.trainer.max_steps
    data = instantiate(cfg.data, video=str(video), style=str(style), keyframes=keys, steps=max_steps)
    data.setup("fit")  # reads the inputs now, so a bad file stops us before anything starts
    if data.num_frames == 1 and config["loss"]["stability_weight"]:
        log.info("a still image has no time axis: loss.stability_weight set to 0 for this run")
        config["loss"]["stability_weight"] = 0.0
    module = build_module(config)
    if module.vgg_source is None:
        log.info("loss=%s: no pretrained network used", cfg.loss.name)
    elif module.vgg_source == "random":
        log.warning("VGG19: RANDOM features (vgg.weights=random). The loss is not a real perceptual "
                    "loss and the grade is not meaningful; this run only exercises the pipeline.")
    else:
        log.info("VGG19 weights: %s", module.vgg_source)
    if module.vgg_source is not None:
        for what, images in (("style", data.style), ("video", data.keyframes)):
            if min(images.shape[-2:]) < MIN_SIZE:
                raise VstError(f"{what} {str(style if what == 'style' else video)!r} is "
                               f"{images.shape[-1]}x{images.shape[-2]} px for training: the VGG19 "
                               f"loss needs at least {MIN_SIZE} px on each side (use a larger "
                               f"{'still' if what == 'style' else 'data.size'} or loss=color)")

    best = ModelCheckpoint(dirpath=run_dir, filename="best", monitor="val/loss", mode="min",
                           save_top_k=1, save_weights_only=True, auto_insert_metric_name=False,
                           enable_version_counter=False)
    last = LastCheckpoint(run_dir / "last.ckpt")
    logger = TensorBoardLogger(save_dir=run_dir, name="tensorboard", version="", default_hp_metric=False)
    # the whole run config in the HParams tab, with the figures that compare runs whatever
    # their loss weights (vst/run_report.py; measured when the run ends)
    logger.log_hyperparams(config, metrics={f"figures/{k}": float("nan") for k in FIGURES})
    trainer = L.Trainer(
        accelerator=accelerator, devices=1, precision=precision,
        max_steps=max_steps, max_epochs=-1,
        val_check_interval=min(cfg.log.val_every, max_steps), check_val_every_n_epoch=None,
        num_sanity_val_steps=0, log_every_n_steps=cfg.trainer.log_every_n_steps,
        logger=logger, plugins=[AtomicCheckpointIO()],
        callbacks=[best, last, PreviewImages(cfg.log.previews), StepBar(),
                   *([StopOnPlateau(**cfg.trainer.early_stop)] if cfg.trainer.early_stop else [])],
        enable_model_summary=False, default_root_dir=run_dir,
    )
    log.info("training %d steps on %s (%s), frames %dx%d, run folder %s", max_steps,
             accelerator, precision, data.keyframes.shape[-1], data.keyframes.shape[-2], run_dir)
    if resume is not None:
        log.info("resuming from %s (step %d)", resume, _step_of(resume))
    started = time.perf_counter()
    try:
        trainer.fit(module, datamodule=data, ckpt_path=resume)
    except SystemExit:  # Lightning ends a second Ctrl-C with exit(1); it is an interrupt
        if not trainer.interrupted:
            raise
    if last.stopped_by or trainer.interrupted:
        if last.path.is_file():
            print(f"vst: stopped at step {_step_of(last.path)}; continue with:\n  "
                  f"{resume_command(last.path, _overrides())}",
                  file=sys.stderr, flush=True)
        raise KeyboardInterrupt
    score = float(best.best_model_score) if best.best_model_score is not None else float("nan")
    if best.best_model_path:
        figures = report_run(Path(best.best_model_path), data, run_dir, time.perf_counter() - started)
        logger.log_metrics({f"figures/{k}": figures[k] for k in FIGURES if k in figures},
                           step=trainer.global_step)
        logger.finalize("success")
        log.info("held-out frames: %s", ", ".join(f"{k} {figures[k]:.3f}" for k in FIGURES
                                                 if k in figures))
    print(f"best checkpoint:  {best.best_model_path}  (val/loss {score:.4g})", flush=True)
    print(f"last checkpoint:  {run_dir / 'last.ckpt'}", flush=True)
    print(f"TensorBoard logs: {run_dir / 'tensorboard'}   (tensorboard --logdir outputs)", flush=True)
    return score


def _overrides() -> list[str]:
    """The command line's settings (for the resume command); none when run from Python."""
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def _step_of(checkpoint: Path) -> int:
    import torch

    return int(torch.load(checkpoint, map_location="cpu", weights_only=True).get("global_step", 0))


def _run(cfg: DictConfig) -> float:
    """train(cfg) in the run folder Hydra made for it."""
    return train(cfg, Path(HydraConfig.get().runtime.output_dir))


main = hydra_entry("config", _run)  # `python train.py ...`


if __name__ == "__main__":
    main()
