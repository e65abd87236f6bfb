"""Detail Sharpen: five ways to boost detail, one interface.

Every method computes a change ``d`` of the image and returns ``clamp(x + amount * d, 0, 1)``, so
``amount`` 0 returns the input and 1 is the method's natural strength. With ``luminance_only``
(default) ``d`` is computed on BT.601 luma and added to R, G and B alike, which keeps colours
and avoids colour fringes; off, every channel is sharpened on its own. Gray images are sharpened
directly.

``method``:

- ``high_pass``: ``d = Y - G_radius * Y``, the signed high-pass (positive *and* negative detail; the
  old pack's high-pass dropped the negative half). Same as an unsharp mask.
- ``laplacian_pyramid``: ``d`` = the sum of the finest ``levels`` bands of the Laplacian pyramid
  (:mod:`restorekit.enhance.pyramid`), i.e. those bands are multiplied by ``1 + amount``. Band ``k``
  holds periods of about ``2^(k+1)``-``2^(k+2)`` px, so ``levels`` picks how coarse the boosted detail gets.
- ``guided``: ``d = Y - GF(Y)``, ``GF`` the self-guided filter (:mod:`restorekit.sharpen.guided`) with
  windows of radius ``round(2 radius)`` px and ``eps = edge_contrast^2``: the base layer keeps
  edges of contrast well above ``edge_contrast``, so strong edges get little extra contrast (little
  halo) and finer, fainter detail gets most of it.
- ``cas``: AMD FidelityFX contrast-adaptive sharpening (:mod:`restorekit.sharpen.cas`) with
  ``sharpness`` in ``space`` (``linear`` or ``srgb``); ``d = CAS(x) - x`` and amount 1 is CAS as published.
- ``deconvolution``: ``d = deconv(Y) - Y``, a deconvolution by a Gaussian PSF of sigma ``radius`` px
  through :func:`restorekit.deblur.wiener.wiener_deconvolution` (``solver="wiener"``, automatic
  regularisation from the estimated noise) or :func:`restorekit.deblur.richardson_lucy.richardson_lucy`
  (``solver="richardson_lucy"``, ``iterations`` steps, automatic TV regularisation).

Parameters that a method does not use are ignored by it (and say so in their help).
"""

from __future__ import annotations

import math

import torch

from ..color import luma
from ..errors import InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report
from .cas import cas_change, check_sharpness, check_space
from .guided import MAX_RADIUS as GUIDED_MAX_RADIUS
from .guided import guided_filter
from .unsharp import gaussian_blur

METHODS = ("guided", "high_pass", "laplacian_pyramid", "cas", "deconvolution")
SOLVERS = ("wiener", "richardson_lucy")
MAX_AMOUNT = 5.0
MAX_RADIUS = 20.0
MAX_LEVELS = 8
MAX_ITERATIONS = 500


def _number(name: str, value: object, lo: float, hi: float, fix: str, *, open_low: bool = False) -> None:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if ok:
        ok = (lo < value if open_low else lo <= value) and value <= hi
    if not ok:
        raise InvalidParameterError(
            name, f"expected a number in {'(' if open_low else '['}{lo:g}, {hi:g}], got {value!r}.", fix
        )


