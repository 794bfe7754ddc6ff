"""One global colour transform fitted to a grade: a 3D LUT (trilinear) from input RGB to output
RGB, least squares over every pixel it is shown, with a smoothness term.

Used by `vst.evaluate` as the "same look, zero flicker" reference: a grade applied as one LUT to
every frame of a shot cannot flicker and cannot place colour by position, so comparing a
result's warping error with that of its own best-fitting LUT separates instability from
strength.

Pixels are first pooled into fine colour bins (`bins`^3: the mean input and output colour
and the count of each bin), so any number of frames costs the same memory; the LUT is then
solved once from the bins (a sparse least-squares system, conjugate gradients). The
smoothness term (squared second differences along each axis) fills colours the frames never
show by linear extension and leaves an identity or any affine grade unchanged.
"""

from __future__ import annotations

import numpy as np
import torch


class LutFit:
    """Accumulate (input, output) pixel pairs; `solve()` gives the LUT (size^3 x 3, [r, g, b])."""

    def __init__(self, size: int = 17, bins: int = 64):
        self.size, self.bins = size, bins
        self._sums = np.zeros((bins**3, 7), np.float64)  # count, sum input rgb, sum output rgb

    def add(self, src: np.ndarray, dst: np.ndarray) -> None:
        """src, dst: HxWx3 float RGB in [0, 1], the same pixels before and after the grade."""
        x = np.clip(src.reshape(-1, 3), 0, 1)
        y = dst.reshape(-1, 3)
        q = np.minimum((x * self.bins).astype(np.int64), self.bins - 1)
        idx = (q[:, 0] * self.bins + q[:, 1]) * self.bins + q[:, 2]
        n = self.bins**3
        self._sums[:, 0] += np.bincount(idx, minlength=n)
        for c in range(3):
            self._sums[:, 1 + c] += np.bincount(idx, x[:, c], minlength=n)
            self._sums[:, 4 + c] += np.bincount(idx, y[:, c], minlength=n)

    def solve(self, smooth: float = 1e-3) -> np.ndarray:
        """The LUT minimising sum_bins count * |LUT(mean input) - mean output|^2 + smooth * W *
        |second differences|^2 (W: the total count per node, so `smooth` means the same
        whatever the number of pixels). A sparse system, solved directly."""
        from scipy.sparse import coo_matrix, diags
        from scipy.sparse.linalg import cg

        used = self._sums[:, 0] > 0
        count = self._sums[used, 0]
        x = self._sums[used, 1:4] / count[:, None]
        y = self._sums[used, 4:7] / count[:, None]
        n, nodes = self.size, self.size**3
        nodes_of, weights = _trilinear(x, n)                       # K x 8 each
        a = coo_matrix((weights.ravel(), (np.repeat(np.arange(len(x)), 8), nodes_of.ravel())),
                       shape=(len(x), nodes)).tocsr()
        aw = a.T.multiply(count[None, :]).tocsr()                  # A^T W
        d = _second_differences(n)
        system = (aw @ a + smooth * count.sum() / nodes * (d.T @ d)).tocsr()
        jacobi = diags(1 / system.diagonal())
        start = _identity_lut(n).reshape(-1, 3)  # where no pixel and no neighbour says otherwise
        # rtol 1e-7: the fit's error against the grade no longer moves (in a third of 1e-10's time)
        lut = np.stack([cg(system, aw @ y[:, c], x0=start[:, c], rtol=1e-7, atol=0, maxiter=5000,
                           M=jacobi)[0] for c in range(3)], -1)
        return lut.reshape(n, n, n, 3).astype(np.float32)


def sample_pixels(rgb: np.ndarray, budget: int = 65536) -> np.ndarray:
    """An evenly strided subset of an HxWx3 frame's pixels, about `budget` of them (K x 3): what
    a LUT fit needs of a frame, whatever its resolution."""
    step = max(1, round((rgb.shape[0] * rgb.shape[1] / budget) ** 0.5))
    return rgb[::step, ::step].reshape(-1, 3)


