"""BM3D parameter profiles.

The numbers are those of the BM3D literature (Dabov et al. 2007; Hou et al. 2011 for "vn";
Maekinen, Azzari & Foi 2020 for the shrinkage parameters of the white-noise case) as used by the
reference implementation (the ``bm3d`` package, version 4). Distances thresholds ``tau_match`` are
given, as in the papers, for images in 0-255 grey levels and as a mean squared difference per pixel;
they are converted at run time to a sum over the block for the actual data range.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .options import PROFILES


@dataclass(frozen=True)
class StageParams:
    """Parameters of one BM3D stage (hard thresholding or Wiener)."""

    block: int  # N1: block side in pixels
    step: int  # distance between reference blocks, pixels
    group: int  # N2: maximum number of blocks in a group (power of two)
    search: int  # side of the square search window (odd), pixels
    tau_match: float  # block-distance threshold, mean squared difference in 0-255 grey levels squared
    transform: str  # 2-D block transform: "bior1.5", "dct" or "dst"
    beta: float  # Kaiser window parameter of the aggregation (0 = flat)
    shrink: float  # lambda_3D (hard threshold, times the coefficient's noise std) or mu^2 (Wiener)
    col_shifts: tuple[int, ...] = (0,)  # extra reference columns: every step, at each of these offsets


@dataclass(frozen=True)
class Profile:
    """A full BM3D profile: both stages plus optional residual refiltering."""

    name: str
    hard: StageParams
    wiener: StageParams
    refilter: bool = False
    residual_threshold: float = 3.0  # global Fourier threshold of the residual, times sqrt(PSD)
    lambda_refilter: float = 2.5
    mu2_refilter: float = 3.6


_HARD = StageParams(block=8, step=3, group=16, search=39, tau_match=3000.0, transform="bior1.5", beta=2.0, shrink=3.0)
_WIENER = StageParams(block=8, step=3, group=32, search=39, tau_match=400.0, transform="dct", beta=2.0, shrink=0.4)

# The reference implementation nominally steps 3 pixels between reference blocks but adds shifted
# reference blocks on top of that grid (about 2.4x the blocks of a plain step-3 grid); a plain grid
# with step 2 measured closest to its quality (Set12 + CBSD68 128x128 crops, exact 3-D variances:
# step 2 gave +0.01 / +0.07 dB (gray sigma 25 / 50) and +0.02 dB (colour) against the reference,
# step 3 gave -0.03 / +0.02 / -0.01 dB).
_NP_HARD = replace(_HARD, step=2)
_NP_WIENER = replace(_WIENER, step=2)

_TABLE: dict[str, Profile] = {
    "np": Profile("np", _NP_HARD, _NP_WIENER),
    "refilter": Profile("refilter", _NP_HARD, _NP_WIENER, refilter=True),
    # Hou, Zhao, Yang & Cheng's settings for high noise (sigma > 40 in the original BM3D code).
    "vn": Profile(
        "vn",
        replace(_HARD, group=32, step=4, shrink=2.8),
        replace(_WIENER, block=11, step=6, tau_match=3500.0),
    ),
    # Low complexity: sparser reference grid, smaller windows and groups.
    "lc": Profile(
        "lc",
        replace(_HARD, step=6, search=25),
        replace(_WIENER, step=5, group=16, search=25),
    ),
    # Higher quality, slower: denser reference grid.
    "high": Profile(
        "high",
        replace(_HARD, step=2, shrink=2.5, beta=2.5),
        replace(_WIENER, step=2, beta=1.5),
    ),
    # The settings of the BM3D deblurring paper (Dabov et al. 2008).
    "deb": Profile(
        "deb",
        replace(_HARD, transform="dst", shrink=2.9),
        replace(_WIENER, step=2, group=16, tau_match=800.0, beta=0.0),
    ),
}


if set(_TABLE) != set(PROFILES):  # the names are declared once, in .options
    raise RuntimeError(f"BM3D profile tables {tuple(_TABLE)} do not match the profile names {PROFILES}.")


def get_profile(name: str) -> Profile:
    """The profile called ``name`` (one of :data:`PROFILES`)."""
    return _TABLE[name]
