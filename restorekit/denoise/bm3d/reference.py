"""The optional reference backend of BM3D: a wrapper of the ``bm3d`` package from PyPI.

The ``bm3d`` package (Tampere University; Mäkinen, Azzari & Foi 2020; Dabov et al. 2007) is the
reference implementation of BM3D and of its exact treatment of correlated ("coloured") noise.
It is CPU-only and its licence allows **non-commercial use only**, so restorekit never requires
it: it is an optional extra (``pip install bm3d``) used as a reference backend, for comparisons
and in benchmarks: ``bm3d_denoise(..., backend="reference")`` and
``bm3d_deblur(..., backend="reference")`` come here (:mod:`.dispatch`). Nothing of the required code
paths imports this module for its constants or checks: those are in :mod:`.options`.

:func:`bm3d_denoise_reference` takes the same arguments as ``bm3d_denoise`` (checked by the same
functions of :mod:`.options`):

* ``sigma``: noise standard deviation in [0, 1] units (float, ``[B]`` or ``[B, C]`` tensor), or
  None to estimate it per image and channel (:func:`restorekit.quality.noise.estimate_sigma`).
* ``profile``: ``np``, ``refilter``, ``vn``, ``high``, ``lc``, ``deb`` (the package's profiles of
  the same names; ``lc`` is passed as the package's ``BM3DProfileLC`` object).
* ``stage``: ``all`` (hard thresholding then Wiener) or ``hard`` (hard thresholding only).
* ``color_space`` (3-channel images): ``opp`` or ``ycbcr``. As in the package's ``bm3d_rgb``,
  the image is transformed, each transformed channel is scaled to [0, 1] by its range, and the
  noise PSD (or sigma) follows the transform: ``PSD_j = sum_i a_ji^2 PSD_i / range_j^2``. Block
  matching uses the first (luma) channel, every channel is filtered.
* ``noise_psd``: power spectral density of stationary correlated noise, ``[H, W]`` or
  ``[B, 1 or C, H, W]``, in restorekit's convention ``PSD = E|FFT2(noise)|^2 / (H W)`` (white
  noise of std s has the constant PSD s^2), unshifted (DC at index ``[0, 0]``), on the image's
  grid (the other backends accept any grid size). The package expects ``E|FFT2(noise)|^2``
  itself, i.e. ours times ``H W``; the wrapper converts. When given, ``sigma`` is ignored.
* ``pilot``: a basic estimate (same shape as ``x``); stage 1 is skipped and the Wiener stage
  groups and filters with it (the package's ``stage_arg`` array).

Every image of the batch is processed in turn (the package has no batch axis), on the CPU, via
:func:`restorekit.image.to_numpy` / :func:`~restorekit.image.from_numpy`; the result comes back
on ``x``'s device and dtype.

Compatibility notes
-------------------
* NumPy 2 removed ``numpy.trapz``, which the package's companion ``bm4d`` (4.2.x) calls when it
  derives its thresholds from a non-flat PSD (this is the reported crash of its deblurring). The
  wrapper gives the ``bm4d`` module, and only it, a view of NumPy that adds ``trapz`` (=
  ``numpy.trapezoid``); NumPy itself is not modified.
* With a pilot, the package's 3-channel entry point passes the 3-channel pilot to each channel
  and fails; the wrapper then calls ``bm4d`` channel by channel, exactly as the package's own
  multichannel code does (block matching on the first channel, its matches reused for the
  others).
* Images smaller than the package's block size (8, or 11 for ``vn``'s Wiener stage) are
  mirror-padded to 16 pixels and cropped back; a PSD is carried over to the padded grid through
  its autocovariance.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ...errors import InvalidParameterError, MissingDependencyError
from ...image import check_image, from_numpy, to_numpy
from ...progress import ProgressCallback, report
from .options import COLOR_MATRICES, MIN_RANGE, check_options, psd_tensor, sigma_per_channel

_MIN_SIDE = 16  # smaller images are mirror-padded to this size

INSTALL_FIX = (
    'run `pip install bm3d` (its licence allows non-commercial use only), or choose backend "auto" or "torch" '
    '(our own implementation, no extra package; "restorekit" in the nodes).'
)


class _NumpyWithTrapz:
    """NumPy as seen by the ``bm4d`` module: everything forwarded, plus ``trapz`` (removed in NumPy 2)."""

    def __init__(self, module: Any) -> None:
        self._module = module
        self.trapz = module.trapezoid

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


def load_reference() -> tuple[Any, Any]:
    """Import the optional ``bm3d`` package (and its ``bm4d`` engine), made NumPy-2 compatible.

    Raises :class:`~restorekit.errors.MissingDependencyError` when it is not installed.
    """
    try:
        import bm3d
        import bm4d
    except ImportError as exc:  # includes a module set to None in sys.modules
        raise MissingDependencyError(
            "backend",
            'the "reference" backend needs the optional `bm3d` package (Tampere University, non-commercial '
            "licence), which is not installed.",
            INSTALL_FIX,
        ) from exc
    if not hasattr(np, "trapz") and not isinstance(getattr(bm4d, "np", None), _NumpyWithTrapz):
        bm4d.np = _NumpyWithTrapz(np)
    return bm3d, bm4d


def reference_available() -> bool:
    """Whether the optional ``bm3d`` package can be imported."""
    try:
        load_reference()
    except MissingDependencyError:
        return False
    return True


def _profile(bm3d: Any, name: str) -> Any:
    from bm3d import profiles

    classes = {
        "np": profiles.BM3DProfile,
        "refilter": profiles.BM3DProfileRefilter,
        "vn": profiles.BM3DProfileVN,
        "high": profiles.BM3DProfileHigh,
        "lc": profiles.BM3DProfileLC,
        "deb": profiles.BM3DProfileDeb,
    }
    return classes[name]()


def _resample_psd(psd: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A per-pixel PSD ``[h, w]`` moved onto a larger FFT grid through its autocovariance."""
    h, w = psd.shape
    acov = np.real(np.fft.ifft2(psd))
    big = np.zeros(shape)
    rows = np.where(np.arange(h) <= h // 2, np.arange(h), np.arange(h) - h) % shape[0]
    cols = np.where(np.arange(w) <= w // 2, np.arange(w), np.arange(w) - w) % shape[1]
    big[np.ix_(rows, cols)] = acov
    return np.clip(np.real(np.fft.fft2(big)), 0.0, None)


def _denoise_one(
    bm3d: Any,
    bm4d: Any,
    z: np.ndarray,
    noise: np.ndarray,
    is_psd: bool,
    profile: str,
    stage: str,
    color_space: str,
    pilot: np.ndarray | None,
) -> np.ndarray:
    """One image ``z`` ``[H, W, C]`` float64. ``noise``: stds ``[C]`` or per-pixel PSDs ``[H, W, C]`` (ours)."""
    from bm3d.profiles import BM3DStages

    h, w, c = z.shape
    ph, pw = max(_MIN_SIDE - h, 0), max(_MIN_SIDE - w, 0)
    if ph or pw:
        margins = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0))
        z = np.pad(z, margins, mode="symmetric")
        if pilot is not None:
            pilot = np.pad(pilot, margins, mode="symmetric")
        if is_psd:
            noise = np.stack([_resample_psd(noise[..., k], z.shape[:2]) for k in range(c)], axis=-1)
    hh, ww = z.shape[:2]
    if is_psd:
        noise = noise * (hh * ww)  # package convention: E|FFT2(noise)|^2
    pro = _profile(bm3d, profile)

    if c == 1:
        stage_arg = (
            pilot[..., 0]
            if pilot is not None
            else (BM3DStages.HARD_THRESHOLDING if stage == "hard" else BM3DStages.ALL_STAGES)
        )
        out = bm3d.bm3d(z[..., 0], noise[..., 0] if is_psd else float(noise[0]), pro, stage_arg=stage_arg)
        out = np.asarray(out)[..., None]
    else:
        a = np.asarray(COLOR_MATRICES[color_space], dtype=np.float64)
        t = z.reshape(-1, 3) @ a.T
        lo, hi = t.min(axis=0), t.max(axis=0)
        rng = np.where(hi - lo > MIN_RANGE, hi - lo, 1.0)
        t = ((t - lo) / rng).reshape(hh, ww, 3)
        if is_psd:
            noise_t = (noise.reshape(-1, 3) @ (a.T**2)).reshape(hh, ww, 3) / rng**2
        else:
            noise_t = np.sqrt((noise**2) @ (a.T**2)) / rng
        pro_c = bm3d._convert_profile(pro)  # the conversion the package's own bm3d() does
        if pilot is not None:
            p = ((pilot.reshape(-1, 3) @ a.T - lo) / rng).reshape(hh, ww, 3)
            stages = [p[..., k : k + 1] for k in range(3)]
        else:
            stages = [BM3DStages.HARD_THRESHOLDING if stage == "hard" else BM3DStages.ALL_STAGES] * 3

        def noise_of(k: int) -> Any:
            return noise_t[..., k : k + 1] if is_psd else float(noise_t[k])

        first = bm4d.bm4d(t[..., 0:1], noise_of(0), pro_c, stages[0], (True, True))
        # bm4d returns no block matches when the first channel's estimate is constant
        first_out, matches = first if isinstance(first, tuple) else (first, (False, False))
        outs = [np.asarray(first_out)[..., 0]]
        for k in (1, 2):
            outs.append(np.asarray(bm4d.bm4d(t[..., k : k + 1], noise_of(k), pro_c, stages[k], matches))[..., 0])
        o = np.stack(outs, axis=-1).reshape(-1, 3) * rng + lo
        out = (o @ np.linalg.inv(a).T).reshape(hh, ww, 3)
    if ph or pw:
        out = out[ph // 2 : ph // 2 + h, pw // 2 : pw // 2 + w]
    return out


def bm3d_denoise_reference(
    x: torch.Tensor,
    *,
    sigma: float | torch.Tensor | None = None,
    profile: str = "np",
    stage: str = "all",
    color_space: str = "opp",
    noise_psd: torch.Tensor | None = None,
    pilot: torch.Tensor | None = None,
    progress: ProgressCallback | None = None,
) -> torch.Tensor:
    """BM3D / CBM3D denoising of ``x`` ``[B, C, H, W]`` (values in [0, 1]) by the ``bm3d`` package.

    Same arguments and conventions as :func:`restorekit.denoise.bm3d.bm3d_denoise` (see the module
    docstring). Images whose noise is zero (given or estimated sigma 0, or an all-zero PSD) are
    returned unchanged. ``progress(done, B)`` is called after every image. Returns the same shape,
    dtype and device, clipped to [0, 1] (as our backend). Raises MissingDependencyError when the package is
    not installed.
    """
    check_image(x)
    check_options(profile, stage, color_space)
    if pilot is not None:
        check_image(pilot, "pilot")
        if pilot.shape != x.shape:
            raise InvalidParameterError(
                "pilot", f"shape {tuple(pilot.shape)} differs from the image's {tuple(x.shape)}.", "give one per image."
            )
    bm3d, bm4d = load_reference()
    b, c, h, w = x.shape
    if noise_psd is not None:  # float32, as the images
        noise = to_numpy(psd_tensor(noise_psd, b, c, size=(h, w))).astype(np.float64)  # [B, H, W, C]
    else:
        noise = sigma_per_channel(x, sigma).double().cpu().numpy()  # [B, C]
    zero = [not bool(np.any(noise[i] > 0)) for i in range(b)]
    arr = to_numpy(x).astype(np.float64)
    pil = to_numpy(pilot).astype(np.float64) if pilot is not None else None
    out = np.empty_like(arr)
    for i in range(b):
        if zero[i]:
            out[i] = arr[i]
        else:
            out[i] = _denoise_one(
                bm3d,
                bm4d,
                arr[i],
                noise[i],
                noise_psd is not None,
                profile,
                stage,
                color_space,
                None if pil is None else pil[i],
            )
        report(progress, i + 1, b)
    return from_numpy(np.clip(out, 0.0, 1.0), x)


__all__ = ["INSTALL_FIX", "bm3d_denoise_reference", "load_reference", "reference_available"]
