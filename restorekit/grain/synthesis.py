"""Grain synthesis: add a :class:`~restorekit.grain.model.GrainModel`'s grain to images.

Every synthesis makes one *unit-variance pattern* per plane (Y, and Cb, Cr for colour grain) and
scales it by the model's scaling function of the local luma, as AV1 does:
``Y' = Y + s_Y(Y) p_Y``, ``Cb' = Cb + s_Cb(i_Cb) p_Cb``, ``Cr' = Cr + s_Cr(i_Cr) p_Cr`` in BT.601
YCbCr (the chroma index ``i`` is the luma, or AV1's ``cb_mult`` / ``cb_luma_mult`` / ``cb_offset``
combination when an imported table carries them), then back to RGB and clipped to [0, 1].
Gray images get luma grain only.

Patterns:

* ``ar`` - AV1's auto-regressive pattern ``p(x) = sum_k a_k p(x + k) + e(x)`` over the causal
  neighbourhood of lag 0-3 (chroma: ``+ b p_Y(x)``, the co-located unit-variance luma pattern).
  The recursion is sequential by definition; it is computed here in its *stationary form*: the AR
  filter's frequency response ``1 / (1 - A(f))`` applied to white noise by one inverse FFT (the
  white noise is drawn directly as Hermitian Fourier coefficients, so a plane costs one FFT). This
  is the process AV1's recursion converges to, exactly stationary and seamless, with no 32x32 block
  repetition of a 64x64 template, and it runs as a few large batched ops on the GPU (AV1's tiling
  would need a per-sample recursion on the template, which is serial). The field is circular
  (periodic with the image size), which no eye can see on grain.
* ``gaussian`` - white noise filtered by the Gaussian gain ``exp(-2 pi^2 sigma_b^2 |f|^2)`` with
  ``sigma_b`` = the model's ``grain_size`` (px), the same FFT route.
* ``boolean`` - the physically based Boolean model of Newson, Delon and Galerne (2017), see
  :mod:`restorekit.grain.boolean`: discs rendered at the local luma's density, filtered, and
  normalised by the model's analytic std so that ``s(Y)`` still sets the amplitude.
* ``boolean_fast`` - Gaussian-filtered noise with the Boolean model's correlation length (its mean
  is 0 and its variance follows ``s(Y)`` as for the full model).

Randomness: frame ``t`` of a sequence draws from a generator seeded with
:func:`frame_seed(seed, t) <frame_seed>`, where ``t = frame_offset + i`` for image ``i`` of the
batch. A batch therefore equals single calls with ``frame_offset = i``, and a long sequence is
continued by passing the index of its next frame. ``frame_correlation`` = rho > 0 correlates
consecutive frames of one call by an AR(1) in time, ``g_t = rho g_(t-1) + sqrt(1 - rho^2) n_t``
(on the white noise, so every frame keeps the spectrum); the first frame of a call starts the
chain afresh, so only rho = 0 continues exactly across calls.

Amplitudes are [0, 1] image units (x 255 for grey levels).
"""

from __future__ import annotations

import math

import torch

from ..color import _RGB_TO_YCBCR, _YCBCR_TO_RGB
from ..errors import InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report
from .model import GrainModel, ScalingFunction, ar_coefficient_count

#: Values of the ``synthesis`` keyword (the model's own ``synthesis`` when None).
SYNTHESIS_CHOICES = ("ar", "boolean", "boolean_fast", "gaussian")

_MASK64 = (1 << 64) - 1


