"""BM3D deblurring: regularised inversion followed by BM3D filtering of the coloured noise it leaves.

The method of K. Dabov, A. Foi, V. Katkovnik & K. Egiazarian, "Image restoration by sparse 3D
transform-domain collaborative filtering", Proc. SPIE 6812 (2008), for ``y = k * x + n`` with a
known PSF ``k`` and white Gaussian noise ``n`` of standard deviation sigma. In the Fourier domain
(``V`` the PSF's transfer function, ``Y`` the spectrum of the observation, ``N`` the number of
pixels of the FFT grid):

1. Regularised inverse (RI), Tikhonov::

       T_RI = conj(V) / (|V|^2 + alpha_RI * N_RI * sigma^2),    z_RI = IFFT(T_RI Y)

   The noise of ``z_RI`` is coloured, with power spectral density ``PSD_RI = sigma^2 |T_RI|^2``
   (per-pixel convention: white noise has the constant PSD sigma^2).
2. BM3D hard thresholding of ``z_RI`` for that PSD gives the estimate ``y_RI``.
3. Regularised Wiener inverse (RWI), with the spectrum of ``y_RI`` as the signal spectrum
   ``S = |FFT(y_RI)|^2 / N``::

       T_RWI = conj(V) S / (|V|^2 S + alpha_RWI * sigma^2),      z_RWI = IFFT(T_RWI Y)

   with noise PSD ``PSD_RWI = sigma^2 |T_RWI|^2``.
4. BM3D Wiener filtering of ``z_RWI`` for ``PSD_RWI``, with ``y_RI`` as the pilot (basic estimate).

Constants: the paper's ``alpha_RI = 4e-4`` and ``alpha_RWI = 5e-3``. In the paper (and in the
reference code) the RI regulariser is ``alpha_RI * N * sigma^2`` with ``N`` the image's pixel
count, so it grows with the image size; here ``N_RI`` is fixed at 256 x 256 (the size of the
paper's test images), which keeps the result independent of the image size and of the padding
(``RI_PIXELS``). Both transfer functions pass DC exactly (``T(0) = 1``): the PSF sums to 1 and
the mean of an image is known far better than the noise, so brightness is never shifted.

Edges: the blur in real images is not circular, and the RI/RWI inverses (weakly regularised, with
long spatial support) spread any inconsistency at the frame's border over the whole image. The
pipeline runs on a periodic canvas larger than the image by at least one kernel size per side
(BM3D included, so the PSDs are those of the canvas grid), and the image is cropped back.
``edges`` says how the canvas beyond the frame is filled:

* ``extrapolate`` (default): a first estimate of the sharp image is made with Richardson–Lucy
  (:func:`restorekit.deblur.richardson_lucy.richardson_lucy`, defaults: unseen borders, TV),
  continued beyond the frame by mirroring and cross-fading
  (:func:`restorekit.deblur.fft.periodic_extension`), blurred circularly with the PSF, and the
  observed image pasted over its frame. The canvas is then (up to the noise and the error of the
  first estimate) exactly a circular blur, which is the model of the Fourier inverses. On Set12
  256x256 x Levin kernels 1 and 4 (sigma 2.55, ``reflect`` blur) this gave 28.0-29.9 dB where
  padding the blurred image gave 21.6-28.0 dB (reference backend); the periodic ground truth
  (circular blur, no padding) gives 29.8 dB on the hardest of them.
* ``replicate`` / ``reflect``: the blurred image itself is padded and cross-faded (as
  :mod:`restorekit.deblur.wiener` does): faster, but rings with asymmetric kernels.
* ``periodic``: no padding, for images that really are periodic.

Colour: the inversions are done per RGB channel (same PSF, per-channel sigma and spectrum, hence
per-channel PSDs), the BM3D steps are CBM3D (grouping on luma; opponent or YCbCr space), whose
noise PSDs are derived from the RGB ones by the backend. ``sigma`` None = estimated per image and
channel on the blurred input (:func:`restorekit.quality.noise.estimate_sigma`), at least half a
grey level.

Backends: both BM3D steps go through :func:`restorekit.denoise.bm3d.bm3d_denoise` with the same
``backend=`` (:mod:`restorekit.denoise.bm3d.dispatch`): ``auto`` (default; ``restorekit`` is the
same) and ``torch`` run our BM3D on any device (the noise here is correlated, so ``auto`` runs
the torch path: the fused kernels handle white noise only, and ``fused`` is refused up front);
``reference`` runs the optional ``bm3d`` package (CPU; the package's own ``bm3d_deblurring`` is
not used).
"""

