"""Reading the checkpoints `train.py` writes: the generator for prediction, a whole training
state for `resume=`. Needs neither Lightning nor the losses."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from vst.errors import VstError
from vst.io.image import check_input_file
from vst.models.hrnet import build_generator

CHECKPOINT_KEY = "vst"  # where a checkpoint keeps what predict needs to rebuild the generator
# what the weights mean; raised when the same weights would grade differently: 2 = the global
# head reads colour statistics as logits and logs (before, as plain values); 3 = the global
# transform starts at the Monge grade onto the style the generator carries (vst/models/monge.py)
GRADE_FORMAT = 3


def read_checkpoint(path: str | Path, what: str = "ckpt") -> dict:
    """The dict in a vst checkpoint; one clear error for anything else."""
    p = check_input_file(path, what)
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - arbitrary bytes can make the unpickler raise anything
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise VstError(f"{what} {str(path)!r} is not a readable checkpoint (damaged or truncated?): "
                       f"{first}") from None
    if not isinstance(ckpt, dict) or CHECKPOINT_KEY not in ckpt or "state_dict" not in ckpt:
        raise VstError(f"{what} {str(path)!r} is not a vst checkpoint (no generator config in it); "
                       "use the best.ckpt or last.ckpt of a train.py run")
    return ckpt


def load_generator(path: str | Path) -> tuple[nn.Module, dict]:
    """The generator in `path` (eval mode) and what the checkpoint says about it (model config,
    training size). Clear errors for anything that is not a vst checkpoint."""
    ckpt = read_checkpoint(path)
    generator = build_generator(ckpt[CHECKPOINT_KEY]["model"])
    state = {k.removeprefix("generator."): v for k, v in ckpt["state_dict"].items()
             if k.startswith("generator.")}
    if "to_rgb.weight" in state:
        raise VstError(f"ckpt {str(path)!r} was trained by an older vst (an offset head, before the "
                       "field of colour transforms): train it again")
    if ckpt[CHECKPOINT_KEY].get("grade_format", 1) < GRADE_FORMAT:
        raise VstError(f"ckpt {str(path)!r} was trained by an older vst (its weights mean another "
                       "grade to this version): train it again")
    try:
        generator.load_state_dict(state)
    except RuntimeError as err:
        raise VstError(f"ckpt {str(path)!r}: its weights do not fit the "
                       f"{ckpt[CHECKPOINT_KEY]['model']['name']} generator "
                       f"({str(err).splitlines()[0][:160]})") from None
    return generator.eval().requires_grad_(False), dict(ckpt[CHECKPOINT_KEY])
