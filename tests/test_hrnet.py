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


def test_work_size_is_the_models_own_and_gives_a_smooth_grade():
    torch.manual_seed(0)
    net = HRNet(work_size=16).eval()
    torch.nn.init.normal_(net.to_rgb.weight, std=0.5)  # a non-trivial grade
    x = torch.rand(1, 3, 48, 80)
    with torch.no_grad():
        own, explicit, full = net.offset(x), net.offset(x, 16), net.offset(x, None)
    assert torch.equal(own, explicit) and own.shape == x.shape
    # the upsampled field has far less pixel-to-pixel change than the full-resolution one
    def roughness(d):
        return (d[..., 1:] - d[..., :-1]).abs().mean().item()

    assert roughness(own) < 0.5 * roughness(full)


def test_detail_sigma_keeps_fine_detail_out_of_the_grade():
    plain, detail = HRNet(), HRNet(detail_sigma=0.05)
    for net in (plain, detail):  # the same strong grade: +contrast in the darks, a colour cast
        net.to_rgb.bias.data = torch.tensor([1.5, 0.5, -0.5])
    ramp = torch.linspace(0.1, 0.6, 80).expand(1, 3, 48, 80)
    x = ramp + 0.05 * torch.rand(1, 3, 48, 80, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        change_plain, change_detail = plain(x) - x, detail(x) - x

    def roughness(d):  # vertical steps: the ramp is horizontal, so these are the grain only
        return (d[..., 1:, :] - d[..., :-1, :]).abs().mean().item()

    # the same grade, but the grain on the picture passes through it untouched
    assert (change_detail.mean() - change_plain.mean()).abs() < 0.02
    assert roughness(change_detail) < 0.3 * roughness(change_plain)
