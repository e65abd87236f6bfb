"""Grain analysis: measure a :class:`~restorekit.grain.model.GrainModel` from an image.

The grain is isolated per plane of BT.601 YCbCr (Y only for gray images):

* with a clean ``reference``: grain = image - reference, exactly;
* blind: grain = image - a smooth background (a Gaussian-weighted local quadratic fit, std ``smooth`` px,
  odd-symmetric borders), measured only in *weak-texture blocks*. Natural photographs have texture nearly
  everywhere, so the blocks (16 px) are chosen as in weak-texture noise-level estimators (Liu et al. 2013) on a
  *fine* residual (fit of std 2.5 px, into which image content barely leaks): grain of a given luma is
  stationary, so every block of that luma carries about the same energy, up to the sampling spread ``c`` of a
  block's mean square (from the residual's correlation); texture only adds energy. Per luma bin (14, pooled with
  the neighbouring bins) the grain level is the 10 % quantile of the block energies corrected for its expected
  position, held within 1.5x of the neighbouring bins' level and 16x of the lowest bin's (bins that only hold
  textured blocks), and the blocks within ``2 c`` of it are kept (twice: the second time around the kept blocks'
  mean). Blocks with clipped pixels are dropped.
* each high-pass removes the grain's lowest frequencies; that loss is corrected for (below). The blind grain is
  measured through both the wide and the fine high-pass; image content only ever adds energy (through the wide
  one more than the fine one), so the wide measure (whose long-lag covariances are the more exact) is kept only
  when its level is within 1.25x and its grain size within ``1.25 s + 0.75`` px of the fine one's, else the fine.

Measures, from the isolated grain ``r`` of each plane:

* scaling function: grain std vs luma in up to 14 luma bins (means of ``r^2`` over the flat pixels
  of each bin), one point per populated bin at the bin's mean luma;
* the grain *pattern* ``p = r / s(luma)`` (unit variance), its auto- and cross-covariances at lags up
  to 16 px from masked FFT correlations (``sum m p(x + k) p(x) / sum m(x + k) m(x)``, an unbiased
  estimate over the flat pixels);
* blur correction: the high-pass residual has covariance ``c_r = c_g - H * c_g`` with
  ``H = 2 G - G * G`` (``G`` the blur kernel). ``H`` is wide and ``c_g`` narrow, so
  ``H * c_g ~ H(k) S`` with ``S = sum_k c_g(k)``, which gives ``S = sum c_r / (1 - sum H)`` over the
  window of lags and ``c_g = c_r + H S``; the same factor corrects the per-bin variances. For the fine high-pass,
  which removes most of a coarse grain, the grain size is instead the one whose exact residual covariance
  ``g_c - H * g_c`` best fits the measured one (a grid of sizes 0-5 px), and a correction that would exceed 8x
  in variance marks the fine measure as unusable;
* AR coefficients (lag 0-3, AV1 order) by Yule-Walker on the corrected pattern covariances; chroma
  planes get the extra coefficient on the co-located luma pattern;
* grain size: the std ``sigma_b`` of the Gaussian filter that would give white noise the measured
  autocorrelation, from a least-squares fit of ``ln rho(k) = -|k|^2 / (4 sigma_b^2)`` over the lags
  where ``rho > 0.15`` (0 for white grain);
* channel correlation: mean pairwise correlation of the R, G, B grain;
* radial power spectrum of the luma grain (PSD of the pattern times the mean grain variance),
  convention ``E|FFT2|^2 / (H W)``, ``bins`` bins from 0 to 0.5 cycles/px;
* kurtosis of the luma pattern, and the class (:mod:`restorekit.grain.classify`).

Units: intensities and stds in [0, 1] image units (x 255 for grey levels), lengths in px.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..color import rgb_to_ycbcr
from ..errors import InvalidImageError, InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report
from .classify import classify_grain
from .model import MAX_AR_LAG, MAX_SCALING_POINTS, GrainModel, ScalingFunction
from .synthesis import causal_offsets

#: Default std of the blind high-pass's Gaussian, px (clamped to an eighth of the image's short side).
DEFAULT_SMOOTH = 16.0
#: Std of the fine high-pass's Gaussian (blind block selection), px: natural image content barely leaks into it.
FINE_SMOOTH = 2.5
#: Stds of the narrower high-passes (px) the blind level is also measured with (finest last).
MEASURE_SMOOTH = (FINE_SMOOTH,)
#: Largest ratio of the grain variance of two neighbouring luma bins (of 14) that block selection allows.
GRAIN_BIN_RATIO = 1.5
#: Largest ratio of the grain variance between any two luma bins that block selection allows.
GRAIN_RANGE_RATIO = 16.0
#: Wide-to-fine level ratio beyond which the wide measure is taken to hold image content.
WIDE_EXCESS = 1.25
#: Largest variance gain of the fine high-pass's correction (coarser grain, of which it keeps under 1/8, is left
#: to the wide one).
GAIN_MAX = 8.0
#: Side of the blind selection's blocks, px (at most a quarter of the short side).
BLOCK = 16
#: Quantile of the block energies taken as the grain level of a luma bin, its standard-normal score (negated), and
#: how many sampling stds above the level a weak-texture block may lie.
SELECT_Q, SELECT_Z, KEEP_C = 0.1, 1.28, 2.0
#: Grain sizes (px) tried by the fine high-pass's correction.
SIZE_GRID = (0.0,) + tuple(0.4 + 0.1 * i for i in range(47))
#: Largest lag of the measured covariances, px.
MAX_LAG = 16

# BT.601 YCbCr of RGB (rows Y, Cb, Cr) and its inverse, for the channel correlation.
_YCC = torch.tensor(
    [[0.299, 0.587, 0.114], [-0.168735892, -0.331264108, 0.5], [0.5, -0.418687589, -0.081312411]], dtype=torch.float64
)
_YCC_INV = torch.linalg.inv(_YCC)


@dataclass
class GrainAnalysis:
    """What was measured for one model (one image, or the pooled batch).

    ``std_points``: raw per-bin ``(luma, std, pixel share)``; ``cov``: corrected covariance of the
    unit-variance patterns ``[P, P, 2K+1, 2K+1]`` (``cov[i, j, K + dy, K + dx] = E p_i(x + k) p_j(x)``,
    planes Y, Cb, Cr); ``psd``: the luma pattern's 2-D PSD on a ``[2K+1, 2K+1]`` frequency grid (FFT
    order, unit mean = unit variance); ``features``: the numbers the classifier used;
    ``confidence``: of the class, 0-1; ``flat_fraction``: share of the pixels measured.
    """

    std_points: list[tuple[float, float, float]]
    cov: torch.Tensor
    psd: torch.Tensor
    features: dict[str, float]
    scores: dict[str, float]
    confidence: float
    flat_fraction: float
    kurtosis: float
    blind: bool
    plane_std: list[float] = field(default_factory=list)


# ---- filtering --------------------------------------------------------------------------------------------------


def _gauss_kernel(sigma: float, radius: int, like: torch.Tensor) -> torch.Tensor:
    t = torch.arange(-radius, radius + 1, device=like.device, dtype=like.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def _quadratic_kernel(sigma: float, radius: int, like: torch.Tensor) -> torch.Tensor:
    """1-D kernel of a Gaussian-weighted local quadratic fit: ``g(t) (3 - t^2 / s^2) / 2`` with the discrete
    moments (sum 1, second moment 0), so polynomials up to degree 3 pass unchanged. Its frequency response is
    ``(1 + u) e^-u`` with ``u = 2 pi^2 sigma^2 f^2``: the high-pass keeps ``u^2 / 2`` of the lowest frequencies
    instead of a plain Gaussian's ``u``, so smooth content leaks about ten times less into the residual."""
    g = _gauss_kernel(sigma, radius, like)
    t2 = torch.arange(-radius, radius + 1, device=like.device, dtype=like.dtype) ** 2
    m2, m4 = (g * t2).sum(), (g * t2 * t2).sum()
    # k = g (a + b t^2) with sum k = 1 and sum k t^2 = 0.
    det = m4 - m2 * m2
    if float(det) <= 1e-12:
        return g
    return g * (m4 - m2 * t2) / det


