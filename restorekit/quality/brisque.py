"""BRISQUE — Blind/Referenceless Image Spatial Quality Evaluator (Mittal, Moorthy and Bovik, 2012).

36 natural-scene-statistics features of the whole image (18 at full and 18 at half resolution:
a generalised-Gaussian fit of the MSCN coefficients and asymmetric generalised-Gaussian fits of
the products of horizontally, vertically and diagonally adjacent coefficients) are scaled to
[-1, 1] with the published feature ranges and fed to the published epsilon-SVR (RBF kernel,
γ = 0.05, 774 support vectors) trained on the LIVE IQA database. The score predicts DMOS:
roughly 0 (excellent) to 100 (bad), lower is better; it can leave that range slightly.

The model and ranges are LIVE's original release (``allmodel`` / ``allrange``, the same numbers
as OpenCV contrib's ``brisque_model_live.yml`` / ``brisque_range_live.yml``), shipped in
``restorekit/quality/data/brisque_live.npz``; nothing is downloaded. Features follow LIVE's
``brisquequality.m``: MATLAB ``rgb2gray`` weights, 0–255 scale, 7 x 7 (σ = 7/6 px) Gaussian
window with zero padding, circular shifts for the pairwise products, GGD/AGGD moment matching by
table look-up, bicubic antialiased ``imresize(0.5)``. Input values are not rounded to 8-bit levels.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import torch

from ..errors import InvalidImageError
from ..image import check_image
from .nr_features import aggd_features, gamma_ratio, ggd_features, imresize_half, matlab_gray, mscn, work_dtype

#: BRISQUE's pairwise directions as in LIVE's code (the anti-diagonal as (-1, 1); with circular shifts
#: it gives the same products as (1, -1)).
_SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))

#: Smallest side (px) measured: the half-scale image must still have both signs of every pairwise product.
MIN_SIZE = 16

_MODEL: dict[str, torch.Tensor | float] = {}


def _model() -> dict[str, torch.Tensor | float]:
    if not _MODEL:
        with resources.files(__package__).joinpath("data/brisque_live.npz").open("rb") as fh:
            with np.load(fh, allow_pickle=False) as d:
                _MODEL.update(
                    sv=torch.from_numpy(d["sv"].astype(np.float64)),
                    coef=torch.from_numpy(d["sv_coef"].astype(np.float64)),
                    lo=torch.from_numpy(d["feature_min"].astype(np.float64)),
                    hi=torch.from_numpy(d["feature_max"].astype(np.float64)),
                    gamma=float(d["gamma"]),
                    rho=float(d["rho"]),
                    scale_low=float(d["scale_low"]),
                    scale_high=float(d["scale_high"]),
                )
    return _MODEL


def _scale_features(g: torch.Tensor) -> torch.Tensor:
    """18 BRISQUE features ``[B, 18]`` of gray ``g`` ``[B, 1, H, W]`` on the 0–255 scale."""
    b = g.shape[0]
    z, _ = mscn(g, padding="zeros")
    flat = z.reshape(b, -1)
    alpha, var = ggd_features(flat)
    feats = [alpha, var]
    for shift in _SHIFTS:
        prod = (z * torch.roll(z, shifts=shift, dims=(-2, -1))).reshape(b, -1)
        a, left, right = aggd_features(prod)
        eta = (right - left) * gamma_ratio(a, 2, 1) * gamma_ratio(a, 1, 3).sqrt()
        feats += [a, eta, left * left, right * right]
    return torch.stack(feats, dim=-1)


def brisque_features(x: torch.Tensor) -> torch.Tensor:
    """The 36 unscaled BRISQUE features of each image of ``x`` ``[B, C, H, W]`` → ``[B, 36]`` (working dtype)."""
    check_image(x, "image")
    h, w = x.shape[-2:]
    if h < MIN_SIZE or w < MIN_SIZE:
        raise InvalidImageError(
            "image",
            f"is {w}x{h} px; BRISQUE needs at least {MIN_SIZE}x{MIN_SIZE} px (its statistics are undefined on fewer pixels).",
            "measure a larger image (BRISQUE is meant for photographs).",
        )
    g = matlab_gray(x.to(work_dtype(x))) * 255.0
    return torch.cat([_scale_features(g), _scale_features(imresize_half(g))], dim=-1)


def brisque(x: torch.Tensor) -> torch.Tensor:
    """BRISQUE score of each image of ``x`` ``[B, C, H, W]`` (float in [0, 1], C = 1 or 3): ``[B]``, lower is better.

    Unitless predicted DMOS on LIVE's scale (about 0 = excellent … 100 = bad). Features in float32
    (float64 for float64 input), the SVR in float64. Images need at least 16 x 16 px. A flat
    image (no contrast at all) has undefined statistics and gets NaN.
    """
    feats = brisque_features(x)
    m = _model()
    # The SVR sums ±1024-weighted kernel values that cancel to a score of ~0–100: float64 keeps it exact
    # and batch-independent (a [B, 774, 36] computation, negligible next to the features).
    f = feats.to(torch.float64)
    lo, hi = m["lo"].to(f.device), m["hi"].to(f.device)
    scaled = m["scale_low"] + (m["scale_high"] - m["scale_low"]) * (f - lo) / (hi - lo)
    sv, coef = m["sv"].to(f.device), m["coef"].to(f.device)
    dist = ((scaled[:, None, :] - sv[None]) ** 2).sum(-1)
    score = (torch.exp(-m["gamma"] * dist) * coef).sum(-1) - m["rho"]
    return score.to(feats.dtype)
