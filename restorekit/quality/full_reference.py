"""Full-reference quality measures beyond PSNR and SSIM: MS-SSIM, GMSD, FSIM(c), VIFp and HaarPSI.

Each function compares an image batch ``x`` with its reference ``ref`` (both ``[B, C, H, W]``,
float in [0, 1] by default, C = 1 or 3, RGB = sRGB values) and returns one value per image,
a tensor ``[B]`` on ``x``'s device, in float32 (float64 for float64 input). Pairs follow the
policy of :func:`restorekit.quality.metrics.prepare_pair`: a reference batch of one serves every
image, and gray against RGB is compared on BT.601 luma.

The definitions are those of the original papers with the conventions of the ``piq`` library,
so that values agree with it (``data_range`` scales the inputs to [0, 1] first):

- MS-SSIM (Wang, Simoncelli and Bovik 2003): 11 x 11 Gaussian window (sigma 1.5 px) without
  padding, five scales with the paper's weights, 2 x 2 average pooling between scales (an odd
  side first gets one replicated row and column at the top-left), contrast-structure terms
  clipped at 0, computed per colour channel and averaged over channels.
- GMSD (Xue et al. 2013): on luma (YIQ Y for RGB), after 2 x 2 average pooling (zero padding of
  an odd side), Prewitt gradients, ``T = 170 / 255^2``; the standard deviation of the gradient
  magnitude similarity, 0 = identical, larger is worse.
- FSIM / FSIMc (Zhang et al. 2011): on 0-255 values, after ``round(min(H, W) / 256)``-fold
  average pooling; phase congruency from a log-Gabor bank of 4 scales x 4 orientations,
  Scharr gradients, ``T1 = 0.85``, ``T2 = 160``, and for RGB the YIQ chroma terms
  (``T3 = T4 = 200``, ``lambda = 0.03``).
- VIFp (Sheikh and Bovik 2006, pixel-domain version): on luma in 0-255, four scales of
  Gaussian windows 17, 9, 5, 3 px (sigma = size / 5), ``sigma_n^2 = 2``.
- HaarPSI (Reisenhofer et al. 2018): on YIQ in 0-255 after 2 x 2 average pooling, Haar
  wavelets at three scales, ``C = 30``, ``alpha = 4.2``.

Small filters are written as sums of shifted slices rather than convolutions: exact float32
arithmetic on every device (cuDNN may run float32 convolutions in TF32, whose 10-bit mantissa
spoils variances computed as ``E[x^2] - E[x]^2``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import InvalidImageError, InvalidParameterError
from .metrics import _check_data_range, prepare_pair

#: Scale weights of MS-SSIM (Wang, Simoncelli and Bovik 2003), finest first.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MS_SSIM_WINDOW = 11
MS_SSIM_SIGMA = 1.5
#: Smallest side (px) that VIFp's four scales fit in, and HaarPSI's (its coarsest Haar filter).
VIF_MIN_SIDE = 41
HAARPSI_MIN_SIDE = 16
#: FSIM needs a phase-congruency filter bank of at least 2 x 2 frequencies (after its pooling).
FSIM_MIN_SIDE = 2

# YIQ (NTSC 1953) rows: Y, I, Q from RGB.
_YIQ = ((0.299, 0.587, 0.114), (0.5959, -0.2746, -0.3213), (0.2115, -0.5227, 0.3112))


def ms_ssim_min_side(scales: int = 5) -> int:
    """The smallest image side (px) MS-SSIM accepts with ``scales`` scales: ``10 * 2^(scales - 1) + 1``."""
    return (MS_SSIM_WINDOW - 1) * 2 ** (scales - 1) + 1


def _pair(x: torch.Tensor, ref: torch.Tensor, data_range: float, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Validated, aligned pair rescaled so that ``data_range`` becomes ``scale``."""
    factor = scale / _check_data_range(data_range)
    a, r = prepare_pair(x, ref)
    if factor != 1.0:
        a, r = a * factor, r * factor
    return a, r


def _too_small(x: torch.Tensor, minimum: int, what: str, fix: str) -> None:
    h, w = x.shape[-2:]
    if min(h, w) < minimum:
        raise InvalidImageError(
            "image", f"is {w}x{h} px; {what} needs at least {minimum} px on the short side.", fix
        )


