"""Pixelwise non-local means (Buades, Coll & Morel), batched torch implementation for CPU and GPU.

Each pixel ``p`` is replaced by a weighted mean of the pixels ``q`` of a ``(2r+1)^2`` search
window around it; the weight compares the square patches centred on ``p`` and ``q``:

    d^2(p, q) = mean over the patch pixels and the channels of (u(p + k) - u(q + k))^2
    w(p, q)   = exp(-max(d^2 - 2 sigma^2, 0) / h^2)

This is the weighting of the IPOL paper (A. Buades, B. Coll, J.-M. Morel, "Non-Local Means
Denoising", Image Processing On Line 1, 2011): the ``2 sigma^2`` that two noisy patches differ by
on average is subtracted, so that similar patches get weights near 1, and the patch kernel is
flat (uniform). We use the *pixelwise* variant (each patch only votes for its centre pixel).

The pixel's own weight: by default the formula's value, 1 (the zero offset is an ordinary member
of the window, as in scikit-image's fast mode). ``center_weight="max"`` gives it instead the largest
weight among the other pixels of the window, the rule of the original paper (Buades et al., SIAM
MMS 2005). With the ``2 sigma^2`` offset the "max" rule measured worse at every noise level
(Set12, 128x128 crops: -2.5 dB at sigma 5, -0.3 dB at 15, -0.07 dB at 25, each at its best h),
so it is an option, not the default.

Implementation: the "loop over offsets" formulation. For each offset ``t`` of the search window,
the squared difference between the image and its copy shifted by ``t`` is box-summed over the
patch (one pooling kernel on CUDA, separable shifted adds on the CPU), which gives ``d^2(p, p + t)``
for every pixel at once; weights and weighted sums are accumulated. Offsets are processed in
rectangular chunks sized to a memory budget, the whole batch at once; channels are handled jointly
(one weight per pixel and offset). Images too large for the budget at one offset are processed
in bands of rows, each with a margin of ``search radius + patch radius`` rows, which gives exactly
the same result. Borders use mirror (reflect) extension, generalised so that any image size works.

Units: images in [0, 1]; ``sigma`` and ``h`` in the same [0, 1] units (divide 0-255 values by 255).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report

COLOR_MODES = ("joint", "luma")
CENTER_WEIGHTS = ("one", "max")

# Luma weights (BT.601), and the factor by which i.i.d. per-channel noise shrinks in luma.
_LUMA = (0.299, 0.587, 0.114)
_LUMA_NOISE = math.sqrt(sum(c * c for c in _LUMA))

# Automatic settings, measured with the pipeline as shipped (sigma estimated from the noisy,
# clipped image; h = factor * estimated sigma; the pixel's own weight 1): mean PSNR over Set12 +
# BSD68 (gray) and CBSD68 (colour) at sigma 5 / 15 / 25 / 50 / 75, sweeping patch size 3-7,
# search radius 4-13 and the factor in steps of 0.1. Each row: (noise level up to, in 0-255 grey
# levels; patch size; search radius; h / sigma), at the measured optimum of the noise levels it
# covers (within 0.03 dB). Small patches and windows win for this pixelwise variant.
_AUTO_GRAY: tuple[tuple[float, int, int, float], ...] = (
    (10.0, 3, 5, 0.70),
    (37.5, 3, 5, 0.90),
    (math.inf, 5, 5, 0.75),
)
# Joint RGB distances (sigma = per-channel noise level).
_AUTO_COLOR: tuple[tuple[float, int, int, float], ...] = (
    (10.0, 3, 5, 0.60),
    (math.inf, 3, 7, 0.70),
)
# Luma-guided weights (sigma = noise level of the luma, about 0.669 x the per-channel level).
_AUTO_LUMA: tuple[tuple[float, int, int, float], ...] = (
    (6.0, 3, 5, 0.90),
    (40.0, 3, 7, 0.95),
    (math.inf, 5, 7, 0.70),
)

# Bytes of temporaries per offset and pixel is about 4 * (2 * guide channels + channels + 4).
_CPU_BUDGET = 128 * 2**20
_CUDA_BUDGET = 1024 * 2**20


@dataclass(frozen=True)
class NlmSettings:
    """The settings one image was denoised with.

    ``sigma`` and ``h`` in [0, 1] units (times 255 for grey levels); ``patch_size`` the side of
    the square patch, ``search_radius`` the half-width of the search window (window side
    ``2 * search_radius + 1``), both as used after clamping to the image size.
    """

    sigma: float
    h: float
    patch_size: int
    search_radius: int

    @property
    def window(self) -> int:
        return 2 * self.search_radius + 1


def auto_settings(sigma255: float, *, mode: str) -> tuple[int, int, float]:
    """Default ``(patch_size, search_radius, h / sigma)`` for a noise level in 0-255 grey levels.

    ``mode``: ``"gray"`` (one channel), ``"joint"`` (RGB distances; sigma per channel) or
    ``"luma"`` (luma-guided weights; sigma of the luma).
    """
    table = {"gray": _AUTO_GRAY, "joint": _AUTO_COLOR, "luma": _AUTO_LUMA}[mode]
    for upper, patch, radius, factor in table:
        if sigma255 <= upper:
            return patch, radius, factor
    return table[-1][1:]  # only reached for NaN


def _reflect_index(n: int, pad: int, device: torch.device) -> torch.Tensor:
    """Indices ``-pad .. n - 1 + pad`` mirrored into ``[0, n)`` (no edge repeat), for any ``pad``."""
    idx = torch.arange(-pad, n + pad, device=device)
    if n == 1:
        return torch.zeros_like(idx)
    period = 2 * (n - 1)
    idx = torch.remainder(idx, period)
    return torch.where(idx >= n, period - idx, idx)


def _pad(x: torch.Tensor, py: int, px: int) -> torch.Tensor:
    rows = _reflect_index(x.shape[-2], py, x.device)
    cols = _reflect_index(x.shape[-1], px, x.device)
    return x.index_select(-2, rows).index_select(-1, cols)


def _as_per_image(value: float | Sequence[float] | torch.Tensor | None, batch: int, name: str) -> list[float] | None:
    """A scalar or per-image value as a list of ``batch`` floats (None stays None)."""
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        values = [float(v) for v in value.detach().flatten().cpu()]
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        values = [float(value)]
    elif isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        values = [float(v) for v in value]
    else:
        raise InvalidParameterError(name, f"expected a number, got {value!r}.", "give a number in [0, 1] units.")
    if len(values) == 1:
        values = values * batch
    if len(values) != batch:
        raise InvalidParameterError(
            name, f"got {len(values)} values for a batch of {batch} images.", "give one value or one per image."
        )
    for v in values:
        if not math.isfinite(v) or v < 0:
            raise InvalidParameterError(name, f"{v} is not a finite number >= 0.", "give a value >= 0 in [0, 1] units.")
    return values


def _check_size(value: int | None, name: str, *, odd: bool, lo: int, hi: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterError(name, f"expected a whole number, got {value!r}.", None)
    if not lo <= value <= hi:
        raise InvalidParameterError(name, f"{value} is outside [{lo}, {hi}].", f"give a value between {lo} and {hi}.")
    if odd and value % 2 == 0:
        raise InvalidParameterError(name, f"{value} is even; patches need a centre pixel.", f"use {value + 1}.")


def _chunks(ny: int, nx: int, per_offset_bytes: int, budget: int) -> list[tuple[int, int, int, int]]:
    """Split the ``ny x nx`` offset grid into rectangles ``(j0, j1, i0, i1)`` within ``budget``."""
    max_offsets = max(1, budget // max(per_offset_bytes, 1))
    out = []
    if max_offsets >= nx:
        rows = max(1, max_offsets // nx)
        for j0 in range(0, ny, rows):
            out.append((j0, min(ny, j0 + rows), 0, nx))
    else:
        for j0 in range(ny):
            for i0 in range(0, nx, max_offsets):
                out.append((j0, j0 + 1, i0, min(nx, i0 + max_offsets)))
    return out


def _box_sum(d: torch.Tensor, k: int) -> torch.Tensor:
    """Sum over ``k x k`` windows of the last two dimensions (valid part only).

    On CUDA one pooling kernel; on the CPU separable shifted adds, which are about twice as fast
    there as ``avg_pool2d`` for the small patches used here.
    """
    if k == 1:
        return d
    *lead, hp, wp = d.shape
    h, w = hp - k + 1, wp - k + 1
    if d.device.type == "cuda":
        out = F.avg_pool2d(d.reshape(-1, 1, hp, wp), k, stride=1, divisor_override=1)
        return out.view(*lead, h, w)
    rows = torch.add(d[..., :w], d[..., 1 : w + 1])
    for i in range(2, k):
        rows += d[..., i : i + w]
    out = torch.add(rows[..., :h, :], rows[..., 1 : h + 1, :])
    for i in range(2, k):
        out += rows[..., i : i + h, :]
    return out


def _nlm_group(
    x: torch.Tensor,
    guide: torch.Tensor,
    offset: torch.Tensor,
    pr: int,
    sry: int,
    srx: int,
    budget: int,
    center_max: bool,
    progress: ProgressCallback | None,
    done: int,
    total: int,
) -> torch.Tensor:
    """NLM of ``x`` [B, C, H, W] with weights from ``guide`` [B, G, H, W] (float32, same device).

    The guide comes pre-scaled by ``1 / (h * sqrt(G) * patch_size)`` so that the sum over the
    patch and the guide channels of squared differences is directly ``d^2 / h^2``; ``offset``
    ([B]) is ``2 sigma^2 / h^2``. The weight is then ``exp(min(offset - d^2 / h^2, 0))``.
    ``pr``: patch radius; ``sry``/``srx``: search radii. ``center_max``: give each pixel the
    largest weight of the other pixels of its window instead of its own weight (1).
    Reports ``(done + offsets so far, total)``.
    """
    b, c, h, w = x.shape
    g = guide.shape[1]
    k = 2 * pr + 1
    hp, wp = h + 2 * pr, w + 2 * pr
    ny, nx = 2 * sry + 1, 2 * srx + 1
    xp = _pad(x, sry, srx)  # pixel (y, x) at (y + sry, x + srx)
    gp = _pad(guide, pr + sry, pr + srx)  # the guide with a patch margin
    gc = gp[:, :, sry : sry + hp, srx : srx + wp]
    # Strided views (no copy): [b, ch, j, i, y, x] is the image shifted by (j - sry, i - srx).
    gv = gp.unfold(2, hp, 1).unfold(3, wp, 1)
    xv = xp.unfold(2, h, 1).unfold(3, w, 1)

    offset = offset.view(b, 1, 1, 1, 1)
    num = torch.zeros_like(x)
    den = torch.zeros(b, h, w, device=x.device, dtype=x.dtype)
    wmax = torch.zeros(b, h, w, device=x.device, dtype=x.dtype) if center_max else None

    per_offset = 4 * b * ((g + 3) * hp * wp + (c + 3) * h * w)
    for j0, j1, i0, i1 in _chunks(ny, nx, per_offset, budget):
        ky, kx = j1 - j0, i1 - i0
        d = torch.empty(b, ky, kx, hp, wp, device=x.device, dtype=x.dtype)
        torch.sub(gv[:, 0, j0:j1, i0:i1], gc[:, 0, None, None], out=d).square_()
        if g > 1:
            diff = torch.empty_like(d)
            for ch in range(1, g):
                torch.sub(gv[:, ch, j0:j1, i0:i1], gc[:, ch, None, None], out=diff)
                d.addcmul_(diff, diff)
            del diff
        d = _box_sum(d, k)
        wt = torch.sub(offset, d, out=d).clamp_(max=0.0).exp_()
        if wmax is not None:
            if j0 <= sry < j1 and i0 <= srx < i1:
                wt[:, sry - j0, srx - i0] = 0.0  # the pixel itself: weighted below
            torch.maximum(wmax, wt.amax(dim=(1, 2)), out=wmax)
        den += wt.sum(dim=(1, 2))
        for ch in range(c):
            num[:, ch] += (wt * xv[:, ch, j0:j1, i0:i1]).sum(dim=(1, 2))
        del d, wt
        done += ky * kx
        report(progress, done, total)

    if wmax is not None:
        # The pixel's own weight: the largest weight among the other pixels of its window.
        num += wmax.unsqueeze(1) * x
        den += wmax
    out = num / den.clamp(min=1e-30).unsqueeze(1)
    return torch.where(den.unsqueeze(1) > 0, out, x)


def nlm_denoise(
    x: torch.Tensor,
    *,
    sigma: float | Sequence[float] | torch.Tensor | None = None,
    h: float | Sequence[float] | torch.Tensor | None = None,
    strength: float = 1.0,
    patch_size: int | None = None,
    search_radius: int | None = None,
    color_mode: str = "joint",
    center_weight: str = "one",
    memory_budget: int | None = None,
    return_info: bool = False,
    progress: ProgressCallback | None = None,
) -> torch.Tensor | tuple[torch.Tensor, list[NlmSettings]]:
    """Pixelwise non-local means denoising of ``x`` ``[B, C, H, W]`` in [0, 1] (C = 1 or 3).

    Weights ``exp(-max(d^2 - 2 sigma^2, 0) / h^2)`` with ``d^2`` the mean squared difference
    between the two patches over their pixels and channels (IPOL 2011 weighting, flat patch
    kernel, pixelwise aggregation; see the module docstring).

    Args:
        sigma: noise standard deviation in [0, 1] units (one value or one per image); None =
            estimate it per image (Donoho's wavelet MAD, averaged over channels). 0 is allowed
            and turns off the ``2 sigma^2`` offset.
        h: filtering parameter in [0, 1] units (> 0; one value or one per image); None = automatic,
            ``h = c * sigma`` with ``c`` from the tuned table (see :func:`auto_settings`).
        strength: multiplier on the automatic ``h`` (1 = tuned default); ignored when ``h`` is given.
        patch_size: odd patch side in pixels (1-35); None = automatic by noise level.
        search_radius: half-width of the search window in pixels (0-50; window side
            ``2 * r + 1``); None = automatic. 0 returns the input.
        color_mode: ``"joint"`` (RGB patch distances averaged over channels) or ``"luma"``
            (weights from BT.601 luma patches, applied to all channels). ``sigma`` is always the
            per-channel noise level; the luma is taken to carry ``0.669 * sigma`` (i.i.d. channel
            noise), and a given ``h`` applies to luma distances. Gray images ignore it.
        center_weight: ``"one"`` (the pixel's own weight is 1, the formula's value) or ``"max"``
            (the largest weight of the other pixels of the window, the original paper's rule).
        memory_budget: bytes of temporaries per chunk of offsets (default 128 MiB on CPU, 1 GiB
            on CUDA); larger chunks mean fewer, bigger steps. Images too large for it at one
            offset are processed in bands of rows (same result).
        return_info: also return the settings used for each image (see Returns).
        progress: called with ``(offsets done, offsets total)`` after each chunk of offsets.

    Returns:
        The denoised batch, same shape, dtype and device as ``x``. Patch size and search radius
        are clamped to the image size (a 1x1 image is returned unchanged). With
        ``return_info=True``, ``(image, settings)``: ``settings`` is a list of one
        :class:`NlmSettings` per image, the settings that image was denoised with.
    """
    check_image(x, "image")
    if color_mode not in COLOR_MODES:
        raise InvalidParameterError(
            "color_mode", f"{color_mode!r} is not one of the options.", f"choose one of: {', '.join(COLOR_MODES)}."
        )
    if center_weight not in CENTER_WEIGHTS:
        raise InvalidParameterError(
            "center_weight",
            f"{center_weight!r} is not one of the options.",
            f"choose one of: {', '.join(CENTER_WEIGHTS)}.",
        )
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not (0 < strength < math.inf):
        raise InvalidParameterError("strength", f"expected a finite number > 0, got {strength!r}.", "use e.g. 1.0.")
    _check_size(patch_size, "patch_size", odd=True, lo=1, hi=35)
    _check_size(search_radius, "search_radius", odd=False, lo=0, hi=50)
    if memory_budget is not None and (
        isinstance(memory_budget, bool) or not isinstance(memory_budget, int) or memory_budget <= 0
    ):
        raise InvalidParameterError(
            "memory_budget", f"expected a positive number of bytes, got {memory_budget!r}.", None
        )
    b, c, hh, ww = x.shape
    sigmas = _as_per_image(sigma, b, "sigma")
    hs = _as_per_image(h, b, "h")
    if hs is not None and any(v == 0 for v in hs):
        raise InvalidParameterError("h", "h must be > 0.", "give a positive h, or None for automatic.")

    xf = x.detach().to(torch.float32)
    luma = c == 3 and color_mode == "luma"
    if luma:
        lw = torch.tensor(_LUMA, device=x.device, dtype=torch.float32).view(1, 3, 1, 1)
        guide = (xf * lw).sum(dim=1, keepdim=True)
    else:
        guide = xf
    if sigmas is None:
        from ..quality.noise import estimate_sigma

        est = estimate_sigma(xf).mean(dim=1)  # [B], image units
        sigmas = [float(v) for v in est.cpu()]
    # Noise level of the guide (the luma of i.i.d. channel noise is less noisy).
    g_sigmas = [s * _LUMA_NOISE for s in sigmas] if luma else list(sigmas)
    mode = "luma" if luma else ("joint" if c == 3 else "gray")

    settings: list[NlmSettings] = []
    for i in range(b):
        auto_patch, auto_radius, factor = auto_settings(g_sigmas[i] * 255.0, mode=mode)
        p = patch_size if patch_size is not None else auto_patch
        r = search_radius if search_radius is not None else auto_radius
        hv = hs[i] if hs is not None else factor * strength * g_sigmas[i]
        # Clamp to what the image holds.
        p = min(p, 2 * ((min(hh, ww) - 1) // 2) + 1)
        r = min(r, max(hh, ww) - 1)
        settings.append(NlmSettings(sigma=sigmas[i], h=hv, patch_size=p, search_radius=r))

    out = xf.clone()
    groups: dict[tuple[int, int], list[int]] = {}
    for i, s in enumerate(settings):
        groups.setdefault((s.patch_size, s.search_radius), []).append(i)
    budget = memory_budget or (_CUDA_BUDGET if x.device.type == "cuda" else _CPU_BUDGET)
    g = guide.shape[1]
    plans = []
    for (p, r), idx in groups.items():
        sry, srx, pr = min(r, hh - 1), min(r, ww - 1), p // 2
        # Rows per band so that one offset of one band fits the budget (bands are exact: each
        # carries a margin of sry + pr rows, all a pixel's window and patches can reach).
        per_row = 4 * len(idx) * ((g + 3) + (c + 3)) * (ww + 2 * pr)
        band = max(16, budget // per_row - 2 * (sry + pr))
        plans.append((p, r, idx, sry, srx, list(range(0, hh, band)), band))
    total = sum((2 * sry + 1) * (2 * srx + 1) * len(starts) for _, _, _, sry, srx, starts, _ in plans)
    done = 0
    for p, _, idx, sry, srx, starts, band in plans:
        n_off = (2 * sry + 1) * (2 * srx + 1)
        if n_off > 1:
            sel = torch.tensor(idx, device=x.device)
            hv = torch.tensor([max(settings[i].h, 1e-6) for i in idx], device=x.device, dtype=torch.float32)
            sg = torch.tensor([g_sigmas[i] for i in idx], device=x.device, dtype=torch.float32)
            offset = 2.0 * (sg / hv) ** 2
            scale = 1.0 / (hv * math.sqrt(g) * p)
            xs = xf.index_select(0, sel) if len(idx) < b else xf
            gs = guide.index_select(0, sel) if len(idx) < b else guide
            gs = gs * scale.view(-1, 1, 1, 1)
            margin = sry + p // 2
            for y0 in starts:
                y1 = min(hh, y0 + band)
                lo, hi = max(0, y0 - margin), min(hh, y1 + margin)
                res = _nlm_group(
                    xs[:, :, lo:hi],
                    gs[:, :, lo:hi],
                    offset,
                    p // 2,
                    sry,
                    srx,
                    budget,
                    center_weight == "max",
                    progress,
                    done,
                    total,
                )
                out[sel, :, y0:y1] = res[:, :, y0 - lo : y1 - lo]
                done += n_off
                report(progress, done, total)
        else:
            done += n_off * len(starts)
            report(progress, done, total)
    out = out.to(x.dtype)
    return (out, settings) if return_info else out
