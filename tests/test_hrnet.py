import pytest
import torch

from vst.models.hrnet import HRNet, from_logit, to_logit


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
    torch.nn.init.normal_(net.to_coeffs.weight, std=0.5)  # a non-trivial grade
    x = torch.rand(1, 3, 48, 80)
    with torch.no_grad():
        own, explicit, full = net.field(x), net.field(x, 16), net.field(x, None)
    assert torch.equal(own, explicit) and own.shape == (1, 12, 48, 80)
    # the upsampled field has far less pixel-to-pixel change than the full-resolution one
    def roughness(d):
        return (d[..., 1:] - d[..., :-1]).abs().mean().item()

    assert roughness(own) < 0.5 * roughness(full)


def test_the_transform_is_applied_in_float32_under_bf16_autocast():
    """The network may run in bf16; the per-pixel transform may not (bf16 logits come out in
    visible steps of about a level). It must also pass gradients on, for training."""
    torch.manual_seed(0)
    net = HRNet(work_size=8)
    torch.nn.init.normal_(net.to_coeffs.weight, std=0.3)
    x = torch.rand(1, 3, 32, 48)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        field = net.field(x)
        y = net.apply_field(x, field)
    assert field.dtype == y.dtype == torch.float32
    z, f = to_logit(x.double()), field.detach().double()
    a = f[:, :9].unflatten(1, (3, 3))
    expected = from_logit(z + torch.einsum("nijhw,njhw->nihw", a, z) + f[:, 9:])
    assert (y.detach().double() - expected).abs().max() < 1e-5
    y.mean().backward()
    grad = net.to_coeffs.weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_a_field_of_colour_transforms_keeps_a_sharp_edge_sharp():
    """Invert brightness on a frame with a hard edge, with the transform computed at a tenth of
    the resolution: one affine map of colour serves both sides, so the edge keeps its full
    height and no halo of the wrong brightness appears beside it (an upsampled offset field
    would have to change sign across the edge and smear it)."""
    net = HRNet(work_size=8).eval()
    net.to_coeffs.bias.data = torch.tensor([-2.0, 0, 0, 0, -2.0, 0, 0, 0, -2.0, 0, 0, 0])  # z -> -z
    x = torch.full((1, 3, 80, 80), 0.15)
    x[..., 40:] = 0.85
    with torch.no_grad():
        y = net(x)
    assert torch.allclose(y, 1 - x, atol=1e-4)  # inverted, pixel for pixel, edge included


def test_an_affine_field_equals_its_matrix_form():
    from vst.models.hrnet import affine

    g = torch.Generator().manual_seed(0)
    z, field = torch.randn(2, 3, 4, 5, generator=g), torch.randn(2, 12, 4, 5, generator=g)
    a = torch.eye(3) + field[0, :9, 1, 2].view(3, 3)
    assert torch.allclose(affine(z, field)[0, :, 1, 2], a @ z[0, :, 1, 2] + field[0, 9:, 1, 2], atol=1e-6)


def test_a_blown_highlight_stays_a_highlight_under_a_strong_cross_channel_grade():
    """A street light with one channel clipped (R 0.9, G 0.95, B 1.0) under the kind of
    transform a cool, saturated style trains (red made of 2.3 red - 1.1 blue, in logit space):
    it stays a bright, near-neutral light instead of turning cyan."""
    net = HRNet().eval()
    net.global_head[-1].bias.data = torch.tensor([1.3, 0.2, -1.1, 0, 0, 0, -0.1, 0.3, 0.6, 0, 0, 0.5])
    x = torch.tensor([0.9, 0.95, 1.0]).view(1, 3, 1, 1).expand(1, 3, 8, 8).contiguous()
    with torch.no_grad():
        y = net(x)[0, :, 4, 4]
    assert y.min() > 0.7, y  # a plain logit (clipped channel at +9) gives red ~0.01: cyan


def test_the_global_head_grades_each_frame_by_its_own_colours():
    """One transform per frame from the frame's colour statistics: a dark frame and a bright
    frame get different grades from the same weights, each uniform across the frame."""
    torch.manual_seed(0)
    net = HRNet().eval()
    torch.nn.init.normal_(net.global_head[-1].weight, std=0.5)
    dark, bright = torch.rand(1, 3, 16, 16) * 0.3, 0.7 + torch.rand(1, 3, 16, 16) * 0.3
    with torch.no_grad():
        fd, fb = net.field(dark), net.field(bright)
    assert (fd.mean((2, 3)) - fb.mean((2, 3))).abs().max() > 0.05
    assert fd.std((2, 3)).max() < 1e-5  # the convolutional part is still zero: one transform


def test_given_stats_choose_the_global_transform():
    """Prediction hands every frame of a shot the shot's statistics: frames that differ then
    get the same global transform, the one their shared statistics choose."""
    torch.manual_seed(0)
    net = HRNet(work_size=8).eval()
    torch.nn.init.normal_(net.global_head[-1].weight, std=0.5)
    a, b = torch.rand(1, 3, 16, 16) * 0.3, 0.7 + torch.rand(1, 3, 16, 16) * 0.3
    shared = (net.frame_stats(a) + net.frame_stats(b)) / 2
    with torch.no_grad():
        fa, fb = net.field(a, stats=shared), net.field(b, stats=shared)
        own = net.field(a)
    assert torch.allclose(fa, fb)
    assert not torch.allclose(fa, own)
    assert torch.allclose(own, net.field(a, stats=net.frame_stats(a)))


@pytest.mark.parametrize("frames", [1, 2])
@pytest.mark.parametrize("channels", [8, 32])
def test_instance_norm_is_instance_norm_in_training_and_at_inference(frames, channels):
    """Three kernels, one per case, all the maths of InstanceNorm2d(affine=True); one frame in
    training keeps the channels-last layout it came in (no copies through the network), and so
    does inference (a few channels are normalised in the plain layout, where that is faster)."""
    from vst.models.hrnet import InstanceNorm

    torch.manual_seed(0)
    norm, reference = InstanceNorm(channels), torch.nn.InstanceNorm2d(channels, affine=True)
    with torch.no_grad():
        for layer in (norm, reference):
            layer.weight.copy_(torch.linspace(0.5, 2, channels))
            layer.bias.copy_(torch.linspace(-1, 1, channels))
    x = (torch.randn(frames, channels, 12, 20) * 3 + 1).to(memory_format=torch.channels_last)
    x.requires_grad_()
    trained = norm(x)
    expected = reference(x)
    assert torch.allclose(trained, expected, atol=1e-5)
    grad = torch.randn_like(expected)
    got, want = torch.autograd.grad(trained, (x, norm.weight), grad), \
        torch.autograd.grad(expected, (x, reference.weight), grad)
    assert all(torch.allclose(g, w, atol=1e-4) for g, w in zip(got, want, strict=True))
    if frames == 1:
        assert trained.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        inferred = norm(x)
    assert torch.allclose(inferred, expected, atol=1e-5)
    assert inferred.is_contiguous(memory_format=torch.channels_last)


def test_quantiles_are_torchs_to_the_bit():
    from tests.helpers import sample_frames
    from vst.models.hrnet import quantiles

    q = (0.1, 0.3, 0.5, 0.7, 0.9)
    luma = torch.from_numpy(sample_frames(4)).float().div(255).mean(-1).flatten(1)  # real frames
    for x in (luma, torch.rand(3, 1001), torch.rand(2, 2), torch.rand(1, 1)):
        assert torch.equal(quantiles(x, q), torch.quantile(x, torch.tensor(q), dim=-1).T)
