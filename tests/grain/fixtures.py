"""Synthetic grain of known parameters for the grain tests.

Written independently of :mod:`restorekit.grain.synthesis`, so that the analysis is checked against
an independent generator: every pattern is made in the Fourier domain (a circular, exactly
stationary process with the stated spectrum) and normalised to unit variance by its theoretical
variance. Intensities and stds are in [0, 1] units unless a name says 255.
"""

from __future__ import annotations

import math

import torch

from restorekit.color import rgb_to_ycbcr, ycbcr_to_rgb


def causal_offsets(lag: int) -> list[tuple[int, int]]:
    """The AV1 causal neighbourhood ``(dy, dx)`` of lag ``lag``, in AV1 order."""
    out = []
    for dy in range(-lag, 1):
        for dx in range(-lag, lag + 1):
            if dy == 0 and dx == 0:
                return out
            out.append((dy, dx))
    return out


#: A stable lag-3 luma AR pattern (24 coefficients, AV1 order), moderately correlated.
AR3_LUMA = {(0, -1): 0.32, (-1, 0): 0.28, (-1, -1): -0.08, (-1, 1): 0.06, (-2, 0): 0.07, (0, -2): 0.05,
            (-3, 1): -0.03, (-2, 2): 0.04}


def ar_coefficients(sparse: dict[tuple[int, int], float], lag: int = 3) -> tuple[float, ...]:
    """Dense AV1-ordered coefficients from ``{(dy, dx): a}``."""
    return tuple(float(sparse.get(k, 0.0)) for k in causal_offsets(lag))


