"""Colour-space conversions on core tensors ``[B, 3, H, W]`` (sRGB, float in [0, 1]).

sRGB <-> linear light, YCbCr (BT.601), CIE L*a*b*, Oklab (Björn Ottosson's published matrices, from
sRGB or from linear light) and its polar form OkLCh, ΔE_OK, XYZ, correlated colour temperature
(McCamy), and gamut mapping of Oklab colours into sRGB by chroma reduction.

All conversions are torch code that runs on any device and keeps the input's dtype (float64
inputs use matrices computed in float64). Ranges of the outputs are given per function.
"""

from __future__ import annotations

import torch

from .errors import InvalidParameterError

# BT.601 full-range (JPEG) matrices.
_RGB_TO_YCBCR = torch.tensor(
    [[0.299, 0.587, 0.114], [-0.168735892, -0.331264108, 0.5], [0.5, -0.418687589, -0.081312411]]
)
_YCBCR_TO_RGB = torch.linalg.inv(_RGB_TO_YCBCR.double()).float()

# linear sRGB -> XYZ (D65) and its inverse.
_RGB_TO_XYZ = torch.tensor(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
_XYZ_TO_RGB = torch.linalg.inv(_RGB_TO_XYZ.double()).float()
_D65_WHITE = (0.95047, 1.0, 1.08883)

# Oklab (Björn Ottosson, 2020): linear sRGB -> LMS -> cube root -> Lab.
_OK_M1 = torch.tensor(
    [
        [0.4122214708, 0.5363325363, 0.0514459929],
        [0.2119034982, 0.6806995451, 0.1073969566],
        [0.0883024619, 0.2817188376, 0.6299787005],
    ]
)
_OK_M2 = torch.tensor(
    [
        [0.2104542553, 0.7936177850, -0.0040720468],
        [1.9779984951, -2.4285922050, 0.4505937099],
        [0.0259040371, 0.7827717662, -0.8086757660],
    ]
)
_OK_M1_INV = torch.linalg.inv(_OK_M1.double()).float()
_OK_M2_INV = torch.linalg.inv(_OK_M2.double()).float()


# float64 inputs get matrices computed in float64 (the float32 ones above, inverses included, are
# kept bit for bit for every other dtype).
_FLOAT64 = {
    id(_RGB_TO_YCBCR): torch.tensor(_RGB_TO_YCBCR.tolist(), dtype=torch.float64),
    id(_RGB_TO_XYZ): torch.tensor(_RGB_TO_XYZ.tolist(), dtype=torch.float64),
    id(_OK_M1): torch.tensor(_OK_M1.tolist(), dtype=torch.float64),
    id(_OK_M2): torch.tensor(_OK_M2.tolist(), dtype=torch.float64),
}
_FLOAT64[id(_YCBCR_TO_RGB)] = torch.linalg.inv(_FLOAT64[id(_RGB_TO_YCBCR)])
_FLOAT64[id(_XYZ_TO_RGB)] = torch.linalg.inv(_FLOAT64[id(_RGB_TO_XYZ)])
_FLOAT64[id(_OK_M1_INV)] = torch.linalg.inv(_FLOAT64[id(_OK_M1)])
_FLOAT64[id(_OK_M2_INV)] = torch.linalg.inv(_FLOAT64[id(_OK_M2)])


def _matrix(m: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``m`` on ``like``'s device and dtype (the float64-computed version for float64)."""
    if like.dtype == torch.float64:
        m = _FLOAT64.get(id(m), m)
    return m.to(device=like.device, dtype=like.dtype)


def _apply_matrix(x: torch.Tensor, m: torch.Tensor, offset: tuple[float, float, float] | None = None) -> torch.Tensor:
    out = torch.einsum("ij,bjhw->bihw", _matrix(m, x), x)
    if offset is not None:
        out = out + torch.tensor(offset, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return out


def luma(x: torch.Tensor) -> torch.Tensor:
    """BT.601 luma ``[B, 1, H, W]`` of an RGB batch (a gray batch is returned as is)."""
    if x.shape[1] == 1:
        return x
    return _apply_matrix(x, _RGB_TO_YCBCR[:1])


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """sRGB -> YCbCr (BT.601 full range). Y, Cb, Cr all in [0, 1] (chroma centred on 0.5)."""
    return _apply_matrix(x, _RGB_TO_YCBCR, (0.0, 0.5, 0.5))


def ycbcr_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr` (not clamped)."""
    return _apply_matrix(x - torch.tensor((0.0, 0.5, 0.5), device=x.device, dtype=x.dtype).view(1, 3, 1, 1), _YCBCR_TO_RGB)


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """sRGB transfer function decoded: gamma-encoded [0, 1] -> linear light [0, 1]."""
    return torch.where(x <= 0.04045, x / 12.92, ((x.clamp(min=0.0) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """Linear light -> gamma-encoded sRGB."""
    return torch.where(x <= 0.0031308, x * 12.92, 1.055 * x.clamp(min=0.0031308) ** (1 / 2.4) - 0.055)


def _lab_f(t: torch.Tensor) -> torch.Tensor:
    delta = 6.0 / 29.0
    return torch.where(t > delta**3, t.clamp(min=delta**3) ** (1 / 3), t / (3 * delta**2) + 4.0 / 29.0)


def _lab_f_inv(t: torch.Tensor) -> torch.Tensor:
    delta = 6.0 / 29.0
    return torch.where(t > delta, t**3, 3 * delta**2 * (t - 4.0 / 29.0))


def rgb_to_lab(x: torch.Tensor) -> torch.Tensor:
    """sRGB -> CIE L*a*b* (D65). L in [0, 100]; a, b roughly in [-128, 127]."""
    xyz = _apply_matrix(srgb_to_linear(x), _RGB_TO_XYZ)
    white = torch.tensor(_D65_WHITE, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    f = _lab_f(xyz / white)
    l_ = 116.0 * f[:, 1:2] - 16.0
    a = 500.0 * (f[:, 0:1] - f[:, 1:2])
    b = 200.0 * (f[:, 1:2] - f[:, 2:3])
    return torch.cat([l_, a, b], dim=1)


def lab_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """CIE L*a*b* (D65) -> sRGB (not clamped)."""
    fy = (x[:, 0:1] + 16.0) / 116.0
    fx = fy + x[:, 1:2] / 500.0
    fz = fy - x[:, 2:3] / 200.0
    white = torch.tensor(_D65_WHITE, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    xyz = _lab_f_inv(torch.cat([fx, fy, fz], dim=1)) * white
    return linear_to_srgb(_apply_matrix(xyz, _XYZ_TO_RGB))


def linear_rgb_to_oklab(x: torch.Tensor) -> torch.Tensor:
    """Linear-light sRGB -> Oklab (Ottosson's M1, signed cube root, M2). L in [0, 1] for [0, 1] input."""
    lms = _apply_matrix(x, _OK_M1)
    return _apply_matrix(torch.sign(lms) * lms.abs().pow(1.0 / 3.0), _OK_M2)


def oklab_to_linear_rgb(x: torch.Tensor) -> torch.Tensor:
    """Oklab -> linear-light sRGB (not clamped; out-of-gamut colours leave [0, 1])."""
    lms_ = _apply_matrix(x, _OK_M2_INV)
    return _apply_matrix(lms_**3, _OK_M1_INV)


def rgb_to_oklab(x: torch.Tensor) -> torch.Tensor:
    """sRGB -> Oklab. L in [0, 1]; a, b roughly in [-0.4, 0.4]."""
    return linear_rgb_to_oklab(srgb_to_linear(x))


def oklab_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Oklab -> sRGB (not clamped)."""
    return linear_to_srgb(oklab_to_linear_rgb(x))


def oklab_to_oklch(x: torch.Tensor) -> torch.Tensor:
    """Oklab -> OkLCh: L as is, chroma C = sqrt(a^2 + b^2) (>= 0, at most about 0.32 inside sRGB), hue
    h = atan2(b, a) in radians, in (-pi, pi] (0 for neutral colours)."""
    lum, a, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return torch.cat([lum, torch.hypot(a, b), torch.atan2(b, a)], dim=1)


def oklch_to_oklab(x: torch.Tensor) -> torch.Tensor:
    """OkLCh (hue in radians) -> Oklab."""
    lum, c, h = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return torch.cat([lum, c * torch.cos(h), c * torch.sin(h)], dim=1)


def delta_e_ok(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Colour difference ΔE_OK ``[B, 1, H, W]``: Euclidean distance of two Oklab batches (L, a, b units;
    white to black is 1)."""
    return (x - y).square().sum(dim=1, keepdim=True).sqrt()


def linear_rgb_to_xyz(x: torch.Tensor) -> torch.Tensor:
    """Linear-light sRGB -> CIE XYZ (D65, Y of white = 1). Channels on dim 1, any trailing shape."""
    return torch.einsum("ij,bj...->bi...", _matrix(_RGB_TO_XYZ, x), x)


def xyz_to_linear_rgb(x: torch.Tensor) -> torch.Tensor:
    """CIE XYZ (D65) -> linear-light sRGB (not clamped). Channels on dim 1, any trailing shape."""
    return torch.einsum("ij,bj...->bi...", _matrix(_XYZ_TO_RGB, x), x)


def correlated_color_temperature(rgb: torch.Tensor) -> torch.Tensor:
    """Correlated colour temperature in kelvin of linear-light sRGB colours (channels on dim 1; the
    result drops that dim), by McCamy's cubic in the CIE 1931 chromaticity (x, y):
    ``n = (x - 0.3320) / (0.1858 - y)``, ``CCT = 449 n^3 + 3525 n^2 + 6823.3 n + 5520.33``
    (C. S. McCamy, Color Res. Appl. 17, 1992). sRGB white (D65) gives about 6505 K. Meaningful
    for colours near the Planckian locus between about 2000 and 12500 K; black gives NaN."""
    xyz = linear_rgb_to_xyz(rgb)
    total = xyz.sum(dim=1)
    cx, cy = xyz[:, 0] / total, xyz[:, 1] / total
    n = (cx - 0.3320) / (0.1858 - cy)
    return ((449.0 * n + 3525.0) * n + 6823.3) * n + 5520.33


#: Bisection steps of :func:`gamut_map_oklab`: the chroma kept is within 2**-steps of the target's.
GAMUT_STEPS = 12
# In-gamut tolerance in linear light: below 0 it is kept tiny because sRGB encoding multiplies
# values near 0 by 12.92 (5e-8 -> 6.5e-7 in sRGB); near 1 the encoding's slope is about 0.42.
_GAMUT_TOL_LOW = 5e-8
_GAMUT_TOL_HIGH = 1e-6


def _outside_gamut(lin: torch.Tensor, dim: int) -> torch.Tensor:
    lo, hi = torch.aminmax(lin, dim=dim, keepdim=True)
    return (lo < -_GAMUT_TOL_LOW) | (hi > 1.0 + _GAMUT_TOL_HIGH)


def gamut_map_oklab(lab: torch.Tensor, *, steps: int = GAMUT_STEPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Fit Oklab colours ``[B, 3, H, W]`` into the sRGB gamut by reducing chroma at constant lightness and hue.

    L is first clamped to [0, 1] (a neutral of that lightness is always in gamut). A colour outside
    the gamut gets its (a, b) scaled by the largest factor in [0, 1] found by ``steps`` bisection
    steps that keeps all three linear channels in [0, 1]; the factor kept is always one that was
    tested in gamut (or 0), so nothing is clipped. Only the colours outside are bisected (gathered
    into a compact list first: one host sync), and the number of steps is fixed.

    Returns:
        ``(linear, scale)``: the mapped colours as linear-light sRGB ``[B, 3, H, W]`` (in [0, 1]
        within 1e-6) and the chroma factor applied ``[B, 1, H, W]`` (1 where the colour fitted).
        The mapped Oklab colours are ``(clamp(L, 0, 1), scale * a, scale * b)``.
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= 60:
        raise InvalidParameterError("steps", f"expected a whole number in [1, 60], got {steps!r}.", "give e.g. 12.")
    lab = torch.cat([lab[:, 0:1].clamp(0.0, 1.0), lab[:, 1:]], dim=1).contiguous()
    linear = oklab_to_linear_rgb(lab)
    outside = _outside_gamut(linear, dim=1)
    scale = torch.ones_like(lab[:, :1])
    idx = outside.reshape(-1).nonzero().squeeze(1)
    if idx.numel() == 0:
        return linear, scale
    # Flat positions of the outside pixels' three channels in the contiguous [B, 3, H, W] tensors.
    hw = lab.shape[2] * lab.shape[3]
    batch = torch.div(idx, hw, rounding_mode="floor")
    base = batch * (3 * hw) + (idx - batch * hw)
    pos = base.unsqueeze(1) + torch.arange(3, device=idx.device) * hw  # [N, 3]
    pixels = lab.reshape(-1)[pos]  # [N, 3] = (L, a, b)
    m2 = _matrix(_OK_M2_INV, lab)
    m1t = _matrix(_OK_M1_INV, lab).t()
    # Along the ray (L, t a, t b) the cone responses are L * m2[:, 0] + t * k, with k fixed per pixel.
    grey = pixels[:, :1] * m2[:, 0]
    k = pixels[:, 1:] @ m2[:, 1:].t()
    lo = torch.zeros_like(pixels[:, :1])
    hi = torch.ones_like(lo)
    for _ in range(steps):
        mid = (lo + hi) * 0.5
        ok = ~_outside_gamut(torch.addcmul(grey, mid, k).pow(3) @ m1t, dim=1)
        lo = torch.where(ok, mid, lo)
        hi = torch.where(ok, hi, mid)
    mapped = torch.addcmul(grey, lo, k).pow(3) @ m1t
    linear = linear.reshape(-1).index_put((pos,), mapped).view_as(linear)
    scale = scale.reshape(-1).index_put((idx,), lo.squeeze(1)).view_as(scale)
    return linear, scale
