"""What Adaptive Enhance measures before it decides: noise, blur and contrast of each image.

- **Noise**: white-noise std of luma (Donoho's wavelet MAD estimator,
  :func:`restorekit.quality.noise.estimate_sigma`), [0, 1] units.
- **Blur**: the std (px) of a Gaussian blur that would explain how fast the image's gradient
  energy falls when it is blurred a little more. For an edge blurred by a Gaussian of std
  ``s``, the energy of the gradient is proportional to ``1 / s``; blurring by a further ``t``
  makes it ``1 / sqrt(s^2 + t^2)``, so the ratio ``r`` of the two energies gives
  ``s = t / sqrt(r^2 - 1)``. The white noise's share of both energies (known from the
  estimated sigma and the filters' taps) is taken out first. The figure is about 0.5-0.8 px for
  a sharp photograph and grows with defocus; on images without edges it is not meaningful
  (the ratio is then near 1 and the estimate is capped at :data:`MAX_BLUR`).
- **Contrast**: the 1st-99th percentile spread of luma and its mean (brightness), [0, 1] units.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..color import luma
from ..quality.noise import estimate_sigma
from ..sharpen.unsharp import gaussian_blur, gaussian_kernel1d

#: Extra blur (px) applied to measure how fast the gradient energy falls.
PROBE_SIGMA = 1.0
#: Largest blur the estimate reports, px.
MAX_BLUR = 8.0
_QUANTILE_SAMPLES = 1 << 22


@dataclass(frozen=True)
class Assessment:
    """Measures of one image: noise std and percentiles in [0, 1] units, blur std in px."""

    noise: float
    blur: float
    low: float
    high: float
    brightness: float

    @property
    def spread(self) -> float:
        """1st-99th percentile range of luma."""
        return self.high - self.low


def _gradient_energy(y: torch.Tensor) -> torch.Tensor:
    """Mean squared forward difference (both axes) per image ``[B]``."""
    dx = y[..., :, 1:] - y[..., :, :-1]
    dy = y[..., 1:, :] - y[..., :-1, :]
    return dx.pow(2).flatten(1).mean(dim=1) + dy.pow(2).flatten(1).mean(dim=1)


def _noise_energy_after_blur(sigma_blur: float, device: torch.device, dtype: torch.dtype) -> float:
    """Gradient energy of unit white noise after a Gaussian blur: ``2 * sum((d * g)^2)`` over one axis."""
    g = gaussian_kernel1d(sigma_blur, dtype=dtype, device=device)
    d = g[1:] - g[:-1]
    # A separable blur then a difference along x: the kernel is (d ⊗ g); its energy is
    # sum(d^2) * sum(g^2) per axis.
    return float(2.0 * d.pow(2).sum() * g.pow(2).sum())


def assess(x: torch.Tensor) -> list[Assessment]:
    """Noise, blur and contrast of every image of ``x`` ``[B, C, H, W]`` in [0, 1] (see the module docstring)."""
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    xf = x.to(work)
    y = luma(xf) if xf.shape[1] == 3 else xf[:, :1]
    b = y.shape[0]
    noise = estimate_sigma(y).view(b)
    if min(y.shape[-2:]) >= 8:
        e0 = _gradient_energy(y) - 4.0 * noise.pow(2)  # forward differences of white noise: 2 sigma^2 per axis
        e1 = _gradient_energy(gaussian_blur(y, PROBE_SIGMA)) - noise.pow(2) * _noise_energy_after_blur(
            PROBE_SIGMA, y.device, work
        )
        ratio = (e0 / e1.clamp(min=1e-12)).clamp(min=1.0 + 1e-6)
        blur = (PROBE_SIGMA / (ratio.pow(2) - 1.0).sqrt()).clamp(max=MAX_BLUR)
        blur = torch.where(e0 > 0, blur, torch.full_like(blur, MAX_BLUR))
    else:
        blur = torch.zeros_like(noise)
    flat = y.flatten(1)
    mean = flat.mean(dim=1)
    if flat.shape[1] > _QUANTILE_SAMPLES:  # torch.quantile's input limit; a regular subsample is plenty
        flat = flat[:, :: -(-flat.shape[1] // _QUANTILE_SAMPLES)]
    if flat.shape[1] > 1:
        q = torch.quantile(flat, torch.tensor([0.01, 0.99], device=flat.device, dtype=work), dim=1)
    else:
        q = flat.t().expand(2, b)
    rows = torch.stack([noise, blur, q[0], q[1], mean], dim=1).cpu().tolist()
    return [Assessment(*row) for row in rows]