def _white(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def ar_pattern(h: int, w: int, coeffs: tuple[float, ...], lag: int = 3, *, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """Unit-variance stationary AR field ``[batch, 1, h, w]`` float64: ``p(x) = sum a_k p(x + k) + e(x)``."""
    fy = torch.fft.fftfreq(h, dtype=torch.float64)[:, None]
    fx = torch.fft.fftfreq(w, dtype=torch.float64)[None, :]
    # p = e + sum a_k S^k p with (S^k p)(x) = p(x + k): FFT(p(x + k)) = e^{+2 pi i f.k} FFT(p).
    a_f = torch.zeros(h, w, dtype=torch.complex128)
    for (dy, dx), a in zip(causal_offsets(lag), coeffs, strict=True):
        a_f = a_f + a * torch.exp(2j * math.pi * (fy * dy + fx * dx))
    transfer = 1.0 / (1.0 - a_f)
    var = (transfer.abs() ** 2).mean()
    e = torch.fft.fft2(_white((batch, 1, h, w), seed))
    return torch.fft.ifft2(e * transfer).real / var.sqrt()


def gaussian_pattern(h: int, w: int, sigma_b: float, *, batch: int = 1, channels: int = 1, seed: int = 0) -> torch.Tensor:
    """White noise filtered by a Gaussian of std ``sigma_b`` px (circularly), unit variance, ``[B, C, h, w]``."""
    if sigma_b <= 0:
        return _white((batch, channels, h, w), seed)
    fy = torch.fft.fftfreq(h, dtype=torch.float64)[:, None]
    fx = torch.fft.fftfreq(w, dtype=torch.float64)[None, :]
    gain = torch.exp(-2 * math.pi**2 * sigma_b**2 * (fy**2 + fx**2))
    var = (gain**2).mean()
    e = torch.fft.fft2(_white((batch, channels, h, w), seed))
    return torch.fft.ifft2(e * gain).real / var.sqrt()


def rgb_grain(h: int, w: int, sigma_b: float, rho: float, *, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """RGB grain ``[B, 3, h, w]``: unit variance per channel, Gaussian size ``sigma_b``, pairwise channel
    correlation ``rho`` (a shared pattern plus independent ones)."""
    common = gaussian_pattern(h, w, sigma_b, batch=batch, channels=1, seed=seed)
    own = gaussian_pattern(h, w, sigma_b, batch=batch, channels=3, seed=seed + 7919)
    return math.sqrt(rho) * common + math.sqrt(1.0 - rho) * own


def ramp(h: int, w: int, lo: float = 0.08, hi: float = 0.92, *, channels: int = 1) -> torch.Tensor:
    """A horizontal grey ramp ``[1, C, h, w]`` float64 from ``lo`` to ``hi``."""
    row = torch.linspace(lo, hi, w, dtype=torch.float64)
    return row.view(1, 1, 1, w).expand(1, channels, h, w).clone()


def gradient(h: int, w: int, *, channels: int = 1) -> torch.Tensor:
    """A smooth diagonal gradient with a gentle bump, ``[1, C, h, w]`` float64 in about [0.2, 0.8]."""
    y = torch.linspace(0, 1, h, dtype=torch.float64).view(h, 1)
    x = torch.linspace(0, 1, w, dtype=torch.float64).view(1, w)
    g = 0.2 + 0.45 * (0.6 * x + 0.4 * y) + 0.15 * torch.sin(math.pi * x) * torch.sin(math.pi * y)
    out = g.expand(1, channels, h, w).clone()
    if channels == 3:
        out = out * torch.tensor([1.0, 0.95, 0.88], dtype=torch.float64).view(1, 3, 1, 1)
    return out


def smooth_content(h: int, w: int, *, channels: int = 3, seed: int = 0, lo: float = 0.1, hi: float = 0.9) -> torch.Tensor:
    """Random smooth content ``[1, C, h, w]`` float64: a few long-wavelength waves, stretched to span ``[lo, hi]``
    in luma, with a mild random tint."""
    gen = torch.Generator().manual_seed(10_000 + seed)
    y = torch.arange(h, dtype=torch.float64).view(h, 1) / max(h, w)
    x = torch.arange(w, dtype=torch.float64).view(1, w) / max(h, w)
    g = torch.zeros(h, w, dtype=torch.float64)
    for _ in range(4):
        fy, fx, ph = (torch.rand(3, generator=gen, dtype=torch.float64) * torch.tensor([0.75, 0.75, 6.28])).tolist()
        g = g + torch.cos(2 * math.pi * (fy * y + fx * x) + ph)
    g = g + 1.5 * (x - y)  # keeps a wide range of intensities inside every crop
    g = (g - g.min()) / (g.max() - g.min()).clamp(min=1e-9)
    g = lo + (hi - lo) * g
    if channels == 1:
        return g.view(1, 1, h, w)
    tint = 1.0 + 0.08 * (torch.rand(3, generator=gen, dtype=torch.float64) - 0.5)
    rgb = (g.view(1, 1, h, w) * tint.view(1, 3, 1, 1)).clamp(0.0, 1.0)
    return rgb


def film_scaling(peak: float, floor: float = 0.35):
    """A film-like std curve: peaks at mid-tones (``peak`` at intensity 0.5), ``floor * peak`` at 0 and 1."""

    def s(t: torch.Tensor) -> torch.Tensor:
        return peak * (floor + (1 - floor) * (1 - (2 * t - 1) ** 2))

    return s


def sensor_scaling(std_mid: float, read: float = 0.15):
    """Poisson-Gaussian std: ``sqrt(a t + b)`` with ``std_mid`` at intensity 0.5 and a read-noise share ``read``."""
    b = read * std_mid**2
    a = (std_mid**2 - b) / 0.5

    def s(t: torch.Tensor) -> torch.Tensor:
        return (a * t.clamp(min=0) + b).sqrt()

    return s


def flat_scaling(std: float):
    """The same std at every intensity."""

    def s(t: torch.Tensor) -> torch.Tensor:
        return torch.full_like(t, std)

    return s


def luma_of(x: torch.Tensor) -> torch.Tensor:
    """BT.601 luma ``[B, 1, H, W]``."""
    return x if x.shape[1] == 1 else rgb_to_ycbcr(x)[:, :1]


def apply_luma_grain(clean: torch.Tensor, pattern: torch.Tensor, scaling, *, chroma: float = 0.0,
                     chroma_patterns: torch.Tensor | None = None, clip: bool = True) -> torch.Tensor:
    """``clean`` plus luma grain ``scaling(Y) * pattern`` added to Y (and, for RGB, ``chroma * scaling(Y) *
    chroma_patterns`` to Cb and Cr); back to RGB and clipped to [0, 1]."""
    y = luma_of(clean)
    s = scaling(y)
    if clean.shape[1] == 1:
        out = clean + s * pattern
    else:
        ycc = rgb_to_ycbcr(clean)
        add = [s * pattern]
        if chroma and chroma_patterns is not None:
            add += [chroma * s * chroma_patterns[:, 0:1], chroma * s * chroma_patterns[:, 1:2]]
        else:
            add += [torch.zeros_like(y), torch.zeros_like(y)]
        out = ycbcr_to_rgb(ycc + torch.cat(add, dim=1))
    return out.clamp(0.0, 1.0) if clip else out


CLASSES = ("film_grain", "sensor_noise", "synthetic_overlay", "clean")


def labelled_crop(label: str, seed: int, size: int = 64) -> torch.Tensor:
    """One RGB crop ``[1, 3, size, size]`` float32 of class ``label`` (smooth random content, quantised to 8 bits).

    * film_grain: Gaussian-size 0.8-2 px, channel correlation 0.6-1, std peaking in mid-tones (3-10 grey levels).
    * sensor_noise: white, independent per channel, std ``sqrt(a I + b)`` per channel (2-10 grey levels at mid-grey).
    * synthetic_overlay: monochrome, size 0-2 px, the same std at every intensity (3-10 grey levels).
    * clean: no grain (only the 8-bit rounding).
    """
    gen = torch.Generator().manual_seed(50_000 + seed)
    u = torch.rand(4, generator=gen, dtype=torch.float64).tolist()
    clean = smooth_content(size, size, channels=3, seed=seed)
    if label == "film_grain":
        sb, rho, std = 0.8 + 1.2 * u[0], 0.6 + 0.4 * u[1], (3 + 7 * u[2]) / 255
        g = rgb_grain(size, size, sb, min(rho, 0.999), seed=seed)
        s = film_scaling(std, floor=0.25 + 0.2 * u[3])(luma_of(clean))
        noisy = clean + s * g
    elif label == "sensor_noise":
        std = (2 + 8 * u[0]) / 255
        g = _white((1, 3, size, size), seed)
        noisy = clean + sensor_scaling(std, read=0.05 + 0.2 * u[1])(clean) * g
    elif label == "synthetic_overlay":
        sb, std = 2.0 * u[0], (3 + 7 * u[1]) / 255
        g = gaussian_pattern(size, size, sb, seed=seed)
        noisy = clean + std * g
    elif label == "clean":
        noisy = clean
    else:
        raise ValueError(label)
    return (noisy.clamp(0, 1) * 255).round().div(255).float()


def film_grain_on(clean: torch.Tensor, std_255: float = 8.0, sigma_b: float = 1.5, *, seed: int = 3):
    """``(grainy, scaling)``: ``clean`` ``[1, C, H, W]`` plus film-like luma grain (Gaussian size ``sigma_b`` px,
    std peaking in the mid-tones, :func:`film_scaling`) whose std over the image is ``std_255`` grey levels,
    quantised to 8 bits; ``scaling`` the std curve in [0, 1] units."""
    c64 = clean.double()
    shape = film_scaling(1.0)(luma_of(c64))
    scaling = film_scaling(std_255 / 255.0 / float((shape**2).mean().sqrt()))
    h, w = clean.shape[-2:]
    noisy = apply_luma_grain(c64, gaussian_pattern(h, w, sigma_b, seed=seed), scaling)
    return ((noisy * 255).round() / 255).to(clean.dtype), scaling


def centre_crop(x: torch.Tensor, size: int = 256) -> torch.Tensor:
    """The centred ``size`` x ``size`` crop (or the whole side where shorter)."""
    h, w = x.shape[-2:]
    t, left = (h - min(size, h)) // 2, (w - min(size, w)) // 2
    return x[..., t:t + size, left:left + size]
