"""VGG19 feature extractor with torchvision's layer layout, so torchvision's ImageNet state
dict (``vgg19-dcbb9e9d.pth``) loads unchanged, without importing torchvision.

Weights come from, in order: ``vgg.weights=PATH``; torch hub's cache
(``$TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth``); the official URL when online.
``vgg.weights=random`` gives seeded random features for tests (results are not meaningful).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from vst.errors import VstError

log = logging.getLogger(__name__)

# the normalisation torchvision's ImageNet networks were trained with (the generator's
# input uses it too, as the HR-Net reference code does)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
WEIGHTS_FILE = "vgg19-dcbb9e9d.pth"
WEIGHTS_URL = f"https://download.pytorch.org/models/{WEIGHTS_FILE}"
# torchvision's configuration "E": conv widths, "M" = 2x2 max-pool
_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
        512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]  # fmt: skip
MIN_SIZE = 16  # px on each side: four 2x2 poolings down to conv5_1 leave one pixel


def _layer_names() -> dict[str, int]:
    """conv1_1 -> 0, relu1_1 -> 1, ..., pool5 -> 36: torchvision's indices in `features`."""
    names, block, conv, idx = {}, 1, 1, 0
    for v in _CFG:
        if v == "M":
            names[f"pool{block}"] = idx
            block, conv, idx = block + 1, 1, idx + 1
        else:
            names[f"conv{block}_{conv}"] = idx
            names[f"relu{block}_{conv}"] = idx + 1
            conv, idx = conv + 1, idx + 2
    return names


LAYERS = _layer_names()


class VGG19Features(nn.Module):
    """``features`` of torchvision's VGG19; returns the activations at the named layers."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in _CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=True)]
                cin = v
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        """x: ImageNet-normalised Nx3xHxW. Runs only as deep as the deepest requested layer."""
        wanted = {LAYERS[name]: name for name in layers}
        out: dict[str, torch.Tensor] = {}
        for i, layer in enumerate(self.features):
            if i > max(wanted):
                break
            # the next layer is an in-place ReLU: keep the conv output intact when it is wanted
            x = layer(x.clone() if isinstance(layer, nn.ReLU) and i - 1 in wanted else x)
            if i in wanted:
                out[wanted[i]] = x
        return out


def random_init(model: VGG19Features, seed: int) -> None:
    """torchvision's VGG initialisation (Kaiming, fan-out), seeded."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            std = (2.0 / (m.out_channels * m.kernel_size[0] * m.kernel_size[1])) ** 0.5
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * std)
                m.bias.zero_()


def hub_cache_file() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def weights_available() -> bool:
    """Whether the ImageNet VGG19 weights are already in torch hub's cache (no download)."""
    return hub_cache_file().is_file()


MISSING_HELP = (
    f"VGG19 ImageNet weights not found. Get {WEIGHTS_FILE} ({WEIGHTS_URL}, 548 MB) on a "
    f"machine with internet and either pass vgg.weights=/path/to/{WEIGHTS_FILE} or copy it to "
    f"{hub_cache_file()}. Or grade without any pretrained network: loss=color (colour and "
    "structure losses, no VGG)"
)


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise VstError(f"vgg.weights {str(path)!r} is not a readable PyTorch state dict ({err})") \
            from None
    return {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}


def _download() -> dict[str, torch.Tensor] | None:
    try:
        state = torch.hub.load_state_dict_from_url(
            WEIGHTS_URL, map_location="cpu", progress=True, check_hash=True
        )
    except Exception as err:  # offline, DNS, proxy, hash: all mean "not available"
        log.info("VGG19 weights could not be downloaded: %s", err)
        return None
    return {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}


def load_vgg19(weights: str | None = "auto", seed: int = 0) -> tuple[
    VGG19Features, str
]:
    """A frozen, eval-mode VGG19 and a word on where its weights came from.

    weights: "auto" (hub cache, then download), "random", or a path.
    Weights that cannot be found stop with MISSING_HELP.
    """
    model = VGG19Features()
    source: str
    state: dict[str, torch.Tensor] | None = None
    if weights in (None, "auto"):
        cached = hub_cache_file()
        if cached.is_file():
            state, source = _read_state_dict(cached), str(cached)
        else:
            state, source = _download(), WEIGHTS_URL
        if state is None:
            raise VstError(MISSING_HELP)
    elif weights != "random":
        path = Path(str(weights)).expanduser()
        if not path.is_file():
            raise VstError(f"vgg.weights {str(weights)!r} does not exist. {MISSING_HELP}")
        state, source = _read_state_dict(path), str(path)
    if weights == "random":
        random_init(model, seed)
        source = "random"
    else:
        try:
            model.features.load_state_dict(state)
        except RuntimeError as err:
            raise VstError(f"VGG19 weights from {source} do not fit torchvision's VGG19 layout "
                           f"({str(err).splitlines()[0]})") from None
    model.eval().requires_grad_(False)
    return model, source