# ---- small filters as shifted slices ----------------------------------------------------------


def _correlate(y: torch.Tensor, taps: list[float], dim: int) -> torch.Tensor:
    """Correlate ``y`` with ``taps`` along ``dim``, keeping only positions fully inside (valid)."""
    n = y.shape[dim] - len(taps) + 1
    out = None
    for k, t in enumerate(taps):
        if t == 0.0:
            continue
        term = y.narrow(dim, k, n)
        out = term * t if out is None else out.add_(term, alpha=t)
    return out


def _separable(y: torch.Tensor, rows: list[float], cols: list[float]) -> torch.Tensor:
    """Valid 2-D correlation with the outer product ``rows x cols`` (rows along H, cols along W)."""
    return _correlate(_correlate(y, rows, -2), cols, -1)


def _gaussian(size: int, sigma: float) -> list[float]:
    c = (size - 1) / 2.0
    g = [math.exp(-((k - c) ** 2) / (2.0 * sigma * sigma)) for k in range(size)]
    total = sum(g)
    return [v / total for v in g]


def _to_luma_yiq(x: torch.Tensor) -> torch.Tensor:
    """YIQ Y (= BT.601 luma) of an RGB batch; a gray batch as is."""
    if x.shape[1] == 1:
        return x
    wr, wg, wb = _YIQ[0]
    return wr * x[:, 0:1] + wg * x[:, 1:2] + wb * x[:, 2:3]


def _to_yiq(x: torch.Tensor) -> torch.Tensor:
    m = torch.tensor(_YIQ, device=x.device, dtype=x.dtype)
    return torch.einsum("kc,bchw->bkhw", m, x)


def _halve(x: torch.Tensor, mode: str) -> torch.Tensor:
    """2 x 2 average pooling; when a side is odd both sides get one more row/column first
    (``mode="zero"``: zeros at the bottom/right, ``"replicate"``: copies at the top/left)."""
    pad = max(x.shape[-2] % 2, x.shape[-1] % 2)
    if pad:
        if mode == "zero":
            x = F.pad(x, (0, pad, 0, pad))
        else:
            x = F.pad(x, (pad, 0, pad, 0), mode="replicate")
    return F.avg_pool2d(x, 2)


def _similarity(a: torch.Tensor, b: torch.Tensor, c: float) -> torch.Tensor:
    return (2.0 * a * b + c) / (a * a + b * b + c)


def _gradient_magnitude(y: torch.Tensor, smooth: list[float]) -> torch.Tensor:
    """Magnitude of a 3 x 3 derivative (``smooth`` across, central difference along), zero padding."""
    p = F.pad(y, (1, 1, 1, 1))
    diff = [-1.0, 0.0, 1.0]
    gx = _separable(p, smooth, diff)
    gy = _separable(p, diff, smooth)
    return torch.sqrt(gx * gx + gy * gy)


# ---- MS-SSIM ---------------------------------------------------------------------------------


