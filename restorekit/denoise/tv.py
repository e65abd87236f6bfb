"""Total-variation denoising: ``u = argmin ½‖u − f‖² + weight · TV(u)``, isotropic TV.

``TV(u) = Σ_pixels |∇u|`` with forward differences and Neumann borders (the difference across the
last row/column is 0), the discretisation of Chambolle (2004) and of scikit-image. ``weight`` has
the meaning of ``skimage.restoration.denoise_tv_chambolle``'s ``weight`` for both methods (for
``denoise_tv_bregman``, whose weight multiplies the data term, ours is ``1 / (2 · its weight)``).

Two solvers of the same problem (same fixed point):

- ``"chambolle"``: Chambolle's dual formulation (J. Math. Imaging Vis. 2004), ``u = f + div q`` with
  ``|q| ≤ weight`` minimising ``‖f + div q‖²``, solved by projected gradient steps ``q ← P(q + ∇u / 8)``
  with Nesterov/FISTA extrapolation (Beck & Teboulle's fast gradient projection, IEEE TIP 2009).
  Measured on Set12 crops: 50 iterations reach the mean |Δ| of Chambolle's original semi-implicit
  step after more than 1000 (same fixed point; scikit-image uses the original step).
- ``"split_bregman"``: split Bregman (Goldstein & Osher, SIAM J. Imaging Sci. 2009) with the
  split ``d = ∇u``, penalty ``β = 20 · weight``, one red-black Gauss-Seidel sweep of
  ``(I − βΔ) u = f − β div(d − b)`` per iteration and isotropic shrinkage ``d = shrink(∇u + b, weight / β)``.

Colour (C = 3): ``"vectorial"`` couples the channels in the gradient norm, ``|∇u| = √(Σ_c |∇u_c|²)``
(colour TV of Bresson & Chan 2008: edges are shared, fewer colour fringes); ``"per_channel"`` runs
each channel on its own (what scikit-image does with ``channel_axis``).

Weight from the noise level (``weight=None``): ``weight = factor(σ) · σ`` with ``σ`` in [0, 1] units,
given or estimated per image (:func:`restorekit.quality.noise.estimate_sigma`, mean over channels),
``factor`` calibrated on Train400 (0.36 at σ = 5/255 rising to 0.78 at 50/255, see :data:`WEIGHT_FACTORS`).

Everything is batched torch on the input's device; per-image weights are a ``[B, 1, 1, 1]`` tensor.
The iteration budget is fixed; every :data:`CHECK_EVERY` iterations the mean absolute change of
``u`` over one iteration is measured and the loop stops when every image is below ``tol``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report
from ..quality.noise import estimate_sigma

METHODS = ("chambolle", "split_bregman")
COLORS = ("vectorial", "per_channel")
CHECK_EVERY = 10
MAX_ITERATIONS = 10_000
MAX_WEIGHT = 10.0
_TAU = 0.125  # dual gradient step 1/L with L = ‖div‖² <= 8
_BETA = 20.0  # split Bregman penalty β / weight: measured fastest of 4..80 at weights 0.05-0.2
DEFAULT_ITERATIONS = {"chambolle": 100, "split_bregman": 100}
DEFAULT_TOL = 1e-5

#: Automatic weight: ``weight = factor(σ) · σ`` with ``factor`` interpolated linearly in ``ln σ``
#: between the PSNR-optimal factors measured on Train400 (gray; 50 images 180x180 for σ 5-15, 13
#: for σ 25-50; clipped noise, seeds 1000+i, Chambolle 80-100 iterations, optimum = vertex of a
#: parabola through the best three of a sweep of factors 0.5-1.6): σ 5 → 0.361, 10 → 0.554,
#: 15 → 0.629, 25 → 0.705, 50 → 0.782 (constant outside 5-50). An a·σ + b·σ² fit was tried, left
#: out: the factor saturates, a quadratic misses σ 5 by 40 %. Colour: the same curve times
#: :data:`COLOR_FACTOR`, measured on CBSD68 (8 crops 128x128, σ 25): optimum 0.957 vectorial,
#: 0.606 per channel.
WEIGHT_SIGMAS_255 = (5.0, 10.0, 15.0, 25.0, 50.0)
WEIGHT_FACTORS = (0.361, 0.554, 0.629, 0.705, 0.782)
COLOR_FACTOR = {"gray": 1.0, "vectorial": 0.957 / 0.705, "per_channel": 0.606 / 0.705}


@dataclass
class TvInfo:
    """What :func:`tv_denoise` (with ``return_info=True``) did to one image of the batch.

    ``sigma``: noise sigma used for the automatic weight ([0, 1] units; None when a weight was
    given); ``weight`` in [0, 1] image units; ``iterations``: iterations run (the same for the
    whole batch); ``change``: mean |Δu| over the last measured iteration ([0, 1] units).
    """

    sigma: float | None
    sigma_estimated: bool
    weight: float
    iterations: int
    change: float


def weight_from_sigma(sigma: torch.Tensor, color: str = "gray") -> torch.Tensor:
    """The automatic weight for noise sigma ``sigma`` (tensor of any shape, [0, 1] units); see
    :data:`WEIGHT_FACTORS`. ``color``: ``"gray"``, ``"vectorial"`` or ``"per_channel"``."""
    knots = torch.log(torch.tensor(WEIGHT_SIGMAS_255, device=sigma.device, dtype=sigma.dtype) / 255.0)
    values = torch.tensor(WEIGHT_FACTORS, device=sigma.device, dtype=sigma.dtype)
    t = torch.log(sigma.clamp_min(1e-8)).clamp(knots[0], knots[-1])
    i = torch.bucketize(t, knots).clamp(1, len(WEIGHT_FACTORS) - 1)
    lo, hi = knots[i - 1], knots[i]
    factor = torch.lerp(values[i - 1], values[i], (t - lo) / (hi - lo))
    return sigma * factor * COLOR_FACTOR[color]


def _validate(sigma, weight, method, iterations, color, tol) -> None:
    if method not in METHODS:
        raise InvalidParameterError("method", f"unknown method {method!r}.", f"use one of {', '.join(METHODS)}.")
    if color not in COLORS:
        raise InvalidParameterError("color", f"unknown colour mode {color!r}.", f"use one of {', '.join(COLORS)}.")
    if sigma is not None and not (0.0 <= float(sigma) <= 1.0):
        raise InvalidParameterError("sigma", f"must be in [0, 1] (image units), got {sigma}.", "divide 0-255 by 255.")
    if weight is not None and not (0.0 <= float(weight) <= MAX_WEIGHT):
        raise InvalidParameterError(
            "weight", f"must be in [0, {MAX_WEIGHT:g}], got {weight}.", "about the noise sigma ([0, 1] units) works."
        )
    if iterations is not None and (isinstance(iterations, bool) or not isinstance(iterations, int)
                                   or not 1 <= iterations <= MAX_ITERATIONS):
        raise InvalidParameterError(
            "iterations", f"must be an integer in [1, {MAX_ITERATIONS}], got {iterations!r}.", "use about 100."
        )
    if not tol >= 0.0:
        raise InvalidParameterError("tol", f"must be >= 0, got {tol}.", "use 1e-5, or 0 to run every iteration.")


def _grad(u: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Forward differences of ``u`` ``[N, H, W]`` into ``g`` ``[N, 2, H, W]`` (x then y; last column/row stay 0)."""
    torch.sub(u[..., :, 1:], u[..., :, :-1], out=g[:, 0, :, :-1])
    torch.sub(u[..., 1:, :], u[..., :-1, :], out=g[:, 1, :-1, :])
    return g


