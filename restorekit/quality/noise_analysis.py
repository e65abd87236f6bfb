"""Blind analysis of the noise in an image: level, signal dependence, spatial correlation, JPEG blocking.

Everything is measured from the image alone, per image of the batch, with batched torch
operations (any device). The measures, all in image units ([0, 1]) unless said otherwise:

- **Level**: ``sigma``, Donoho's wavelet MAD estimate of white-noise std
  (:func:`restorekit.quality.noise.estimate_sigma`, mean over channels).
- **Signal dependence** (Poisson-Gaussian noise, ``variance = a * intensity + b``): a noise residual
  is taken with Immerkaer's 3x3 operator (``[[1,-2,1],[-2,4,-2],[1,-2,1]] / 6``, which has unit gain
  for white noise and cancels planes), pixels are sorted into intensity bins by their 5x5 local mean,
  and in each bin the noise variance is the squared MAD/0.6745 of the residual over the flatter half
  of its pixels (lowest local gradient). Neighbourhoods that touch clipped samples (0 or 1) are
  left out, and so are whole intensity bins where more than 40 % of the neighbourhoods touch one, since
  clipping lowers the variance; a fit over less than 0.25 of intensity range reports no dependence. A weighted least-squares fit of the bin variances
  gives ``a`` and ``b`` (both >= 0); ``signal_dependence = a m / (a m + b)`` at the median intensity
  ``m`` is the share of the noise variance that depends on the signal (0 = pure Gaussian,
  1 = pure Poisson). The noise std at the median intensity, from the fit, is ``sigma_fit``.
- **Spatial correlation / grain**: the residual of a 3x3 box mean is taken, and its normalised
  autocorrelation at lag 1 (horizontal and vertical averaged) is measured on the flattest quarter of
  8x8 blocks. For white noise it is exactly -1/6 (the residual filter's own correlation);
  ``correlation`` is the excess over -1/6, ~0 for white noise and positive for low-pass (correlated)
  noise such as film grain, demosaicking or denoised-then-resampled noise. Also reported:
  ``scale_ratio``, twice the noise estimate at half resolution over the estimate at full resolution
  (1 for white noise), and ``sigma_total``, the noise std including its low frequencies, from the
  flattest 8x8 blocks (their sample variance, lower quartile, corrected for the quartile's bias).
- **JPEG blocking**: mean absolute steps between neighbouring pixels, grouped by position modulo 8;
  ``blockiness`` is the step at the strongest phase over the median of the other phases (horizontal
  and vertical, the smaller of the two), 1 for no grid, and ``block_step`` is the excess step in
  [0, 1] units. A crop with the grid shifted is still found.

:func:`estimate_noise_psd` estimates the power spectrum of (correlated) noise from the flattest
blocks, in the convention of :func:`restorekit.denoise.bm3d.bm3d_denoise`'s ``noise_psd``.

Limits: heavy clipping hides signal dependence (intensity bins where most neighbourhoods touch a
clipped sample are not fitted): Poisson-Gaussian noise with std ~50 at mid grey is not detected on
Set12, and at std 10-30 about 1 in 5 128x128 crops is missed; white noise was flagged signal-dependent
in 2 of 192 such crops. Strong texture reads as correlated noise at low levels; images whose JPEG
grid survived a crop or an earlier compression (Set12 03 and 06) are reported blocky.

Decision thresholds (:data:`THRESHOLDS`) were set on Set12 crops (clean, white Gaussian 15/25/50,
Poisson-Gaussian, Gaussian-filtered noise, JPEG quality 20/50); see ``tests/quality/test_noise_analysis.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..color import luma
from ..image import check_image
from .noise import estimate_sigma

#: Decision thresholds of the flags (see the module docstring for the measures).
THRESHOLDS = {
    # share of the noise variance that depends on intensity (Poisson part) at the median intensity
    "signal_dependence": 0.5,
    # excess lag-1 autocorrelation of the box residual over white noise's -1/6
    "correlation": 0.12,
    # block-boundary step over the interior steps (both directions), and the excess step in grey levels
    "blockiness": 1.2,
    "block_step255": 1.0,
    # clean: white-noise estimate below clean_sigma255 (0-255; texture alone reads 1.5-3.4 on Set12), or, when
    # the residual looks correlated (texture does too), a flat-area std below clean_total255
    "clean_sigma255": 3.0,
    "clean_total255": 5.0,
    # blocking counts as the main finding ("jpeg") only when little fine-scale noise survived
    "jpeg_max_sigma255": 4.0,
}

#: Smallest side for the statistics beyond the noise level (smaller images report the level only).
MIN_SIDE = 16
_BINS = 8
_MAX_SAMPLES = 16384
_BOX_RESIDUAL_LAG1 = -1.0 / 6.0  # lag-1 autocorrelation of (I - box3x3) white noise
_MAD = 0.6744897501960817
_TOTAL_QUANTILE, _TOTAL_Z = 0.1, 1.2815515655446004  # lower decile of flat-block variances; Phi^-1(0.9)
_IMMERKAER = ((1.0, -2.0, 1.0), (-2.0, 4.0, -2.0), (1.0, -2.0, 1.0))  # / 6 -> unit noise gain
_CLIP_LOW, _CLIP_HIGH = 0.5 / 255.0, 254.5 / 255.0
_MIN_SPAN = 0.25  # intensity range (between the outer bins' medians) needed to fit a signal dependence
_BIN_CLIP_SHARE = 0.4  # intensity bins with more neighbourhoods touching clipped samples are not fitted


@dataclass(frozen=True)
class NoiseAnalysis:
    """What :func:`analyse_noise` measured on one image. Std and variances in [0, 1] image units.

    ``kind``: the main finding, one of ``"clean"``, ``"gaussian"``, ``"poisson_gaussian"``,
    ``"correlated"`` and ``"jpeg"`` (blocking with little fine noise left wins over the others, then
    correlation, then signal dependence; blocking under strong noise only raises ``blocky``). ``summary``: a few readable lines (0-255 grey levels).
    """

    sigma: float
    sigma_channels: tuple[float, ...]
    sigma_fit: float
    noise_gain: float
    noise_floor: float
    signal_dependence: float
    signal_dependent: bool
    correlation: float
    scale_ratio: float
    sigma_total: float
    correlated: bool
    blockiness: float
    block_step: float
    blocky: bool
    clean: bool
    kind: str
    summary: str

    @property
    def sigma255(self) -> float:
        """``sigma`` in 0-255 grey levels."""
        return self.sigma * 255.0

    @property
    def flags(self) -> tuple[str, ...]:
        """Names of the raised flags, e.g. ``("signal-dependent",)``."""
        out = []
        if self.clean:
            out.append("clean")
        if self.signal_dependent:
            out.append("signal-dependent")
        if self.correlated:
            out.append("correlated")
        if self.blocky:
            out.append("JPEG blocking")
        return tuple(out)


def _reflect_pad(y: torch.Tensor, p: int) -> torch.Tensor:
    mode = "reflect" if min(y.shape[-2:]) > p else "replicate"
    return F.pad(y, (p, p, p, p), mode=mode)


def _immerkaer(y: torch.Tensor) -> torch.Tensor:
    k = torch.tensor(_IMMERKAER, dtype=y.dtype, device=y.device).view(1, 1, 3, 3) / 6.0
    return F.conv2d(_reflect_pad(y, 1), k)


def _box_residual(y: torch.Tensor) -> torch.Tensor:
    return y - F.avg_pool2d(_reflect_pad(y, 1), 3, 1)


def _weighted_fit(m: torch.Tensor, v: torch.Tensor, ok: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row, weighted least squares ``v = a m + b`` with ``a, b >= 0`` (weights 1/v^2, ``ok`` rows).

    ``m``, ``v``, ``ok``: ``[N, K]``. Returns ``a``, ``b`` ``[N]``.
    """
    w = torch.where(ok, 1.0 / v.clamp_min(1e-12) ** 2, torch.zeros_like(v))
    sw, swm, swv = w.sum(1), (w * m).sum(1), (w * v).sum(1)
    swmm, swmv = (w * m * m).sum(1), (w * m * v).sum(1)
    det = sw * swmm - swm * swm
    good = det > 1e-12 * sw * swmm.clamp_min(1e-30)
    a = torch.where(good, (sw * swmv - swm * swv) / det.clamp_min(1e-30), torch.zeros_like(sw))
    b = torch.where(good, (swmm * swv - swm * swmv) / det.clamp_min(1e-30), swv / sw.clamp_min(1e-30))
    # Constrained solutions: through the origin when b < 0, constant when a < 0.
    a_origin = swmv / swmm.clamp_min(1e-30)
    b_const = swv / sw.clamp_min(1e-30)
    neg_b = b < 0
    a = torch.where(neg_b, a_origin, a)
    b = torch.where(neg_b, torch.zeros_like(b), b)
    neg_a = a < 0
    a = torch.where(neg_a, torch.zeros_like(a), a)
    b = torch.where(neg_a, b_const, b)
    return a, b


