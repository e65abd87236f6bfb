"""BM3D / CBM3D denoising: the pipeline of the torch and fused backends.

K. Dabov, A. Foi, V. Katkovnik, K. Egiazarian, "Image denoising by sparse 3-D transform-domain
collaborative filtering", IEEE TIP 16(8), 2007; "Color image denoising via sparse 3D collaborative
filtering with grouping constraint in luminance-chrominance space", ICIP 2007. Shrinkage
parameters and the exact transform-domain noise variances after Y. Maekinen, L. Azzari, A. Foi,
"Collaborative filtering of correlated noise: exact transform-domain variance for improved
shrinkage and patch matching", IEEE TIP 29, 2020.

Noise variances: every 2-D transform coefficient gets its own variance (from sigma and the row
norms of the transform, or from the PSD); and because blocks of a group may overlap (then their
noise is correlated, even for white noise), the variance of every 3-D coefficient is computed for
the group's actual block positions, ``sum_{i,j} H[l,i] H[l,j] cov_k(p_j - p_i)``. This is what
lets the literature's lambda = 3.0 and mu^2 = 0.4 reach the reference's quality (with the plain
2-D variances we measured 0.05-0.15 dB less).

This module is the pipeline shared by the torch and the fused backends: :func:`prepare` checks the
inputs and brings them to the filtering domain (noise statistics, colour transform, padding),
:func:`solve` runs the stages (and refiltering passes) with a stage runner that
:mod:`.dispatch` chooses (:func:`.stages.run_stage`, the fused stage, or the ``auto`` rule).
The public entry point is :func:`.dispatch.bm3d_denoise`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ...errors import InvalidImageError, InvalidParameterError
from ...image import check_image
from ...progress import ProgressCallback, report
from .colour import ColourTransform
from .options import check_options, psd_tensor, sigma_per_channel
from .profiles import Profile, StageParams, get_profile
from .stages import device_constant, run_stage
from .transforms import (
    coefficient_autocov_from_psd,
    coefficient_norms2,
    coefficient_variances_from_psd,
    row_autocorrelations,
    transform_1d,
    transform_2d,
)

#: A stage runner: the signature of :func:`.stages.run_stage`.
StageRunner = Callable[..., torch.Tensor]


def _pad_to(x: torch.Tensor, size: int) -> tuple[torch.Tensor, int, int]:
    """Extend ``x`` by mirror reflection (repeated as needed, edge replication for 1-pixel sides)
    at the bottom/right so that both sides are at least ``size``."""
    h, w = x.shape[-2:]
    while x.shape[-2] < size or x.shape[-1] < size:
        ph = min(size - x.shape[-2], x.shape[-2] - 1) if x.shape[-2] < size else 0
        pw = min(size - x.shape[-1], x.shape[-1] - 1) if x.shape[-1] < size else 0
        if ph == 0 and pw == 0:  # a side of one pixel: replicate it
            ph = size - x.shape[-2] if x.shape[-2] < size else 0
            pw = size - x.shape[-1] if x.shape[-1] < size else 0
            x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="replicate")
        else:
            x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="reflect")
    return x, h, w


EXACT_VARIANCES = True


def _as_f32(t: torch.Tensor) -> torch.Tensor:
    """``t`` as float32 in the standard contiguous layout (no copy when it already is)."""
    return t.detach().to(torch.float32, memory_format=torch.contiguous_format)


def _variances(stage: StageParams, sig2: torch.Tensor | None, psd: torch.Tensor | None, device: torch.device) -> dict:
    """Noise statistics of a stage's 2-D coefficients: ``var2d`` ``[B, C, K]`` (variances) and the
    lag covariances for the exact 3-D variances (``lagcov``, ``lagscale``)."""
    fwd, _ = transform_2d(stage.transform, stage.block)
    n = stage.block
    if psd is None:
        s2 = sig2.to(device)
        norms = device_constant(("norms2", stage.transform, n), device, lambda: coefficient_norms2(fwd))
        var2d = s2[..., None] * norms
        if not EXACT_VARIANCES:
            return {"var2d": var2d}
        rho = device_constant(
            ("rho", stage.transform, n), device, lambda: row_autocorrelations(transform_1d(stage.transform, n))
        )
        return {"var2d": var2d, "lagcov": rho, "lagscale": s2}
    var2d = coefficient_variances_from_psd(psd, fwd.to(psd.device), n).to(device)
    if not EXACT_VARIANCES:
        return {"var2d": var2d}
    return {"var2d": var2d, "lagcov": coefficient_autocov_from_psd(psd, fwd.to(psd.device), n).to(device)}


def _tau(params: StageParams, guide: torch.Tensor) -> torch.Tensor:
    """Matching threshold ``[B]`` (sum of squared differences) for the guide's data range."""
    rng = guide.flatten(1).amax(1) - guide.flatten(1).amin(1)
    return params.tau_match * params.block**2 / 255.0**2 * rng.double().square()