def _odd_pad(x: torch.Tensor, pad: int, dim: int) -> torch.Tensor:
    """Point-symmetric extension by ``pad`` (< size) samples along ``dim``: a linear trend continues."""
    if pad == 0:
        return x
    n = x.shape[dim]
    left = torch.arange(pad, 0, -1, device=x.device)
    right = torch.arange(n - 2, n - 2 - pad, -1, device=x.device)
    first = x.narrow(dim, 0, 1)
    last = x.narrow(dim, n - 1, 1)
    return torch.cat([2 * first - x.index_select(dim, left), x, 2 * last - x.index_select(dim, right)], dim=dim)


def smooth_background(x: torch.Tensor, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The smooth part of ``x`` ``[B, C, H, W]``: a separable Gaussian-weighted local quadratic fit of std ``sigma``
    px (:func:`_quadratic_kernel`), odd-symmetric borders. Returns it and the 1-D kernel used (radius
    ``ceil(3 sigma)``, limited to the image size)."""
    b, c, h, w = x.shape
    radius = max(0, min(math.ceil(3 * sigma), h - 1, w - 1))
    k = _quadratic_kernel(sigma, radius, x)
    if radius == 0:
        return x.clone(), k
    y = x.reshape(b * c, 1, h, w)
    y = F.conv2d(_odd_pad(y, radius, 3), k.view(1, 1, 1, -1))
    y = F.conv2d(_odd_pad(y, radius, 2), k.view(1, 1, -1, 1))
    return y.view(b, c, h, w), k


def _conv_full(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Full 1-D convolution of two symmetric odd-length kernels (centred, length ``len a + len b - 1``)."""
    n = b.numel() - 1
    return F.conv1d(F.pad(a.view(1, 1, -1), (n, n)), b.flip(0).view(1, 1, -1)).flatten()


def _correction_kernels(k: torch.Tensor, lag: int, size: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(g_c, H * g_c)`` at lags ``-lag..lag`` (``[N, 2L+1, 2L+1]`` each) for grain sizes ``size`` ``[N]`` px:
    ``g_c`` a unit-sum Gaussian of the grain's autocorrelation width (``sqrt(2) size`` px per axis, support
    ``4 sqrt(2) size``; a unit impulse for white grain, ``size <= 0.3``) and ``H = 2 K - K * K`` of the separable
    smoothing kernel ``K = k k^T``."""
    kk = _conv_full(k, k)
    sc = (math.sqrt(2.0) * size).clamp(min=1e-3)[:, None, None]  # [N, 1, 1]
    white = (size <= 0.3)[:, None, None]
    support = torch.ceil(4 * sc)
    t = torch.arange(-lag, lag + 1, device=k.device, dtype=k.dtype)
    umax = int(math.ceil(4 * math.sqrt(2.0) * float(lag))) + 1
    u = torch.arange(-umax, umax + 1, device=k.device, dtype=k.dtype)[None, None, :]
    z = (torch.exp(-0.5 * (u / sc) ** 2) * (u.abs() <= support)).sum(-1, keepdim=True)  # [N, 1, 1]

    def gc(d: torch.Tensor) -> torch.Tensor:  # the kernel at integer offsets d (any shape), per model
        g = torch.exp(-0.5 * (d / sc) ** 2) * (d.abs() <= support) / z
        return torch.where(white, (d == 0).to(k.dtype), g)

    def smoothed(v: torch.Tensor) -> torch.Tensor:  # (v * g_c)(t) for a centred kernel v
        r = (v.numel() - 1) // 2
        s = torch.arange(-r, r + 1, device=k.device, dtype=k.dtype)
        return (gc(t[:, None] - s[None, :]) * v).sum(-1)  # [N, 2L+1]

    g1, gg1, c1 = smoothed(k), smoothed(kk), gc(t[None, :])[:, 0]
    outer = lambda v: v[:, :, None] * v[:, None, :]  # noqa: E731
    return outer(c1), 2 * outer(g1) - outer(gg1)


# ---- helpers ------------------------------------------------------------------------------------------------------


def _interp(xs: torch.Tensor, ys: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear ``ys(xs)`` at ``t`` per model: xs, ys ``[N, K]`` (K >= 1), t ``[N, ...]``; constant outside."""
    n, kn = xs.shape
    flat = t.reshape(n, -1)
    if kn == 1:
        return ys[:, :1].expand_as(flat).reshape(t.shape).clone()
    tc = torch.maximum(torch.minimum(flat, xs[:, -1:]), xs[:, :1])
    i = (torch.searchsorted(xs.contiguous(), tc.contiguous(), right=True) - 1).clamp(0, kn - 2)
    x0, x1 = xs.gather(1, i), xs.gather(1, i + 1)
    y0, y1 = ys.gather(1, i), ys.gather(1, i + 1)
    out = y0 + (y1 - y0) * (tc - x0) / (x1 - x0).clamp(min=1e-12)
    return out.reshape(t.shape)


def _interp_planes(xs: torch.Tensor, ys: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """:func:`_interp` for P curves per model sharing their abscissae: xs ``[N, K]``, ys ``[N, P, K]``, t ``[N, H, W]``
    -> ``[N, P, H, W]`` (the bracketing bins are found once for all planes)."""
    n, kn = xs.shape
    pn = ys.shape[1]
    flat = t.reshape(n, -1)
    if kn == 1:
        return ys[:, :, :1, None].expand(-1, -1, *t.shape[1:]).clone()
    tc = torch.maximum(torch.minimum(flat, xs[:, -1:]), xs[:, :1])
    i = (torch.searchsorted(xs.contiguous(), tc.contiguous(), right=True) - 1).clamp(0, kn - 2)
    x0, x1 = xs.gather(1, i), xs.gather(1, i + 1)
    wgt = ((tc - x0) / (x1 - x0).clamp(min=1e-12))[:, None]
    ip = i[:, None].expand(-1, pn, -1)
    y0, y1 = ys.gather(2, ip), ys.gather(2, ip + 1)
    return (y0 + (y1 - y0) * wgt).reshape(n, pn, *t.shape[1:])


def _planes(x: torch.Tensor) -> torch.Tensor:
    return rgb_to_ycbcr(x) if x.shape[1] == 3 else x


def _lag_index(n: int, lag: int, device: torch.device) -> torch.Tensor:
    return torch.remainder(torch.arange(-lag, lag + 1, device=device), n)


def _masked_cov(p: torch.Tensor, m: torch.Tensor, lag: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sums ``num[b, i, j, k] = sum_x m p_i(x + k) m p_j(x)`` and ``den[b, k] = sum_x m(x + k) m(x)`` for lags
    ``-lag..lag`` (``[B, P, P, 2L+1, 2L+1]`` and ``[B, 2L+1, 2L+1]``), by zero-padded FFTs."""
    b, pn, h, w = p.shape
    sh, sw = h + lag, w + lag
    fp = torch.fft.rfft2(p * m, s=(sh, sw))
    fm = torch.fft.rfft2(m[:, 0], s=(sh, sw))
    cross = torch.fft.irfft2(fp[:, :, None] * fp[:, None].conj(), s=(sh, sw))
    den = torch.fft.irfft2(fm * fm.conj(), s=(sh, sw))
    iy, ix = _lag_index(sh, lag, p.device), _lag_index(sw, lag, p.device)
    cross = cross.index_select(-2, iy).index_select(-1, ix)
    den = den.index_select(-2, iy).index_select(-1, ix)
    return cross, den


def _yule_walker(cov: torch.Tensor, lag: int, chroma: bool, luma_cov: torch.Tensor | None = None,
                 cross: torch.Tensor | None = None) -> torch.Tensor:
    """AR coefficients ``[N, n]`` from covariances ``[N, 2L+1, 2L+1]`` (lag ``L`` centre). For a chroma plane,
    ``cross[N, ...] = E c(x + k) Y(x)`` and ``luma_cov`` give the luma coefficient (last)."""
    big = (cov.shape[-1] - 1) // 2
    offs = causal_offsets(lag)
    n = len(offs)
    dy = torch.tensor([o[0] for o in offs], device=cov.device)
    dx = torch.tensor([o[1] for o in offs], device=cov.device)
    # R[i, j] = c(k_j - k_i), rhs[i] = c(k_i)
    r = cov[:, big + dy[None, :] - dy[:, None], big + dx[None, :] - dx[:, None]]
    rhs = cov[:, big + dy, big + dx]
    if chroma:
        assert luma_cov is not None and cross is not None
        col = cross[:, big + dy, big + dx]  # E c(x + k_j) Y(x)
        top = torch.cat([r, col[:, :, None]], dim=2)
        bottom = torch.cat([col, luma_cov[:, big, big][:, None]], dim=1)[:, None, :]
        r = torch.cat([top, bottom], dim=1)
        rhs = torch.cat([rhs, cross[:, big, big][:, None]], dim=1)
        n += 1
    # A small white share (as fit_ar_to_gaussian) keeps smooth grain's nearly singular system, whose exact solution
    # has large cancelling coefficients, well-conditioned and inside AV1's coefficient range.
    ridge = 1e-2 * cov[:, big, big].clamp(min=1e-12)
    r = r + ridge[:, None, None] * torch.eye(n, device=cov.device, dtype=cov.dtype)
    return torch.linalg.solve(r, rhs[..., None])[..., 0]


def grain_size_from_cov(cov: torch.Tensor) -> torch.Tensor:
    """Grain size ``sigma_b`` px per covariance ``[N, 2L+1, 2L+1]`` (see the module docstring)."""
    big = (cov.shape[-1] - 1) // 2
    rho = cov / cov[:, big, big].clamp(min=1e-20)[:, None, None]
    t = torch.arange(-big, big + 1, device=cov.device, dtype=cov.dtype)
    r2 = (t[:, None] ** 2 + t[None, :] ** 2).expand_as(rho)
    # Only the lags inside the first ring (integer radius) whose mean correlation drops below 0.15 count, so
    # that estimation noise at far lags cannot pass for correlation.
    ring = r2[0].sqrt().round().long().flatten()
    nr = int(ring.max()) + 1
    rs = torch.zeros(rho.shape[0], nr, device=cov.device, dtype=cov.dtype).index_add_(1, ring, rho.flatten(1))
    rc = torch.zeros(nr, device=cov.device, dtype=cov.dtype).index_add_(0, ring, torch.ones_like(rho[0].flatten()))
    below = (rs / rc) < 0.15
    below[:, 0] = False
    below[:, -1] = True
    first = below.to(torch.int8).argmax(1)  # [N]
    use = (ring[None, :] < first[:, None]).view_as(rho) & (r2 > 0) & (rho > 0.02)
    lnr = torch.where(use, rho.clamp(min=1e-6).log(), torch.zeros_like(rho))
    wgt = use.to(cov.dtype)
    num = (wgt * r2 * lnr).sum((-2, -1))
    den = (wgt * r2 * r2).sum((-2, -1))
    slope = num / den.clamp(min=1e-12)
    size = torch.where((den > 0) & (slope < 0), (-1.0 / (4 * slope.clamp(max=-1e-12))).sqrt(), torch.zeros_like(slope))
    return size.clamp(max=float(big))


def _radial(psd: torch.Tensor, bins: int) -> torch.Tensor:
    """Mean of a 2-D PSD ``[N, h, w]`` (FFT order) over radial frequency bins from 0 to 0.5 cycles/px."""
    n, h, w = psd.shape
    fy = torch.fft.fftfreq(h, device=psd.device, dtype=psd.dtype)[:, None]
    fx = torch.fft.fftfreq(w, device=psd.device, dtype=psd.dtype)[None, :]
    rad = (fy**2 + fx**2).sqrt()
    idx = (rad / 0.5 * bins).floor().long()
    ok = (idx < bins).flatten()
    idx = idx.flatten()[ok]
    vals = psd.flatten(1)[:, ok]
    sums = torch.zeros(n, bins, device=psd.device, dtype=psd.dtype).index_add_(1, idx, vals)
    cnt = torch.zeros(bins, device=psd.device, dtype=psd.dtype).index_add_(0, idx, torch.ones_like(vals[0]))
    out = sums / cnt.clamp(min=1)
    # Bins no grid frequency falls in (fine bins on a coarse grid) take their neighbours' values.
    if bool((cnt == 0).any()):
        centres = (torch.arange(bins, device=psd.device, dtype=psd.dtype) + 0.5) * 0.5 / bins
        have = cnt > 0
        xs = centres[have].expand(n, -1)
        out = _interp(xs, out[:, have], centres.expand(n, -1))
    return out


def psd_from_cov(cov: torch.Tensor, size: int | None = None) -> torch.Tensor:
    """2-D PSD ``[N, s, s]`` (FFT order, convention ``E|FFT2|^2 / (H W)``) of covariances ``[N, 2L+1, 2L+1]``,
    tapered by a separable Bartlett window over the lags so that it stays non-negative; ``s = size`` (default
    ``2L+1``)."""
    n, k, _ = cov.shape
    big = (k - 1) // 2
    s = size or k
    t = torch.arange(-big, big + 1, device=cov.device, dtype=cov.dtype)
    win = (1 - t.abs() / (big + 1))
    c = cov * win[:, None] * win[None, :]
    grid = torch.zeros(n, s, s, device=cov.device, dtype=cov.dtype)
    idx = torch.remainder(t.long(), s)
    grid[:, idx[:, None], idx[None, :]] = c
    return torch.fft.fft2(grid).real.clamp(min=0.0)


# ---- the analysis -------------------------------------------------------------------------------------------------


def _bins_of(luma: torch.Tensor, bins: int) -> torch.Tensor:
    return (luma * bins).floor().long().clamp(0, bins - 1)


def _bin_quantile(e: torch.Tensor, member: torch.Tensor, q: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-bin ``q`` quantile (lower order statistic) of ``e`` ``[B, n]`` over the blocks with ``member``
    ``[B, n, K]`` true (``inf`` for an empty bin), and the member counts ``[B, K]``."""
    inf = torch.tensor(float("inf"), device=e.device, dtype=e.dtype)
    srt = torch.where(member, e[:, :, None], inf).transpose(1, 2).sort(dim=-1).values  # [B, K, n]
    count = member.sum(1)
    k = ((count - 1).clamp(min=0).to(e.dtype) * q).floor().long().unsqueeze(-1)
    return srt.gather(-1, k).squeeze(-1), count


def _spread(r: torch.Tensor, m: torch.Tensor, block: int) -> torch.Tensor:
    """Relative sampling spread ``[B, 1]`` of a block's mean square of ``r`` ``[B, 1, H, W]``:
    ``sqrt(2 sum_k rho(k)^2 / n)`` for a Gaussian field of autocorrelation ``rho`` (over the pixels ``m``, lags up
    to 4 px) and ``n = block^2`` pixels."""
    lag = min(4, r.shape[-2] - 1, r.shape[-1] - 1)
    num, den = _masked_cov(r, m, lag)
    ac = num[:, 0, 0] / den.clamp(min=1.0)
    rho = ac / ac[:, lag:lag + 1, lag:lag + 1].clamp(min=1e-20)
    return (2.0 * (rho**2).sum((-2, -1)) / float(block * block)).sqrt().clamp(min=0.02, max=0.5)[:, None]


def _to_pixels(keep: torch.Tensor, block: int, h: int, w: int) -> torch.Tensor:
    b, ny, nx = keep.shape[0], h // block, w // block
    m = keep.view(b, 1, ny, nx).to(torch.float32).repeat_interleave(block, 2).repeat_interleave(block, 3)
    return F.pad(m, (0, w - nx * block, 0, h - ny * block))


def _flat_mask(rf: torch.Tensor, guide: torch.Tensor, clipped: torch.Tensor, bins: int, block: int) -> torch.Tensor:
    """``[B, 1, H, W]`` 0/1 mask of the weak-texture blocks (module docstring), from the fine luma residual ``rf``
    ``[B, 1, H, W]``."""
    b, _, h, w = rf.shape
    ny, nx = h // block, w // block
    hh, ww = ny * block, nx * block
    dt = rf.dtype
    ef = F.avg_pool2d(rf[:, :, :hh, :ww] ** 2, block).flatten(1)  # [B, n]
    mu = F.avg_pool2d(guide[:, :, :hh, :ww], block).flatten(1)
    ok = F.avg_pool2d(clipped[:, :, :hh, :ww], block).flatten(1) <= 0.02
    bi = _bins_of(mu, bins)
    onehot = F.one_hot(bi, bins).to(torch.bool) & ok[:, :, None]  # [B, n, bins]
    near = onehot.clone()
    near[:, :, 1:] |= onehot[:, :, :-1]
    near[:, :, :-1] |= onehot[:, :, 1:]
    kk = torch.arange(bins, device=rf.device, dtype=dt)
    slope = (kk[:, None] - kk[None, :]).abs() * math.log(GRAIN_BIN_RATIO)  # [bins, bins]

    def envelope(ref: torch.Tensor, count: torch.Tensor, least: int) -> torch.Tensor:
        # Grain energy changes smoothly with luma (at most GRAIN_BIN_RATIO times per bin): a bin whose blocks are
        # all textured is held down to its neighbours' level.
        lr = torch.where(count >= least, ref.clamp(min=1e-30).log(), torch.full_like(ref, float("inf")))
        env = (lr[:, None, :] + slope[None]).amin(-1).exp()
        # and over the whole luma range by at most GRAIN_RANGE_RATIO (a film curve's floor, shot noise over read).
        env = torch.minimum(env, lr.amin(-1, keepdim=True).exp() * GRAIN_RANGE_RATIO)
        return torch.where(torch.isfinite(env), torch.minimum(env, ref), ref)

    def level(q: float) -> torch.Tensor:  # per-block reference energy [B, n]
        ref, count = _bin_quantile(ef, near, q)
        gref, _ = _bin_quantile(ef, ok[:, :, None], q)
        ref = torch.where(count >= 4, ref, gref.expand_as(ref))
        return envelope(ref, count, 4).gather(1, bi)

    # Sampling spread of a block's energy, from the residual's correlation over the quieter half of the blocks.
    quiet = (ef <= level(0.5)) & ok
    qm = _to_pixels(quiet, block, h, w).to(dt)
    cf = _spread(rf, qm, block)
    # The SELECT_Q quantile of n draws sits about SELECT_Z c below their mean; keep what is within KEEP_C c of that
    # mean, then again around the mean of the blocks kept in the neighbouring bins.
    keep = (ef <= level(SELECT_Q) / (1.0 - SELECT_Z * cf) * (1.0 + KEEP_C * cf)) & ok
    kf, nf = keep.to(dt), near.to(dt)
    ncnt = torch.einsum("bn,bnk->bk", kf, nf)
    mean = envelope(torch.einsum("bn,bnk->bk", ef * kf, nf) / ncnt.clamp(min=1.0), ncnt, 2).gather(1, bi)
    keep = torch.where(ncnt.gather(1, bi) >= 2, (ef <= mean * (1.0 + KEEP_C * cf)) & ok, keep)

    return _to_pixels(keep, block, h, w).to(dt)


def _pick(cond: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a`` where ``cond`` ``[N]`` else ``b`` (tensors with a leading model dimension N)."""
    return torch.where(cond.view(-1, *([1] * (a.dim() - 1))), a, b)


def _correct_grid(cov_r: torch.Tensor, kern: torch.Tensor, lag: int) -> torch.Tensor:
    """:func:`_correct` for a narrow high-pass, which removes most of a coarse grain's variance, so that a grain size
    read off the residual is far from the grain's: the size is the one of :data:`SIZE_GRID` whose residual
    covariance shape ``g_c - H * g_c`` best fits the luma residual's over lags up to 8 px (least squares,
    amplitude free), then ``c_g = c_r + S (H * g_c)`` as in :func:`_correct`."""
    big = (cov_r.shape[-1] - 1) // 2
    sizes = torch.tensor(SIZE_GRID, device=cov_r.device, dtype=cov_r.dtype)
    gc, hk = _correction_kernels(kern, lag, sizes)  # [G, K, K]
    t = torch.arange(-big, big + 1, device=cov_r.device).abs()
    inside = (torch.maximum(t[:, None], t[None, :]) <= min(8, big)).to(cov_r.dtype)
    tmpl = (gc - hk) * inside  # [G, K, K]
    tt = (tmpl * tmpl).sum((-2, -1)).clamp(min=1e-30)  # [G]
    y = cov_r[:, 0, 0] * inside  # [N, K, K]
    amp = torch.einsum("nij,gij->ng", y, tmpl) / tt
    miss = (y * y).sum((-2, -1))[:, None] - amp**2 * tt  # residual sum of squares [N, G]
    best = miss.argmin(1)  # [N]
    tb, hb = tmpl[best], hk[best]  # [N, K, K]
    s = (cov_r * tb[:, None, None]).sum((-2, -1)) / tt[best][:, None, None]
    return cov_r + hb[:, None, None] * s[..., None, None]


def _measure(r: torch.Tensor, guide: torch.Tensor, mask: torch.Tensor, kern: torch.Tensor | None, pool: bool,
             lag: int, grid: bool) -> dict[str, torch.Tensor]:
    """Scaling, pattern covariances and kurtosis of the isolated grain ``r`` ``[B, P, H, W]`` over ``mask``, with
    luma ``guide``, corrected for the high-pass of 1-D smoothing kernel ``kern`` (by :func:`_correct_grid` when
    ``grid``, else :func:`_correct`); every entry has a leading model dimension (1 when ``pool``)."""
    b, pn, h, w = r.shape
    dt = r.dtype
    # Scaling: masked second moments per luma bin.
    nb = MAX_SCALING_POINTS
    bi = _bins_of(guide, nb).flatten(1)  # [B, HW]
    mflat = mask.flatten(1)
    cnt = torch.zeros(b, nb, device=r.device, dtype=dt).scatter_add_(1, bi, mflat)
    lsum = torch.zeros(b, nb, device=r.device, dtype=dt).scatter_add_(1, bi, mflat * guide.flatten(1))
    e2 = (r**2).flatten(2) * mflat[:, None]
    vsum = torch.zeros(b, pn, nb, device=r.device, dtype=dt).scatter_add_(2, bi[:, None].expand(-1, pn, -1), e2)
    if pool:
        cnt, lsum, vsum = cnt.sum(0, keepdim=True), lsum.sum(0, keepdim=True), vsum.sum(0, keepdim=True)
    min_count = torch.clamp(0.005 * cnt.sum(1, keepdim=True), min=16.0)
    valid = cnt >= min_count  # [N, nb]
    if not bool(valid.any(1).all()):
        valid = valid | (cnt > 0) & ~valid.any(1, keepdim=True)
    centre = lsum / cnt.clamp(min=1)
    var_bin = vsum / cnt.clamp(min=1)[:, None]  # [N, P, nb]
    # Fill empty bins by interpolation so that every model has a curve over all 14 bins.
    xs_all = torch.where(valid, centre, (torch.arange(nb, device=r.device, dtype=dt) + 0.5) / nb)
    std_raw = _fill(var_bin.clamp(min=0).sqrt(), valid, xs_all)  # [N, P, nb]

    # Pattern: residual over the raw scaling, evaluated at each pixel's luma.
    idx_model = torch.zeros(b, dtype=torch.long, device=r.device) if pool else torch.arange(b, device=r.device)
    s_pix = _interp_planes(xs_all[idx_model], std_raw[idx_model], guide[:, 0])  # [B, P, H, W]
    floor = 1e-4 + 0.05 * std_raw.amax(-1)[idx_model][:, :, None, None]
    pat = r / torch.maximum(s_pix, floor)
    num, den = _masked_cov(pat, mask, lag)
    if pool:
        num, den = num.sum(0, keepdim=True), den.sum(0, keepdim=True)
    cov_r = num / den.clamp(min=1.0)[:, None, None]  # [N, P, P, 2L+1, 2L+1]
    cov_g = _correct_grid(cov_r, kern, lag) if grid else _correct(cov_r, kern, lag)
    gain = (cov_g[:, range(pn), range(pn), lag, lag] / cov_r[:, range(pn), range(pn), lag, lag].clamp(min=1e-20))
    gain = gain.clamp(min=1.0, max=GAIN_MAX if grid else 4.0)  # [N, P]; the blur only ever removes grain
    std_bin = std_raw * gain.sqrt()[:, :, None]
    # Normalise the pattern covariances to unit variance per plane (the scaling carries the level).
    dvar = cov_g[:, range(pn), range(pn), lag, lag].clamp(min=1e-20).sqrt()  # [N, P]
    corr = cov_g / (dvar[:, :, None, None, None] * dvar[:, None, :, None, None])

    # Kurtosis of the luma pattern (flat pixels).
    p0 = pat[:, :1] * mask
    m2 = (p0**2).flatten(1).sum(1)
    m4 = (p0**4).flatten(1).sum(1)
    msum = mask.flatten(1).sum(1)
    if pool:
        m2, m4, msum = m2.sum(0, keepdim=True), m4.sum(0, keepdim=True), msum.sum(0, keepdim=True)
    kurt = m4 * msum / (m2**2).clamp(min=1e-30)
    share = cnt / cnt.sum(1, keepdim=True).clamp(min=1)
    level = (std_bin[:, 0] ** 2 * share).sum(1).sqrt()  # [N] mean luma grain std
    return {"xs": xs_all, "valid": valid, "std": std_bin, "corr": corr, "cov": cov_g, "cnt": cnt, "kurt": kurt,
            "msum": msum, "level": level, "size": grain_size_from_cov(corr[:, 0, 0]),
            "reliable": gain[:, 0] < 0.99 * (GAIN_MAX if grid else 4.0)}


def _check_args(bins: int, ar_lag: int, smooth: float | None, reference: torch.Tensor | None, x: torch.Tensor) -> None:
    if isinstance(bins, bool) or not isinstance(bins, int) or not 4 <= bins <= 256:
        raise InvalidParameterError("bins", f"expected a whole number in 4..256, got {bins!r}.", "use e.g. 32.")
    if isinstance(ar_lag, bool) or not isinstance(ar_lag, int) or not 0 <= ar_lag <= MAX_AR_LAG:
        raise InvalidParameterError("ar_lag", f"expected 0..{MAX_AR_LAG}, got {ar_lag!r}.", "use 3 (AV1's largest).")
    if smooth is not None and not (isinstance(smooth, (int, float)) and 1.0 <= smooth <= 256.0):
        raise InvalidParameterError("smooth", f"expected 1-256 px, got {smooth!r}.", "use e.g. 16 or None (automatic).")
    if reference is not None:
        check_image(reference, "reference")
        if reference.shape[1:] != x.shape[1:] or reference.shape[0] not in (1, x.shape[0]):
            raise InvalidImageError(
                "reference",
                f"shape {tuple(reference.shape)} does not match the image's {tuple(x.shape)}.",
                "give the clean version of the same image(s): same size and channels, one or one per image.",
            )


def analyze_grain(
    x: torch.Tensor,
    *,
    reference: torch.Tensor | None = None,
    bins: int = 32,
    ar_lag: int = 3,
    smooth: float | None = None,
    pool: bool = False,
    return_info: bool = False,
    progress: ProgressCallback | None = None,
) -> list[GrainModel] | tuple[list[GrainModel], list[GrainAnalysis]]:
    """Measure the grain of each image of ``x`` ``[B, C, H, W]`` (C = 1 or 3, [0, 1]); see the module docstring.

    Args:
        reference: the clean image(s), same size (batch 1 or B): the grain is then ``x - reference``.
            None = blind analysis.
        bins: radial spectrum bins (0 to 0.5 cycles/px).
        ar_lag: AR lag of the model, 0-3 (AV1 order, 2 lag (lag + 1) coefficients).
        smooth: std px of the blind high-pass's Gaussian; None = ``min(16, short side / 8)``.
        pool: one model for the whole batch (statistics pooled) instead of one per image.
        return_info: also return one :class:`GrainAnalysis` per model.
        progress: called with ``(step, 3)``.

    Returns:
        A list of :class:`GrainModel` (one per image, or one when ``pool``); with ``return_info``,
        ``(models, infos)``. An image classified ``clean`` gets a model without grain. Images with a
        side under 4 px cannot be measured and get a clean model.
    """
    check_image(x, "image")
    _check_args(bins, ar_lag, smooth, reference, x)
    dt = torch.float64 if x.dtype == torch.float64 else torch.float32
    xf = x.detach().to(dt)
    b, c, h, w = xf.shape
    n_models = 1 if pool else b
    if min(h, w) < 4:
        return _empty(n_models, bins, ar_lag, c, dt, x.device, return_info, reference is None)

    planes = _planes(xf)
    pn = planes.shape[1]
    blind = reference is None
    lag = min(MAX_LAG, h - 1, w - 1)
    if blind:
        sig = float(smooth) if smooth is not None else min(DEFAULT_SMOOTH, max(1.0, min(h, w) / 8.0))
        base, kern = smooth_background(planes, sig)
    else:
        base = _planes(reference.detach().to(dt).expand(b, -1, -1, -1))
        kern = None
    r = planes - base
    guide = base[:, :1].clamp(0.0, 1.0)
    clipped = ((xf <= 0.0) | (xf >= 1.0)).any(1, keepdim=True).to(dt)
    report(progress, 1, 3)

    # Flat pixels (blind) or every unclipped pixel (reference).
    if blind:
        block = max(4, min(BLOCK, min(h, w) // 4))
        sig_f = min(FINE_SMOOTH, sig)
        base_f, kern_f = smooth_background(planes, sig_f)
        mask = _flat_mask(planes[:, :1] - base_f[:, :1], guide, clipped, MAX_SCALING_POINTS, block)
    else:
        mask = 1.0 - clipped
    # An image with (almost) no flat pixels is measured everywhere rather than not at all.
    mask = torch.where(mask.sum((1, 2, 3), keepdim=True) < 16, torch.ones_like(mask), mask)

    chosen = _measure(r, guide, mask, kern, pool, lag, grid=False)
    used_fine = torch.zeros(n_models, device=x.device, dtype=dt)
    if blind:
        # Each high-pass, corrected for what it removes of the grain, measures the grain without bias, plus the image
        # content that leaks into it (only ever more energy; more through the wider ones, amplified by the narrower
        # ones' larger correction). Kept: the widest measure (most exact covariances) within WIDE_EXCESS of the
        # lowest level.
        scales = [s_ for s_ in MEASURE_SMOOTH if s_ < sig]
        found = [chosen]
        for s_ in scales:
            bs, ks = (base_f, kern_f) if s_ == sig_f else smooth_background(planes, s_)
            found.append(_measure(planes - bs, guide, mask, ks, pool, lag, grid=True))
        levels = torch.stack([m_["level"] for m_ in found])  # [S, N], widest first
        sizes_m = torch.stack([m_["size"] for m_ in found])
        # Content also widens the correlation: a measure much coarser than the finest one's is content too.
        # A high-pass that removed nearly all of the grain (correction at its limit) does not measure its level.
        reliable = torch.stack([m_["reliable"] for m_ in found])
        lowest = torch.where(reliable, levels, torch.full_like(levels, float("inf"))).amin(0, keepdim=True)
        ok = reliable & (levels <= lowest * WIDE_EXCESS) & (sizes_m <= sizes_m[-1:] * 1.25 + 0.75)
        pick = ok.to(torch.int8).argmax(0)  # [N] first (widest) acceptable
        for j in range(len(found) - 1, 0, -1):
            chosen = {k: _pick(pick == j, found[j][k], chosen[k]) for k in chosen}
        used_fine = pick.to(dt)
    report(progress, 2, 3)
    xs_all, valid, std_bin, corr, cov_g = (chosen[k] for k in ("xs", "valid", "std", "corr", "cov"))
    cnt, kurt, msum = chosen["cnt"], chosen["kurt"], chosen["msum"]

    models, infos = [], []
    luma_cov = corr[:, 0, 0]
    sizes = grain_size_from_cov(luma_cov)
    coeffs_y = _yule_walker(luma_cov, ar_lag, False) if ar_lag > 0 else None
    coeffs_c = []
    if pn == 3 and ar_lag > 0:
        for p in (1, 2):
            coeffs_c.append(_yule_walker(corr[:, p, p], ar_lag, True, luma_cov, corr[:, p, 0]))
    psd = psd_from_cov(luma_cov)
    share = cnt / cnt.sum(1, keepdim=True).clamp(min=1)
    mean_var = (std_bin[:, 0] ** 2 * share).sum(1)  # [N]
    spectrum = _radial(psd, bins) * mean_var[:, None]
    chan_corr = _channel_correlation(cov_g, std_bin, share) if pn == 3 else torch.ones(n_models, device=x.device)
    flat_frac = (msum / float(h * w)) / (b if pool else 1)
    report(progress, 3, 3)

    # One transfer to the host for everything the models are made of.
    host = {
        "centre": xs_all.double().cpu(), "valid": valid.cpu(), "std": std_bin.double().cpu(), "share": share.double().cpu(),
        "size": sizes.double().cpu(), "kurt": kurt.double().cpu(), "chan": chan_corr.double().cpu(),
        "spec": spectrum.double().cpu(), "flat": flat_frac.double().cpu(), "fine": used_fine.double().cpu(),
        "cy": coeffs_y.double().cpu() if coeffs_y is not None else None,
        "cc": [v.double().cpu() for v in coeffs_c],
    }
    for i in range(n_models):
        model, info = _build(i, host, pn, ar_lag, blind, corr[i].detach(), psd[i].detach())
        models.append(model)
        infos.append(info)
    return (models, infos) if return_info else models


def _fill(std: torch.Tensor, valid: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """Empty bins of ``std`` ``[N, P, nb]`` take the value interpolated from the valid ones (nearest at the ends;
    rows without any valid bin are left as they are)."""
    n, pn, nb = std.shape
    k = torch.arange(nb, device=std.device).expand(n, -1)
    prev = torch.where(valid, k, torch.full_like(k, -1)).cummax(1).values
    nxt = torch.where(valid, k, torch.full_like(k, nb)).flip(1).cummin(1).values.flip(1)
    prev_ok, next_ok = prev >= 0, nxt < nb
    lo = torch.where(prev_ok, prev, nxt).clamp(0, nb - 1)
    hi = torch.where(next_ok, nxt, prev).clamp(0, nb - 1)
    x0, x1 = xs.gather(1, lo), xs.gather(1, hi)
    wgt = torch.where(hi != lo, (xs - x0) / (x1 - x0).where(hi != lo, torch.ones_like(x0)), torch.zeros_like(x0))
    wgt = wgt.clamp(0.0, 1.0)[:, None]
    y0 = std.gather(2, lo[:, None].expand(-1, pn, -1))
    y1 = std.gather(2, hi[:, None].expand(-1, pn, -1))
    filled = y0 + (y1 - y0) * wgt
    keep = valid[:, None] | ~valid.any(1)[:, None, None]
    return torch.where(keep, std, filled)


def _correct(cov_r: torch.Tensor, kern: torch.Tensor | None, lag: int) -> torch.Tensor:
    """Undo the blind high-pass's loss of low frequencies (module docstring) on ``cov`` ``[N, P, P, 2L+1, 2L+1]``.

    With ``c_g ~ S g_c`` in shape, the residual's covariance is ``S (g_c - H * g_c)``: ``S`` is its least-squares
    amplitude over the lags within about two grain sizes, and ``c_g = c_r + S (H * g_c)``; the grain size (hence
    ``g_c``) is refined over three rounds.
    """
    if kern is None:
        return cov_r
    big = (cov_r.shape[-1] - 1) // 2
    t = torch.arange(-big, big + 1, device=cov_r.device).abs()
    reach = torch.maximum(t[:, None], t[None, :])  # [K, K] Chebyshev distance of each lag
    cov_g = cov_r
    for _ in range(3):
        size = grain_size_from_cov(cov_g[:, 0, 0])  # [N]
        gc, hk = _correction_kernels(kern, lag, size)
        win = torch.ceil(2.5 * size + 1).clamp(min=2, max=lag)  # [N]
        inside = (reach[None] <= win[:, None, None]).to(cov_r.dtype)
        tmpl = (gc - hk) * inside  # [N, K, K]
        s = (cov_r * tmpl[:, None, None]).sum((-2, -1)) / (tmpl * tmpl).sum((-2, -1)).clamp(min=1e-30)[:, None, None]
        cov_g = cov_r + hk[:, None, None] * s[..., None, None]
    return cov_g


def _channel_correlation(cov_g: torch.Tensor, std: torch.Tensor, share: torch.Tensor) -> torch.Tensor:
    """Mean pairwise correlation of the R, G, B grain from the YCbCr pattern covariance and the mean plane stds."""
    lag = (cov_g.shape[-1] - 1) // 2
    c0 = cov_g[..., lag, lag].double()  # [N, 3, 3] of the patterns
    d = c0.diagonal(dim1=1, dim2=2).clamp(min=1e-20).sqrt()
    rho = c0 / (d[:, :, None] * d[:, None, :])
    s = ((std.double() ** 2) * share.double()[:, None]).sum(-1).sqrt()  # [N, 3] mean stds
    sig = rho * s[:, :, None] * s[:, None, :]
    m = _YCC_INV.to(sig.device)
    rgb = m @ sig @ m.T
    dr = rgb.diagonal(dim1=1, dim2=2).clamp(min=1e-30).sqrt()
    cr = rgb / (dr[:, :, None] * dr[:, None, :])
    return (cr[:, 0, 1] + cr[:, 0, 2] + cr[:, 1, 2]) / 3


def _points(xs: torch.Tensor, std: torch.Tensor, valid: torch.Tensor) -> ScalingFunction:
    pts = [(float(xs[k]), float(std[k])) for k in range(xs.numel()) if bool(valid[k])]
    clean: list[tuple[float, float]] = []
    for px, py in pts:
        px = min(max(px, 0.0), 1.0)
        if not clean or px > clean[-1][0]:
            clean.append((px, max(py, 0.0)))
    return ScalingFunction(tuple(clean))


def _build(i: int, host: dict, pn: int, ar_lag: int, blind: bool, corr: torch.Tensor, psd: torch.Tensor):
    xs, valid, std, share = host["centre"][i], host["valid"][i], host["std"][i], host["share"][i]
    scal = [_points(xs, std[p], valid) for p in range(pn)]
    luma_std = float((std[0] ** 2 * share).sum().sqrt())
    feats = {
        "std_255": luma_std * 255.0,
        "size": float(host["size"][i]),
        "channel_correlation": float(host["chan"][i]) if pn == 3 else 1.0,
        "kurtosis": float(host["kurt"][i]),
        "channels": float(pn),
        "fine_highpass": float(host["fine"][i]),
    }
    feats.update(_scaling_features(xs, std[0], share, valid))
    label, conf, scores = classify_grain(feats)
    ar_y = tuple(host["cy"][i].tolist()) if host["cy"] is not None else ()
    ar_c = [tuple(v[i].tolist()) for v in host["cc"]]
    info = GrainAnalysis(
        std_points=[(float(xs[k]), float(std[0][k]), float(share[k])) for k in range(xs.numel()) if bool(valid[k])],
        cov=corr, psd=psd, features=feats, scores=scores, confidence=conf, flat_fraction=float(host["flat"][i]),
        kurtosis=feats["kurtosis"], blind=blind, plane_std=[float((std[p] ** 2 * share).sum().sqrt()) for p in range(pn)],
    )
    if label == "clean":
        model = GrainModel(classification="clean", notes="no measurable grain")
        return model, info
    model = GrainModel(
        ar_lag=ar_lag,
        ar_luma=ar_y,
        ar_cb=ar_c[0] if ar_c else (),
        ar_cr=ar_c[1] if ar_c else (),
        scaling_luma=scal[0],
        scaling_cb=scal[1] if pn == 3 else ScalingFunction(),
        scaling_cr=scal[2] if pn == 3 else ScalingFunction(),
        grain_size=feats["size"],
        channel_correlation=max(-1.0, min(1.0, feats["channel_correlation"])),
        spectrum=tuple(host["spec"][i].tolist()),
        classification=label,
        notes=f"measured {'blind' if blind else 'against a clean reference'}",
    )
    return model, info


def _scaling_features(xs: torch.Tensor, std: torch.Tensor, share: torch.Tensor, valid: torch.Tensor) -> dict[str, float]:
    """Shape of the luma scaling curve: relative spread, slope of the variance vs luma and mid-tone excess.

    ``flatness``: weighted coefficient of variation of the std over the luma bins; ``trend``: slope of
    ``std^2`` against luma, relative to the mean variance, per unit luma; ``midpeak``: curvature of a
    quadratic fit of the std, ``-c / mean std`` (positive = peak inside the range); ``span``: luma range
    measured.
    """
    v = valid & (share > 0)
    if int(v.sum()) < 3:
        return {"flatness": 0.0, "trend": 0.0, "midpeak": 0.0, "span": 0.0}
    t, s, wt = xs[v], std[v], share[v]
    wt = wt / wt.sum()
    ms = (wt * s).sum()
    flat = float(((wt * (s - ms) ** 2).sum()).sqrt() / ms.clamp(min=1e-12))
    var = s**2
    mt = (wt * t).sum()
    mv = (wt * var).sum()
    slope = (wt * (t - mt) * (var - mv)).sum() / (wt * (t - mt) ** 2).sum().clamp(min=1e-12)
    a = torch.stack([torch.ones_like(t), t - mt, (t - mt) ** 2], 1)
    coef = torch.linalg.lstsq(a * wt.sqrt()[:, None], (s * wt.sqrt())[:, None]).solution[:, 0]
    return {
        "flatness": flat,
        "trend": float(slope / mv.clamp(min=1e-20)),
        "midpeak": float(-coef[2] / ms.clamp(min=1e-12)),
        "span": float(t.max() - t.min()),
    }


def _empty(n: int, bins: int, ar_lag: int, c: int, dt, device, return_info: bool, blind: bool):
    models = [GrainModel(classification="clean", notes="image too small to measure grain") for _ in range(n)]
    if not return_info:
        return models
    k = 2 * MAX_LAG + 1
    pn = 3 if c == 3 else 1
    infos = [
        GrainAnalysis(std_points=[], cov=torch.zeros(pn, pn, k, k, device=device, dtype=dt),
                      psd=torch.ones(k, k, device=device, dtype=dt), features={}, scores={"clean": 1.0},
                      confidence=1.0, flat_fraction=0.0, kurtosis=3.0, blind=blind, plane_std=[0.0] * pn)
        for _ in range(n)
    ]
    return models, infos


__all__ = ["GrainAnalysis", "analyze_grain", "smooth_background", "grain_size_from_cov",
           "psd_from_cov"]