def _signal_dependence(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Poisson-Gaussian fit per row of ``y`` ``[N, 1, H, W]``: ``a``, ``b`` and the median intensity ``[N]``.

    Intensity bins where more than 40 % of the 5x5 neighbourhoods touch a clipped sample (0 or 1) are
    left out: there the clipped tail (and keeping only unclipped neighbourhoods) lowers the measured
    variance, which would read as signal dependence. A fit over less than ``_MIN_SPAN`` of intensity
    is replaced by a constant (no signal dependence measurable)."""
    n = y.shape[0]
    # Statistics on at most ~_MAX_SAMPLES pixels per row: a regular sub-grid of the full-resolution maps.
    step = max(1, math.ceil(math.sqrt(y.shape[-2] * y.shape[-1] / _MAX_SAMPLES)))

    def sample(t: torch.Tensor) -> torch.Tensor:
        return t[..., ::step, ::step].flatten(1)

    r = sample(_immerkaer(y))
    local = F.avg_pool2d(_reflect_pad(y, 2), 5, 1)
    gx = (local[..., :, 2:] - local[..., :, :-2]).abs()
    gy = (local[..., 2:, :] - local[..., :-2, :]).abs()
    grad = sample(F.pad(gx, (1, 1, 0, 0), mode="replicate") + F.pad(gy, (0, 0, 1, 1), mode="replicate"))
    clipped = ((y <= _CLIP_LOW) | (y >= _CLIP_HIGH)).to(y.dtype)
    near_clip = sample(F.max_pool2d(_reflect_pad(clipped, 2), 5, 1)) > 0
    m = sample(local)
    nan = torch.full_like(m, float("nan"))
    m_valid = torch.where(near_clip, nan, m)
    # Equal-count intensity bins over all pixels; a bin where many neighbourhoods touch a clipped sample
    # is left out whole (there clipping, and keeping only the unclipped neighbourhoods, lowers the variance).
    order = torch.argsort(m, dim=1)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(m.shape[1], device=y.device).expand(n, -1))
    bins = (rank * _BINS) // m.shape[1]
    mb = torch.empty(n, _BINS, dtype=y.dtype, device=y.device)
    vb = torch.empty_like(mb)
    clip_share = torch.empty_like(mb)
    for k in range(_BINS):  # K small steps, each batched over all rows
        in_bin = bins == k
        clip_share[:, k] = (in_bin & near_clip).sum(1) / in_bin.sum(1).clamp_min(1)
        inside = in_bin & ~near_clip
        g_k = torch.where(inside, grad, nan)
        g_med = torch.nanmedian(g_k, dim=1, keepdim=True).values
        flat = inside & (grad <= g_med)
        mb[:, k] = torch.nanmedian(torch.where(flat, m, nan), dim=1).values
        mad = torch.nanmedian(torch.where(flat, r.abs(), nan), dim=1).values
        vb[:, k] = (mad / _MAD) ** 2
    count = (~near_clip).sum(1)
    ok = torch.isfinite(mb) & torch.isfinite(vb) & (vb > 0) & (count.unsqueeze(1) >= 16 * _BINS)
    ok = ok & (clip_share <= _BIN_CLIP_SHARE)
    a, b = _weighted_fit(torch.nan_to_num(mb), torch.nan_to_num(vb), ok)
    # Too narrow an intensity range (after the exclusions) cannot tell a slope from texture: constant fit.
    span = torch.where(ok, mb, torch.full_like(mb, float("nan")))
    narrow = (torch.nan_to_num(span, nan=-1.0).amax(1) - torch.nan_to_num(span, nan=2.0).amin(1)) < _MIN_SPAN
    w = torch.where(ok, 1.0 / vb.clamp_min(1e-12) ** 2, torch.zeros_like(vb))
    const = (w * torch.nan_to_num(vb)).sum(1) / w.sum(1).clamp_min(1e-30)
    a = torch.where(narrow, torch.zeros_like(a), a)
    b = torch.where(narrow, const, b)
    med = torch.nanmedian(m_valid, dim=1).values
    med = torch.nan_to_num(med, nan=0.5)
    return a, b, med


def _flat_block_stats(y: torch.Tensor, gain: torch.Tensor, floor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Lag-1 correlation excess of the box residual and ``sigma_total`` per row of ``y`` ``[N, 1, H, W]``.

    The blocks used are those whose residual energy is lowest relative to the fitted noise variance
    ``gain * mean + floor`` at their intensity (``[N]`` each), so signal-dependent noise does not push
    the selection into the darkest (least noisy, relatively most textured) blocks."""
    k = 8 if min(y.shape[-2:]) >= 32 else 4
    r = _box_residual(y)
    prod_x = F.pad(r[..., :, 1:] * r[..., :, :-1], (0, 1))
    prod_y = F.pad(r[..., 1:, :] * r[..., :-1, :], (0, 0, 0, 1))
    c0 = F.avg_pool2d(r * r, k).flatten(1)
    c1 = F.avg_pool2d(0.5 * (prod_x + prod_y), k).flatten(1) * (k / (k - 0.5))  # one product fewer per row/column
    # Block variance after removing the best-fitting plane (smooth gradients are not noise).
    mean = F.avg_pool2d(y, k)
    ramp = torch.arange(k, dtype=y.dtype, device=y.device) - (k - 1) / 2
    u = ramp.repeat(y.shape[-2] // k + 1)[: y.shape[-2]].view(1, 1, -1, 1)
    v = ramp.repeat(y.shape[-1] // k + 1)[: y.shape[-1]].view(1, 1, 1, -1)
    ramp_var = float((ramp * ramp).mean())
    slope_u = F.avg_pool2d(y * u, k)
    slope_v = F.avg_pool2d(y * v, k)
    var = F.avg_pool2d(y * y, k) - mean * mean - (slope_u * slope_u + slope_v * slope_v) / ramp_var
    var = var.flatten(1).clamp_min(0) * (k * k / (k * k - 3))
    clipped = ((y <= _CLIP_LOW) | (y >= _CLIP_HIGH)).to(y.dtype)
    bad = F.max_pool2d(clipped, k).flatten(1) > 0
    nan = torch.full_like(c0, float("nan"))
    c0v = torch.where(bad, nan, c0)
    all_bad = bad.all(dim=1, keepdim=True)
    c0v = torch.where(all_bad, c0, c0v)  # fully clipped image: use every block
    expected = (gain.view(-1, 1) * mean.flatten(1) + floor.view(-1, 1)).clamp_min(1e-10)
    rel = c0v / expected
    q = torch.nanquantile(rel, 0.25, dim=1, keepdim=True)
    sel = torch.isfinite(rel) & (rel <= q)
    s0 = torch.where(sel, c0, torch.zeros_like(c0)).sum(1)
    s1 = torch.where(sel, c1, torch.zeros_like(c1)).sum(1)
    rho = torch.where(s0 > 0, s1 / s0.clamp_min(1e-30), torch.full_like(s0, _BOX_RESIDUAL_LAG1))
    excess = rho - _BOX_RESIDUAL_LAG1
    # sigma_total: lower quartile of the block variances over unclipped blocks, divided by the quartile
    # of a chi-square with k*k-1 degrees of freedom over its mean (white-noise bias of the quartile).
    varv = torch.where(bad & ~all_bad, torch.full_like(var, float("nan")), var)
    vq = torch.nanquantile(varv, _TOTAL_QUANTILE, dim=1)
    dof = k * k - 3
    chi_q = 1.0 - _TOTAL_Z * math.sqrt(2.0 / dof)  # normal approximation of the chi-square quantile
    return excess, (vq / chi_q).clamp_min(0).sqrt()


def _phase_steps(d: torch.Tensor) -> torch.Tensor:
    """Mean step per phase (index modulo 8) of ``d`` ``[N, L]`` (step between samples j and j+1 -> phase j+1)."""
    n, length = d.shape
    phase = torch.arange(1, length + 1, device=d.device) % 8
    sums = torch.zeros(n, 8, dtype=d.dtype, device=d.device).index_add_(1, phase, d)
    counts = torch.zeros(8, dtype=d.dtype, device=d.device).index_add_(0, phase, torch.ones_like(d[0]))
    return sums / counts.clamp_min(1)


def _blocking(g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Blockiness ratio and excess step ([0, 1] units) of ``g`` ``[B, 1, H, W]``."""
    dx = (g[..., :, 1:] - g[..., :, :-1]).abs().mean(dim=(1, 2))  # [B, W-1]
    dy = (g[..., 1:, :] - g[..., :-1, :]).abs().mean(dim=(1, 3))  # [B, H-1]
    ratios, steps = [], []
    for d in (dx, dy):
        ph = _phase_steps(d)
        top, arg = ph.max(dim=1)
        others = torch.where(
            torch.arange(8, device=g.device).unsqueeze(0) == arg.unsqueeze(1), torch.full_like(ph, float("nan")), ph
        )
        base = torch.nanmedian(others, dim=1).values
        ratios.append(top / base.clamp_min(1e-8))
        steps.append(top - base)
    return torch.minimum(ratios[0], ratios[1]), torch.minimum(steps[0], steps[1])


def _kind(clean: bool, sd: bool, corr: bool, jpeg: bool) -> str:
    if jpeg:
        return "jpeg"
    if clean:
        return "clean"
    if corr:
        return "correlated"
    if sd:
        return "poisson_gaussian"
    return "gaussian"


def _summary(a: dict, small: bool) -> str:
    s255 = a["sigma"] * 255
    lines = [f"Noise level: sigma {s255:.2f} (0-255, wavelet MAD estimate)" + (" - practically clean." if a["clean"] else ".")]
    if small:
        lines.append("Image too small for the other measures (needs 16 px or more on each side).")
        return "\n".join(lines)
    ga, gb = a["noise_gain"], a["noise_floor"]
    lines.append(
        f"Signal dependence: {a['signal_dependence']:.2f} of the variance at mid intensity "
        f"(fit variance = {ga * 255**2:.1f} x intensity + {gb * 255**2:.1f}, in 0-255^2 units with intensity in [0, 1]; "
        f"std at the median intensity {a['sigma_fit'] * 255:.2f}) - "
        + ("signal-dependent (Poisson-Gaussian)." if a["signal_dependent"] else "not signal-dependent.")
    )
    lines.append(
        f"Spatial correlation: lag-1 excess {a['correlation']:+.2f} (0 = white), half/full-resolution ratio "
        f"{a['scale_ratio']:.2f} (1 = white), total std in flat areas {a['sigma_total'] * 255:.2f} - "
        + ("correlated (grain-like) noise." if a["correlated"] else "white noise.")
    )
    lines.append(
        f"JPEG blocking: boundary/interior step ratio {a['blockiness']:.2f}, excess step {a['block_step'] * 255:.2f} - "
        + ("8x8 blocking present." if a["blocky"] else "no blocking.")
    )
    verdict = {
        "clean": "clean image (no significant noise)",
        "gaussian": "white Gaussian-like noise",
        "poisson_gaussian": "signal-dependent (Poisson-Gaussian) noise",
        "correlated": "spatially correlated noise / grain",
        "jpeg": "JPEG compression artefacts",
    }[a["kind"]]
    lines.append(f"Verdict: {verdict}.")
    return "\n".join(lines)


def analyse_noise(x: torch.Tensor) -> list[NoiseAnalysis]:
    """Measure the noise of every image of ``x`` ``[B, C, H, W]`` (C = 1 or 3, float in [0, 1]).

    Returns one :class:`NoiseAnalysis` per image (see the module docstring for every measure).
    Signal dependence is fitted per channel (the fitted ``a`` and ``b`` are averaged over channels);
    correlation and blocking are measured on luma. Images smaller than :data:`MIN_SIDE` on a side get
    the noise level only (other measures neutral, no flags but ``clean``).
    """
    check_image(x, "image")
    b, c, h, w = x.shape
    xf = x.detach().float()
    sig_c = estimate_sigma(xf)  # [B, C]
    sigma = sig_c.mean(dim=1)
    small = min(h, w) < MIN_SIDE
    g = luma(xf) if c == 3 else xf
    if small:
        zeros = torch.zeros(b, device=x.device)
        ones = torch.ones(b, device=x.device)
        gain, floor, med = zeros, sigma**2, ones * 0.5
        corr, sig_total, blockiness, step, scale_ratio = zeros, sigma, ones, zeros, ones
    else:
        ga, gb, gm = _signal_dependence(xf.reshape(b * c, 1, h, w))
        gain, floor = ga.view(b, c).mean(1), gb.view(b, c).mean(1)
        med = gm.view(b, c).mean(1)
        if c == 3:  # luma of i.i.d. channel noise: variance x sum of squared luma weights
            lw = 0.299**2 + 0.587**2 + 0.114**2
            corr, sig_total = _flat_block_stats(g, gain * lw, floor * lw)
        else:
            corr, sig_total = _flat_block_stats(g, gain, floor)
        blockiness, step = _blocking(g)
        half = estimate_sigma(F.avg_pool2d(g, 2)).mean(1)
        full = estimate_sigma(g).mean(1)
        scale_ratio = torch.where(full > 0, 2.0 * half / full.clamp_min(1e-12), torch.ones_like(full))
    sd_share = torch.where(gain * med + floor > 0, gain * med / (gain * med + floor).clamp_min(1e-30), torch.zeros_like(gain))
    sigma_fit = (gain * med + floor).clamp_min(0).sqrt()
    cols = {
        "sigma": sigma,
        "sigma_fit": sigma_fit,
        "noise_gain": gain,
        "noise_floor": floor,
        "signal_dependence": sd_share,
        "correlation": corr,
        "scale_ratio": scale_ratio,
        "sigma_total": sig_total,
        "blockiness": blockiness,
        "block_step": step,
    }
    host = {k: [float(v) for v in t.double().cpu()] for k, t in cols.items()}
    channels = sig_c.double().cpu().tolist()
    t = THRESHOLDS
    out = []
    for i in range(b):
        a = {k: v[i] for k, v in host.items()}
        looks_correlated = (not small) and a["correlation"] >= t["correlation"]
        blocky = (not small) and a["blockiness"] >= t["blockiness"] and a["block_step"] * 255 >= t["block_step255"]
        if looks_correlated:  # texture also looks correlated and inflates the fine-scale estimate
            clean = a["sigma_total"] * 255 < t["clean_total255"] and not blocky
        else:
            clean = a["sigma"] * 255 < t["clean_sigma255"] and not blocky
        sd = (not small) and not clean and a["signal_dependence"] >= t["signal_dependence"]
        corr = looks_correlated and not clean
        jpeg = blocky and a["sigma"] * 255 < t["jpeg_max_sigma255"]
        a.update(signal_dependent=sd, correlated=corr, blocky=blocky, clean=clean, kind=_kind(clean, sd, corr, jpeg))
        out.append(
            NoiseAnalysis(
                sigma_channels=tuple(channels[i]),
                summary=_summary(a, small),
                **a,
            )
        )
    return out


analyze_noise = analyse_noise


def estimate_noise_psd(x: torch.Tensor, *, block: int = 16, total_sigma: torch.Tensor | None = None) -> torch.Tensor:
    """Power spectral density of stationary (possibly correlated) noise, per image, ``[B, 1, k, k]``.

    Measured on luma (RGB) or the gray channel: half-overlapping ``block x block`` blocks have their
    best-fitting plane removed, the lower quartile of them by remaining variance (the flattest, where
    the residual is mostly noise) is kept and their periodograms ``|FFT2(block)|^2 / block^2`` are
    averaged. The DC bin (removed with the plane) is filled with the mean of its three neighbours.
    Convention of :func:`restorekit.denoise.bm3d.bm3d_denoise`: ``E|FFT2(noise)|^2 / (k*k)`` (the
    constant ``s**2`` for white noise of std ``s``), so the mean over the grid is the noise variance.
    ``total_sigma`` (``[B]``, [0, 1] units): when given, the PSD is rescaled to that std (the flattest
    blocks under-read the variance; the shape is what this estimate contributes). The block shrinks to
    the largest power of two that fits small images (at least 4); below 4 pixels the PSD is white.
    """
    check_image(x, "image")
    g = luma(x.detach().float()) if x.shape[1] == 3 else x.detach().float()
    b, _, h, w = g.shape
    k = block
    while k > 4 and k > min(h, w):
        k //= 2
    if min(h, w) < k:
        s = estimate_sigma(g)[:, 0] if total_sigma is None else total_sigma.to(g.device, torch.float32)
        return (s.view(b, 1, 1, 1) ** 2).expand(b, 1, 4, 4).clone()
    blocks = F.unfold(g, k, stride=max(1, k // 2)).transpose(1, 2).reshape(b, -1, k, k)
    ramp = torch.arange(k, dtype=g.dtype, device=g.device) - (k - 1) / 2
    u, v = ramp.view(k, 1).expand(k, k), ramp.view(1, k).expand(k, k)
    ramp_var = (ramp * ramp).mean()
    mean = blocks.mean((-2, -1), keepdim=True)
    su = (blocks * u).mean((-2, -1), keepdim=True) / ramp_var
    sv = (blocks * v).mean((-2, -1), keepdim=True) / ramp_var
    detrended = blocks - mean - su * u - sv * v
    var = detrended.pow(2).mean((-2, -1))  # [B, N]
    sel = (var <= torch.quantile(var, 0.25, dim=1, keepdim=True)).to(g.dtype)
    per = torch.fft.fft2(detrended).abs() ** 2 / (k * k)
    psd = (per * sel[..., None, None]).sum(1) / sel.sum(1).clamp_min(1)[:, None, None]
    psd[:, 0, 0] = (psd[:, 0, 1] + psd[:, 1, 0] + psd[:, 1, 1]) / 3
    if total_sigma is not None:
        target = total_sigma.to(g.device, torch.float32).view(b, 1, 1) ** 2
        psd = psd / psd.mean((-2, -1), keepdim=True).clamp_min(1e-20) * target
    return psd.unsqueeze(1)
