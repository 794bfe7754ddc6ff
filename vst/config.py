"""The types of every setting, as Hydra structured-config schemas: the YAML files in conf/ own
the values (and say what each means); these say what kind of value each key takes, so that
`trainer.max_steps=ten` or an unknown key fails at composition, in one line, for train,
predict and evaluate alike. Ranges are checked by `check_ranges`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from vst.errors import VstError

# File names are typed Any (FileName) and checked by vst.cli.path_setting: a schema typed
# str would turn `video=0.10` (which Hydra reads as the number 0.1) into "0.1" without a word.
FileName = Any


@dataclass
class VggSchema:
    weights: str | None = MISSING
    seed: int = MISSING


@dataclass
class EvaluateVggSchema:
    weights: str | None = MISSING


@dataclass
class ModelSchema:
    name: str = MISSING
    work_size: int | None = MISSING


@dataclass
class DataSchema:
    _target_: str = MISSING
    size: int | None = MISSING
    style_size: int | None = MISSING
    val_frames: int = MISSING
    batch_size: int = MISSING
    keyframes_per_shot: int = MISSING
    shot_threshold: float = MISSING


@dataclass
class EarlyStopSchema:
    patience: int = MISSING
    min_improvement: float = MISSING


@dataclass
class TrainerSchema:
    accelerator: str = MISSING
    precision: str = MISSING
    channels_last: bool = MISSING
    max_steps: int = MISSING
    log_every_n_steps: int = MISSING
    early_stop: EarlyStopSchema | None = None


@dataclass
class ColorTermSchema:
    zones: int = MISSING
    zone_weight: float = MISSING


@dataclass
class StructureTermSchema:
    scales: list[int] = MISSING


@dataclass
class StabilityTermSchema:
    shift: float = MISSING
    rotate: float = MISSING
    zoom: float = MISSING
    noise: float = MISSING
    exposure: float = MISSING
    margin: float = MISSING
    every: int = 1


@dataclass
class LossSchema:
    """Every preset's keys. A term a preset does not switch on has weight 0 (off) and no
    settings (null)."""

    name: str = MISSING
    lr: float = MISSING
    content_weight: float = 0.0
    style_weight: float = 0.0
    color_weight: float = 0.0
    structure_weight: float = 0.0
    stability_weight: float = 0.0
    locality_weight: float = 0.0
    content_layer: str | None = None
    style_layers: dict[str, float] | None = None
    color: ColorTermSchema | None = None
    structure: StructureTermSchema | None = None
    stability: StabilityTermSchema = field(default_factory=StabilityTermSchema)


@dataclass
class LogSchema:
    val_every: int = MISSING
    previews: int = MISSING


@dataclass
class TrainSchema:
    video: FileName = MISSING
    style: FileName = MISSING
    keyframes: Any = None
    resume: FileName = None
    seed: int = MISSING
    vgg: VggSchema = field(default_factory=VggSchema)
    log: LogSchema = field(default_factory=LogSchema)
    model: ModelSchema = MISSING
    loss: LossSchema = MISSING
    data: DataSchema = MISSING
    trainer: TrainerSchema = MISSING


@dataclass
class GraderSchema:
    """What predict and lut share: a checkpoint, a source, an output, how the network runs."""

    ckpt: FileName = MISSING
    video: FileName = MISSING
    output: FileName = None
    overwrite: bool = MISSING
    work_size: Any = MISSING  # auto | px | null
    batch_size: int = MISSING
    accelerator: str = MISSING
    precision: str = MISSING
    channels_last: bool = MISSING


@dataclass
class EngineSchema:
    name: str = MISSING
    address: str | None = None


@dataclass
class PredictSchema(GraderSchema):
    grade: str = MISSING  # network | lut
    size: int | None = MISSING
    chunk_seconds: float = MISSING
    workers: int = MISSING
    engine: EngineSchema = MISSING
    codec: str = MISSING
    bit_depth: Any = MISSING  # auto | 8 | 10
    crf: int = MISSING
    preset: str = MISSING


@dataclass
class EvaluateSchema:
    input: FileName = MISSING
    output: FileName = MISSING
    style: FileName = None
    json: FileName = None
    plot: FileName = None
    size: int | None = MISSING
    long_range: int = MISSING
    max_frames: int | None = None
    vgg: EvaluateVggSchema = field(default_factory=EvaluateVggSchema)


@dataclass
class LutSchema(GraderSchema):
    size: int = MISSING
    frames_per_shot: int = MISSING


SCHEMAS = {"train": TrainSchema, "predict": PredictSchema, "evaluate": EvaluateSchema,
           "lut": LutSchema}


def register_schemas() -> None:
    """Make the schemas known to Hydra as `<command>_schema` (each command's YAML extends its own)."""
    store = ConfigStore.instance()
    for name, schema in SCHEMAS.items():
        store.store(name=f"{name}_schema", node=schema)


# the smallest value each counted setting may take (keys absent from a command are skipped)
MINIMUM = {
    "trainer.max_steps": 1, "trainer.log_every_n_steps": 1, "data.size": 1, "data.style_size": 1,
    "data.val_frames": 0, "data.batch_size": 1, "data.keyframes_per_shot": 1,
    "data.shot_threshold": 0, "log.val_every": 1, "log.previews": 0, "loss.lr": 0,
    "model.work_size": 1, "batch_size": 1, "size": 1, "crf": 0, "long_range": 1, "max_frames": 1,
    "frames_per_shot": 1, "workers": 1, "chunk_seconds": 0.1,
    "trainer.early_stop.patience": 1, "trainer.early_stop.min_improvement": 0,
    **{f"loss.{t}_weight": 0 for t in ("content", "style", "color", "structure", "stability",
                                        "locality")},
}


def check_ranges(cfg: DictConfig) -> None:
    """A setting below its minimum (a type the schema already checked) is a one-line error."""
    for key, low in MINIMUM.items():
        value = OmegaConf.select(cfg, key, default=None)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < low:
            raise VstError(f"{key}={value!r} is out of range (at least {low})")
