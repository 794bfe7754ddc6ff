"""The HR-Net generator of Li, Ye & Li, "High-Resolution Network for Photorealistic Style
Transfer" (ACML 2019), with an output head that keeps every result a valid photograph.

Body (as in the paper and its reference code): three parallel resolutions (full, 1/2, 1/4)
built from bottleneck residual blocks, strided 3x3 convolutions down, bilinear up, fused by
channel concatenation into a 192-channel full-resolution map, then blocks 192 -> 64 -> 32 ->
16 and a 3x3 convolution to three channels.

Input and output: RGB in [0, 1], any height and width (padded to a multiple of 4 inside,
cropped back). `work_size` (model config): the network looks at the frame scaled to this short
side and its offset is upsampled to the frame's own size, in training and in prediction alike.
The grade is then a smooth field that cannot invent texture or amplify it from one frame to
the next, and it costs the same at 1080p as at 280p.

The reference emits unbounded values in ImageNet-normalised space, which can leave the
display gamut. Here the three output channels are an offset in logit space: the grade is
``sigmoid(logit(base) + delta)``, always inside (0, 1) and never clipping (gradients never die
at the gamut edge), and the last convolution starts at zero so an untrained generator is the
identity: training begins from the content frame itself.

`detail_sigma` (model config): the grade moves the frame's base layer (a Gaussian blur with
this sigma, as a fraction of the short side) and the finer detail, ``x - base``, is added back
unchanged. A grade that raises contrast or saturation would otherwise raise the grain, the
compression noise and every pixel of motion error by the same factor, which the eye reads
as shimmer (kenburns + summer_1am: warping error 2.87x the source's -> 1.06x).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vst.filters import gaussian_blur

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_EPS = 1e-4  # keeps logit(x) finite for pure black and white pixels


class InstanceNorm(nn.Module):
    """Per-channel instance normalisation with a learned scale and shift, exactly
    InstanceNorm2d(affine=True) (same statistics, same `weight`/`bias` keys).

    Each CPU kernel is fast at one job: while training (gradients on) F.instance_norm, whose
    backward is 2x faster than group_norm's; at inference F.group_norm with one group per
    channel, which works in place on channels-last bf16 where instance_norm copies every
    activation (2.3x faster at 720p). Same maths either way (max difference 5e-7).
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)
        return F.group_norm(x, x.shape[1], self.weight, self.bias, self.eps)


def _conv(cin: int, cout: int, kernel: int, stride: int = 1) -> nn.Conv2d:
    # replicate, not zero, padding: zeros make the borders darker than the frame, and the
    # generator then paints coloured fringes along every edge of the picture
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2,
                     padding_mode="replicate" if kernel > 1 else "zeros")


