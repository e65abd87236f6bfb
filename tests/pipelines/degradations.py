"""The degraded classes the pipeline tests restore: noise, blur + noise, low contrast + noise (fixed seeds)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from restorekit.deblur.psf import gaussian_psf


def noisy(x: torch.Tensor, sigma: float, seed: int) -> torch.Tensor:
    """``x`` plus white Gaussian noise of std ``sigma`` grey levels (0-255), clipped to [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    return (x + torch.randn(x.shape, generator=g) * sigma / 255).clamp(0, 1)


def blurred(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """``x`` blurred by a Gaussian of std ``sigma`` px (reflected borders)."""
    k = gaussian_psf(sigma).kernel.to(x)
    r = k.shape[0] // 2
    xp = F.pad(x.reshape(-1, 1, *x.shape[-2:]), (r, r, r, r), mode="reflect")
    return F.conv2d(xp, k[None, None]).reshape(x.shape)


def degraded_classes(x: torch.Tensor) -> dict[str, tuple[torch.Tensor, str]]:
    """Class name -> (degraded ``x``, the degradation a report must name)."""
    m = x.mean(dim=(2, 3), keepdim=True)
    return {
        "noise": (noisy(x, 15, 1), "noise"),
        "blur+noise": (noisy(blurred(x, 1.5), 5, 2), "blur"),
        "low contrast+noise": (noisy(m + 0.4 * (x - m), 10, 3), "low contrast"),
    }
