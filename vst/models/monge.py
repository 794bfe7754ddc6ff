"""The Monge grade: where the global transform starts before anything is learned.

Of all the affine maps of colour that give a frame the style still's mean and covariance in
CIELAB, the Monge-Kantorovich one moves every colour least (Pitie & Kokaram 2007): it keeps the
frame's own order of hues and tones, so red trousers stay red while the whole picture takes
the still's balance, contrast and saturation. It is the look a colourist's one global grade
per shot can reach, in closed form from the frame's statistics, so the network need not learn
it from a few hundred steps on a few keyframes: it learns what the still has beyond it
(the tint of shadows and highlights) and where the frame needs a local correction.

The generator's transforms are affine in logit RGB (vst/models/hrnet.py), so the Lab map is
carried over by least squares: the logit-affine transform closest to it on the frame's own
pixels. Only the picture counts (vst/picture.py): letterbox bars would pass for the frame's
own darkest colour, and a blank frame gets the identity (stretched to the style's spread by
the variance floor alone, a black frame came out as a flat coloured card). Everything here is
computed without gradients, in float64.
"""

from __future__ import annotations

import torch

from vst.lab import gaussians, lab_to_rgb, rgb_to_lab, sqrtm_psd
from vst.models.logit import to_logit
from vst.picture import picture_masks

_RIDGE = 1e-3  # pulls the least-squares fit toward the identity where the frame's colours do not decide it
_VARIANCE_FLOOR = 1e-5  # (Lab / 100)^2: a frame with one flat colour is not stretched without bound
# the most the map stretches any direction of colour: the benchmark clips' frames need up to
# 8.6 (a greyish street toward a saturated still); a near-flat frame (a fade from black) asked
# for 78, which turns its grain and compression blocks into coloured noise
_MAX_GAIN = 10.0


def _lab(x: torch.Tensor) -> torch.Tensor:
    """Nx3xHxW sRGB -> N x P x 3 Lab / 100 colours, float64."""
    return (rgb_to_lab(x) / 100).double().flatten(2).transpose(1, 2)


def _picture(x: torch.Tensor) -> torch.Tensor:
    """Nx3xHxW -> N x P float64: 1 on the picture, 0 on bars (vst/picture.py)."""
    return picture_masks(x).double().flatten(1)


def _gaussian(lab: torch.Tensor, picture: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean, cov = gaussians(lab, picture[:, None])
    return mean[:, 0], cov[:, 0]


def lab_gaussian(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Nx3xHxW sRGB -> mean (N x 3) and covariance (N x 3 x 3) of the Lab / 100 colours of its
    picture (bars left out)."""
    return _gaussian(_lab(x), _picture(x))


def monge_map(cov: torch.Tensor, style_cov: torch.Tensor) -> torch.Tensor:
    """The least-motion linear map taking covariance `cov` (N x 3 x 3) onto `style_cov`, with no
    direction of colour stretched more than `_MAX_GAIN` times."""
    root = sqrtm_psd(cov + _VARIANCE_FLOOR * torch.eye(3, dtype=cov.dtype, device=cov.device))
    inverse = torch.linalg.inv(root)
    values, vectors = torch.linalg.eigh(inverse @ sqrtm_psd(root @ style_cov @ root) @ inverse)
    return vectors @ torch.diag_embed(values.clamp(0, _MAX_GAIN)) @ vectors.transpose(-1, -2)


@torch.no_grad()
def monge_coefficients(x: torch.Tensor, style_mean: torch.Tensor, style_cov: torch.Tensor) -> torch.Tensor:
    """Nx3xHxW frames -> N x 12: the coefficients (A - I row by row, b; `hrnet.affine`) of the
    logit-RGB affine transform closest to each frame's Monge grade onto the style's Lab
    Gaussian (`style_mean` 3, `style_cov` 3x3, Lab / 100)."""
    with torch.autocast(x.device.type, enabled=False):
        x = x.float()
        lab, picture = _lab(x), _picture(x)
        blank = picture.sum(1) == 0
        picture[blank] = 1  # fitted like any frame (a solvable system), then set to the identity
        mean, cov = _gaussian(lab, picture)
        t = monge_map(cov, style_cov.double())
        target = (lab - mean[:, None]) @ t.transpose(1, 2) + style_mean.double()    # N x P x 3
        graded = lab_to_rgb((100 * target).transpose(1, 2).float().reshape(x.shape))
        ones = torch.ones(x.shape[0], 1, lab.shape[1], dtype=torch.float64, device=x.device)
        inputs = torch.cat([to_logit(x).double().flatten(2), ones], 1)       # N x 4 x P
        outputs = to_logit(graded).double().flatten(2)                        # N x 3 x P
        weighted = inputs * picture[:, None]                                  # the picture's pixels only
        ridge = _RIDGE * picture.sum(1).view(-1, 1, 1) * torch.diag(
            torch.tensor([1.0, 1, 1, 0], dtype=torch.float64, device=x.device))
        identity = torch.eye(4, 3, dtype=torch.float64, device=x.device)
        weights = torch.linalg.solve(weighted @ inputs.transpose(1, 2) + ridge,
                                     weighted @ outputs.transpose(1, 2) + ridge @ identity)  # N x 4 x 3
        matrix = weights[:, :3].transpose(1, 2) - torch.eye(3, dtype=torch.float64, device=x.device)
        coefficients = torch.cat([matrix.flatten(1), weights[:, 3]], 1).float()
        return coefficients.masked_fill(blank[:, None], 0.0)  # a blank frame: the identity
