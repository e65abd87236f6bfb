"""Blind estimation of additive white Gaussian noise.

Donoho's robust estimator: the noise standard deviation is the median absolute value of the
finest diagonal wavelet detail band (Daubechies-2) divided by 0.6745, the median of |N(0, 1)|.
Image structure barely reaches that band, so the estimate is robust for natural images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Daubechies-2 decomposition high-pass filter (as in PyWavelets' ``pywt.Wavelet("db2").dec_hi``).
_DB2_HI = (-0.48296291314469025, 0.836516303737469, -0.22414386804185735, -0.12940952255092145)
_MAD_TO_SIGMA = 0.6744897501960817  # Phi^-1(0.75)


def finest_diagonal_band(x: torch.Tensor) -> torch.Tensor:
    """The level-1 HH (diagonal) db2 detail coefficients of ``x`` ``[B, C, H, W]``.

    Returns ``[B, C, ceil(H/2), ceil(W/2)]``-ish (valid convolution with stride 2, reflect-padded
    so that images down to 1x1 work).
    """
    b, c, h, w = x.shape
    taps = len(_DB2_HI)
    hi = torch.tensor(_DB2_HI, dtype=torch.float32, device=x.device).flip(0)
    kernel = (hi[:, None] * hi[None, :]).view(1, 1, taps, taps)
    y = x.reshape(b * c, 1, h, w).float()
    pad_h = (taps - 1) if h >= taps else 0
    pad_w = (taps - 1) if w >= taps else 0
    mode = "reflect" if min(h, w) >= taps else "replicate"
    y = F.pad(y, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), mode=mode)
    if y.shape[-1] < taps or y.shape[-2] < taps:
        y = F.pad(y, (0, max(0, taps - y.shape[-1]), 0, max(0, taps - y.shape[-2])), mode="replicate")
    band = F.conv2d(y, kernel, stride=2)
    return band.view(b, c, *band.shape[-2:])


def estimate_sigma(x: torch.Tensor) -> torch.Tensor:
    """Noise standard deviation of each image and channel of ``x`` ``[B, C, H, W]``.

    Returns ``[B, C]`` float32 in the image's units ([0, 1] for core images; multiply by 255
    for grey levels). Exactly-zero coefficients (flat or clipped areas) are ignored, as they
    carry no information about the noise.
    """
    band = finest_diagonal_band(x).abs().flatten(2)
    band = torch.where(band > 0, band, torch.full_like(band, float("nan")))
    med = torch.nanmedian(band, dim=-1).values
    return torch.nan_to_num(med, nan=0.0) / _MAD_TO_SIGMA


def estimate_sigma_luma(x: torch.Tensor) -> torch.Tensor:
    """One noise sigma per image ``[B]``: the mean of the per-channel estimates."""
    return estimate_sigma(x).mean(dim=1)