from __future__ import annotations

import functools
import math

import torch

from ..denoise.bm3d.dispatch import bm3d_denoise, resolve_backend
from ..denoise.bm3d.options import check_options, sigma_per_channel
from ..errors import InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report, scaled
from .fft import deconvolution_canvas, periodic_extension
from .psf import PSF

EDGE_MODES = ("extrapolate", "replicate", "reflect", "periodic")

#: Regularisation of the inverse (Tikhonov) and of the Wiener inverse, Dabov et al. 2008.
ALPHA_RI = 4e-4
ALPHA_RWI = 5e-3
#: Pixel count N in the RI regulariser ``alpha_RI * N * sigma^2`` (256 x 256, the paper's image size).
RI_PIXELS = 256 * 256
#: Smallest noise sigma used ([0, 1] units): half an 8-bit grey level.
SIGMA_FLOOR = 0.5 / 255
#: Progress scale: the first estimate, the hard-thresholding step, then the Wiener step (the rest).
_TOTAL = 1000
_SPAN_FIRST = 150
_SPAN_HARD = 350


def _otf(kernel: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Full-spectrum transfer function ``[H, W]`` (complex) of a centred kernel on an FFT grid."""
    h, w = kernel.shape
    grid = torch.zeros(shape, dtype=torch.float32, device=kernel.device)
    grid[:h, :w] = kernel
    grid = torch.roll(grid, shifts=(-(h // 2), -(w // 2)), dims=(0, 1))
    return torch.fft.fft2(grid)


def _check(edges: str, alpha_ri: float, alpha_rwi: float) -> None:
    if edges not in EDGE_MODES:
        raise InvalidParameterError(
            "edges", f"unknown edge mode {edges!r}.", f"choose one of: {', '.join(EDGE_MODES)}."
        )
    for name, value in (("alpha_ri", alpha_ri), ("alpha_rwi", alpha_rwi)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise InvalidParameterError(name, f"must be a finite number > 0, got {value!r}.", "keep the default.")


def _first_estimate(
    y: torch.Tensor, psf: PSF, sigma: float | torch.Tensor | None, progress: ProgressCallback | None = None
) -> torch.Tensor:
    """A first deblurred estimate (Richardson–Lucy, unseen borders), used to extrapolate the frame."""
    from .richardson_lucy import richardson_lucy

    if sigma is None or not isinstance(sigma, torch.Tensor):
        s = None if sigma is None else max(float(sigma), SIGMA_FLOOR)
        return richardson_lucy(y, psf, sigma=s, progress=progress).clamp(0, 1)
    per_image = noise_sigma(y, sigma).mean(dim=1).tolist()
    n = y.shape[0]
    return torch.cat([
        richardson_lucy(y[i : i + 1], psf, sigma=per_image[i], progress=scaled(progress, i, 1, n)).clamp(0, 1)
        for i in range(n)
    ])


def noise_sigma(x: torch.Tensor, sigma: float | torch.Tensor | None) -> torch.Tensor:
    """The noise std used per image and channel, ``[B, C]`` float32 (given or estimated, floored)."""
    return sigma_per_channel(x, sigma).clamp_min(SIGMA_FLOOR)


def bm3d_deblur(
    x: torch.Tensor,
    psf: PSF,
    *,
    sigma: float | torch.Tensor | None = None,
    profile: str = "np",
    color_space: str = "opp",
    backend: str = "auto",
    edges: str = "extrapolate",
    alpha_ri: float = ALPHA_RI,
    alpha_rwi: float = ALPHA_RWI,
    progress: ProgressCallback | None = None,
) -> torch.Tensor:
    """Deblur ``x`` ``[B, C, H, W]`` (values in [0, 1], C = 1 or 3) with ``psf`` by BM3D deblurring.

    ``sigma``: std of the white noise in [0, 1] units (float, ``[B]`` or ``[B, C]`` tensor; None =
    estimate per image and channel). ``profile`` (BM3D profile: np, refilter, vn, high, lc, deb)
    and ``color_space`` (opp, ycbcr) go to both BM3D steps, and so does ``backend`` (as in
    :func:`restorekit.denoise.bm3d.bm3d_denoise`: ``auto``, ``torch``, ``reference`` (needs the
    optional ``bm3d`` package); ``fused`` is refused, the noise being correlated). ``edges``:
    ``extrapolate`` (default; a first Richardson–Lucy estimate continues the scene beyond the
    frame) | ``replicate`` |
    ``reflect`` | ``periodic`` (see the module docstring). ``alpha_ri`` / ``alpha_rwi``: the
    regularisation constants. ``progress(done, 1000)``, monotone, from inside every step (the first
    estimate, both BM3D steps). Returns the same
    shape, dtype and device, values in [0, 1] (both BM3D backends clip).
    """
    check_image(x)
    if not isinstance(psf, PSF):
        raise InvalidParameterError("psf", f"expected a PSF, got {type(psf).__name__}.", "build one with Make PSF.")
    check_options(profile, "all", color_space)
    _check(edges, alpha_ri, alpha_rwi)
    s = noise_sigma(x, sigma)  # [B, C]: the one sigma validator
    # fail now, not after the first steps (e.g. when the reference package is missing)
    denoise = functools.partial(bm3d_denoise, backend=resolve_backend(backend, x.device, white_noise=False))
    var = (s * s)[..., None, None]

    h, w = x.shape[-2:]
    y = x.detach().float()
    if edges == "periodic":
        shape, top, left = (h, w), 0, 0
        v = _otf(psf.kernel_on(x.device), shape)
        canvas = y
    else:
        shape, margins = deconvolution_canvas((h, w), psf.shape)
        top, left = margins[0], margins[2]
        v = _otf(psf.kernel_on(x.device), shape)
        if edges == "extrapolate":
            first = _first_estimate(y, psf, sigma, scaled(progress, 0, _SPAN_FIRST, _TOTAL))
            sharp = periodic_extension(first, margins, "reflect")
            canvas = torch.fft.ifft2(torch.fft.fft2(sharp) * v).real
            canvas[..., top : top + h, left : left + w] = y
        else:
            canvas = periodic_extension(y, margins, edges)
    n = shape[0] * shape[1]
    v2 = v.real**2 + v.imag**2
    spec = torch.fft.fft2(canvas)

    # 1. regularised inverse and its noise PSD
    t_ri = v.conj() / (v2 + alpha_ri * RI_PIXELS * var)
    t_ri[..., 0, 0] = 1.0
    z_ri = torch.fft.ifft2(spec * t_ri).real
    psd_ri = var * (t_ri.real**2 + t_ri.imag**2)
    del t_ri, canvas  # large images: keep only what the next steps need
    report(progress, _SPAN_FIRST, _TOTAL)

    # 2. BM3D hard thresholding of the RI estimate
    y_ri = denoise(
        z_ri, noise_psd=psd_ri, profile=profile, stage="hard", color_space=color_space,
        progress=scaled(progress, _SPAN_FIRST, _SPAN_HARD, _TOTAL),
    ).float()
    report(progress, _SPAN_FIRST + _SPAN_HARD, _TOTAL)

    # 3. regularised Wiener inverse with the RI estimate's spectrum
    f_ri = torch.fft.fft2(y_ri)
    signal = (f_ri.real**2 + f_ri.imag**2) / n
    t_rwi = v.conj() * signal / (v2 * signal + alpha_rwi * var)
    t_rwi[..., 0, 0] = 1.0
    z_rwi = torch.fft.ifft2(spec * t_rwi).real
    psd_rwi = var * (t_rwi.real**2 + t_rwi.imag**2)
    del f_ri, signal, t_rwi, spec, z_ri, psd_ri

    # 4. BM3D Wiener filtering with the RI estimate as pilot
    start = _SPAN_FIRST + _SPAN_HARD
    out = denoise(
        z_rwi, noise_psd=psd_rwi, profile=profile, color_space=color_space, pilot=y_ri,
        progress=scaled(progress, start, _TOTAL - start, _TOTAL),
    ).float()
    report(progress, _TOTAL, _TOTAL)
    out = out[..., top : top + h, left : left + w]
    return out.to(x.dtype)