def _conv_norm_relu(cin: int, cout: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(
        _conv(cin, cout, kernel),
        InstanceNorm(cout),
        nn.ReLU(inplace=True),
    )


class Bottleneck(nn.Module):
    """1x1 -> 3x3 -> 1x1 (inner width out/4), InstanceNorm + ReLU after each, residual add."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        mid = cout // 4
        self.body = nn.Sequential(
            _conv_norm_relu(cin, mid, 1), _conv_norm_relu(mid, mid, 3), _conv_norm_relu(mid, cout, 1)
        )
        self.shortcut = (
            nn.Identity()
            if cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1), InstanceNorm(cout))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


def _down(cin: int, cout: int, stride: int) -> nn.Conv2d:
    return _conv(cin, cout, 3, stride)


def _up(x: torch.Tensor, factor: int) -> torch.Tensor:
    return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


class HRNet(nn.Module):
    """Photorealistic style-transfer generator: Nx3xHxW in [0, 1] -> same shape in (0, 1)."""

    multiple = 4  # the 1/4 branch needs sizes divisible by 4; other sizes are padded

    def __init__(self, work_size: int | None = None, detail_sigma: float = 0.0) -> None:
        """work_size: short side the network runs at (None = every pixel of the input).
        detail_sigma: the detail kept out of the grade, as a fraction of the short side
        (0 = grade every pixel as it is)."""
        super().__init__()
        self.work_size, self.detail_sigma = work_size, detail_sigma
        # stage 1: full resolution stem and the first split to 1/2
        self.full1 = Bottleneck(3, 16)
        self.full2 = Bottleneck(16, 32)
        self.down1_half = _down(16, 32, 2)
        # stage 2: three resolutions exchange information
        self.full3 = Bottleneck(32, 32)
        self.half1 = Bottleneck(32, 32)
        self.full_to_half = _down(32, 32, 2)
        self.full_to_quarter = _down(32, 32, 4)
        self.half_to_quarter = _down(32, 32, 2)
        # stage 3: fuse everything at full resolution (64 + 64 + 64 = 192 channels)
        self.full4 = Bottleneck(64, 64)
        self.head = nn.Sequential(Bottleneck(192, 64), Bottleneck(64, 32), Bottleneck(32, 16))
        self.to_rgb = _conv(16, 3, 3)
        nn.init.zeros_(self.to_rgb.weight)  # start as the identity (see module docstring)
        nn.init.zeros_(self.to_rgb.bias)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor, work_size: int | None | str = "model") -> torch.Tensor:
        """x: Nx3xHxW in [0, 1]. work_size: run the network with this short side and apply its
        (bilinearly upsampled) offset to the full-resolution frame; None = full resolution;
        "model" = the model's own work_size."""
        return self.apply_offset(x, self.offset(x, work_size))

    def offset(self, x: torch.Tensor, work_size: int | None | str = "model") -> torch.Tensor:
        """The grade as a field: the logit-space offset for each pixel of x (Nx3xHxW)."""
        if work_size == "model":
            work_size = self.work_size
        h, w = x.shape[-2:]
        small = x
        if work_size is not None and min(h, w) > work_size:
            scale = work_size / min(h, w)
            small = F.interpolate(x, size=(round(h * scale), round(w * scale)), mode="bilinear",
                                  antialias=True, align_corners=False)
        delta = self._padded_delta(small)
        if small is not x:
            delta = F.interpolate(delta, size=(h, w), mode="bilinear", align_corners=False)
        return delta

    def apply_offset(self, x: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        """The graded frame: sigmoid(logit(base) + delta) + (x - base), in [0, 1]."""
        x = x.float()
        base = gaussian_blur(x, max(0.5, self.detail_sigma * min(x.shape[-2:]))) \
            if self.detail_sigma else x
        graded = torch.sigmoid(torch.logit(base.clamp(_EPS, 1 - _EPS)) + delta.float())
        return graded if base is x else (graded + (x - base)).clamp(0, 1)

    def _padded_delta(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = -h % self.multiple, -w % self.multiple
        padded = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
        return self._delta((padded - self.mean) / self.std)[..., :h, :w]

    def _delta(self, x: torch.Tensor) -> torch.Tensor:
        map1 = self.full1(x)
        map2 = self.full2(map1)
        map3 = self.down1_half(map1)
        map4 = torch.cat((self.full3(map2), _up(map3, 2)), 1)
        map5 = torch.cat((self.full_to_half(map2), self.half1(map3)), 1)
        map6 = torch.cat((self.full_to_quarter(map2), self.half_to_quarter(map3)), 1)
        fused = torch.cat((self.full4(map4), _up(map5, 2), _up(map6, 4)), 1)
        return self.to_rgb(self.head(fused))


def build_generator(model: dict) -> nn.Module:
    """The generator a model config (`conf/model/`) describes."""
    name = model.get("name", "hrnet")
    if name != "hrnet":
        from vst.errors import VstError

        raise VstError(f"unknown model.name {name!r} (available: hrnet)")
    return HRNet(model.get("work_size"), float(model.get("detail_sigma") or 0.0))