def frame_seed(seed: int, frame: int) -> int:
    """The generator seed of frame ``frame`` of the sequence ``seed`` (a SplitMix64 mix of both, 63 bits)."""
    z = (int(seed) * 0x9E3779B97F4A7C15 + int(frame) * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (z ^ (z >> 31)) >> 1


def causal_offsets(lag: int) -> list[tuple[int, int]]:
    """AV1's causal neighbourhood ``(dy, dx)`` of lag ``lag``, in AV1 coefficient order."""
    return [(dy, dx) for dy in range(-lag, 1) for dx in range(-lag, lag + 1) if (dy, dx) < (0, 0)]


# ---- transfer functions on the rfft grid -------------------------------------------------------

def _freqs(h: int, w: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.fft.fftfreq(h, device=device, dtype=dtype)[:, None],
            torch.fft.rfftfreq(w, device=device, dtype=dtype)[None, :])


def _rfft_weights(h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Multiplicity of each rfft column in the full spectrum (1 for DC / Nyquist, 2 otherwise)."""
    wr = w // 2 + 1
    m = torch.full((wr,), 2.0, device=device, dtype=dtype)
    m[0] = 1.0
    if w % 2 == 0:
        m[-1] = 1.0
    return m[None, :]


def _full_mean(v: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Mean over the full DFT grid of a real function given on the rfft half grid ``[..., h, w//2+1]``."""
    return (v * _rfft_weights(h, w, v.device, v.dtype)).sum(dim=(-2, -1)) / (h * w)


def ar_transfer(coeffs: tuple[float, ...], lag: int, h: int, w: int, device: torch.device,
                dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``1 / (1 - A(f))`` on the rfft grid ``[h, w//2+1]`` (complex) for causal AR coefficients (luma
    part, AV1 order). ``A(f) = sum_k a_k e^{2 pi i f.k}`` because the recursion reads ``p(x + k)``."""
    fy, fx = _freqs(h, w, device, dtype)
    if not coeffs or lag == 0:
        return torch.ones(h, fx.shape[1], device=device, dtype=torch.complex64 if dtype == torch.float32
                          else torch.complex128)
    offsets = causal_offsets(lag)
    a = torch.zeros(lag + 1, 2 * lag + 1, dtype=torch.float64)
    for (dy, dx), c in zip(offsets, coeffs, strict=False):
        a[dy + lag, dx + lag] = c
    a = a.to(device=device, dtype=dtype)
    dys = torch.arange(-lag, 1, device=device, dtype=dtype)
    dxs = torch.arange(-lag, lag + 1, device=device, dtype=dtype)
    ey = torch.polar(torch.ones_like(fy * dys), 2 * math.pi * fy * dys)  # [h, lag+1]
    ex = torch.polar(torch.ones_like(fx.T * dxs), 2 * math.pi * fx.T * dxs)  # [wr, 2lag+1]
    big_a = ey @ a.to(ey.dtype) @ ex.T  # separable: sum_dy e_y(dy) sum_dx a(dy, dx) e_x(dx)
    return 1.0 / (1.0 - big_a)


def gaussian_gain(sigma_b: float, h: int, w: int, device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The Gaussian filter gain ``exp(-2 pi^2 sigma_b^2 |f|^2)`` on the rfft grid (real)."""
    fy, fx = _freqs(h, w, device, dtype)
    return torch.exp(-2 * math.pi**2 * float(sigma_b) ** 2 * (fy**2 + fx**2))


def _normalise(t: torch.Tensor, h: int, w: int) -> torch.Tensor:
    return t / _full_mean(t.abs().square(), h, w).clamp(min=1e-30).sqrt()


def _luma_transfer(model: GrainModel, synthesis: str, h: int, w: int, device: torch.device,
                   dtype: torch.dtype) -> torch.Tensor:
    """Unit-power transfer of the luma pattern."""
    if synthesis == "ar":
        lag = model.ar_lag if model.ar_luma else 0
        return _normalise(ar_transfer(model.ar_luma, lag, h, w, device, dtype), h, w)
    if synthesis == "gaussian":
        size = model.grain_size
    else:  # boolean_fast
        from .boolean import boolean_parameters

        size = boolean_parameters(model).correlation_length
    return _normalise(gaussian_gain(size, h, w, device, dtype).to(_complex(dtype)), h, w)


def _complex(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype == torch.float64 else torch.complex64


def _chroma_transfers(model: GrainModel, synthesis: str, luma_t: torch.Tensor, h: int, w: int,
                      dtype: torch.dtype) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """For Cb and Cr: ``(T_e, T_y)`` with pattern spectrum ``T_e E_c + T_y E_y`` (unit variance).

    AR chroma: ``p_c = T_c (sigma_e e_c + b p_Y)`` with ``T_c = 1 / (1 - A_c)``, ``b`` the luma
    coefficient and ``sigma_e`` chosen so that ``var p_c = 1`` (the regression convention of
    :mod:`restorekit.grain.analysis`). Otherwise: independent patterns with the luma's spectrum.
    """
    out = []
    for coeffs in (model.ar_cb, model.ar_cr):
        if synthesis != "ar" or not coeffs:
            out.append((luma_t, torch.zeros_like(luma_t)))
            continue
        tc = ar_transfer(coeffs[:-1], model.ar_lag, h, w, luma_t.device, dtype)
        b = coeffs[-1]
        m_c = _full_mean(tc.abs().square(), h, w)
        m_cy = _full_mean((tc * luma_t).abs().square(), h, w)
        var_e = ((1.0 - b * b * m_cy) / m_c).clamp(min=0.0)
        te, ty = tc * var_e.sqrt(), tc * (b * luma_t)
        total = (var_e * m_c + b * b * m_cy).clamp(min=1e-30).sqrt()
        out.append((te / total, ty / total))
    return out


# ---- white noise in the Fourier domain --------------------------------------------------------

def _white_spectrum(planes: int, h: int, w: int, gen: torch.Generator, device: torch.device,
                    dtype: torch.dtype) -> torch.Tensor:
    """Fourier coefficients ``[planes, h, w//2+1]`` of unit-variance white noise (``norm="ortho"``),
    Hermitian-consistent where ``irfft2`` needs it (columns 0 and w/2)."""
    wr = w // 2 + 1
    z = torch.randn(planes, h, wr, 2, generator=gen, device=device, dtype=dtype)
    z = torch.view_as_complex(z) * (1.0 / math.sqrt(2.0))
    cols = [0] + ([wr - 1] if w % 2 == 0 and wr > 1 else [])
    flip = (-torch.arange(h, device=device)) % h
    for c in cols:
        col = z[:, :, c]
        z[:, :, c] = (col + col[:, flip].conj()) * (1.0 / math.sqrt(2.0))
    return z


def _check_model(model: GrainModel) -> None:
    if not isinstance(model, GrainModel):
        raise InvalidParameterError("model", f"expected a GrainModel, got {type(model).__name__}.",
                                    "build one with grain_model(...) or Grain Analyze.")


def _resolve(model: GrainModel, synthesis: str | None, color: bool | None, channels: int) -> tuple[str, bool]:
    method = model.synthesis if synthesis is None else synthesis
    if method not in SYNTHESIS_CHOICES:
        raise InvalidParameterError("synthesis", f"{method!r} unknown.", f"use one of {SYNTHESIS_CHOICES}.")
    colour = (model.has_chroma if color is None else bool(color)) and channels == 3
    return method, colour


def _chroma_scaling(model: GrainModel, plane: str, colour_explicit: bool) -> ScalingFunction:
    """The scaling function of a chroma plane; for colour grain asked of a luma-only model, the luma's
    function scaled to the model's channel correlation (:func:`chroma_ratio`)."""
    if model.chroma_from_luma:
        return model.scaling_luma
    own = model.scaling_cb if plane == "cb" else model.scaling_cr
    if not own.is_zero or not colour_explicit:
        return own
    k = chroma_ratio(model.channel_correlation)
    return ScalingFunction(tuple((x, k * y) for x, y in model.scaling_luma.points))


def chroma_ratio(channel_correlation: float) -> float:
    """The std ratio ``k = s_C / s_Y`` of independent Cb, Cr grain to Y grain that gives R, G, B grain
    the mean pairwise correlation ``channel_correlation`` (1 -> 0, monochrome grain). Correlations
    below what independent planes can reach (about -0.07) give the largest ratio tried (4)."""
    inv = _YCBCR_TO_RGB.double()

    def corr(k: float) -> float:
        cov = inv @ torch.diag(torch.tensor([1.0, k * k, k * k], dtype=torch.float64)) @ inv.T
        d = cov.diagonal().sqrt()
        r = cov / (d[:, None] * d[None, :])
        return float((r[0, 1] + r[0, 2] + r[1, 2]) / 3)

    rho = float(channel_correlation)
    if rho >= 1.0:
        return 0.0
    lo, hi = 0.0, 4.0
    if corr(hi) >= rho:
        return hi
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if corr(mid) > rho else (lo, mid)
    return 0.5 * (lo + hi)


def _chroma_index(model: GrainModel, plane: str, ycc: torch.Tensor) -> torch.Tensor:
    """AV1's chroma scaling index in [0, 1]: luma unless an imported table's multipliers say otherwise."""
    y = ycc[:, :1]
    av1 = model.av1 or {}
    mult, luma_mult, offset = (av1.get(f"{plane}_{k}") for k in ("mult", "luma_mult", "offset"))
    if mult is None or model.chroma_from_luma:
        return y
    c = ycc[:, 1:2] if plane == "cb" else ycc[:, 2:3]
    merged = (y * (luma_mult - 128) + c * (mult - 128)) / 64.0 + (offset - 256) / 255.0
    return merged.clamp(0.0, 1.0)


# ---- patterns ------------------------------------------------------------------------------------

# Transfer functions of the last few (model, size, device, dtype) keys: they depend on the image size
# only, so the frames of a sequence (or repeated calls) reuse them instead of rebuilding ~1 M complex
# values per plane. Small and bounded (each entry is 1-3 planes of h x (w/2 + 1) complex values).
_TRANSFER_CACHE: dict[tuple, tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]] = {}
_TRANSFER_CACHE_SIZE = 4


def _transfers(model: GrainModel, method: str, colour: bool, h: int, w: int, device: torch.device,
               dtype: torch.dtype) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
    """The luma transfer and, for colour grain, the chroma ``(T_e, T_y)`` pairs, cached by what they depend on."""
    if method == "ar":
        what: tuple = (model.ar_lag, model.ar_luma, model.ar_cb, model.ar_cr)
    elif method == "gaussian":
        what = (model.grain_size,)
    else:  # boolean_fast: the Boolean model's correlation length
        from .boolean import boolean_parameters

        what = (boolean_parameters(model).correlation_length,)
    key = (method, colour, what, h, w, str(device), dtype)
    hit = _TRANSFER_CACHE.get(key)
    if hit is None:
        # Plain tensors even when called under inference_mode, so that a later call outside it can use them.
        with torch.inference_mode(False), torch.no_grad():
            luma_t = _luma_transfer(model, method, h, w, device, dtype)
            chroma = _chroma_transfers(model, method, luma_t, h, w, dtype) if colour else []
        while len(_TRANSFER_CACHE) >= _TRANSFER_CACHE_SIZE:
            _TRANSFER_CACHE.pop(next(iter(_TRANSFER_CACHE)))
        hit = _TRANSFER_CACHE[key] = (luma_t, chroma)
    return hit


def _fft_patterns(model: GrainModel, method: str, colour: bool, b: int, h: int, w: int, seeds: list[int],
                  rho: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Unit-variance patterns ``[B, P, H, W]`` (P = 1 or 3: Y, Cb, Cr) by the FFT route."""
    planes = 3 if colour else 1
    luma_t, chroma = _transfers(model, method, colour, h, w, device, dtype)
    white = []
    prev = None
    for s in seeds:
        gen = torch.Generator(device=device).manual_seed(s)
        z = _white_spectrum(planes, h, w, gen, device, dtype)
        if prev is not None and rho > 0:
            z = rho * prev + math.sqrt(1.0 - rho * rho) * z
        prev = z
        white.append(z)
    z = white[0].unsqueeze(0) if b == 1 else torch.stack(white)  # [B, P, h, wr]
    # The spectra are written into one buffer (no stack copy); chroma = T_e E_c + T_y E_y.
    spec = torch.empty_like(z)
    torch.mul(z[:, 0], luma_t, out=spec[:, 0])
    for i, (te, ty) in enumerate(chroma):
        torch.mul(z[:, i + 1], te, out=spec[:, i + 1])
        spec[:, i + 1].addcmul_(z[:, 0], ty)
    return torch.fft.irfft2(spec, s=(h, w), norm="ortho")


def grain_patterns(x: torch.Tensor, model: GrainModel, *, seed: int = 0, synthesis: str | None = None,
                   frame_correlation: float = 0.0, color: bool | None = None, frame_offset: int = 0) -> torch.Tensor:
    """The unit-variance grain patterns ``[B, P, H, W]`` of ``x`` (P = 3 planes Y, Cb, Cr for colour
    grain, else 1), before scaling. ``x`` is only read for its luma (the Boolean model's density)."""
    check_image(x, "image")
    _check_model(model)
    _check_common(seed, frame_correlation, frame_offset)
    method, colour = _resolve(model, synthesis, color, x.shape[1])
    b, _, h, w = x.shape
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    seeds = [frame_seed(seed, frame_offset + i) for i in range(b)]
    if method == "boolean":
        from .boolean import boolean_patterns

        luma = x.to(dtype) if x.shape[1] == 1 else _luma(x.to(dtype))
        return boolean_patterns(luma, model, seeds=seeds, planes=3 if colour else 1,
                                frame_correlation=frame_correlation)
    return _fft_patterns(model, method, colour, b, h, w, seeds, float(frame_correlation), x.device, dtype)


def _luma(x: torch.Tensor) -> torch.Tensor:
    """BT.601 luma ``[B, 1, H, W]`` of an RGB batch, as three multiply-adds (an einsum here is a slow reduction)."""
    r, g, b = _RGB_TO_YCBCR[0].to(x.dtype).tolist()
    return (x[:, 0:1] * r).add_(x[:, 1:2], alpha=g).add_(x[:, 2:3], alpha=b)


def _check_common(seed: int, frame_correlation: float, frame_offset: int) -> None:
    if not isinstance(seed, int) or seed < 0:
        raise InvalidParameterError("seed", f"must be an integer >= 0, got {seed!r}.", "give e.g. 0.")
    if not isinstance(frame_offset, int) or frame_offset < 0:
        raise InvalidParameterError("frame_offset", f"must be an integer >= 0, got {frame_offset!r}.",
                                    "give the index of the first frame of the batch in its sequence.")
    if not 0.0 <= float(frame_correlation) < 1.0:
        raise InvalidParameterError("frame_correlation", f"must be in [0, 1), got {frame_correlation}.",
                                    "0 = independent frames; 0.5 = strongly correlated consecutive frames.")


def grain_layer(x: torch.Tensor, model: GrainModel, *, seed: int = 0, strength: float = 1.0,
                synthesis: str | None = None, frame_correlation: float = 0.0, color: bool | None = None,
                frame_offset: int = 0, progress: ProgressCallback | None = None) -> torch.Tensor:
    """The signed grain that :func:`add_grain` adds to ``x``, ``[B, C, H, W]`` (same dtype/device), in
    [0, 1] image units and in the image's channels (RGB for colour images, before clipping).

    Args:
        x: images ``[B, C, H, W]`` in [0, 1], C = 1 or 3 (sRGB); their luma sets the grain amplitude.
        model: the grain description (scaling functions, AR coefficients, size, ...).
        seed: sequence seed (>= 0); frame ``t`` uses :func:`frame_seed(seed, t)`.
        strength: multiplier on the grain amplitude, >= 0 (1 = the model's).
        synthesis: ``ar``, ``gaussian``, ``boolean`` or ``boolean_fast``; None = the model's.
        frame_correlation: correlation rho in [0, 1) of consecutive frames' grain (AR(1) in time).
        color: colour grain (Cb, Cr planes too) for RGB images; None = where the model has chroma.
        frame_offset: index of the batch's first frame in its sequence (>= 0).
    """
    check_image(x, "image")
    if not math.isfinite(float(strength)) or float(strength) < 0:
        raise InvalidParameterError("strength", f"must be >= 0, got {strength}.", "give e.g. 1.")
    _check_model(model)
    method, colour = _resolve(model, synthesis, color, x.shape[1])
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    xf = x.to(dtype)
    report(progress, 0, 2)
    p = grain_patterns(xf, model, seed=seed, synthesis=method, frame_correlation=frame_correlation, color=colour,
                       frame_offset=frame_offset)
    report(progress, 1, 2)
    if x.shape[1] == 1:
        g = _scalings([model.scaling_luma], xf)[0] * p
    else:
        av1 = model.av1 or {}
        needs_chroma = colour and not model.chroma_from_luma and any(
            av1.get(f"{plane}_mult") is not None for plane in ("cb", "cr"))
        if needs_chroma:  # AV1 multipliers mix Cb / Cr into the chroma scaling index
            m = _RGB_TO_YCBCR.to(device=x.device, dtype=dtype)
            ycc = torch.einsum("ij,bjhw->bihw", m, xf)
            ycc[:, 1:] += 0.5
            y = ycc[:, :1]
        else:  # only the luma is read
            y = _luma(xf)
            ycc = y
        fns = [model.scaling_luma]
        if colour:
            explicit = color is True
            fns += [_chroma_scaling(model, plane, explicit) for plane in ("cb", "cr")]
        if needs_chroma:
            stds = _scalings(fns[:1], y) + [_scalings([fn], _chroma_index(model, plane, ycc))[0]
                                            for fn, plane in zip(fns[1:], ("cb", "cr"), strict=True)]
        else:  # every plane's scaling index is the luma: one segment search for all of them
            stds = _scalings(fns, y)
        if colour:
            for i, s_ in enumerate(stds):  # p is this call's own buffer: scaled in place, no concatenation
                p[:, i: i + 1].mul_(s_)
            g = torch.einsum("ij,bjhw->bihw", _YCBCR_TO_RGB.to(device=x.device, dtype=dtype), p)
        else:
            g = (stds[0] * p[:, :1]).expand(-1, 3, -1, -1)  # Y grain only: the same offset in R, G and B
    report(progress, 2, 2)
    return (g if float(strength) == 1.0 else g * float(strength)).to(x.dtype)


def _scalings(fns: list[ScalingFunction], t: torch.Tensor) -> list[torch.Tensor]:
    """Each of the piecewise-linear scaling functions ``fns`` at ``t`` (same shape, dtype and device).

    The same values as :meth:`ScalingFunction.__call__` (to rounding), computed cheaply: the segment of
    every value is found once for all functions with the same knot positions (arithmetically when the
    knots are evenly spaced, as the film curve's are, else by ``searchsorted``), and each function is
    read as ``a_i + b_i t`` from a small intercept / slope table with ``take``.
    """
    out: list[torch.Tensor | None] = [None] * len(fns)
    groups: dict[tuple[float, ...], list[int]] = {}
    for k, fn in enumerate(fns):
        if len(fn.points) < 2:
            out[k] = fn(t)
        else:
            groups.setdefault(tuple(x for x, _ in fn.points), []).append(k)
    flat = t.reshape(-1)
    for knots, members in groups.items():
        n = len(knots)
        x0, x1 = knots[0], knots[-1]
        tc = flat.clamp(x0, x1)
        step = (x1 - x0) / (n - 1)
        if all(abs(knots[i] - (x0 + i * step)) <= 1e-9 for i in range(n)):
            seg = ((tc - x0) * (1.0 / step)).to(torch.int64).clamp_(0, n - 2)  # tc >= x0: truncation = floor
        else:
            xs = torch.tensor(knots, dtype=t.dtype, device=t.device)
            seg = (torch.searchsorted(xs, tc.contiguous(), right=True) - 1).clamp_(0, n - 2)
        xs64 = torch.tensor(knots, dtype=torch.float64)
        for k in members:
            ys = torch.tensor([y for _, y in fns[k].points], dtype=torch.float64)
            slope = (ys[1:] - ys[:-1]) / (xs64[1:] - xs64[:-1])
            icpt = ys[:-1] - slope * xs64[:-1]
            a, b = (v.to(device=t.device, dtype=t.dtype) for v in (icpt, slope))
            out[k] = torch.addcmul(a.take(seg), b.take(seg), tc).view_as(t)
    return out  # type: ignore[return-value]


def add_grain(x: torch.Tensor, model: GrainModel, *, seed: int = 0, strength: float = 1.0,
              synthesis: str | None = None, frame_correlation: float = 0.0, color: bool | None = None,
              frame_offset: int = 0, progress: ProgressCallback | None = None) -> torch.Tensor:
    """``x`` with the grain of ``model`` added (see the module docstring), clipped to [0, 1].

    Same arguments as :func:`grain_layer`; returns ``[B, C, H, W]`` with the dtype and device of ``x``.
    """
    g = grain_layer(x, model, seed=seed, strength=strength, synthesis=synthesis, frame_correlation=frame_correlation,
                    color=color, frame_offset=frame_offset, progress=progress)
    return (x + g).clamp_(0.0, 1.0)


# ---- models without analysis ------------------------------------------------------------------

def film_curve(intensity: float, points: int = 9, floor: float = 0.4) -> ScalingFunction:
    """A film-like std curve: ``intensity`` (std, [0, 1] units) at mid-grey, falling to ``floor`` of it at
    black and white (grain is most visible in the mid-tones)."""
    xs = [i / (points - 1) for i in range(points)]
    return ScalingFunction(tuple((t, intensity * (floor + (1 - floor) * (1 - (2 * t - 1) ** 2))) for t in xs))


def grain_model(intensity: float, size: float, synthesis: str = "ar", color: bool = False, *,
                channel_correlation: float = 0.7, curve: str = "film", ar_lag: int = 3,
                radius: float = 0.0) -> GrainModel:
    """A grain model from a few numbers, for Grain Add without an analysis.

    Args:
        intensity: grain std at mid-grey, [0, 1] units (e.g. 8 / 255).
        size: correlation length ``sigma_b``, px (0 = white); for ``ar`` an AV1 AR pattern of lag
            ``ar_lag`` fitted to the Gaussian of that size, for ``boolean`` the disc radius that gives it.
        synthesis: ``ar``, ``gaussian``, ``boolean`` or ``boolean_fast`` (stored as ``boolean``).
        color: colour grain: independent Cb, Cr grain with the std ratio that gives R, G, B grain the
            pairwise correlation ``channel_correlation``.
        curve: ``film`` (strongest in the mid-tones) or ``flat`` (the same std at every intensity);
            a ``boolean`` model always uses the Boolean model's own std curve.
        radius: Boolean mean disc radius, px (0 = derived from ``size``).
    """
    if not math.isfinite(intensity) or intensity < 0:
        raise InvalidParameterError("intensity", f"must be >= 0, got {intensity}.", "give e.g. 8/255.")
    if not math.isfinite(size) or not 0 <= size <= 16:
        raise InvalidParameterError("size", f"must be in [0, 16] px, got {size}.", "give e.g. 1.")
    if synthesis not in SYNTHESIS_CHOICES:
        raise InvalidParameterError("synthesis", f"{synthesis!r} unknown.", f"use one of {SYNTHESIS_CHOICES}.")
    if curve not in ("film", "flat"):
        raise InvalidParameterError("curve", f"{curve!r} unknown.", "use film or flat.")
    if not -1.0 <= channel_correlation <= 1.0:
        raise InvalidParameterError("channel_correlation", f"must be in [-1, 1], got {channel_correlation}.", "")
    stored = "boolean" if synthesis == "boolean_fast" else synthesis
    scaling = film_curve(intensity) if curve == "film" else ScalingFunction.constant(intensity)
    lag, ar = 0, ()
    extra: dict = {}
    if stored == "ar" and size > 0:
        lag = int(ar_lag)
        ar = fit_ar_to_gaussian(size, lag)
    if stored == "boolean":
        from .boolean import boolean_scaling, radius_for_size

        r = radius if radius > 0 else radius_for_size(max(size, 0.0))
        extra["grain_radius"] = r
        scaling = boolean_scaling(intensity, r)
    model = GrainModel(ar_lag=lag, ar_luma=ar, scaling_luma=scaling, grain_size=float(size),
                       channel_correlation=1.0 if not color else float(channel_correlation), synthesis=stored,
                       classification="synthetic_overlay", notes="built by grain_model", **extra)
    if color:
        k = chroma_ratio(channel_correlation)
        chroma = ScalingFunction(tuple((x, k * y) for x, y in scaling.points))
        ar_c = tuple(ar) + (0.0,) if ar else ((0.0,) if lag == 0 else ())
        model = model.replace(scaling_cb=chroma, scaling_cr=chroma, ar_cb=ar_c if ar else (), ar_cr=ar_c if ar else ())
    return model


def fit_ar_to_gaussian(size: float, lag: int = 3, n: int = 64, nugget: float = 0.01) -> tuple[float, ...]:
    """AV1 AR coefficients (lag ``lag``, AV1 order) whose pattern best matches Gaussian-filtered white
    noise of correlation length ``size`` px: Yule-Walker on the Gaussian pattern's autocovariance."""
    if lag == 0 or size <= 0:
        return ()
    f = torch.fft.fftfreq(n, dtype=torch.float64)
    psd = torch.exp(-4 * math.pi**2 * size**2 * (f[:, None] ** 2 + f[None, :] ** 2))
    cov = torch.fft.ifft2(psd).real
    cov = cov / cov[0, 0]
    offs = causal_offsets(lag)

    def c(dy: int, dx: int) -> float:
        return cov[dy % n, dx % n]

    a_mat = torch.tensor([[c(p[0] - q[0], p[1] - q[1]) for q in offs] for p in offs], dtype=torch.float64)
    rhs = torch.tensor([c(p[0], p[1]) for p in offs], dtype=torch.float64)
    # A Gaussian's covariance is nearly singular for Yule-Walker (huge, cancelling coefficients); a small
    # white share (nugget) keeps the fit well-conditioned and its coefficients inside AV1's range.
    a_mat = a_mat + nugget * torch.eye(len(offs), dtype=torch.float64)
    coeffs = torch.linalg.solve(a_mat, rhs)
    coeffs = coeffs.clamp(-2.0, 127 / 64)  # AV1 stores [-128, 127] / 2^shift, shift >= 6
    assert len(coeffs) == ar_coefficient_count(lag)
    return tuple(float(v) for v in coeffs)


def expected_spectrum(model: GrainModel, h: int, w: int, *, bins: int = 32, synthesis: str | None = None,
                      intensity: float = 0.5) -> torch.Tensor:
    """The radial power spectrum ``[bins]`` (float64, convention of :mod:`restorekit.grain.spectrum`) that
    the luma grain of ``model`` has at a flat luma ``intensity`` on an ``h x w`` image: ``s(intensity)^2``
    times the pattern's normalised PSD (``ar``, ``gaussian``, ``boolean_fast``)."""
    from .spectrum import radial_average

    method = model.synthesis if synthesis is None else synthesis
    if method == "boolean":
        method = "boolean_fast"
    t = _luma_transfer(model, method, h, w, torch.device("cpu"), torch.float64)
    half = t.abs().square()
    # Rebuild the full grid by Hermitian symmetry: P(-f) = P(f).
    fy = (-torch.arange(h)) % h
    neg = half[fy][:, 1:(w + 1) // 2].flip(-1)
    full = torch.cat([half, neg], dim=1)
    s = float(model.scaling_luma(torch.tensor([intensity], dtype=torch.float64))[0])
    return radial_average(full, bins) * s * s


__all__ = ["SYNTHESIS_CHOICES", "add_grain", "ar_transfer", "causal_offsets", "chroma_ratio", "expected_spectrum",
           "film_curve", "fit_ar_to_gaussian", "frame_seed", "gaussian_gain", "grain_layer", "grain_model",
           "grain_patterns"]
