"""The HR-Net generator of Li, Ye & Li, "High-Resolution Network for Photorealistic Style
Transfer" (ACML 2019), with an output head that keeps every result a valid photograph.

Body (as in the paper and its reference code): three parallel resolutions (full, 1/2, 1/4)
built from bottleneck residual blocks, strided 3x3 convolutions down, bilinear up, fused by
channel concatenation into a 192-channel full-resolution map, then blocks 192 -> 64 -> 32 ->
16 and a 3x3 convolution to three channels.

Input and output: RGB in [0, 1], any height and width (padded to a multiple of 4 inside,
cropped back). `work_size` (model config): the network looks at the frame scaled to this short
side and its field of colour transforms is upsampled to the frame's own size, in training and
in prediction alike. The grade is then a smooth field that cannot invent texture or amplify it
from one frame to the next, and it costs the same at 1080p as at 280p.

Output head: the reference emits RGB in ImageNet-normalised space, which can leave the display
gamut and, upsampled from a working size, paints halos where one offset field has to serve
both sides of a sharp edge. Here the network emits, for each pixel, an affine colour transform
in logit space (HDRnet's idea, Gharbi et al. 2017: a smooth field of colour transforms applied
to every full-resolution pixel): ``from_logit(A(x, y) @ to_logit(base) + b(x, y))``. The
picture's edges come from the full-resolution frame itself, so a grade that darkens the sky
and lifts the ridge keeps the edge between them sharp; a grade that is one transform
everywhere (a LUT-like look) is simply A and b constant. Values are squeezed into
[MARGIN, 1 - MARGIN] before the logit: a plain logit sends a clipped channel of a blown
highlight to +-9, and any cross-channel term of A then turns a white street light cyan. The
last convolution and the global head start at zero, so an untrained generator without a
style is the identity (A = I, b = 0), and with one it is the Monge grade.

Monge start: once a style is set (`set_style`; the still's Lab Gaussian is saved with the
weights), each frame's global transform starts at its Monge grade onto the style
(vst/models/monge.py), the least-motion affine map of colour that gives the frame the still's
mean and covariance in Lab: the look a colourist's one grade per shot reaches, in closed form,
so training learns only what the still has beyond it.

Global head: instance normalisation takes each frame's own colour statistics out of the
convolutional path, which then sees only patterns; a small MLP on those statistics (RGB mean,
spread and correlations, luma quantiles; `colour_stats`) gives the frame one correction of its
own to the Monge grade. Frames of one shot have nearly the same statistics, so they get
nearly the same grade, and a new shot gets its own without being told where the cut is. On a
video, prediction goes further: it gives every frame of a shot the shot's mean statistics and
Monge grade (`stats`), so the global transform is one fixed grade per shot, as a colourist's
would be.

No detail layer: an earlier head graded a blurred base layer and added the finer detail back
unchanged. Measured against a fixed grade of the same look (`grade_flicker_ratio`), that made
a grade which lowers contrast flicker more, not less, since the source's grain kept its full
amplitude while the picture around it flattened (kenburns + summer_1am: 1.21 -> 1.04), and the
blur was the slowest step of a 1080p frame. Every pixel now goes through its own transform.

The transform is applied in float32 whatever the autocast (bf16 would round the logits to
visible steps) and on plain-layout planes, one multiply-add per matrix entry (an einsum
there runs in bf16 under autocast, and slowly).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vst.models.logit import from_logit, to_logit
from vst.models.monge import lab_gaussian, monge_coefficients
from vst.models.vgg import IMAGENET_MEAN, IMAGENET_STD
from vst.picture import keep_bars, picture_boxes

_LUMA = (0.299, 0.587, 0.114)


class InstanceNorm(nn.Module):
    """Per-channel instance normalisation with a learned scale and shift, exactly
    InstanceNorm2d(affine=True) (same statistics, same `weight`/`bias` keys).

    Each CPU kernel is fast at one job: while training (gradients on) batch_norm's, which for
    one frame is instance norm and keeps channels-last bf16 as it is (instance_norm hands back
    plain-layout activations, and converting layouts and dtypes took a third of a training
    step), or F.instance_norm for a batch of frames (its backward is 2x faster than
    group_norm's); at inference F.group_norm with one group per channel, which works in place
    on channels-last bf16 where instance_norm copies every activation (2.3x faster at 720p);
    below 16 channels its channels-last kernel is slower than a trip to the plain layout and
    back (the 4- and 8-channel layers took a third of the network's time at 720p).
    Same maths every way (max difference 5e-7).
    """

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            if x.shape[0] == 1:  # the statistics of the batch are the frame's own
                return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)
            return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)
        if x.shape[1] < 16 and not x.is_contiguous():  # few channels: faster in the plain layout
            plain = F.group_norm(x.contiguous(), x.shape[1], self.weight, self.bias, self.eps)
            return plain.contiguous(memory_format=torch.channels_last)
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

    def __init__(self, work_size: int | None = None) -> None:
        """work_size: short side the network runs at (None = every pixel of the input)."""
        super().__init__()
        self.work_size = work_size
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
        self.to_coeffs = _conv(16, 12, 3)  # A - I (3x3) and b (3) of each pixel's transform
        # the frame's own colour statistics -> one transform for the whole frame (instance
        # norm takes them out of the convolutional path, which sees only patterns)
        self.global_head = nn.Sequential(nn.Linear(_STATS, 32), nn.ReLU(inplace=True), nn.Linear(32, 12))
        for layer in (self.to_coeffs, self.global_head[-1]):  # start as the identity (see docstring)
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        # the style still's Lab Gaussian (mean, covariance; `set_style`), saved with the weights;
        # all zero while no style is set, and the global transform then starts at the identity
        self.register_buffer("style_gaussian", torch.zeros(12))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor, work_size: int | None | str = "model",
                stats: torch.Tensor | None = None, boxes: torch.Tensor | None = None,
                local: torch.Tensor | None = None) -> torch.Tensor:
        """x: Nx3xHxW in [0, 1]. work_size: run the network with this short side and apply its
        (bilinearly upsampled) field of transforms to the full-resolution frame; None = full
        resolution; "model" = the model's own work_size. stats: what the global transform
        is chosen by (N x 26, `frame_stats`); None = each frame's own. boxes: the picture
        that is graded (N x 4, vst/picture.py), bars and blank frames are left as they are;
        None = each frame's own. local: the field's local part (`local`), where it is known
        already; None = the network looks at x."""
        graded = self.apply_field(x, self.field(x, work_size, stats, local=local))
        return keep_bars(graded, x, picture_boxes(x) if boxes is None else boxes)

    def field(self, x: torch.Tensor, work_size: int | None | str = "model",
              stats: torch.Tensor | None = None, upsample: bool = True,
              local: torch.Tensor | None = None) -> torch.Tensor:
        """The grade as a field: each pixel's colour transform (Nx12xHxW float32: A - I row by row,
        b): the Monge grade in `stats`, plus the global head's correction chosen by the colour
        statistics in `stats`, plus a local one from the convolutional network (`local`; given,
        or found here from x). upsample=False: at the working size (vst/models/full_res.py
        upsamples it where it applies it)."""
        h, w = x.shape[-2:]
        if stats is None or local is None:
            small = self.working(x, work_size)
            stats = self.frame_stats(small, None) if stats is None else stats
            local = self.local(small) if local is None else local
        # global + local at the working size, then one upsample (same field: bilinear weights sum to 1)
        coeffs = self.with_global(local, stats)
        return upsample_field(coeffs, (h, w)) if upsample else coeffs

    def local(self, small: torch.Tensor) -> torch.Tensor:
        """The field's local part, what the convolutional network sees in each frame at the
        working size (`working`): Nx12xhxw float32."""
        return self._padded_delta(small).float().contiguous()

    def with_global(self, local: torch.Tensor, stats: torch.Tensor) -> torch.Tensor:
        """The field at the working size: `local` plus the global transform `stats` chooses
        (the Monge grade in them and the global head's correction)."""
        stats = stats.to(local.device).float()
        return local + (self.global_head(stats[:, :_STATS]).float() + stats[:, _STATS:])[..., None, None]

    def frame_stats(self, x: torch.Tensor, work_size: int | None | str = "model") -> torch.Tensor:
        """What each frame's global transform is chosen by, as `field` computes it (N x 26):
        its colour statistics (14, `colour_stats`, what the global head reads), then the
        coefficients of its Monge grade onto the style (12, `vst.models.monge`; zero while no
        style is set). Both average over the frames of a shot into the shot's own."""
        small = self.working(x, work_size)
        return torch.cat([colour_stats(small), self._monge(small)], 1)

    @torch.no_grad()
    def set_style(self, style: torch.Tensor) -> None:
        """Grade toward this still (1x3xHxW in [0, 1]): its Lab Gaussian at the working size."""
        mean, cov = lab_gaussian(self.working(style[:1].to(self.style_gaussian.device), "model"))
        self.style_gaussian.copy_(torch.cat([mean[0], cov[0].flatten()]).float())

    def _monge(self, small: torch.Tensor) -> torch.Tensor:
        if not self.style_gaussian.any():
            return torch.zeros(small.shape[0], 12, device=small.device)
        g = self.style_gaussian
        return monge_coefficients(small, g[:3], g[3:].view(3, 3))

    def working(self, x: torch.Tensor, work_size: int | None | str) -> torch.Tensor:
        """x at the short side the network runs at (antialiased; never upscaled): what `field`
        and `frame_stats` see. work_size "model" = the model's own; None = x as it is."""
        size = self.working_shape(*x.shape[-2:], work_size)
        if size is None:
            return x
        return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)

    def working_shape(self, h: int, w: int, work_size: int | None | str) -> tuple[int, int] | None:
        """The size `working` brings an h x w frame to; None where it stays as it is."""
        if work_size == "model":
            work_size = self.work_size
        if work_size is None or min(h, w) <= work_size:
            return None
        scale = work_size / min(h, w)
        return round(h * scale), round(w * scale)

    @staticmethod
    def apply_field(x: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
        """The graded frame, from_logit((I + A) to_logit(x) + b), in [0, 1] (float32)."""
        with torch.autocast(x.device.type, enabled=False):
            return from_logit(affine(to_logit(x.float().contiguous()), field.float().contiguous()))

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
        return self.to_coeffs(self.head(fused))


_STATS = 14
_QUANTILES = (0.1, 0.3, 0.5, 0.7, 0.9)


def colour_stats(x: torch.Tensor) -> torch.Tensor:
    """Nx3xHxW -> N x 14: mean, standard deviation and correlations of R, G, B and five
    quantiles of luma, in float32 (what a global grade of this frame should depend on).
    Levels are logits, spreads logs and correlations Fisher-transformed, so that one shot
    differs from the next by about one unit: on plain values the global head needs more steps
    than training has to tell the shots of a clip apart."""
    with torch.autocast(x.device.type, enabled=False):
        flat = x.detach().float().flatten(2)
        mean = flat.mean(-1)
        centred = flat - mean[..., None]
        std = centred.pow(2).mean(-1).sqrt()
        unit = centred / std[..., None].clamp_min(1e-4)
        corr = torch.stack([(unit[:, i] * unit[:, j]).mean(-1) for i, j in ((0, 1), (0, 2), (1, 2))], 1)
        luma = (flat * torch.tensor(_LUMA, device=x.device)[:, None]).sum(1)
        q = quantiles(luma, _QUANTILES)
        # in units where one shot differs from the next by about one: levels as logits (the
        # space the transform works in), spread as a log, correlation Fisher-transformed
        return torch.cat([torch.logit(mean.clamp(0.01, 0.99)), std.clamp_min(1e-3).log(),
                          corr.clamp(-0.99, 0.99).atanh(), torch.logit(q.clamp(0.01, 0.99))], 1)


def quantiles(x: torch.Tensor, q: tuple[float, ...]) -> torch.Tensor:
    """N x P -> N x len(q): `torch.quantile(x, q, dim=-1).T` (linear interpolation; no NaNs),
    to the bit. On the CPU numpy sorts: its vectorised sort of a frame's working-size luma
    takes a few percent of the time of torch's, which sorts the indices along."""
    if x.device.type == "cpu":
        ordered = torch.from_numpy(np.sort(x.detach().numpy(), axis=-1))
    else:
        ordered = x.sort(-1).values
    ranks = torch.tensor(q, dtype=x.dtype, device=x.device) * (x.shape[-1] - 1)
    below = ranks.long()
    return ordered[:, below].lerp(ordered[:, ranks.ceil().long()], ranks - below)


def affine(z: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
    """(I + A) z + b per pixel: z Nx3xHxW, field Nx12xHxW (A row by row, then b)."""
    f = field.unbind(1)  # (indexing each plane instead costs its backward a zeroed field apiece)
    return torch.stack([z[:, i] + f[9 + i] + f[3 * i] * z[:, 0] + f[3 * i + 1] * z[:, 1]
                        + f[3 * i + 2] * z[:, 2] for i in range(3)], 1)


def upsample_field(coeffs: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A field at the working size brought to the frame's `size` (bilinear)."""
    if tuple(coeffs.shape[-2:]) == tuple(size):
        return coeffs
    return F.interpolate(coeffs, size=tuple(size), mode="bilinear", align_corners=False)


def build_generator(model: dict) -> nn.Module:
    """The generator a model config (`conf/model/`) describes."""
    name = model.get("name", "hrnet")
    if name != "hrnet":
        from vst.errors import VstError

        raise VstError(f"unknown model.name {name!r} (available: hrnet)")
    return HRNet(model.get("work_size"))  # (an older config's detail_sigma is not used any more)
