"""The Monge grade the global transform starts at (vst/models/monge.py), on the bundled sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import sample_frame_and_style
from vst.metrics.color import LabStats, gaussian_w2
from vst.models.hrnet import HRNet
from vst.models.monge import lab_gaussian, monge_coefficients, monge_map

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


@pytest.fixture(scope="module")
def frame_and_style() -> tuple[torch.Tensor, torch.Tensor]:
    return sample_frame_and_style()


def lab_stats(x: torch.Tensor) -> LabStats:
    return LabStats().add(x[0].permute(1, 2, 0).numpy())


def test_the_monge_map_takes_one_covariance_onto_the_other_and_is_symmetric():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 3, 3, generator=g, dtype=torch.float64)
    cov, style_cov = a @ a.T + 0.1 * torch.eye(3, dtype=torch.float64), b @ b.T
    t = monge_map(cov[None], style_cov)[0]
    assert torch.allclose(t, t.T, atol=1e-8)  # least motion: no rotation of the colours
    assert torch.linalg.eigvalsh(t).min() > 0
    assert torch.allclose(t @ (cov + 1e-5 * torch.eye(3, dtype=torch.float64)) @ t.T, style_cov, atol=1e-6)


def test_the_style_onto_itself_is_the_identity(frame_and_style):
    _, style = frame_and_style
    mean, cov = lab_gaussian(style)
    # (not exactly 0: the variance floor and the ridge each move it by a few thousandths)
    assert monge_coefficients(style, mean[0], cov[0]).abs().max() < 5e-3


def test_the_monge_grade_takes_a_real_frame_most_of_the_way_to_the_style(frame_and_style):
    frame, style = frame_and_style
    net = HRNet(work_size=None).eval()
    with torch.no_grad():
        assert torch.allclose(net(frame), frame, atol=1e-5)  # no style: the identity
        net.set_style(style)
        graded = net(frame)
    before = gaussian_w2(lab_stats(frame), lab_stats(style))
    after = gaussian_w2(lab_stats(graded), lab_stats(style))
    assert 1 - after / before > 0.8, (before, after)
    # one transform for the whole frame, the one monge_coefficients gives
    field = net.field(frame)
    assert field.std((2, 3)).max() < 1e-5
    mean, cov = lab_gaussian(style)
    assert torch.allclose(field.mean((2, 3)), monge_coefficients(frame, mean[0], cov[0]), atol=1e-5)


def test_the_style_travels_with_the_weights(frame_and_style):
    frame, style = frame_and_style
    net = HRNet(work_size=None).eval()
    net.set_style(style)
    again = HRNet(work_size=None).eval()
    again.load_state_dict(net.state_dict())
    with torch.no_grad():
        assert torch.equal(again(frame), net(frame))
        assert not np.allclose(again(frame).numpy(), frame.numpy(), atol=0.02)