def _ssim_and_cs(a: torch.Tensor, r: torch.Tensor, taps: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean SSIM and mean contrast-structure term per image and channel ``[B, C]`` (values in [0, 1])."""
    b, c = a.shape[:2]
    stats = _separable(torch.cat([a, r, a * a, r * r, a * r], dim=1), taps, taps)
    mu_a, mu_r, e_aa, e_rr, e_ar = stats.split(c, dim=1)
    c1, c2 = 0.01**2, 0.03**2
    cs = (2.0 * (e_ar - mu_a * mu_r) + c2) / ((e_aa - mu_a * mu_a) + (e_rr - mu_r * mu_r) + c2)
    lum = (2.0 * mu_a * mu_r + c1) / (mu_a * mu_a + mu_r * mu_r + c1)
    return (lum * cs).flatten(2).mean(dim=2), cs.flatten(2).mean(dim=2)


def ms_ssim(x: torch.Tensor, ref: torch.Tensor, *, data_range: float = 1.0, scales: int = 5) -> torch.Tensor:
    """Multi-scale SSIM per image ``[B]`` (Wang, Simoncelli and Bovik 2003), 1 = identical, 0 = unrelated.

    ``prod_j cs_j^w_j * l_M^w_M`` over ``scales`` dyadic scales with the paper's weights
    (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), each image halved between scales; with fewer than 5
    scales the first ``scales`` weights are used, renormalised to sum 1 (``scales=1`` is SSIM
    without padding). Computed per colour channel and averaged over channels.
    ``data_range``: the value of white (1.0 for images in [0, 1]).

    Raises :class:`InvalidImageError` when the short side is under ``10 * 2^(scales - 1) + 1`` px
    (161 px for 5 scales): use fewer ``scales`` or :func:`restorekit.quality.metrics.ssim`.
    """
    if isinstance(scales, bool) or not isinstance(scales, int) or not 1 <= scales <= len(MS_SSIM_WEIGHTS):
        raise InvalidParameterError("scales", f"must be an integer from 1 to 5, got {scales!r}.", "use 5 (the paper).")
    a, r = _pair(x, ref, data_range, 1.0)
    minimum = ms_ssim_min_side(scales)
    _too_small(
        a, minimum, f"MS-SSIM with {scales} scale{'s' if scales > 1 else ''} (11 px window)",
        f"give scales={scales - 1} (needs {ms_ssim_min_side(scales - 1)} px) or use SSIM, or a larger image."
        if scales > 1 else "use a larger image.",
    )
    weights = MS_SSIM_WEIGHTS[:scales]
    if scales < len(MS_SSIM_WEIGHTS):
        total = sum(weights)
        weights = tuple(w / total for w in weights)
    taps = _gaussian(MS_SSIM_WINDOW, MS_SSIM_SIGMA)
    terms = []
    for level in range(scales):
        if level > 0:
            a, r = _halve(a, "replicate"), _halve(r, "replicate")
        s, cs = _ssim_and_cs(a, r, taps)
        terms.append(s if level == scales - 1 else cs)
    w = torch.tensor(weights, device=a.device, dtype=a.dtype).view(-1, 1, 1)
    return torch.prod(torch.relu(torch.stack(terms)) ** w, dim=0).mean(dim=1)


# ---- GMSD ------------------------------------------------------------------------------------


def gmsd(x: torch.Tensor, ref: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Gradient magnitude similarity deviation per image ``[B]`` (Xue et al. 2013): 0 = identical, larger = worse.

    On luma (YIQ Y for RGB) halved by 2 x 2 average pooling; Prewitt gradient magnitudes ``m``
    (on [0, 1] values) give ``GMS = (2 m_x m_r + T) / (m_x^2 + m_r^2 + T)``, ``T = 170 / 255^2``, and
    the score is the (population) standard deviation of GMS over the image; typically 0 to 0.35.
    """
    a, r = _pair(x, ref, data_range, 1.0)
    a, r = _halve(_to_luma_yiq(a), "zero"), _halve(_to_luma_yiq(r), "zero")
    prewitt = [1.0 / 3.0] * 3
    g = _gradient_magnitude(torch.cat([a, r]), prewitt)
    ga, gr = g.chunk(2)
    gms = _similarity(ga, gr, 170.0 / 255.0**2).flatten(1)
    return gms.std(dim=1, correction=0)


# ---- FSIM ------------------------------------------------------------------------------------


def _grid(n: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Normalised frequency coordinates along a side of ``n`` (centred at zero, as in Kovesi's code)."""
    if n % 2:
        return torch.arange(n, device=device, dtype=dtype).sub_((n - 1) / 2) / (n - 1)
    return torch.arange(n, device=device, dtype=dtype).sub_(n / 2) / n


def _log_gabor_bank(h: int, w: int, device: torch.device, dtype: torch.dtype, scales: int = 4,
                    orientations: int = 4) -> torch.Tensor:
    """Log-Gabor transfer functions ``[orientations, scales, H, W]`` (unshifted frequency layout).

    Smallest wavelength 6 px, factor 2 between scales, ``sigma_f = 0.55``, angular spread
    ``pi / (orientations * 1.2)``, times a Butterworth low-pass (cutoff 0.45, order 15).
    """
    # The row coordinate plays the role of x, the column of y (piq's layout; the bank is the same
    # up to a reflection, which leaves phase congruency unchanged).
    gx = _grid(h, device, dtype).view(h, 1).expand(h, w)
    gy = _grid(w, device, dtype).view(1, w).expand(h, w)
    radius = torch.sqrt(gx * gx + gy * gy)
    theta = torch.atan2(-gy, gx)
    lowpass = torch.fft.ifftshift(1.0 / (1.0 + (radius / 0.45) ** 30))
    radius = torch.fft.ifftshift(radius).clone()
    theta = torch.fft.ifftshift(theta)
    radius[0, 0] = 1.0
    log_sf = 2.0 * math.log(0.55) ** 2
    radial = []
    for s in range(scales):
        f0 = 1.0 / (6.0 * 2.0**s)
        g = torch.exp(-torch.log(radius / f0) ** 2 / log_sf) * lowpass
        g[0, 0] = 0.0
        radial.append(g)
    sin_t, cos_t = torch.sin(theta), torch.cos(theta)
    theta_sigma = math.pi / (orientations * 1.2)
    angular = []
    for o in range(orientations):
        angle = o * math.pi / orientations
        ds = sin_t * math.cos(angle) - cos_t * math.sin(angle)
        dc = cos_t * math.cos(angle) + sin_t * math.sin(angle)
        angular.append(torch.exp(-torch.atan2(ds, dc) ** 2 / (2.0 * theta_sigma**2)))
    return torch.stack(angular)[:, None] * torch.stack(radial)[None]


def _phase_congruency(y: torch.Tensor, bank: torch.Tensor, k: float = 2.0) -> torch.Tensor:
    """Phase congruency ``[N, 1, H, W]`` of gray images ``[N, 1, H, W]`` (Kovesi's phasecong2 as in FSIM).

    Noise energy is estimated per orientation from the median squared response of the smallest
    scale (Rayleigh model); energy below ``mean + k std`` of the noise (divided by 1.7, as in the
    FSIM code) is discarded.
    """
    n, _, h, w = y.shape
    eps = torch.finfo(y.dtype).eps
    o_count, s_count = bank.shape[:2]
    eo = torch.fft.ifft2(torch.fft.fft2(y[:, 0])[:, None, None] * bank)  # [N, O, S, H, W]
    even, odd = eo.real, eo.imag
    amplitude = eo.abs()
    sum_e, sum_o = even.sum(dim=2, keepdim=True), odd.sum(dim=2, keepdim=True)
    norm = torch.sqrt(sum_e * sum_e + sum_o * sum_o) + eps
    mean_e, mean_o = sum_e / norm, sum_o / norm
    energy = (even * mean_e + odd * mean_o - (even * mean_o - odd * mean_e).abs()).sum(dim=2)  # [N, O, H, W]

    # Noise statistics from the smallest scale, per image and orientation.
    em_n = bank[:, 0].square().sum(dim=(-2, -1))  # [O]
    median_e2n = amplitude[:, :, 0].square().flatten(2).median(dim=2).values  # [N, O]
    noise_power = (-median_e2n / math.log(0.5)) / em_n
    spatial = torch.fft.ifft2(bank).real * math.sqrt(h * w)  # [O, S, H, W]
    sum_an2 = spatial.square().sum(dim=(1, 2, 3))  # [O]
    sum_ai_aj = torch.zeros_like(sum_an2)
    for s in range(s_count - 1):
        sum_ai_aj = sum_ai_aj + (spatial[:, s : s + 1] * spatial[:, s + 1 :]).sum(dim=(1, 2, 3))
    tau = torch.sqrt((2.0 * noise_power * sum_an2 + 4.0 * noise_power * sum_ai_aj) / 2.0)
    threshold = (tau * math.sqrt(math.pi / 2.0) + k * torch.sqrt((2.0 - math.pi / 2.0) * tau * tau)) / 1.7
    energy = torch.clamp(energy - threshold[..., None, None], min=0.0)
    pc = (energy.sum(dim=1) + eps) / (amplitude.sum(dim=(1, 2)) + eps)
    return pc[:, None]


def fsim(x: torch.Tensor, ref: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Feature similarity per image ``[B]`` (Zhang et al. 2011): FSIMc for RGB, FSIM for gray; 1 = identical.

    Both images are reduced by ``F = max(1, round(min(H, W) / 256))``-fold average pooling (the
    authors' viewing-distance convention). On luma (YIQ Y, 0-255) phase congruency ``PC`` and
    Scharr gradient magnitude ``G`` give ``S = S_PC * S_G`` (``T1 = 0.85``, ``T2 = 160``); for RGB
    it is multiplied by ``|S_I S_Q|^0.03`` of the YIQ chroma (``T3 = T4 = 200``). The score is the
    mean of ``S`` weighted by ``max(PC_x, PC_ref)`` (uniformly weighted where both are flat).
    Usually in [0, 1]; can exceed 1 slightly for an image of higher contrast than its reference.
    """
    a, r = _pair(x, ref, data_range, 255.0)
    f = max(1, round(min(a.shape[-2:]) / 256))
    if f > 1:
        a, r = F.avg_pool2d(a, f), F.avg_pool2d(r, f)
    _too_small(a, FSIM_MIN_SIDE, "FSIM", "use a larger image.")
    b = a.shape[0]
    both = torch.cat([a, r])
    if both.shape[1] == 3:
        yiq = _to_yiq(both)
        lum, chroma = yiq[:, :1], yiq[:, 1:]
    else:
        lum, chroma = both, None
    bank = _log_gabor_bank(*lum.shape[-2:], lum.device, lum.dtype)
    pc_a, pc_r = _phase_congruency(lum, bank).split(b)
    g_a, g_r = _gradient_magnitude(lum, [3.0 / 16.0, 10.0 / 16.0, 3.0 / 16.0]).split(b)
    pc_max = torch.maximum(pc_a, pc_r)
    score = _similarity(pc_a, pc_r, 0.85) * _similarity(g_a, g_r, 160.0)
    if chroma is not None:
        c_a, c_r = chroma.split(b)
        s_iq = _similarity(c_a[:, :1], c_r[:, :1], 200.0) * _similarity(c_a[:, 1:], c_r[:, 1:], 200.0)
        score = score * s_iq.abs() ** 0.03
    weight_sum = pc_max.flatten(1).sum(dim=1)
    weighted = (score * pc_max).flatten(1).sum(dim=1) / weight_sum
    return torch.where(weight_sum > 0, weighted, score.flatten(1).mean(dim=1))


# ---- VIFp ------------------------------------------------------------------------------------


def vif(x: torch.Tensor, ref: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Visual information fidelity in the pixel domain (VIFp) per image ``[B]`` (Sheikh and Bovik 2006).

    The information about the reference that survives in ``x``, relative to the information in
    the reference: 1 = identical, about 0 = nothing left; above 1 for contrast enhancement. Not
    symmetric: ``x`` is the distorted image, ``ref`` the original. On luma (BT.601, 0-255) over
    four scales (Gaussian windows 17, 9, 5, 3 px with sigma = size / 5, valid filtering, the
    image filtered and subsampled by 2 between scales), visual noise variance ``sigma_n^2 = 2``.

    Raises :class:`InvalidImageError` for a short side under 41 px.
    """
    a, r = _pair(x, ref, data_range, 255.0)
    _too_small(a, VIF_MIN_SIDE, "VIF (four scales, 17 px window)", "use a larger image.")
    a, r = _to_luma_yiq(a), _to_luma_yiq(r)
    eps = 1e-8
    sigma_n_sq = 2.0
    num = torch.zeros(a.shape[0], device=a.device, dtype=a.dtype)
    den = torch.zeros_like(num)
    for scale in range(4):
        size = 2 ** (4 - scale) + 1
        taps = _gaussian(size, size / 5.0)
        if scale > 0:
            pair = _separable(torch.cat([a, r], dim=1), taps, taps)[..., ::2, ::2]
            a, r = pair[:, :1], pair[:, 1:]
        # Only (co)variances enter VIF: removing each reference's mean first keeps E[x^2] - E[x]^2
        # from cancelling catastrophically in float32 (flat regions then give exactly zero).
        centre = r.mean(dim=(-2, -1), keepdim=True)
        ac, rc = a - centre, r - centre
        stats = _separable(torch.cat([ac, rc, ac * ac, rc * rc, ac * rc], dim=1), taps, taps)
        mu_a, mu_r, e_aa, e_rr, e_ar = stats.unbind(dim=1)
        var_a = torch.relu(e_aa - mu_a * mu_a)  # the distorted image
        var_r = torch.relu(e_rr - mu_r * mu_r)  # the reference
        cov = e_ar - mu_a * mu_r
        g = cov / (var_r + eps)
        sv = var_a - g * cov
        ok_r = var_r >= eps
        g = torch.where(ok_r, g, torch.zeros_like(g))
        sv = torch.where(ok_r, sv, var_a)
        var_r = torch.where(ok_r, var_r, torch.zeros_like(var_r))
        ok_a = var_a >= eps
        g = torch.where(ok_a, g, torch.zeros_like(g))
        sv = torch.where(ok_a, sv, torch.zeros_like(sv))
        sv = torch.where(g >= 0, sv, var_a)
        g = torch.relu(g)
        sv = torch.clamp(sv, min=eps)
        num = num + torch.log10(1.0 + g * g * var_r / (sv + sigma_n_sq)).flatten(1).sum(dim=1)
        den = den + torch.log10(1.0 + var_r / sigma_n_sq).flatten(1).sum(dim=1)
    return (num + eps) / (den + eps)


# ---- HaarPSI ---------------------------------------------------------------------------------


def _haar(y: torch.Tensor, size: int) -> torch.Tensor:
    """Horizontal and vertical Haar coefficients ``[N, 2, H, W]`` of ``y [N, 1, H, W]`` at filter size ``size``.

    The filter is ``+1/size`` on its upper half and ``-1/size`` on its lower half (and transposed);
    padded like MATLAB's ``conv2(..., 'same')`` for an even size.
    """
    lo, hi = size // 2 - 1, size // 2
    p = F.pad(y, (lo, hi, lo, hi))
    step = [1.0 / size] * (size // 2) + [-1.0 / size] * (size // 2)
    ones = [1.0] * size
    return torch.cat([_separable(p, step, ones), _separable(p, ones, step)], dim=1)


def haarpsi(x: torch.Tensor, ref: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Haar wavelet-based perceptual similarity per image ``[B]`` (Reisenhofer et al. 2018): 1 = identical, 0 = worst.

    On YIQ (0-255) halved by 2 x 2 average pooling: local similarities of the magnitudes of Haar
    coefficients at the two finest scales (``C = 30``), per orientation, weighted by the larger
    coarsest-scale magnitude of the two images; for RGB the I and Q channels (2 x 2 means) add a
    third similarity. The weighted mean of ``sigmoid(alpha S)`` (``alpha = 4.2``) is mapped back
    through the logit: ``(logit(mean) / alpha)^2``.

    Raises :class:`InvalidImageError` for a short side under 16 px (the coarsest Haar filter).
    """
    a, r = _pair(x, ref, data_range, 255.0)
    _too_small(a, HAARPSI_MIN_SIDE, "HaarPSI (three Haar scales)", "use a larger image.")
    b = a.shape[0]
    both = torch.cat([a, r])
    colour = both.shape[1] == 3
    yiq = _halve(_to_yiq(both) if colour else both, "zero")
    lum = yiq[:, :1]
    coeffs = [_haar(lum, 2**s).abs() for s in (1, 2, 3)]  # finest first, each [2B, 2, H, W]
    ca, cr = [c[:b] for c in coeffs], [c[b:] for c in coeffs]
    weights = torch.maximum(ca[2], cr[2])  # [B, 2, H, W]: per orientation
    c = 30.0
    sims = (_similarity(ca[0], cr[0], c) + _similarity(ca[1], cr[1], c)) / 2.0  # [B, 2, H, W]
    if colour:
        iq = F.avg_pool2d(F.pad(yiq[:, 1:], (0, 1, 0, 1)), 2, stride=1).abs()
        sim_iq = _similarity(iq[:b], iq[b:], c).sum(dim=1, keepdim=True) / 2.0
        weights = torch.cat([weights, weights.mean(dim=1, keepdim=True)], dim=1)
        sims = torch.cat([sims, sim_iq], dim=1)
    alpha = 4.2
    eps = torch.finfo(a.dtype).eps
    score = ((torch.sigmoid(alpha * sims) * weights).flatten(1).sum(dim=1) + eps) / (weights.flatten(1).sum(dim=1) + eps)
    # Similarities are at most 1, so the score is at most sigmoid(alpha) (reached for identical
    # images, and for flat ones, whose weights are all 0).
    score = score.clamp(max=1.0 / (1.0 + math.exp(-alpha)))
    return ((torch.log(score / (1.0 - score)) / alpha) ** 2).clamp(max=1.0)
