import pytest
import torch

from vst.models.hrnet import HRNet


@pytest.fixture(scope="module")
def net() -> HRNet:
    torch.manual_seed(0)
    return HRNet().eval()


def test_parameter_count_matches_the_paper(net):
    count = sum(p.numel() for p in net.parameters())
    assert 60_000 <= count <= 70_000, count  # the paper's HR-Net has about 65k


@pytest.mark.parametrize("size", [(64, 64), (281, 500), (500, 281), (7, 13)])
def test_any_frame_size_in_same_size_out(net, size):
    x = torch.rand(2, 3, *size)
    y = net(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


def test_full_hd_forward(net):
    x = torch.rand(1, 3, 1080, 1920)
    with torch.inference_mode():
        y = net(x)
    assert y.shape == x.shape


def test_untrained_generator_is_the_identity(net):
    x = torch.rand(1, 3, 40, 56)
    assert (net(x) - x).abs().max() < 1e-3


def test_output_stays_in_gamut_and_learns():
    torch.manual_seed(0)
    net = HRNet()
    x = torch.rand(1, 3, 32, 48)
    target = torch.ones_like(x)  # push everything towards (and past) white
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = None
    for _ in range(30):
        loss = ((net(x) - 1.5 * target) ** 2).mean()
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    y = net(x)
    assert loss.item() < first  # gradients reach the body through the zero-initialised head
    assert y.min() >= 0.0 and y.max() <= 1.0  # an out-of-gamut target never leaves sRGB
    assert y.mean() > x.mean() + 0.1
