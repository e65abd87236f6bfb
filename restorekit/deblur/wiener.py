"""Wiener deconvolution (regularised inverse filter) in the Fourier domain, on any torch device.

For an image ``y = k * x + n`` (``k`` the PSF, ``n`` white noise of standard deviation sigma)
the estimate is::

    X(f) = conj(H(f)) Y(f) / (|H(f)|^2 + K R(f))

with ``H`` the PSF's transfer function and ``R(f) >= 0`` the regulariser's power response:

* ``gradient`` (default): ``R = |Dx|^2 + |Dy|^2`` (forward differences). This is the Wiener
  filter for a natural-image spectrum falling as ``1 / |f|^2``; ``K`` is then
  ``sigma^2 / (mean squared gradient of the sharp image)``.
* ``laplacian``: ``R = |L|^2`` (5-point Laplacian), Tikhonov-Miller regularisation, spectrum
  falling as ``1 / |f|^4``.
* ``identity``: ``R = 1`` for every frequency except DC, the textbook constant noise-to-signal
  ratio ``K`` (= noise variance / image variance).

DC gain is exactly 1: the PSF sums to 1 so ``H(0) = 1``, and ``R(0) = 0`` for all three
regularisers (for ``identity`` the DC term is left unregularised on purpose; the mean of an
image is known far better than the noise), so a constant image comes back unchanged and the
brightness never shifts. (The classic ``H* / (|H|^2 + K)`` with constant ``K`` everywhere would
darken every image by ``1 / (1 + K)``.)

Choosing ``K`` (``mode``):

* ``k``: given directly.
* ``snr``: a signal-to-noise ratio in dB, ``K = 10^(-snr / 10)``, where the "signal" is the power
  of the regulariser applied to the sharp image (gradient power for ``gradient``).
* ``auto``: ``K = sigma^2 / P``, the Wiener value for the prior "sharp spectrum = P / R(f)".
  ``sigma`` is the noise level (given, or estimated per image and channel with
  :func:`restorekit.quality.noise.estimate_sigma`); ``P`` is chosen by maximum marginal
  likelihood (type-II ML, "evidence"): the observed spectrum is modelled as Gaussian with
  variance ``|H|^2 P / R + sigma^2`` per frequency and ``P`` maximises its likelihood (grid search
  in log P, refined to 0.05 decade). No clean image and no tuned constant are involved. On
  Set12 256x256 with the 8 Levin kernels (sigma 2.55) it lands on average 0.18 dB below the
  best K chosen with the clean image (generalised cross-validation: 0.25 dB below).

Edges: the image is padded by at least one kernel size per side and the padding cross-faded
into a periodic canvas (:func:`restorekit.deblur.fft.periodic_extension`), so the FFT's
wrap-around sees no jump and the borders do not ring. ``replicate`` (default) continues each
edge row/column outwards; a constant continuation is left unchanged by blurring across the
edge, so it is consistent with the blur model whatever the PSF's asymmetry, and it measured
0.6 dB better than mirroring on Set12 x Levin (mirroring a blurred image mirrors the PSF too).
``periodic`` skips the padding (for images that really are periodic).
"""

from __future__ import annotations

import math

import torch

from ..errors import InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report
from ..quality.noise import estimate_sigma
from .fft import PAD_MODES, deconvolution_canvas, gradient_transfer, laplacian_transfer, periodic_extension, psf_to_otf
from .psf import PSF

MODES = ("auto", "snr", "k")
REGULARISERS = ("gradient", "laplacian", "identity")

# Search grid (log10 of the prior power P) for the automatic choice, and its refinement.
_ML_LOG10_RANGE = (-8.0, 2.0)
_ML_COARSE = 21  # half-decade steps
_ML_FINE = 21  # then 0.05-decade steps around the best
#: Smallest noise sigma used by the automatic mode ([0, 1] units): half an 8-bit grey level.
SIGMA_FLOOR = 0.5 / 255


