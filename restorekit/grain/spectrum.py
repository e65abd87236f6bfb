"""Second-order statistics of a grain (noise) layer: radial power spectrum, autocorrelation and
correlation length.

Conventions (shared by Grain Add, Grain Analyze and Grain Match):

* power spectrum: ``P(f) = E|FFT2(n - mean)|^2 / (H W)`` on the DFT grid, so white noise of std
  ``s`` has ``P = s^2`` at every frequency; the radial spectrum averages ``P`` over rings of
  radial frequency ``|f| = sqrt(fy^2 + fx^2)`` in ``bins`` equal bins from 0 to 0.5 cycles/px
  (the DC term is left out; frequencies beyond 0.5 fall into the last bin; an empty bin, which
  only happens on tiny images, takes the value of the nearest non-empty one);
* autocorrelation: circular (the layer is treated as one period of a stationary field),
  normalised to 1 at lag 0, centred (lag 0 at index ``(H // 2, W // 2)``);
* correlation length ``sigma_b`` (px): the std of the Gaussian filter that would give white noise
  the measured autocorrelation width. White noise filtered by the Gaussian gain
  ``exp(-2 pi^2 sigma_b^2 |f|^2)`` has, along an axis, the autocorrelation
  ``rho_k(sigma_b) = int_{-1/2}^{1/2} exp(-4 pi^2 sigma_b^2 f^2) cos(2 pi k f) df /
  int_{-1/2}^{1/2} exp(-4 pi^2 sigma_b^2 f^2) df`` (``~ exp(-k^2 / (4 sigma_b^2))`` once
  ``sigma_b >= 1``). The measured correlation (mean of the horizontal and vertical lags) is
  inverted at the largest lag ``k`` (1..16) up to which it stays >= 1/2 (lag 1 when it starts below).
"""

from __future__ import annotations

import functools
import math

import torch

from ..errors import InvalidImageError, InvalidParameterError

_MAX_LAG = 16
_SIGMA_MAX = 64.0


def _check_noise(noise: torch.Tensor, name: str = "noise") -> None:
    if not isinstance(noise, torch.Tensor) or noise.dim() != 4 or noise.numel() == 0:
        shape = tuple(noise.shape) if isinstance(noise, torch.Tensor) else type(noise).__name__
        raise InvalidImageError(name, f"expected a non-empty [batch, channels, height, width] tensor, got {shape}.",
                                "pass the grain layer as a 4-D tensor.")
    if not noise.is_floating_point():
        raise InvalidImageError(name, f"expected a float tensor, got {noise.dtype}.", "convert it to float first.")


def _work_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def power_spectrum(noise: torch.Tensor) -> torch.Tensor:
    """Periodogram ``|FFT2(n - mean)|^2 / (H W)`` per image and channel, ``[B, C, H, W]`` (DFT order,
    DC at ``[0, 0]``), float32 (float64 for float64 input)."""
    _check_noise(noise)
    x = noise.to(_work_dtype(noise))
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    h, w = x.shape[-2:]
    return torch.fft.fft2(x).abs().square() / (h * w)