def _refilter_residual(
    z: torch.Tensor, est: torch.Tensor, psd: torch.Tensor, threshold: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Residual refiltering (Maekinen et al. 2020): the part of ``z - est`` whose Fourier
    coefficients stand above ``threshold`` times the noise, and the PSD of the noise it carries.

    z, est ``[B, C, H, W]``; psd ``[B, C, H, W]`` on the image grid (our PSD convention).
    Returns (residual ``[B, C, H, W]`` float32, its PSD on the padded grid ``[B, C, 2H', 2W']``).
    """
    b, c, h, w = z.shape
    ph, pw = (h + 1) // 2, (w + 1) // 2
    res = torch.nn.functional.pad((z - est).double(), (pw, pw, ph, ph))
    big_h, big_w = res.shape[-2:]
    spec = torch.fft.fft2(res)
    # the PSD of zero-padded noise, resampled onto the padded grid (nearest), scaled to |FFT|^2
    iy = torch.arange(big_h, device=psd.device) * h // big_h
    ix = torch.arange(big_w, device=psd.device) * w // big_w
    psd_big = psd[..., iy, :][..., :, ix].to(z.device) * (h * w)
    mask = (spec.abs() > threshold * psd_big.sqrt()).double()
    # dilate the mask slightly (a 3x3 max over the frequency grid, periodic)
    m = torch.nn.functional.pad(mask.view(b * c, 1, big_h, big_w), (1, 1, 1, 1), mode="circular")
    mask = torch.nn.functional.max_pool2d(m, 3, 1).view(b, c, big_h, big_w)
    rem = torch.fft.ifft2(spec * mask).real[..., ph : ph + h, pw : pw + w].float()
    return rem, psd_big / (h * w) * mask


@dataclass
class Problem:
    """A checked denoising problem in the filtering domain (what :func:`solve` needs)."""

    z: torch.Tensor  # [B, C, H', W'] float32: colour-transformed (luma first), padded to the block sizes
    pilot: torch.Tensor | None  # the basic estimate, in the same domain, or None
    sig2: torch.Tensor | None  # [B, C] noise variances on z's device (white noise), or None
    psd: torch.Tensor | None  # [B, C, Hp, Wp] float64 noise PSD (correlated noise), or None
    profile: Profile
    stage: str  # "hard" or "all"
    colour: ColourTransform | None  # for 3-channel images
    size: tuple[int, int]  # the image's height and width (before padding)
    dtype: torch.dtype  # the input's dtype

    def stages(self) -> list[tuple[str, StageParams]]:
        """The main stages that will run, as (mode, parameters): "hard" unless a pilot is given,
        then "wiener" for stage "all" (the refiltering passes of a profile come on top)."""
        out = [] if self.pilot is not None else [("hard", self.profile.hard)]
        return out + ([("wiener", self.profile.wiener)] if self.stage == "all" else [])


def prepare(
    x: torch.Tensor,
    *,
    sigma: float | torch.Tensor | None = None,
    profile: str = "np",
    stage: str = "all",
    color_space: str = "opp",
    noise_psd: torch.Tensor | None = None,
    pilot: torch.Tensor | None = None,
    checked: bool = False,
) -> Problem:
    """Check the arguments of :func:`.dispatch.bm3d_denoise` and bring ``x`` to the filtering
    domain. A constant PSD is white noise: it becomes the sigma path, bit for bit. ``checked``: the
    caller has already run ``check_image(x)`` and ``check_options`` (each image check waits for the
    GPU twice: not again)."""
    if not checked:
        check_image(x, "x")
        check_options(profile, stage, color_space)
    b, c, h, w = x.shape
    if pilot is not None:
        if stage == "hard":
            raise InvalidParameterError(
                "pilot",
                "a pilot only makes sense with the Wiener stage.",
                "use stage='all' with a pilot, or drop the pilot.",
            )
        if not isinstance(pilot, torch.Tensor) or tuple(pilot.shape) != tuple(x.shape):
            shape = tuple(pilot.shape) if isinstance(pilot, torch.Tensor) else type(pilot).__name__
            raise InvalidImageError(
                "pilot",
                f"must have the shape of x {tuple(x.shape)}, got {shape}.",
                "pass the basic estimate of the same batch.",
            )
        check_image(pilot, "pilot")
    prof: Profile = get_profile(profile)

    dev = x.device
    # a standard contiguous layout whatever the input's strides (channels_last, sliced views): the
    # layout of an input picks the kernels (e.g. of the colour einsum on CUDA), hence the rounding
    z = _as_f32(x)
    psd = psd_tensor(noise_psd, b, c) if noise_psd is not None else None
    if psd is not None and (psd == psd.flatten()[0]).all():
        sigma, psd = float(psd.flatten()[0].sqrt()), None  # white noise: exactly the sigma path
    if psd is None:
        sig = sigma_per_channel(z, sigma, dtype=torch.float64, device="cpu")
        sig2 = sig.square().clamp(min=1e-12)  # [B, C] (RGB or gray)
    else:
        sig2 = None

    # colour: to normalised luma/chroma; the noise variances follow the transform
    colour = ColourTransform(z, color_space) if c == 3 else None
    if colour is not None:
        fac = colour.variance_factors().cpu()  # [B, 3, 3]
        z = colour.forward(z)
        pil = colour.forward(_as_f32(pilot)) if pilot is not None else None
        if sig2 is not None:
            sig2 = torch.einsum("bij,bj->bi", fac, sig2)
        else:
            psd = torch.einsum("bij,bjhw->bihw", fac.to(psd.device), psd)
    else:
        pil = _as_f32(pilot) if pilot is not None else None
    if sig2 is not None:
        sig2 = sig2.to(dev)  # once, here: a copy from the host in the middle would wait for the GPU's queue

    need = max(prof.hard.block, prof.wiener.block)
    z, h0, w0 = _pad_to(z, need)
    if pil is not None:
        pil, _, _ = _pad_to(pil, need)
    return Problem(z, pil, sig2, psd, prof, stage, colour, (h0, w0), x.dtype)


def solve(p: Problem, run: StageRunner = run_stage, progress: ProgressCallback | None = None) -> torch.Tensor:
    """Run the stages of ``p`` with the stage runner ``run``; returns the estimate in the image's
    domain, dtype and size, clipped to [0, 1]."""
    z, pil, sig2, psd, prof, dev = p.z, p.pilot, p.sig2, p.psd, p.profile, p.z.device
    steps = (0 if pil is not None else 1 + prof.refilter) + (1 + prof.refilter if p.stage == "all" else 0)
    done = 0

    def sub(i: int, n: int) -> None:
        report(progress, done * 1000 + round(1000 * i / max(n, 1)), steps * 1000)

    if pil is None:
        st = _variances(prof.hard, sig2, psd, dev)
        basic = run(z, z[:, 0], st.pop("var2d"), prof.hard, _tau(prof.hard, z[:, 0]), mode="hard", progress=sub, **st)
        done += 1
        if prof.refilter:
            basic = _refilter(run, z, basic, prof, prof.hard, sig2, psd, dev, "hard", None, sub)
            done += 1
    else:
        basic = pil
    out = basic
    if p.stage == "all":
        st = _variances(prof.wiener, sig2, psd, dev)
        out = run(
            z,
            basic[:, 0],
            st.pop("var2d"),
            prof.wiener,
            _tau(prof.wiener, basic[:, 0]),
            mode="wiener",
            basic=basic,
            progress=sub,
            **st,
        )
        done += 1
        if prof.refilter:
            out = _refilter(run, z, out, prof, prof.wiener, sig2, psd, dev, "wiener", out, sub)
            done += 1

    h0, w0 = p.size
    out = out[:, :, :h0, :w0]
    if p.colour is not None:
        out = p.colour.inverse(out)
    return out.clamp_(0.0, 1.0).to(p.dtype)


def _refilter(run, z, est, prof, params, sig2, psd, dev, mode, basic, sub):
    """Second pass of a stage on ``est + filtered residual`` with the residual's noise PSD."""
    b, c, h, w = z.shape
    full_psd = psd if psd is not None else sig2.to(dev)[..., None, None].expand(b, c, h, w)
    if full_psd.shape[-2:] != (h, w):
        iy = torch.arange(h, device=full_psd.device) * full_psd.shape[-2] // h
        ix = torch.arange(w, device=full_psd.device) * full_psd.shape[-1] // w
        full_psd = full_psd[..., iy, :][..., :, ix]
    rem, rem_psd = _refilter_residual(z, est, full_psd.to(dev), prof.residual_threshold)
    if float(rem_psd.flatten(2).amax(-1).min()) <= 1e-12:
        return est
    shrink = prof.lambda_refilter if mode == "hard" else prof.mu2_refilter
    p2 = StageParams(**{**params.__dict__, "shrink": shrink})
    st = _variances(p2, None, rem_psd, dev)
    zz = est + rem
    guide = zz[:, 0] if mode == "hard" else basic[:, 0]
    return run(zz, guide, st.pop("var2d"), p2, _tau(p2, guide), mode=mode, basic=basic, progress=sub, **st)


__all__ = ["EXACT_VARIANCES", "Problem", "StageRunner", "prepare", "solve"]
