"""Colour-space conversions on core tensors ``[B, 3, H, W]`` (sRGB, float in [0, 1]).

All functions are differentiable torch code that runs on any device and keeps the input's
dtype. Ranges of the outputs are given per function.
"""

from __future__ import annotations

import torch

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


def _apply_matrix(x: torch.Tensor, m: torch.Tensor, offset: tuple[float, float, float] | None = None) -> torch.Tensor:
    out = torch.einsum("ij,bjhw->bihw", m.to(device=x.device, dtype=x.dtype), x)
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


def rgb_to_oklab(x: torch.Tensor) -> torch.Tensor:
    """sRGB -> Oklab. L in [0, 1]; a, b roughly in [-0.4, 0.4]."""
    lms = _apply_matrix(srgb_to_linear(x), _OK_M1)
    return _apply_matrix(torch.sign(lms) * lms.abs().pow(1.0 / 3.0), _OK_M2)


def oklab_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Oklab -> sRGB (not clamped)."""
    lms_ = _apply_matrix(x, _OK_M2_INV)
    return linear_to_srgb(_apply_matrix(lms_**3, _OK_M1_INV))