def _trilinear(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The 8 lattice nodes around each colour of `x` (K x 3 in [0, 1]) and their weights."""
    pos = np.clip(x, 0, 1) * (n - 1)
    base = np.minimum(pos.astype(np.int64), n - 2)
    frac = pos - base
    nodes, weights = [], []
    for dr in (0, 1):
        for dg in (0, 1):
            for db in (0, 1):
                r, g, b = base[:, 0] + dr, base[:, 1] + dg, base[:, 2] + db
                nodes.append((r * n + g) * n + b)
                weights.append(np.where(dr, frac[:, 0], 1 - frac[:, 0])
                               * np.where(dg, frac[:, 1], 1 - frac[:, 1])
                               * np.where(db, frac[:, 2], 1 - frac[:, 2]))
    return np.stack(nodes, 1), np.stack(weights, 1)


def _identity_lut(n: int) -> np.ndarray:
    grid = np.linspace(0, 1, n)
    return np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), -1)


def _second_differences(n: int):
    """Sparse rows x[i-1] - 2 x[i] + x[i+1] along each axis of the n^3 lattice."""
    from scipy.sparse import coo_matrix

    grid = np.arange(n**3).reshape(n, n, n)
    triples = np.concatenate([np.stack([a[:-2].ravel(), a[1:-1].ravel(), a[2:].ravel()], 1)
                              for a in (np.moveaxis(grid, axis, 0) for axis in range(3))])
    rows = np.repeat(np.arange(len(triples)), 3)
    values = np.tile([1.0, -2.0, 1.0], len(triples))
    return coo_matrix((values, (rows, triples.ravel())), shape=(len(triples), n**3)).tocsr()


def apply_lut(lut: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """The LUT (n x n x n x 3, indexed [r, g, b]) applied to an ...x3 float image, trilinear."""
    table = lut_table(lut)
    x = torch.from_numpy(np.ascontiguousarray(rgb, np.float32)).reshape(1, 1, -1, 3).permute(0, 3, 1, 2)
    return apply_table(table, x).permute(0, 2, 3, 1).reshape(rgb.shape).numpy()


def lut_table(lut: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """A LUT as `apply_table` takes it: 3 x n x n x n float32 (channel, r, g, b)."""
    return torch.from_numpy(np.ascontiguousarray(lut, np.float32)).permute(3, 0, 1, 2).to(device)


def apply_table(table: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A LUT (`lut_table`) applied to Nx3xHxW RGB in [0, 1], trilinear, on x's device."""
    # grid_sample's (x, y, z) address (W, H, D) of the table = (b, g, r), -1 to 1 across it
    grid = x.float().clamp(0, 1).flip(1).permute(0, 2, 3, 1).unsqueeze(1) * 2 - 1  # N x 1 x H x W x 3
    volume = table.to(x.device)[None].expand(x.shape[0], -1, -1, -1, -1)
    out = torch.nn.functional.grid_sample(volume, grid, mode="bilinear", padding_mode="border",
                                          align_corners=True)
    return out[:, :, 0]


def dense_table8(table: torch.Tensor) -> torch.Tensor:
    """A LUT (`lut_table`) at every 8-bit colour, rounded to 8 bits: 2^24 x 3 uint8 on the CPU,
    row r << 16 | g << 8 | b. Trilinear upsampling of the lattice is the trilinear lookup at
    each colour, so `apply_dense8` agrees with `apply_table` within rounding: one gather per
    pixel where the lookup interpolates (several times faster at full resolution)."""
    n = 256
    up = torch.nn.functional.interpolate(table.float().cpu()[None], size=(n, n, n),
                                         mode="trilinear", align_corners=True)[0]
    return up.mul_(255).add_(0.5).clamp_(0, 255).to(torch.uint8).reshape(3, -1).T.contiguous()


def apply_dense8(dense: torch.Tensor, frames: np.ndarray) -> np.ndarray:
    """`dense_table8`'s table applied to ...x3 uint8 frames."""
    x = torch.from_numpy(frames).to(torch.int32)
    index = (x[..., 0] << 16) | (x[..., 1] << 8) | x[..., 2]
    return torch.index_select(dense, 0, index.reshape(-1)).reshape(frames.shape).numpy()  # 3x indexing