@functools.lru_cache(maxsize=64)
def _ring_index(h: int, w: int, bins: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bin index of every DFT frequency (``bins`` = the DC, left out), counts, and for each bin the
    bin whose mean it takes (itself, or the nearest non-empty bin)."""
    fy = torch.fft.fftfreq(h, dtype=torch.float64)[:, None]
    fx = torch.fft.fftfreq(w, dtype=torch.float64)[None, :]
    r = torch.sqrt(fy**2 + fx**2)
    idx = torch.clamp((r / 0.5 * bins).floor().long(), max=bins - 1)
    idx[0, 0] = bins
    counts = torch.bincount(idx.flatten(), minlength=bins + 1)[:bins]
    filled = torch.nonzero(counts > 0).flatten()
    if filled.numel() == 0:  # a 1x1 layer has only the DC
        source = torch.full((bins,), -1, dtype=torch.long)
    else:
        dist = (torch.arange(bins)[:, None] - filled[None, :]).abs()
        source = filled[dist.argmin(dim=1)]
    return idx.flatten(), counts, source


def radial_average(psd: torch.Tensor, bins: int = 32) -> torch.Tensor:
    """Ring means ``[..., bins]`` of a spectrum ``[..., H, W]`` in DFT order (see the module docstring)."""
    if not isinstance(bins, int) or bins < 1:
        raise InvalidParameterError("bins", f"must be a positive integer, got {bins!r}.", "use e.g. 32.")
    h, w = psd.shape[-2:]
    idx, counts, source = _ring_index(h, w, bins)
    lead = psd.shape[:-2]
    flat = psd.reshape(-1, h * w)
    sums = torch.zeros(flat.shape[0], bins + 1, dtype=psd.dtype, device=psd.device)
    sums.index_add_(1, idx.to(psd.device), flat)
    means = sums[:, :bins] / counts.clamp(min=1).to(device=psd.device, dtype=psd.dtype)
    if bool((source < 0).any()):
        return torch.zeros(*lead, bins, dtype=psd.dtype, device=psd.device)
    return means[:, source.to(psd.device)].reshape(*lead, bins)


def radial_power_spectrum(noise: torch.Tensor, bins: int = 32) -> torch.Tensor:
    """Radial power spectrum ``[B, C, bins]`` of a zero-mean noise layer ``[B, C, H, W]``.

    Power per radial-frequency bin (bins evenly spaced over 0..0.5 cycles/px), convention
    ``E|FFT2|^2 / (H W)``: white noise of std ``s`` gives ``s^2`` in every bin (units: squared
    noise units, e.g. [0, 1] image units squared). The layer's mean is removed first.
    """
    return radial_average(power_spectrum(noise), bins)


def radial_frequencies(bins: int = 32) -> torch.Tensor:
    """Centre frequency of each radial bin, cycles/px, ``[bins]`` float64."""
    return (torch.arange(bins, dtype=torch.float64) + 0.5) * (0.5 / bins)


def autocorrelation(noise: torch.Tensor) -> torch.Tensor:
    """Normalised circular autocorrelation ``[B, C, H, W]`` of each image and channel, centred: lag
    ``(dy, dx)`` is at index ``(H // 2 + dy, W // 2 + dx)`` and the value at lag 0 is 1 (0 for a
    constant layer). Float32 (float64 for float64 input)."""
    psd = power_spectrum(noise)
    acov = torch.fft.ifft2(psd).real
    zero = acov[..., :1, :1]
    rho = torch.where(zero > 0, acov / zero.clamp(min=torch.finfo(acov.dtype).tiny), torch.zeros_like(acov))
    return torch.fft.fftshift(rho, dim=(-2, -1))


@functools.lru_cache(maxsize=4)
def _lag1_table(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """``(rho_1(sigma), sigma)`` on a grid, for inverting the lag-1 correlation exactly (the
    Gaussian gain is truncated at the Nyquist frequency, which matters below ~1 px)."""
    sigma = torch.linspace(0.0, 3.0, 1201, dtype=torch.float64)
    f = torch.linspace(-0.5, 0.5, 4001, dtype=torch.float64)
    g2 = torch.exp(-4 * math.pi**2 * sigma[:, None] ** 2 * f[None, :] ** 2)
    rho = (g2 * torch.cos(2 * math.pi * f)).sum(1) / g2.sum(1)
    return rho.to(dtype), sigma.to(dtype)


def gaussian_lag_correlation(sigma: torch.Tensor | float, lag: int = 1) -> torch.Tensor:
    """The axis autocorrelation ``rho_lag`` of white noise filtered by a Gaussian gain of std ``sigma`` px
    (the forward model of :func:`correlation_length`)."""
    s = torch.as_tensor(sigma, dtype=torch.float64)
    f = torch.linspace(-0.5, 0.5, 4001, dtype=torch.float64)
    g2 = torch.exp(-4 * math.pi**2 * s[..., None] ** 2 * f**2)
    return (g2 * torch.cos(2 * math.pi * lag * f)).sum(-1) / g2.sum(-1)


def correlation_length(noise: torch.Tensor) -> torch.Tensor:
    """Correlation length ``[B, C]`` in px of a noise layer ``[B, C, H, W]``: the std of the Gaussian
    filter that white noise would need to have the measured autocorrelation width (see the module
    docstring); 0 for white or anti-correlated noise, at most 64 px."""
    rho = autocorrelation(noise)
    h, w = rho.shape[-2:]
    cy, cx = h // 2, w // 2
    kmax = max(1, min(_MAX_LAG, h // 4, w // 4))
    lags = torch.arange(1, kmax + 1, device=rho.device)
    if h > 1 and w > 1:
        r = 0.5 * (rho[..., cy, (cx + lags) % w] + rho[..., (cy + lags) % h, cx])
    elif w > 1:
        r = rho[..., cy, (cx + lags) % w]
    elif h > 1:
        r = rho[..., (cy + lags) % h, cx]
    else:
        return torch.zeros(rho.shape[:2], dtype=rho.dtype, device=rho.device)
    return length_from_lags(r)


def length_from_lags(r: torch.Tensor) -> torch.Tensor:
    """Correlation length ``[...]`` px from axis correlations ``r[..., k - 1] = rho_k``, k = 1..K (the
    inversion of :func:`correlation_length`)."""
    k = torch.arange(1, r.shape[-1] + 1, device=r.device, dtype=r.dtype)
    # Lags >= 2: rho_k = exp(-k^2 / (4 s^2)) (exact to 1e-4 in the range where rho_k ~ 1/2 picks them).
    tiny = torch.finfo(r.dtype).tiny
    s_k = k / (2 * torch.sqrt(-torch.log(r.clamp(tiny, 1 - 1e-7))))
    # Lag 1: exact inversion through the table.
    table_rho, table_sigma = (t.to(r.device) for t in _lag1_table(r.dtype))
    r1 = r[..., 0].clamp(0.0, float(table_rho[-1])).contiguous()
    j = torch.searchsorted(table_rho, r1).clamp(1, table_rho.numel() - 1)
    t = (r1 - table_rho[j - 1]) / (table_rho[j] - table_rho[j - 1]).clamp(min=tiny)
    s1 = table_sigma[j - 1] + t * (table_sigma[j] - table_sigma[j - 1])
    s1 = torch.where(r[..., 0] >= table_rho[-1], s_k[..., 0], s1)
    s_k = torch.cat([s1[..., None], s_k[..., 1:]], dim=-1)
    # The largest k whose rho_1..rho_k all stay >= 1/2 (lag 1 when rho_1 < 1/2): it keeps clear of the
    # noisy tail, where a spurious small correlation would read as a long length.
    leading = torch.cumprod((r >= 0.5).to(torch.int64), dim=-1).sum(dim=-1, keepdim=True)
    best = (leading - 1).clamp(min=0)
    out = torch.gather(s_k, -1, best)[..., 0]
    out = torch.where(r[..., 0] <= 0, torch.zeros_like(out), out)
    return out.clamp(0.0, _SIGMA_MAX)


__all__ = ["autocorrelation", "correlation_length", "gaussian_lag_correlation", "length_from_lags", "power_spectrum", "radial_average",
           "radial_frequencies", "radial_power_spectrum"]
