"""Blind estimation of a Gaussian or linear-motion blur from the image's power spectrum.

Everything is read from the luma's averaged power spectrum ``P(f)`` (Welch: square tiles of
``T`` px, ``T`` = the largest power of two that fits, at most 256 (512 when ``max_length`` > 32),
half-overlapping, each mean-subtracted and multiplied by a 2-D Hann window so the image's borders
do not add the usual cross of spectral lines; normalised so white noise of std ``s`` gives
``P = s^2``). The noise level ``s`` comes from :func:`restorekit.quality.noise.estimate_sigma`.
The model is ``P(f) = S(f) |H(f)|^2 + s^2`` with ``S`` the sharp image's spectrum (isotropic on
average, a power law ``A |f|^-alpha``) and ``H`` the blur's transfer function.

Why the spectrum: both blurs leave a signature there that the image content rarely imitates,
and it is a handful of FFTs and reductions for any image size.

* **Motion** (uniform segment of length ``L`` at angle ``theta``): ``H(f) = sinc(L f.d)``, with
  ``d = (cos theta, -sin theta)`` (columns, rows). Along the frequency direction perpendicular to
  ``d`` nothing is attenuated, in every other direction the spectrum falls and has zero lines at
  ``f.d = k / L``. Direction: the log spectrum minus its radial (isotropic) mean, averaged over
  each direction of the frequency plane (a Radon-like projection weighted by the radial SNR),
  peaks sharply at ``theta + 90``. Length: the template ``log(sinc^2(L f.d) + eps(r))``
  (``eps = s^2 / (P_r - s^2)``, the noise floor relative to the signal at that radius) minus its
  radial mean is correlated with the observed residual for ``L`` on a 0.25 px grid; then angle
  and length are refined jointly (0.5 deg x 1 %) by the same weighted correlation. The best
  correlation ``rho`` is the motion evidence: an isotropic blur or a sharp image leaves only the
  image's own anisotropy, which does not line up with a sinc pattern.
* **Gaussian** (std ``sigma``): ``log |H|^2 = -4 pi^2 sigma^2 |f|^2``, so on the radial mean
  ``P_r`` (noise power subtracted, radii where ``P_r > 4 s^2``) a weighted least-squares fit of
  ``log(P_r - s^2) = a - alpha log r - b r^2`` gives ``sigma^2 = b / (4 pi^2)``; the pixel
  integration of the kernels (a box of variance 1/12 px^2 per axis) is taken out.
  A sharp photograph reads about 0-0.6 px. Limits (measured on Set12): the power-law prior does
  not hold for every image, so sigma is biased high on some (house, +30 %); strongly oriented
  textures (stripes) can reach a motion correlation near the threshold.

``auto`` picks motion when ``rho`` >= :data:`MOTION_MIN_CORRELATION` (and the length is at least
:data:`MIN_AUTO_LENGTH`), otherwise Gaussian, and
"none" when that sigma is below :data:`SHARP_SIGMA`. Images below 32 x 32 px, or without
measurable signal above the noise (a constant image), give "none" with confidence 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..color import luma
from ..errors import InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report
from ..quality.noise import estimate_sigma
from .psf import PSF, gaussian_psf, motion_psf

MODELS = ("auto", "gaussian", "motion")
KINDS = ("gaussian", "motion", "none")
#: Smallest image side (px) on which the spectrum says anything about the blur.
MIN_SIZE = 32
#: Smallest motion-template correlation for ``auto`` to call the blur a motion.
MOTION_MIN_CORRELATION = 0.45
#: Smallest depth of the sinc pattern (regression slope of the log spectrum on the motion template)
#: for ``auto`` to call the blur a motion. A real motion blur matches the template's depth (slope
#: 0.89-1.72 on 9 photographs, lengths 9-21 px, σ 2.55-5 noise); a Gaussian blur over oriented
#: texture can correlate with it (up to 0.69) but only shallowly (slope 0.13-0.78), except on a
#: strongly striped image (Set12 08: 1.12).
MOTION_MIN_GAIN = 0.85
#: Gaussian sigma (px) below which ``auto`` calls the image sharp ("none").
SHARP_SIGMA = 0.6
#: Shortest motion ``auto`` reports (px); a shorter streak is within what a sharp image looks like.
MIN_AUTO_LENGTH = 3.0
#: Smallest motion length considered (px).
MIN_LENGTH = 2.0
_SNR_GAUSS = 4.0


@dataclass(frozen=True)
class BlurEstimate:
    """The blur estimated for one image.

    ``kind``: "gaussian" | "motion" | "none". ``sigma``: Gaussian std in px (0 unless gaussian).
    ``length`` (px) and ``angle`` (degrees counter-clockwise from horizontal, in [0, 180), the
    convention of :func:`restorekit.deblur.psf.motion_psf`): the motion (0 unless motion).
    ``confidence`` in [0, 1]. ``psf``: the kernel (a 1 x 1 Dirac for "none").
    Measures: ``noise_sigma`` (luma noise std, [0, 1] units), ``motion_correlation`` (best sinc
    template correlation, -1..1), ``gaussian_sigma`` (the Gaussian fit's sigma whatever the kind),
    ``gaussian_fit`` (R^2 of that fit), ``band`` (highest frequency used, cycles/px) and ``why``.
    """

    kind: str
    sigma: float
    length: float
    angle: float
    confidence: float
    psf: PSF
    noise_sigma: float = 0.0
    motion_correlation: float = 0.0
    motion_gain: float = 0.0
    gaussian_sigma: float = 0.0
    gaussian_fit: float = 0.0
    band: float = 0.0
    why: str = ""

    def describe(self) -> str:
        """One line: kind, parameters, confidence."""
        if self.kind == "motion":
            par = f"length {self.length:.1f} px, angle {self.angle:.1f} deg"
        elif self.kind == "gaussian":
            par = f"sigma {self.sigma:.2f} px"
        else:
            par = "no blur"
        return f"{self.kind}: {par}, confidence {self.confidence:.2f}"


def _dirac() -> PSF:
    return PSF(torch.ones((1, 1)), "no blur (identity)")


def _none(why: str, noise: float = 0.0) -> BlurEstimate:
    return BlurEstimate("none", 0.0, 0.0, 0.0, 0.0, _dirac(), noise_sigma=noise, why=why)


def _tile_size(h: int, w: int, max_length: float) -> int:
    cap = 512 if max_length > 32 else 256
    return min(2 ** int(math.floor(math.log2(min(h, w)))), cap)


def welch_power(y: torch.Tensor, tile: int) -> torch.Tensor:
    """Averaged windowed periodogram of ``y`` ``[B, 1, H, W]``: ``[B, tile, tile // 2 + 1]``.

    Half-overlapping tiles (centred on the image), each minus its mean, times a 2-D Hann window,
    power divided by the window's energy (white noise of std ``s`` gives ``s^2``).
    """
    b, _, h, w = y.shape
    step = max(tile // 2, 1)
    nh = (h - tile) // step + 1
    nw = (w - tile) // step + 1
    top = (h - ((nh - 1) * step + tile)) // 2
    left = (w - ((nw - 1) * step + tile)) // 2
    crop = y[:, 0, top : top + (nh - 1) * step + tile, left : left + (nw - 1) * step + tile]
    tiles = crop.unfold(1, tile, step).unfold(2, tile, step).reshape(b, nh * nw, tile, tile)
    tiles = tiles - tiles.mean(dim=(-2, -1), keepdim=True)
    hann = torch.hann_window(tile, periodic=True, dtype=y.dtype, device=y.device)
    win = hann[:, None] * hann[None, :]
    spec = torch.fft.rfft2(tiles * win)
    power = (spec.real**2 + spec.imag**2).mean(dim=1)
    return power / (win**2).sum()


class _Grid:
    """Frequency coordinates of the rfft grid of a ``tile``-sized square, flattened."""

    def __init__(self, tile: int, device: torch.device, dtype: torch.dtype) -> None:
        fv = torch.fft.fftfreq(tile, device=device, dtype=dtype)[:, None]
        fu = torch.fft.rfftfreq(tile, device=device, dtype=dtype)[None, :]
        fv, fu = torch.broadcast_tensors(fv, fu)
        self.fu = fu.reshape(-1)
        self.fv = fv.reshape(-1)
        self.r = torch.sqrt(self.fu**2 + self.fv**2)
        self.nb = tile // 2 + 1
        self.bins = torch.round(self.r * tile).long().clamp_max(self.nb)  # bin nb = beyond Nyquist
        # Each rfft column but DC/Nyquist stands for two frequencies of the full plane.
        mult = torch.full((tile // 2 + 1,), 2.0, device=device, dtype=dtype)
        mult[0] = 1.0
        mult[-1] = 1.0
        self.mult = mult[None, :].expand(tile, -1).reshape(-1)
        self.counts = torch.zeros(self.nb + 1, device=device, dtype=dtype).index_add_(0, self.bins, self.mult)
        # Direction of each frequency vector, degrees in [0, 180): f = |f| (cos psi, -sin psi).
        self.psi = torch.rad2deg(torch.atan2(-self.fv, self.fu)) % 180.0
        self.tile = tile

    def subset(self, keep: torch.Tensor) -> _Grid:
        """The same grid restricted to the frequencies ``keep`` (whole radius bins, so the counts stay valid)."""
        sub = object.__new__(_Grid)
        sub.__dict__.update(self.__dict__)
        for name in ("fu", "fv", "r", "bins", "mult", "psi"):
            setattr(sub, name, getattr(self, name)[keep])
        return sub

    def radial_mean(self, v: torch.Tensor) -> torch.Tensor:
        """Mean over each radius bin of ``v`` ``[..., F]`` -> ``[..., nb + 1]``."""
        lead = v.shape[:-1]
        flat = v.reshape(-1, v.shape[-1]) * self.mult
        sums = torch.zeros(flat.shape[0], self.nb + 1, device=v.device, dtype=v.dtype).index_add_(1, self.bins, flat)
        return (sums / self.counts.clamp_min(1)).reshape(*lead, self.nb + 1)

    def isotropic_residual(self, v: torch.Tensor) -> torch.Tensor:
        """``v`` minus its radial mean at each frequency."""
        return v - self.radial_mean(v)[..., self.bins]


def _weighted_corr(a: torch.Tensor, t: torch.Tensor, w: torch.Tensor, slope: bool = False) -> torch.Tensor:
    """Weighted Pearson correlation of ``a`` ``[B, 1, F]`` with templates ``t`` ``[B, K, F]``, weights ``[B, 1, F]``
    (with ``slope``: the regression slope of ``a`` on ``t`` instead)."""
    ws = w.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    am = a - (w * a).sum(dim=-1, keepdim=True) / ws
    tm = t - (w * t).sum(dim=-1, keepdim=True) / ws
    num = (w * am * tm).sum(dim=-1)
    if slope:
        return num / (w * tm * tm).sum(dim=-1).clamp_min(1e-12)
    den = torch.sqrt((w * am * am).sum(dim=-1) * (w * tm * tm).sum(dim=-1)).clamp_min(1e-12)
    return num / den


def _motion_templates(
    grid: _Grid, lengths: torch.Tensor, angles: torch.Tensor, eps: torch.Tensor
) -> torch.Tensor:
    """Residual log-spectrum templates ``[B, K, F]`` for motions ``lengths``, ``angles`` ``[B, K]`` (px, deg)."""
    th = torch.deg2rad(angles)[..., None]
    proj = grid.fu * torch.cos(th) - grid.fv * torch.sin(th)  # f . d
    h2 = torch.special.sinc(lengths[..., None] * proj) ** 2
    t = torch.log(h2 + eps[:, None, :])
    return grid.isotropic_residual(t)


#: Template values (images x templates x frequencies) built per step of the motion fit, so that progress (and
#: ComfyUI's interruption check) comes between steps: a few tenths of a second each on one CPU core.
_TEMPLATE_CHUNK = 2**21


def _template_corr(grid: _Grid, resid: torch.Tensor, weight: torch.Tensor, eps: torch.Tensor, ll: torch.Tensor,
                   aa: torch.Tensor, tick: Callable[[], None]) -> torch.Tensor:
    """:func:`_weighted_corr` of ``resid`` with the motion templates ``ll``, ``aa`` ``[B, K]``, a chunk of
    templates at a time (each template's correlation is independent of the others)."""
    b, k = ll.shape
    f = resid.shape[-1]
    chunk = max(1, (_TEMPLATE_CHUNK * (16 if resid.is_cuda else 1)) // max(1, b * f))
    parts = []
    for j in range(0, k, chunk):
        parts.append(_weighted_corr(resid, _motion_templates(grid, ll[:, j : j + chunk], aa[:, j : j + chunk], eps),
                                    weight))
        tick()
    return torch.cat(parts, dim=1)


def _fit_motion(
    grid: _Grid, resid: torch.Tensor, weight: torch.Tensor, eps: torch.Tensor, max_length: float,
    tick: Callable[[], None] = lambda: None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Length (px), angle (deg) and correlation ``[B]`` of the best motion template."""
    b = resid.shape[0]
    dev, dt = resid.device, resid.dtype
    # Direction: the residual averaged per 1-degree direction bin peaks perpendicular to the motion.
    abin = torch.floor(grid.psi).long().clamp(0, 179)
    wsum = torch.zeros(b, 180, device=dev, dtype=dt).index_add_(1, abin, weight[:, 0])
    vsum = torch.zeros(b, 180, device=dev, dtype=dt).index_add_(1, abin, (weight * resid)[:, 0])
    prof = vsum / wsum.clamp_min(1e-12)
    kern = torch.tensor([1.0, 2.0, 3.0, 2.0, 1.0], device=dev, dtype=dt) / 9.0
    prof = torch.nn.functional.conv1d(
        torch.cat([prof[:, -2:], prof, prof[:, :2]], dim=1)[:, None], kern.view(1, 1, -1)
    )[:, 0]
    perp = prof.argmax(dim=1).to(dt) + 0.5
    angle0 = (perp + 90.0) % 180.0
    # Length scan at that angle.
    # Length scan at that angle and 5 degrees either side (the projection's peak can be a little off).
    lengths = torch.arange(MIN_LENGTH, max_length + 1e-6, 0.5, device=dev, dtype=dt)
    offsets = torch.tensor([-5.0, 0.0, 5.0], device=dev, dtype=dt)
    aa = (angle0[:, None, None] + offsets[None, :, None]).expand(-1, -1, lengths.numel()).reshape(b, -1)
    ll = lengths[None, None, :].expand(b, offsets.numel(), -1).reshape(b, -1)
    corr = _template_corr(grid, resid, weight, eps, ll, aa, tick)
    idx = corr.argmax(dim=1, keepdim=True)
    angle, length = aa.gather(1, idx)[:, 0], ll.gather(1, idx)[:, 0]
    # Joint refinement: +-6 deg by 1, +-15 % by 1.5 %, then a finer pass.
    for da_max, da_step, dl_max, dl_step in ((6.0, 1.0, 0.15, 0.015), (1.0, 0.25, 0.02, 0.005)):
        da = torch.arange(-da_max, da_max + 1e-6, da_step, device=dev, dtype=dt)
        dl = torch.arange(-dl_max, dl_max + 1e-6, dl_step, device=dev, dtype=dt)
        aa = (angle[:, None, None] + da[None, :, None]).expand(-1, -1, dl.numel()).reshape(b, -1)
        ll = (length[:, None, None] * (1 + dl[None, None, :])).expand(-1, da.numel(), -1).reshape(b, -1)
        ll = ll.clamp(MIN_LENGTH, max_length)
        corr = _template_corr(grid, resid, weight, eps, ll, aa, tick)
        idx = corr.argmax(dim=1, keepdim=True)
        angle, length = aa.gather(1, idx)[:, 0], ll.gather(1, idx)[:, 0]
        best_corr = corr.gather(1, idx)[:, 0]
    best_t = _motion_templates(grid, length[:, None], angle[:, None], eps)
    gain = _weighted_corr(resid, best_t, weight, slope=True)[:, 0]
    return length, angle % 180.0, best_corr, gain


def _fit_gaussian(
    grid: _Grid, pr: torch.Tensor, noise: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gaussian sigma (px), R^2 of the fit and the highest radius used (cycles/px), each ``[B]``."""
    b = pr.shape[0]
    dev, dt = pr.device, pr.dtype
    radii = torch.arange(grid.nb + 1, device=dev, dtype=dt) / grid.tile
    n2 = noise[:, None] ** 2
    above = pr > _SNR_GAUSS * n2
    valid = torch.zeros_like(above)
    valid[:, 2 : grid.nb] = True
    # Contiguous run of radii above the noise, starting at the low end.
    run = torch.cumprod((above | ~valid).to(dt), dim=1).bool() & valid
    w = run.to(dt) * grid.counts[None, :]
    logr = torch.log(radii.clamp_min(1e-6))
    design = torch.stack([torch.ones_like(radii), logr, radii**2], dim=1)  # [nb+1, 3]
    target = torch.log((pr - n2).clamp_min(1e-20))
    aw = design[None] * w[..., None]
    ata = aw.transpose(1, 2) @ design[None].expand(b, -1, -1)
    atb = (aw * target[..., None]).sum(dim=1)
    ata = ata + 1e-8 * torch.eye(3, device=dev, dtype=dt)
    # Too few radii above the noise (a smooth gradient, say) leave the normal equations singular;
    # those images get the pseudo-inverse's least-norm fit, which the npts >= 4 rule below discards.
    coef, info = torch.linalg.solve_ex(ata, atb[..., None])
    coef = torch.where((info != 0)[:, None, None], torch.linalg.pinv(ata) @ atb[..., None], coef)[..., 0]
    pred = design[None] @ coef[..., None]
    res = target - pred[..., 0]
    ws = w.sum(dim=1).clamp_min(1e-12)
    mean_t = (w * target).sum(dim=1) / ws
    ss_tot = (w * (target - mean_t[:, None]) ** 2).sum(dim=1).clamp_min(1e-12)
    r2 = 1 - (w * res**2).sum(dim=1) / ss_tot
    var = (-coef[:, 2] / (4 * math.pi**2) - 1.0 / 12.0).clamp_min(0)
    npts = run.sum(dim=1)
    sigma = torch.where(npts >= 4, var.sqrt(), torch.zeros_like(var))
    band = torch.where(npts > 0, (run.to(dt) * radii).amax(dim=1), torch.zeros_like(var))
    return sigma, r2.clamp(0, 1), band


def estimate_blur(
    x: torch.Tensor, *, model: str = "auto", max_length: float = 32.0, progress: ProgressCallback | None = None
) -> list[BlurEstimate]:
    """Estimate the blur of each image of ``x`` ``[B, C, H, W]`` (values in [0, 1]).

    ``model``: "auto" (motion, Gaussian or none, from the evidence; see the module docstring),
    "gaussian" or "motion" (fit that model whatever the evidence). ``max_length``: longest motion
    searched, px (3 to 100). Returns one :class:`BlurEstimate` per image. Computed on the luma in
    float32 (float64 when given float64), on the input's device.
    """
    check_image(x, "image")
    if model not in MODELS:
        raise InvalidParameterError("model", f"unknown model {model!r}.", f"choose one of: {', '.join(MODELS)}.")
    if (
        isinstance(max_length, bool) or not isinstance(max_length, (int, float)) or not math.isfinite(max_length)
        or not 3 <= max_length <= 100
    ):
        raise InvalidParameterError("max_length", f"must be a number of pixels in [3, 100], got {max_length!r}.",
                                    "use about twice the longest streak you expect, e.g. 32.")
    b, _, h, w = x.shape
    if min(h, w) < MIN_SIZE:
        return [_none(f"image {w}x{h} px is below {MIN_SIZE}x{MIN_SIZE}: too small to measure a blur")] * b
    dt = torch.float64 if x.dtype == torch.float64 else torch.float32
    y = luma(x.to(dt))
    noise = estimate_sigma(y)[:, 0].to(dt).clamp_min(0.25 / 255)
    tile = _tile_size(h, w, float(max_length))
    max_length = min(float(max_length), tile / 3)
    grid = _Grid(tile, x.device, dt)
    power = welch_power(y, tile).reshape(b, -1)
    report(progress, 1, 4)
    pr = grid.radial_mean(power)
    sigma_g, r2, band = _fit_gaussian(grid, pr, noise)
    report(progress, 2, 4)

    n2 = noise[:, None] ** 2
    sig = (pr - n2).clamp_min(1e-6 * n2)
    snr_db = 10 * torch.log10(sig / n2)
    wr = (snr_db / 10.0).clamp(0, 1)  # radial weight: 0 at SNR 1, 1 from SNR 10 on
    wr[:, :3] = 0
    wr[:, grid.nb :] = 0
    weight = (wr[:, grid.bins] * grid.mult)[:, None]
    eps = (n2 / sig)[:, grid.bins]
    resid = grid.isotropic_residual(torch.log(power + 1e-3 * n2))[:, None]
    keep = torch.nonzero((weight[:, 0] > 0).any(dim=0))[:, 0]
    if model != "gaussian" and keep.numel() >= 20:
        # Only frequencies with signal above the noise in some image of the batch take part.
        length, angle, rho, gain = _fit_motion(
            grid.subset(keep), resid[..., keep], weight[..., keep], eps[:, keep], max_length,
            lambda: report(progress, 2, 4),
        )
    else:
        length = angle = rho = gain = torch.zeros(b, device=x.device, dtype=dt)
    report(progress, 3, 4)

    has_signal = (weight[:, 0] > 0).sum(dim=1) >= 20
    out = []
    for i in range(b):
        nz = float(noise[i])
        if not bool(has_signal[i]):
            out.append(_none("no structure above the noise (flat or constant image): nothing to measure", nz))
            continue
        sg, fit, bd, rh = float(sigma_g[i]), float(r2[i]), float(band[i]), float(rho[i])
        ln, an = float(length[i]), float(angle[i])
        common = {"motion_gain": float(gain[i]), "noise_sigma": nz, "motion_correlation": rh, "gaussian_sigma": sg, "gaussian_fit": fit, "band": bd}
        gn = float(gain[i])
        if model == "motion" or (
            model == "auto" and rh >= MOTION_MIN_CORRELATION and gn >= MOTION_MIN_GAIN and ln >= MIN_AUTO_LENGTH
        ):
            conf = min(max((rh - 0.15) / 0.5, 0.0), 1.0)
            why = (f"anisotropic spectrum with sinc zero lines: template correlation {rh:.2f}"
                   f" ({'>=' if rh >= MOTION_MIN_CORRELATION else '<'} {MOTION_MIN_CORRELATION}), depth {gn:.2f}"
                   f" ({'>=' if gn >= MOTION_MIN_GAIN else '<'} {MOTION_MIN_GAIN})")
            an_r = round(an, 1) % 180.0
            out.append(BlurEstimate("motion", 0.0, ln, an_r, conf, motion_psf(ln, an_r), why=why, **common))
            continue
        if model == "auto" and sg < SHARP_SIGMA:
            conf = min(max(fit, 0.0), 1.0) * min(1.0, (SHARP_SIGMA - sg) / SHARP_SIGMA + 0.5)
            why = (f"isotropic spectrum (motion correlation {rh:.2f}) falling like a sharp image: "
                   f"Gaussian fit sigma {sg:.2f} px < {SHARP_SIGMA}")
            out.append(BlurEstimate("none", 0.0, 0.0, 0.0, conf, _dirac(), why=why, **common))
            continue
        sg_used = max(sg, 0.1)
        aniso = max(0.0, 1.0 - max(rh, 0.0) / MOTION_MIN_CORRELATION, 1.0 - max(gn, 0.0) / MOTION_MIN_GAIN) if model == "auto" else 1.0
        conf = min(max(fit, 0.0), 1.0) * min(1.0, 0.5 + 0.5 * aniso)
        why = (f"no motion pattern (template correlation {rh:.2f}, depth {gn:.2f}); Gaussian fall-off of the radial spectrum, "
               f"fit R^2 {fit:.2f} up to {bd:.3f} cycles/px")
        out.append(BlurEstimate("gaussian", sg_used, 0.0, 0.0, conf, gaussian_psf(sg_used), why=why, **common))
    report(progress, 4, 4)
    return out
