import math

import pytest
import torch
import torch.nn.functional as F

from vst.errors import VstError
from vst.losses.perceptual import PerceptualLoss, gram
from vst.models import vgg as vgg_module
from vst.models.vgg import LAYERS, VGG19Features, load_vgg19

# torchvision.models.vgg19().features: conv layers at these indices, with these shapes
TORCHVISION_CONVS = {0: (64, 3), 2: (64, 64), 5: (128, 64), 7: (128, 128), 10: (256, 128),
                     12: (256, 256), 14: (256, 256), 16: (256, 256), 19: (512, 256),
                     21: (512, 512), 23: (512, 512), 25: (512, 512), 28: (512, 512),
                     30: (512, 512), 32: (512, 512), 34: (512, 512)}


def test_state_dict_keys_equal_torchvisions():
    state = VGG19Features().state_dict()
    expected = [f"features.{i}.{p}" for i in TORCHVISION_CONVS for p in ("weight", "bias")]
    assert list(state) == expected
    for i, (cout, cin) in TORCHVISION_CONVS.items():
        assert state[f"features.{i}.weight"].shape == (cout, cin, 3, 3)
    assert LAYERS["conv4_2"] == 21 and LAYERS["conv5_1"] == 28 and LAYERS["pool5"] == 36


def test_torchvision_state_dict_file_loads_unchanged(tmp_path):
    reference = VGG19Features()
    state = {k: torch.randn_like(v) for k, v in reference.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # a full torchvision file has these too
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(state, path)
    model, source = load_vgg19(str(path))
    assert source == str(path)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k])
    assert not any(p.requires_grad for p in model.parameters())


def test_random_weights_are_seeded():
    a, src = load_vgg19("random", seed=3)
    b, _ = load_vgg19("random", seed=3)
    c, _ = load_vgg19("random", seed=4)
    assert src == "random"
    assert torch.equal(a.features[0].weight, b.features[0].weight)
    assert not torch.equal(a.features[0].weight, c.features[0].weight)


def test_missing_weights_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setattr(vgg_module, "hub_cache_file", lambda: tmp_path / "none.pth")
    monkeypatch.setattr(vgg_module, "_download", lambda: None)  # offline; tests never download
    with pytest.raises(VstError) as err:
        load_vgg19("auto")
    assert "vgg19-dcbb9e9d.pth" in str(err.value) and "vgg.weights=" in str(err.value)
    with pytest.raises(VstError, match="does not exist"):
        load_vgg19(str(tmp_path / "missing.pth"))
    bad = tmp_path / "bad.pth"
    bad.write_text("not a checkpoint")
    with pytest.raises(VstError, match="not a readable"):
        load_vgg19(str(bad))


def test_hub_cache_is_used_before_download(tmp_path, monkeypatch):
    cached = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(VGG19Features().state_dict(), cached)
    monkeypatch.setattr(vgg_module, "hub_cache_file", lambda: cached)
    monkeypatch.setattr(vgg_module, "_download", lambda: pytest.fail("must not download"))
    _, source = load_vgg19("auto")
    assert source == str(cached)


def _smooth_pattern(size: int, waves=((1, 2, 0.0), (3, 1, 1.0), (2, 3, 2.0))) -> torch.Tensor:
    """The same continuous picture sampled at any resolution."""
    ys, xs = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    channels = [0.5 + 0.4 * torch.sin(2 * math.pi * (f * xs + g * ys) + p) for f, g, p in waves]
    return torch.stack(channels).unsqueeze(0)


def test_gram_normalisation_is_size_invariant():
    vgg, _ = load_vgg19("random", seed=0)
    loss = PerceptualLoss(vgg, "conv4_2", {"conv1_1": 1.0, "conv2_1": 1.0, "conv3_1": 1.0})
    style = _smooth_pattern(128, waves=((4, 0, 0.5), (0, 5, 0.0), (3, 3, 1.5))) * 0.6 + 0.3
    image_small, image_large = _smooth_pattern(96), _smooth_pattern(192)
    target = loss.style_targets(style)
    with torch.no_grad():
        small = loss(image_small, loss.content_targets(image_small), target)["style"].item()
        large = loss(image_large, loss.content_targets(image_large), target)["style"].item()
        g_small = gram(loss.features(style, ["conv1_1"])["conv1_1"])
        g_large = gram(loss.features(F.interpolate(style, scale_factor=2, mode="bilinear"),
                                     ["conv1_1"])["conv1_1"])
    assert small > 0 and large > 0
    assert abs(small - large) / max(small, large) < 0.25, (small, large)  # unnormalised: ~4x
    assert ((g_small - g_large).norm() / g_small.norm()).item() < 0.1  # unnormalised: 4x apart


def test_style_loss_is_zero_for_the_style_itself_and_content_loss_for_the_content():
    vgg, _ = load_vgg19("random", seed=0)
    loss = PerceptualLoss(vgg, "conv4_2", {"conv1_1": 0.1, "conv5_1": 1.6})
    image = _smooth_pattern(64)
    terms = loss(image, loss.content_targets(image), loss.style_targets(image))
    assert terms["content"].item() == pytest.approx(0.0, abs=1e-9)
    assert terms["style"].item() == pytest.approx(0.0, abs=1e-9)
    other = loss(image.flip(-1) * 0.5, loss.content_targets(image), loss.style_targets(image))
    assert other["content"] > 0 and other["style"] > 0
