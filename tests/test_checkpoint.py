"""Reading checkpoints (vst/checkpoint.py) for prediction needs no training machinery."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT


def test_loading_a_checkpoint_imports_neither_lightning_nor_training(tmp_path):
    """Prediction starts fast and works where only inference is installed: loading the
    generator pulls in neither Lightning, the LightningModule, the losses nor train.py."""
    code = f"""
import sys, torch
from vst.checkpoint import GRADE_FORMAT, load_generator
from vst.models.hrnet import HRNet
import vst.predict
state = {{"generator." + k: v for k, v in HRNet(96).state_dict().items()}}
torch.save({{"state_dict": state, "vst": {{"model": {{"name": "hrnet", "work_size": 96}},
            "grade_format": GRADE_FORMAT}}}}, {str(tmp_path / "g.ckpt")!r})
load_generator({str(tmp_path / "g.ckpt")!r})
loaded = [m for m in ("lightning", "pytorch_lightning", "vst.train", "vst.module", "vst.losses.objective")
          if m in sys.modules]
print("loaded:", loaded)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "loaded: []" in result.stdout, result.stdout