def _regulariser_transfer(name: str, shape: tuple[int, int], device: torch.device) -> torch.Tensor:
    if name == "gradient":
        return gradient_transfer(shape, device)
    if name == "laplacian":
        return laplacian_transfer(shape, device)
    r = torch.ones((shape[0], shape[1] // 2 + 1), device=device)
    r[0, 0] = 0.0
    return r


def _half_spectrum_weights(width: int, device: torch.device) -> torch.Tensor:
    """Multiplicity of each rfft column in the full spectrum (1 for DC / Nyquist, else 2)."""
    n = width // 2 + 1
    wgt = torch.full((n,), 2.0, device=device)
    wgt[0] = 1.0
    if width % 2 == 0:
        wgt[-1] = 1.0
    return wgt


def ml_prior_power(
    spectrum: torch.Tensor, otf_power: torch.Tensor, reg: torch.Tensor, sigma: torch.Tensor, shape: tuple[int, int]
) -> torch.Tensor:
    """The prior power ``P`` maximising the Gaussian marginal likelihood of the observed spectrum.

    Model: ``E |Y(f)|^2 / N = |H(f)|^2 P / R(f) + sigma^2`` (N = pixel count of the canvas), i.e.
    the sharp image's spectrum is ``P / R(f)`` and the noise is white. ``spectrum`` ``[..., Hf, Wf]``
    (complex rfft2 of the canvas), ``otf_power`` = ``|H|^2`` and ``reg`` = ``R`` on the same grid,
    ``sigma`` ``[...]``. DC is excluded. Returns ``P`` ``[...]`` float32.
    """
    lead = spectrum.shape[:-2]
    n = shape[0] * shape[1]
    power = (spectrum.real**2 + spectrum.imag**2).reshape(-1, *spectrum.shape[-2:]).flatten(1) / n  # [M, F]
    weight = _half_spectrum_weights(shape[1], spectrum.device).expand_as(otf_power).clone()
    weight[0, 0] = 0.0  # DC carries no information about P
    weight = weight.flatten()
    safe_reg = torch.where(reg > 0, reg, torch.ones_like(reg)).flatten()
    gain = torch.where(reg.flatten() > 0, otf_power.flatten() / safe_reg, torch.zeros_like(safe_reg))  # |H|^2 / R
    noise = (sigma.reshape(-1, 1).float() ** 2).clamp_min(SIGMA_FLOOR**2)  # [M, 1]

    def loglik(log_p: torch.Tensor) -> torch.Tensor:  # [M, G] -> [M, G]
        out = []
        for g in range(log_p.shape[1]):  # one grid point at a time keeps memory at O(M * F)
            v = gain * (10.0 ** log_p[:, g : g + 1]) + noise
            out.append(-(weight * (power / v + torch.log(v))).sum(dim=1))
        return torch.stack(out, dim=1)

    m = power.shape[0]
    lo, hi = _ML_LOG10_RANGE
    grid = torch.linspace(lo, hi, _ML_COARSE, device=power.device).expand(m, -1)
    best = grid.gather(1, loglik(grid).argmax(dim=1, keepdim=True))
    step = (hi - lo) / (_ML_COARSE - 1)
    fine = best + torch.linspace(-step, step, _ML_FINE, device=power.device)[None, :]
    best = fine.gather(1, loglik(fine).argmax(dim=1, keepdim=True))[:, 0]
    return (10.0**best).reshape(lead).float()


def _validate(
    mode: str, k: float | torch.Tensor | None, snr_db: float, regulariser: str, edges: str, sigma: float | None
) -> None:
    if mode not in MODES:
        raise InvalidParameterError("mode", f"unknown mode {mode!r}.", f"choose one of: {', '.join(MODES)}.")
    if regulariser not in REGULARISERS:
        raise InvalidParameterError(
            "regulariser", f"unknown regulariser {regulariser!r}.", f"choose one of: {', '.join(REGULARISERS)}."
        )
    if edges not in PAD_MODES:
        raise InvalidParameterError("edges", f"unknown edge mode {edges!r}.", f"choose one of: {', '.join(PAD_MODES)}.")
    if mode == "k":
        if isinstance(k, torch.Tensor):
            bad = not bool(torch.isfinite(k).all()) or bool((k <= 0).any())
        else:
            bad = isinstance(k, bool) or not isinstance(k, (int, float)) or not math.isfinite(k) or k <= 0
        if bad:
            raise InvalidParameterError(
                "k", f"must be a finite number > 0, got {k!r}.", "try 1e-3 (less noise) to 1e-1."
            )
    if mode == "snr" and (
        isinstance(snr_db, bool) or not isinstance(snr_db, (int, float)) or not math.isfinite(snr_db)
    ):
        raise InvalidParameterError("snr_db", f"must be a finite number of dB, got {snr_db!r}.", "try 15 to 30.")
    if sigma is not None and (
        isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not math.isfinite(sigma) or sigma < 0
    ):
        raise InvalidParameterError("sigma", f"must be >= 0 in [0, 1] units or None (estimate), got {sigma!r}.", None)


def _prepare(x: torch.Tensor, psf: PSF, edges: str) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int, int, int]]:
    """Padded periodic canvas of ``x`` (float32) and the PSF's OTF on it."""
    h, w = x.shape[-2:]
    kernel = psf.kernel_on(x.device)
    if edges == "periodic":
        canvas, margins = x.float(), (0, 0, 0, 0)
    else:
        shape, margins = deconvolution_canvas((h, w), psf.shape)
        canvas = periodic_extension(x.float(), margins, edges)
    otf = psf_to_otf(kernel, tuple(canvas.shape[-2:]))
    return canvas, otf, margins


