"""3D LUTs as .cube files (Adobe / Resolve Cube LUT Specification 1.0): what DaVinci Resolve,
Premiere, Baselight, OCIO and ffmpeg's lut3d read.

    TITLE "..."
    LUT_3D_SIZE n
    DOMAIN_MIN 0 0 0
    DOMAIN_MAX 1 1 1
    r g b          (n^3 lines, red changing fastest, then green, then blue)

In vst a LUT is an n x n x n x 3 float array indexed [r, g, b] (vst.metrics.lut)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vst.errors import VstError


def cube_text(lut: np.ndarray, title: str) -> str:
    """The .cube file of `lut` (n x n x n x 3, [r, g, b]). Entries are written as fitted, outside
    [0, 1] too: a node beyond the gamut shapes the colours inside the cells next to it (clipping
    it costs the fit 3 dB); the output is clipped when it is applied."""
    n = lut.shape[0]
    if lut.shape != (n, n, n, 3):
        raise ValueError(f"a 3D LUT is n x n x n x 3, not {lut.shape}")
    rows = lut.transpose(2, 1, 0, 3).reshape(-1, 3)  # [b][g][r]: red fastest
    title = title.replace('"', "'")
    head = [f'TITLE "{title}"', f"LUT_3D_SIZE {n}", "DOMAIN_MIN 0.0 0.0 0.0", "DOMAIN_MAX 1.0 1.0 1.0"]
    return "\n".join(head + [f"{r:.6f} {g:.6f} {b:.6f}" for r, g, b in rows]) + "\n"


def read_cube(path: str | Path) -> np.ndarray:
    """A 3D .cube file as an n x n x n x 3 array indexed [r, g, b] (domain [0, 1] only)."""
    size, rows = None, []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        words = line.split("#")[0].split()
        if not words or words[0] in ("TITLE", "DOMAIN_MIN", "DOMAIN_MAX"):
            if words and words[0].startswith("DOMAIN") and [float(w) for w in words[1:]] != \
                    ([0.0] * 3 if words[0] == "DOMAIN_MIN" else [1.0] * 3):
                raise VstError(f"LUT {str(path)!r}: line {number}: only the domain 0..1 is read")
            continue
        if words[0] == "LUT_3D_SIZE":
            size = int(words[1])
        elif words[0][0].isdigit() or words[0][0] in "-.":
            rows.append([float(w) for w in words[:3]])
        else:
            raise VstError(f"LUT {str(path)!r}: line {number}: {words[0]!r} is not read here "
                           "(a 3D .cube is expected)")
    if size is None or len(rows) != size**3:
        raise VstError(f"LUT {str(path)!r}: not a 3D .cube (LUT_3D_SIZE {size}, {len(rows)} entries)")
    return np.asarray(rows, np.float32).reshape(size, size, size, 3).transpose(2, 1, 0, 3).copy()