def _add_div(out: torch.Tensor, q: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """``out += scale · div q`` (backward differences, the negative adjoint of :func:`_grad`), in place.

    ``q`` ``[N, 2, H, W]`` must be 0 on the last column (x) and last row (y), as :func:`_grad` leaves it.
    """
    qx, qy = q[:, 0], q[:, 1]
    out.add_(qx, alpha=scale).add_(qy, alpha=scale)
    out[..., :, 1:].sub_(qx[..., :, :-1], alpha=scale)
    out[..., 1:, :].sub_(qy[..., :-1, :], alpha=scale)
    return out


def _norm(g: torch.Tensor, channels: int, vectorial: bool) -> torch.Tensor:
    """Pointwise gradient norm of ``g`` ``[B·C, 2, H, W]`` as ``[B, C, 1, H, W]`` (per channel) or
    ``[B, 1, 1, H, W]`` (joint over the channels), broadcastable against ``g.view(B, C, 2, H, W)``."""
    n, _, h, w = g.shape
    g5 = g.view(n // channels, channels, 2, h, w)
    # Explicit squares and sums: a vector_norm over these small, non-innermost dims is ~30x slower
    # on CPU than the rest of an iteration together.
    sq = torch.addcmul(g5[:, :, 0].square(), g5[:, :, 1], g5[:, :, 1])
    if vectorial and channels > 1:
        total = sq[:, 0].clone()
        for c in range(1, channels):
            total.add_(sq[:, c])
        sq = total.unsqueeze(1)
    return sq.sqrt_().unsqueeze(2)


def _mean_abs(a: torch.Tensor, b: torch.Tensor, batch: int) -> torch.Tensor:
    return (a - b).abs().view(batch, -1).mean(dim=1)


def _chambolle(f, lam, channels, vectorial, iterations, tol, progress):
    n, h, w = f.shape
    batch = n // channels
    q = torch.zeros((n, 2, h, w), device=f.device, dtype=f.dtype)
    r = torch.zeros_like(q)  # extrapolated dual point
    g = torch.zeros_like(q)
    inv_lam = (1.0 / lam.clamp_min(1e-12)).view(batch, channels, 1, 1, 1)[:, : 1 if vectorial else channels]
    u = f.clone()
    change = torch.full((batch,), float("inf"), device=f.device, dtype=f.dtype)
    t = 1.0
    done = 0
    for k in range(1, iterations + 1):
        _grad(u, g)
        s = g.mul_(_TAU).add_(r)  # gradient step on the dual, ½‖f + div q‖², step 1/L = 1/8
        # project on |q| <= weight
        q_new = s.view(batch, channels, 2, h, w).div_(_norm(s, channels, vectorial).mul_(inv_lam).clamp_min_(1.0))
        q_new = q_new.view(n, 2, h, w)
        t_new = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
        r = torch.lerp(q_new, q, -(t - 1.0) / t_new)  # q_new + (t - 1)/t_new · (q_new - q)
        g, q, t = q, q_new, t_new  # recycle the old q's memory for the next gradient
        measure = k % CHECK_EVERY == 0 or k == iterations
        previous = u
        u = _add_div(f.clone(), r if k < iterations else q)
        done = k
        if measure:
            change = _mean_abs(u, previous, batch)
            report(progress, k, iterations)
            if tol > 0 and k < iterations and bool((change < tol).all()):
                u = _add_div(f.clone(), q)
                break
    return u, done, change


def _split_bregman(f, lam, channels, vectorial, iterations, tol, progress):
    n, h, w = f.shape
    batch = n // channels
    beta = (_BETA * lam.clamp_min(1e-12)).view(n, 1, 1)
    thresh = 1.0 / _BETA  # shrinkage threshold weight / β
    # One red-black Gauss-Seidel sweep of (I − βΔ) u = f − β div(d − b) per iteration (Jacobi diverges
    # for β above ~0.25): u += mask · (rhs − u + βΔu) / (1 + β · number of neighbours).
    deg = torch.full((h, w), 4.0, device=f.device, dtype=f.dtype)
    deg[:, 0] -= 1
    deg[:, -1] -= 1
    deg[0, :] -= 1
    deg[-1, :] -= 1
    parity = (torch.arange(h, device=f.device).view(h, 1) + torch.arange(w, device=f.device).view(1, w)) % 2
    inv_diag = 1.0 / (1.0 + beta * deg)  # [N, H, W]
    steps = [inv_diag * (parity == p).to(f.dtype) for p in (0, 1)]
    u = f.clone()
    g = torch.zeros((n, 2, h, w), device=f.device, dtype=f.dtype)
    b = torch.zeros_like(g)
    change = torch.full((batch,), float("inf"), device=f.device, dtype=f.dtype)
    done = 0
    for k in range(1, iterations + 1):
        _grad(u, g)
        s = g + b
        # isotropic shrinkage: d = s · max(1 − t/|s|, 0)
        factor = torch.rsub(_norm(s, channels, vectorial).clamp_min_(1e-12).reciprocal_().mul_(thresh), 1.0)
        d = (s.view(batch, channels, 2, h, w) * factor.clamp_min_(0.0)).view(n, 2, h, w)
        b = s.sub_(d)  # b + ∇u − d
        rhs = _add_div(f.clone(), d.sub_(b).mul_(beta.unsqueeze(1)), scale=-1.0)
        previous = u
        for step in steps:
            _grad(u, g)
            r = _add_div(torch.sub(rhs, u), g.mul_(beta.unsqueeze(1)))  # rhs − u + βΔu
            u = r.mul_(step).add_(u)
        done = k
        if k % CHECK_EVERY == 0 or k == iterations:
            change = _mean_abs(u, previous, batch)
            report(progress, k, iterations)
            if tol > 0 and k < iterations and bool((change < tol).all()):
                break
    return u, done, change


def tv_denoise(
    x: torch.Tensor,
    *,
    sigma: float | None = None,
    weight: float | None = None,
    method: str = "chambolle",
    iterations: int | None = None,
    color: str = "vectorial",
    tol: float = DEFAULT_TOL,
    return_info: bool = False,
    progress: ProgressCallback | None = None,
) -> torch.Tensor | tuple[torch.Tensor, list[TvInfo]]:
    """Total-variation denoising of ``x`` ``[B, C, H, W]`` (C = 1 or 3, float in [0, 1]).

    Minimises ``½‖u − f‖² + weight · Σ |∇u|`` per image (isotropic TV, forward differences,
    Neumann borders; for colour with ``color="vectorial"`` the norm is taken over the channels too).

    Args:
        sigma: noise standard deviation in [0, 1] units for the automatic weight; None estimates it
            per image. Ignored when ``weight`` is given.
        weight: regularisation weight in [0, 1] image units (scikit-image ``denoise_tv_chambolle``'s
            ``weight``), 0..10; larger = smoother. None = :func:`weight_from_sigma` of ``sigma``.
        method: ``"chambolle"`` (dual projection) or ``"split_bregman"``; same minimiser.
        iterations: iteration budget (None = :data:`DEFAULT_ITERATIONS` of the method, chosen so
            that the mean |Δ| to the converged solution is ≤ 1e-3 for weights up to 0.15, i.e. gray σ up to
            50/255 with the automatic weight; measured on a Set12 crop: Chambolle 100 iterations 2.3e-4 at
            weight 0.1, split Bregman 1.9e-4).
        color: ``"vectorial"`` (channels coupled) or ``"per_channel"``; ignored for gray.
        tol: stop early when the mean |Δu| of one iteration, measured every :data:`CHECK_EVERY`
            iterations, is below ``tol`` for every image (0 = run the whole budget).
        return_info: also return one :class:`TvInfo` per image.
        progress: called with ``(done, total)`` every :data:`CHECK_EVERY` iterations.

    Returns:
        The denoised batch (same shape, dtype, device), in [0, 1]; with ``return_info=True``,
        ``(image, infos)``.
    """
    check_image(x, "image")
    _validate(sigma, weight, method, iterations, color, tol)
    b, c, h, w = x.shape
    iterations = iterations or DEFAULT_ITERATIONS[method]
    work_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    f = x.to(work_dtype)
    vectorial = color == "vectorial" and c == 3
    sigmas = None
    if weight is not None:
        lam = torch.full((b,), float(weight), device=x.device, dtype=work_dtype)
    else:
        if sigma is not None:
            sigmas = torch.full((b,), float(sigma), device=x.device, dtype=work_dtype)
        else:
            sigmas = estimate_sigma(f.float()).mean(dim=1).to(work_dtype)
        lam = weight_from_sigma(sigmas, "gray" if c == 1 else color)
    lam_n = lam.repeat_interleave(c)  # one weight per image and channel, [B·C]
    flat = f.reshape(b * c, h, w)
    if h * w == 1 or bool((lam <= 0).all()):
        out, done, change = flat.clone(), 0, torch.zeros(b, device=x.device, dtype=work_dtype)
    elif method == "chambolle":
        out, done, change = _chambolle(flat, lam_n, c, vectorial, iterations, tol, progress)
    else:
        out, done, change = _split_bregman(flat, lam_n, c, vectorial, iterations, tol, progress)
    result = out.view(b, c, h, w).clamp_(0.0, 1.0).to(x.dtype)
    if not return_info:
        return result
    lam_l, change_l = lam.tolist(), change.tolist()
    sig_l = sigmas.tolist() if sigmas is not None else [None] * b
    infos = [
        TvInfo(sigma=sig_l[i], sigma_estimated=weight is None and sigma is None, weight=lam_l[i], iterations=done,
               change=change_l[i])
        for i in range(b)
    ]
    return result, infos