def _noise(x: torch.Tensor, sigma: float | None) -> torch.Tensor:
    if sigma is None:
        return estimate_sigma(x.float())
    return torch.full(x.shape[:2], float(sigma), device=x.device)


def estimate_k(
    x: torch.Tensor,
    psf: PSF,
    *,
    regulariser: str = "gradient",
    sigma: float | None = None,
    edges: str = "replicate",
) -> torch.Tensor:
    """The automatic ``K = sigma^2 / P`` for each image and channel of ``x``: ``[B, C]`` float32.

    ``sigma`` is the noise standard deviation in [0, 1] units (None = estimated per image and
    channel; floored at :data:`SIGMA_FLOOR`); ``P`` maximises the marginal likelihood
    (:func:`ml_prior_power`) on the padded canvas.
    """
    check_image(x)
    if not isinstance(psf, PSF):
        raise InvalidParameterError("psf", f"expected a PSF, got {type(psf).__name__}.", "build one with Make PSF.")
    _validate("auto", None, 0.0, regulariser, edges, sigma)
    canvas, otf, _ = _prepare(x, psf, edges)
    return _auto_k(torch.fft.rfft2(canvas), otf, regulariser, _noise(x, sigma), tuple(canvas.shape[-2:]))


def _auto_k(
    spec: torch.Tensor, otf: torch.Tensor, regulariser: str, noise: torch.Tensor, shape: tuple[int, int]
) -> torch.Tensor:
    reg = _regulariser_transfer(regulariser, shape, spec.device)
    power = ml_prior_power(spec, otf.real**2 + otf.imag**2, reg, noise, shape)
    return noise.float().clamp_min(SIGMA_FLOOR) ** 2 / power.clamp_min(1e-20)


def wiener_deconvolution(
    x: torch.Tensor,
    psf: PSF,
    *,
    mode: str = "auto",
    k: float | torch.Tensor = 1e-2,
    snr_db: float = 20.0,
    regulariser: str = "gradient",
    sigma: float | None = None,
    edges: str = "replicate",
    progress: ProgressCallback | None = None,
) -> torch.Tensor:
    """Deblur ``x`` ``[B, C, H, W]`` (values in [0, 1]) with the Wiener filter of ``psf``.

    ``mode``: ``auto`` (K from the noise level and the marginal likelihood, per image and
    channel), ``snr`` (``snr_db`` in dB) or ``k`` (the constant ``k``, a float or a ``[B, C]``
    tensor). ``regulariser``: ``gradient`` | ``laplacian`` | ``identity`` (see the module
    docstring). ``sigma``: noise std in [0, 1] units for ``auto`` (None = estimate). ``edges``:
    ``replicate`` (default) or ``reflect`` padding cross-faded to a periodic canvas, or
    ``periodic`` (no padding). Every channel is filtered with the same PSF. Returns the same
    shape, dtype and device; values are not clipped (ringing may slightly leave [0, 1]).
    """
    check_image(x)
    if not isinstance(psf, PSF):
        raise InvalidParameterError("psf", f"expected a PSF, got {type(psf).__name__}.", "build one with Make PSF.")
    _validate(mode, k, snr_db, regulariser, edges, sigma)
    b, c, h, w = x.shape
    canvas, otf, (top, _, left, _) = _prepare(x, psf, edges)
    shape = tuple(canvas.shape[-2:])
    spec = torch.fft.rfft2(canvas)
    if mode == "auto":
        kk = _auto_k(spec, otf, regulariser, _noise(x, sigma), shape)
    elif mode == "snr":
        kk = torch.full((b, c), 10.0 ** (-snr_db / 10.0), device=x.device)
    elif isinstance(k, torch.Tensor):
        kk = k.to(device=x.device, dtype=torch.float32).expand(b, c)
    else:
        kk = torch.full((b, c), float(k), device=x.device)
    report(progress, 1, 2)
    reg = _regulariser_transfer(regulariser, shape, x.device)
    power = otf.real**2 + otf.imag**2
    filt = otf.conj() / (power + kk[..., None, None] * reg).clamp_min(1e-12)
    filt[..., 0, 0] = 1.0  # H(0) = 1 (the PSF sums to 1) and R(0) = 0: DC passes exactly unchanged
    out = torch.fft.irfft2(spec * filt, s=shape)
    out = out[..., top : top + h, left : left + w]
    report(progress, 2, 2)
    return out.to(x.dtype)