def _whole(name: str, value: object, lo: int, hi: int, fix: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidParameterError(name, f"expected a whole number in [{lo}, {hi}], got {value!r}.", fix)


def guided_radius(radius: float) -> int:
    """The guided filter's window radius (px) for a detail ``radius``: ``round(2 radius)``, at least 1."""
    return min(max(1, round(2.0 * radius)), GUIDED_MAX_RADIUS)


def _pyramid_detail(y: torch.Tensor, levels: int) -> torch.Tensor:
    from ..enhance.pyramid import collapse_laplacian_pyramid, laplacian_pyramid

    bands = laplacian_pyramid(y, levels)
    # Collapsing the boosted bands alone (residual zeroed) gives exactly their full-size sum.
    if len(bands) == 1:  # a 1 x 1 image has no detail bands
        return torch.zeros_like(y)
    return collapse_laplacian_pyramid([*bands[:-1], torch.zeros_like(bands[-1])])


def _deconvolution_detail(y: torch.Tensor, radius: float, solver: str, iterations: int) -> torch.Tensor:
    from ..deblur.psf import gaussian_psf

    psf = gaussian_psf(float(radius))
    if solver == "wiener":
        from ..deblur.wiener import wiener_deconvolution

        sharp = wiener_deconvolution(y, psf, mode="auto")
    else:
        from ..deblur.richardson_lucy import richardson_lucy

        sharp = richardson_lucy(y, psf, iterations=iterations)
    return sharp.to(y.dtype) - y


def detail_sharpen(
    x: torch.Tensor,
    *,
    method: str = "guided",
    amount: float = 1.0,
    radius: float = 1.0,
    levels: int = 2,
    edge_contrast: float = 0.1,
    sharpness: float = 0.5,
    space: str = "linear",
    solver: str = "wiener",
    iterations: int = 20,
    luminance_only: bool = True,
    progress: ProgressCallback | None = None,
) -> torch.Tensor:
    """Sharpen ``x`` ``[B, C, H, W]`` (C = 1 or 3, sRGB in [0, 1]) with one of :data:`METHODS`.

    Args:
        method: ``guided`` | ``high_pass`` | ``laplacian_pyramid`` | ``cas`` | ``deconvolution`` (module docstring).
        amount: 0-5, multiplies the method's detail change ``d``; 0 returns the input.
        radius: px, (0, 20]. high_pass: Gaussian sigma; guided: window radius ``round(2 radius)``;
            deconvolution: sigma of the Gaussian PSF. Not used by laplacian_pyramid and cas.
        levels: laplacian_pyramid: how many of the finest bands are boosted, 1-8.
        edge_contrast: guided: contrast in [0, 1] units above which edges belong to the base layer
            (``eps = edge_contrast^2``), (0, 1].
        sharpness: cas: AMD's sharpness 0-1.
        space: cas: ``linear`` (linear light, as CAS was designed) or ``srgb``.
        solver: deconvolution: ``wiener`` or ``richardson_lucy``.
        iterations: deconvolution with richardson_lucy: number of steps, 1-500.
        luminance_only: RGB: sharpen luminance only (colours kept); off = every channel on its own.

    Returns:
        ``clamp(x + amount * d, 0, 1)``, same shape, dtype and device as ``x``.
    """
    check_image(x, "image")
    if method not in METHODS:
        raise InvalidParameterError("method", f"unknown method {method!r}.", f"choose one of: {', '.join(METHODS)}.")
    _number("amount", amount, 0.0, MAX_AMOUNT, "give e.g. 1.0 (0 = no change).")
    _number("radius", radius, 0.0, MAX_RADIUS, "give the detail size in pixels, e.g. 1.0.", open_low=True)
    _whole("levels", levels, 1, MAX_LEVELS, "give e.g. 2 (bands of 2-4 and 4-8 px).")
    _number("edge_contrast", edge_contrast, 0.0, 1.0, "give e.g. 0.1 (25 grey levels).", open_low=True)
    check_sharpness(sharpness)
    check_space(space)
    if solver not in SOLVERS:
        raise InvalidParameterError("solver", f"unknown solver {solver!r}.", f"choose one of: {', '.join(SOLVERS)}.")
    _whole("iterations", iterations, 1, MAX_ITERATIONS, "give e.g. 20.")
    if not isinstance(luminance_only, bool):
        raise InvalidParameterError("luminance_only", f"expected true/false, got {luminance_only!r}.", None)
    total = x.shape[0]
    report(progress, 0, total)
    if amount == 0:
        report(progress, total, total)
        return x.clone()
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    xf = x.to(work)
    if method == "cas":
        change = cas_change(xf, sharpness=sharpness, space=space, luminance_only=luminance_only)
    else:
        y = luma(xf) if luminance_only and x.shape[1] == 3 else xf
        if method == "high_pass":
            change = y - gaussian_blur(y, float(radius))
        elif method == "laplacian_pyramid":
            change = _pyramid_detail(y, levels)
        elif method == "guided":
            change = y - guided_filter(y, radius=guided_radius(radius), eps=float(edge_contrast) ** 2)
        else:
            change = _deconvolution_detail(y, radius, solver, iterations)
    out = (xf + float(amount) * change).clamp(0.0, 1.0)  # a one-channel change broadcasts to R, G and B
    report(progress, total, total)
    return out.to(x.dtype)
