"""Choose a classical denoiser's parameters without a clean image (Noise2Self / J-invariant calibration,
or Monte-Carlo SURE when the noise is white Gaussian).

Batson & Royer ("Noise2Self: blind denoising by self-supervision", ICML 2019) show that for a
*J-invariant* denoiser ``g`` (its output on a set of pixels ``J`` does not look at those pixels)
and noise independent across pixels with zero mean,

    E ||g(y) - y||^2 = E ||g(y) - x||^2 + E ||y - x||^2,

so the self-supervised loss ``||g(y) - y||^2`` ranks parameter settings exactly like the unknown
error against the clean image ``x``, shifted by the noise variance. Any denoiser ``f`` is made
J-invariant for a mask ``J`` by replacing the pixels of ``J`` with the mean of their 8 neighbours
("donut" interpolation), denoising, and reading the result back on ``J`` only.

Here the masks are a grid of pixel phases ``(dy, dx)`` of period ``stride`` (``stride**2`` disjoint
masks covering the image; ``masks`` of them are used, spread over rows and columns, e.g. 4 of the
16 phases of a 4-pixel grid = a quarter of the pixels, which is plenty for a mean-squared loss).
All masked copies of all images go through the denoiser as one batch. The loss of a candidate is
the mean over the masked pixels of ``(g(y) - y)^2``. Masked pixels are filled with the mean of
their 8 neighbours by default (``fill="mean"``); ``"neighbour"`` (a random neighbour, which keeps the
noise statistics) and ``"blend"`` (half way) are options.

Second criterion, ``criterion="sure"``: Stein's unbiased risk estimate with a Monte-Carlo
divergence (Ramani, Blu & Unser, IEEE TIP 2008), ``|y - f(y)|^2/N - sigma^2 + 2 sigma^2 div f / N``,
is an unbiased estimate of the full denoiser's MSE under white Gaussian noise of known std (two
denoiser passes per candidate). ``criterion="auto"`` (default) runs
:func:`restorekit.quality.noise_analysis.analyse_noise` and uses SURE when every image of the batch
has white Gaussian (or no) noise, and the J-invariant loss otherwise (signal-dependent noise, for which
SURE's Gaussian assumption fails; Noise2Self needs only pixel-independent noise).

Measured (``bench/bench_auto.py``, Set12 01-04 256x256, sigma 15/25/50; PSNR of the chosen setting
vs the best of the same grid picked with the clean image): SURE is within 0.07 dB of that oracle for
wavelet and NLM. The J-invariant loss is biased for denoisers that lean on the centre pixel (the
J-invariant version of a denoiser is not the denoiser): wavelet chose 0-0.3 dB under the oracle, NLM
up to 0.5 dB (sigma 25) or 1.7 dB (sigma 15, 128x128 crops). Both recover fully from a badly set
default (e.g. sigma given at half its true value: +4-8 dB over the default).

Search: a coarse geometric grid of the strength parameter around the default (1 = the denoiser's
own default), then finer steps around the best value of each image; every image of the batch gets
its own parameters. Parameters searched:

- ``"wavelet"`` (:func:`restorekit.denoise.wavelet.wavelet_denoise`): ``sigma_scale`` (the noise
  sigma handed to the threshold rule, as a multiple of the estimated sigma) and, unless the grid is
  coarse, the threshold ``method`` (``"sure"``, ``"bayes"``).
- ``"nlm"`` (:func:`restorekit.denoise.nlm.nlm_denoise`): ``strength``, the multiple of the tuned
  automatic ``h``.
- ``"bm3d"`` (``restorekit.denoise.bm3d.bm3d_denoise``, when installed): ``sigma_scale``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..errors import InvalidParameterError, MissingDependencyError
from ..image import check_image
from ..progress import ProgressCallback, report
from ..quality.noise import estimate_sigma

METHODS = ("wavelet", "nlm", "bm3d")
DENSITIES = ("coarse", "normal", "fine")
CRITERIA = ("auto", "noise2self", "sure")
#: Name of the tuned strength parameter per method.
STRENGTH = {"wavelet": "sigma_scale", "nlm": "strength", "bm3d": "sigma_scale"}
#: Search range of the strength parameter (multiples of the default).
STRENGTH_RANGE = (0.25, 4.0)
#: Coarse grid (exponents of 2) and refinement steps (exponents of 2) per density.
_GRIDS = {
    "coarse": ([-1.0, -0.5, 0.0, 0.5, 1.0], []),
    "normal": ([-1.0, -0.5, 0.0, 0.5, 1.0], [0.25]),
    "fine": ([-1.0, -2 / 3, -1 / 3, 0.0, 1 / 3, 2 / 3, 1.0], [1 / 6, 1 / 12]),
}
#: Replacement of masked pixels: the 8-neighbour mean plus this share of (random neighbour - mean).
_FILL_BLEND = {"mean": 0.0, "blend": 0.5, "neighbour": 1.0}
_WAVELET_RULES = {"coarse": ("sure",), "normal": ("sure", "bayes"), "fine": ("sure", "bayes")}


def bm3d_available() -> bool:
    """True when ``restorekit.denoise.bm3d`` (our BM3D) can be imported."""
    try:
        from .bm3d import bm3d_denoise  # noqa: F401
    except ImportError:
        return False
    return True


def grid_phases(stride: int, masks: int) -> list[tuple[int, int]]:
    """``masks`` distinct phases ``(dy, dx)`` of a ``stride x stride`` grid, spread over rows and columns.

    Phase ``k`` is ``(k mod stride, (k * c + k // stride) mod stride)`` for a step ``c`` coprime
    with ``stride`` (a Latin-square walk), so the first ``stride`` masks hit every row and column once.
    """
    step = next(c for c in range(stride // 2 + 1, 0, -1) if math.gcd(c, stride) == 1)
    out = []
    for k in range(masks):
        out.append((k % stride, (k * step + k // stride) % stride))
    return out


def _neighbours(y: torch.Tensor) -> list[torch.Tensor]:
    """The 8 neighbours of every pixel as shifted copies (mirror borders; edge replicate below 2 px)."""
    h, w = y.shape[-2:]
    mode = "reflect" if min(h, w) >= 2 else "replicate"
    p = F.pad(y, (1, 1, 1, 1), mode=mode)
    return [p[..., 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]


def _donut_mean(y: torch.Tensor) -> torch.Tensor:
    """Mean of the 8 neighbours of every pixel (the pixel itself never enters, not even by rounding)."""
    return torch.stack(_neighbours(y)).mean(dim=0)


def _random_neighbour(y: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Every pixel replaced by one of its 8 neighbours, picked at random (seeded; same pick for all images)."""
    h, w = y.shape[-2:]
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randint(0, 8, (1, 1, h, w), generator=gen).to(y.device)
    out = torch.zeros_like(y)
    for k, shifted in enumerate(_neighbours(y)):
        out = torch.where(pick == k, shifted, out)
    return out


def masked_copies(
    y: torch.Tensor, phases: list[tuple[int, int]], stride: int, fill: str = "mean"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The J-invariant inputs: for each image and phase, ``y`` with the phase's pixels replaced
    (``fill="neighbour"``: by a random one of their 8 neighbours, which keeps the noise statistics;
    ``"mean"``: by the mean of the 8 neighbours). Returns ``(copies [B*M, C, H, W], masks [M, 1, H, W]
    bool)``, image-major."""
    b, c, h, w = y.shape
    m = len(phases)
    rows = torch.arange(h, device=y.device).view(h, 1) % stride
    cols = torch.arange(w, device=y.device).view(1, w) % stride
    masks = torch.stack([(rows == dy) & (cols == dx) for dy, dx in phases]).unsqueeze(1)  # [M, 1, H, W]
    blend = _FILL_BLEND[fill]
    mean = _donut_mean(y)
    fill = mean if blend == 0 else mean + blend * (_random_neighbour(y) - mean)
    copies = torch.where(masks.unsqueeze(0), fill.unsqueeze(1), y.unsqueeze(1))  # [B, M, C, H, W]
    return copies.reshape(b * m, c, h, w), masks


def j_invariant_loss(
    denoiser: Callable[[torch.Tensor], torch.Tensor],
    y: torch.Tensor,
    *,
    stride: int = 4,
    masks: int = 4,
    fill: str = "mean",
) -> torch.Tensor:
    """Self-supervised loss of ``denoiser`` on the noisy batch ``y`` ``[B, C, H, W]``, per image ``[B]``.

    ``denoiser`` maps a ``[B*M, C, H, W]`` batch (``M = masks`` masked copies of each image, image-major)
    to its denoised version. The loss is the mean of ``(output - y)^2`` over the masked pixels and channels.
    """
    phases = grid_phases(stride, masks)
    copies, mask = masked_copies(y, phases, stride, fill)
    out = denoiser(copies).float()
    b, c, h, w = y.shape
    out = out.view(b, len(phases), c, h, w)
    err = (out - y.float().unsqueeze(1)) ** 2
    weight = mask.unsqueeze(0).to(err.dtype)  # [1, M, 1, H, W]
    return (err * weight).sum(dim=(1, 2, 3, 4)) / (weight.sum() * c).clamp_min(1)


def mc_sure(
    denoiser: Callable[[torch.Tensor], torch.Tensor],
    y: torch.Tensor,
    noise_sigma: torch.Tensor,
    *,
    eps: float = 1e-3,
    seed: int = 0,
) -> torch.Tensor:
    """Monte-Carlo SURE estimate of the per-pixel MSE of ``denoiser`` on ``y`` ``[B, C, H, W]``, per image ``[B]``.

    For white Gaussian noise of std ``noise_sigma`` (``[B]``, [0, 1] units), Stein's unbiased risk
    estimate is ``|y - f(y)|^2 / N - sigma^2 + 2 sigma^2 div f(y) / N``; the divergence is estimated with
    one random probe ``b`` (Ramani, Blu & Unser, IEEE TIP 2008): ``div ~ b . (f(y + eps b) - f(y)) / eps``.
    ``denoiser`` receives ``[2B, C, H, W]`` (the images, then the probed images) in one call.
    """
    gen = torch.Generator().manual_seed(seed)
    probe = torch.randn(y.shape[1:], generator=gen).to(device=y.device, dtype=torch.float32).expand_as(y)
    out = denoiser(torch.cat([y, y + eps * probe])).double()
    b = y.shape[0]
    f, f2 = out[:b], out[b:]
    n = y[0].numel()
    yd = y.double()
    s2 = noise_sigma.to(device=y.device, dtype=torch.float64) ** 2
    fit = ((yd - f) ** 2).flatten(1).sum(1) / n
    div = (probe.double() * (f2 - f)).flatten(1).sum(1) / (eps * n)
    return (fit - s2 + 2 * s2 * div).float()


@dataclass
class AutotuneResult:
    """What :func:`autotune_denoiser` chose.

    ``image``: the batch denoised with each image's chosen parameters. ``params``: per image, the
    chosen parameters (``sigma`` in [0, 1] units is the estimated noise sigma they apply to).
    ``table``: per image, every evaluated candidate as ``(parameters, loss)``, in evaluation order
    (``criterion="noise2self"``: mean squared difference to the noisy image on masked pixels;
    ``"sure"``: the SURE estimate of the MSE against the clean image; both in [0, 1]^2 units).
    ``sigma``: the estimated (or given) noise sigma per image, [0, 1] units.
    """

    image: torch.Tensor
    method: str
    params: list[dict]
    table: list[list[tuple[dict, float]]] = field(default_factory=list)
    sigma: list[float] = field(default_factory=list)
    criterion: str = "noise2self"

    def best_loss(self, i: int) -> float:
        return min(loss for _, loss in self.table[i])

    def parameters_text(self) -> str:
        """The chosen parameters, one line per image (or one line when all agree)."""
        lines = [_fmt_params(p) for p in self.params]
        if len(set(lines)) == 1:
            return lines[0]
        return "\n".join(f"image {i + 1}: {t}" for i, t in enumerate(lines))

    def report(self) -> str:
        """A readable account: method, chosen parameters and the loss table per image."""
        name = {"wavelet": "Wavelet Denoise", "nlm": "Non-Local Means", "bm3d": "BM3D"}[self.method]
        key = STRENGTH[self.method]
        if self.criterion == "sure":
            out = [
                f"Auto-tune ({name}) by Stein's unbiased risk estimate (Monte-Carlo SURE; the noise was analysed as "
                "white Gaussian): no clean image used. Loss = estimated mean squared error against the clean image "
                "(x 255^2 below), so it also gives an estimated PSNR."
            ]
        else:
            out = [
                f"Auto-tune ({name}) by the Noise2Self J-invariant loss: no clean image used. Loss = mean squared "
                "difference to the noisy image on masked pixels that the denoiser could not see (x 255^2 below); "
                "lower is better (it ranks settings like the unknown error against the clean image)."
            ]
        for i, params in enumerate(self.params):
            chosen = {k: v for k, v in params.items() if k != "sigma"}
            out.append("")
            line = f"image {i + 1}: noise sigma {self.sigma[i] * 255:.2f} (0-255); chosen {_fmt_params(params)}"
            mse = self.best_loss(i)
            if self.criterion == "sure" and mse > 0:
                line += f"; estimated PSNR {10 * math.log10(1.0 / mse):.2f} dB"
            out.append(line)
            rows = sorted(self.table[i], key=lambda row: (row[0].get("method", ""), row[0][key]))
            for p, loss in rows:
                is_default = p[key] == 1.0 and p.get("method", "sure") == "sure"
                mark = " <- chosen" if p == chosen else (" (default)" if is_default else "")
                out.append(f"  {_fmt_params(p, with_sigma=False):32s} loss {loss * 255**2:9.3f}{mark}")
        return "\n".join(out)


def _fmt_params(p: dict, with_sigma: bool = True) -> str:
    parts = []
    for k, v in p.items():
        if k == "sigma":
            if with_sigma:
                parts.append(f"sigma {v * 255:.2f}")
        elif isinstance(v, float):
            parts.append(f"{k} {v:.3g}")
        else:
            parts.append(f"{k} {v}")
    return ", ".join(parts)


def _apply(method: str, x: torch.Tensor, sigmas: list[float], params: list[dict],
           progress: ProgressCallback | None = None) -> torch.Tensor:
    """Denoise each image ``x[i]`` with ``params[i]`` (image sigma ``sigmas[i]``, [0, 1] units); ``progress`` is
    handed to the denoiser."""
    if method == "wavelet":
        from .wavelet import wavelet_denoise

        out = torch.empty_like(x)
        for i in range(x.shape[0]):
            s = sigmas[i] * params[i]["sigma_scale"]
            if s <= 0:
                out[i : i + 1] = x[i : i + 1]
                continue
            out[i : i + 1] = wavelet_denoise(x[i : i + 1], sigma=min(s, 1.0), method=params[i]["method"],
                                             progress=progress)
        return out
    if method == "nlm":
        from .nlm import auto_settings, nlm_denoise

        mode = "joint" if x.shape[1] == 3 else "gray"
        hs = [max(auto_settings(s * 255.0, mode=mode)[2] * p["strength"] * s, 1e-6) for s, p in zip(sigmas, params, strict=True)]
        return nlm_denoise(x, sigma=list(sigmas), h=hs, progress=progress)
    from .bm3d import bm3d_denoise

    sig = torch.tensor([max(s * p["sigma_scale"], 1e-6) for s, p in zip(sigmas, params, strict=True)], device=x.device)
    return bm3d_denoise(x, sigma=sig, progress=progress)


def _check(method: str, density: str, stride: int, masks: int, sigma, fill: str) -> None:
    if fill not in _FILL_BLEND:
        raise InvalidParameterError("fill", f"{fill!r} is not a fill rule.", f"choose one of {', '.join(_FILL_BLEND)}.")
    if method not in METHODS:
        raise InvalidParameterError("method", f"{method!r} is not a tunable denoiser.", f"choose one of {', '.join(METHODS)}.")
    if method == "bm3d" and not bm3d_available():
        raise MissingDependencyError(
            "method", "BM3D (restorekit.denoise.bm3d) is not available in this installation.", "choose 'wavelet' or 'nlm'."
        )
    if density not in DENSITIES:
        raise InvalidParameterError("density", f"{density!r} is not a grid density.", f"choose one of {', '.join(DENSITIES)}.")
    if isinstance(stride, bool) or not isinstance(stride, int) or not 2 <= stride <= 8:
        raise InvalidParameterError("stride", f"expected a whole number from 2 to 8, got {stride!r}.", "use 4.")
    if isinstance(masks, bool) or not isinstance(masks, int) or not 1 <= masks <= stride * stride:
        raise InvalidParameterError(
            "masks", f"expected a whole number from 1 to stride^2 = {stride * stride}, got {masks!r}.", "use 4."
        )
    if sigma is not None and (
        isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not math.isfinite(sigma) or not 0 < sigma <= 1
    ):
        raise InvalidParameterError(
            "sigma", f"expected a noise std in (0, 1] (image units) or None, got {sigma!r}.", "divide 0-255 values by 255."
        )


def autotune_denoiser(
    x: torch.Tensor,
    *,
    method: str = "wavelet",
    density: str = "normal",
    sigma: float | None = None,
    stride: int = 4,
    masks: int = 4,
    fill: str = "mean",
    criterion: str = "auto",
    return_info: bool = False,
    progress: ProgressCallback | None = None,
) -> torch.Tensor | tuple[torch.Tensor, AutotuneResult]:
    """Denoise ``x`` ``[B, C, H, W]`` (float in [0, 1], C = 1 or 3) with parameters chosen per image by
    minimising the Noise2Self J-invariant loss (see the module docstring).

    Args:
        method: ``"wavelet"``, ``"nlm"`` or ``"bm3d"`` (BM3D only where ``restorekit.denoise.bm3d`` exists).
        density: ``"coarse"`` (5 strengths, no refinement), ``"normal"`` (5 + 2 refined; wavelet also
            tries BayesShrink) or ``"fine"`` (7 + 4 refined).
        sigma: noise std in [0, 1] units; None estimates it per image (wavelet MAD). The tuned
            ``sigma_scale`` / ``strength`` multiplies what the denoiser derives from it.
        stride: period of the mask grid (pixels); masked pixels are ``stride`` apart.
        masks: how many of the ``stride**2`` grid phases are used (each costs one denoiser pass per candidate).
        fill: how masked pixels are filled (``"mean"``, ``"blend"``, ``"neighbour"``; Noise2Self only).
        criterion: ``"noise2self"`` (J-invariant loss; valid for any pixel-independent noise),
            ``"sure"`` (Monte-Carlo SURE, unbiased for the full denoiser under white Gaussian noise; it
            uses the estimated noise sigma even when ``sigma`` is given) or ``"auto"``: SURE when every
            image's noise analyses as white Gaussian (or clean), else Noise2Self.
        return_info: also return the :class:`AutotuneResult` (see Returns).
        progress: called with ``(done, total)`` after each candidate evaluation and the final pass.

    Returns:
        The denoised batch (same shape/dtype/device). With ``return_info=True``, ``(image, result)``:
        ``result`` is the :class:`AutotuneResult` with that same denoised batch (``result.image``), the
        chosen parameters per image and the loss table (``parameters_text()``, ``report()``).
    """
    check_image(x, "image")
    _check(method, density, stride, masks, sigma, fill)
    if criterion not in CRITERIA:
        raise InvalidParameterError(
            "criterion", f"{criterion!r} is not a criterion.", f"choose one of {', '.join(CRITERIA)}."
        )
    b = x.shape[0]
    y = x.detach().float()
    estimated = estimate_sigma(y).mean(dim=1)  # [B], the noise actually present
    sigmas = [float(v) for v in estimated.cpu()] if sigma is None else [float(sigma)] * b
    if criterion == "auto":
        from ..quality.noise_analysis import analyse_noise

        white = all(a.kind in ("gaussian", "clean") for a in analyse_noise(y))
        criterion = "sure" if white else "noise2self"
    coarse, refine = _GRIDS[density]
    key = STRENGTH[method]
    rules = _WAVELET_RULES[density] if method == "wavelet" else (None,)
    lo, hi = STRENGTH_RANGE

    def candidate(rule, value: float) -> dict:
        p = {"method": rule} if rule is not None else {}
        p[key] = float(value)
        return p

    # Every image runs the same number of evaluations: the coarse grid, then 2 per refinement step.
    total = len(rules) * len(coarse) + 2 * len(refine) + 1
    done = 0
    m = min(masks, stride * stride)
    tables: list[list[tuple[dict, float]]] = [[] for _ in range(b)]

    def hold(_done: int, _total: int) -> None:
        # Inside one evaluation the denoiser's own steps repeat the bar's value (they restart per call):
        # the callback, ComfyUI's interruption check, still runs between them.
        report(progress, done, total)

    inner = hold if progress is not None else None

    def evaluate(cands: list[dict]) -> None:
        """Loss of candidate ``cands[i]`` for image ``i`` (all images in one batched pass)."""
        nonlocal done
        if criterion == "sure":
            loss = mc_sure(lambda batch: _apply(method, batch, sigmas * 2, cands * 2, inner), y, estimated)
        else:
            sig_rep = [s for s in sigmas for _ in range(m)]
            par_rep = [p for p in cands for _ in range(m)]
            loss = j_invariant_loss(
                lambda batch: _apply(method, batch, sig_rep, par_rep, inner), y, stride=stride, masks=m, fill=fill
            )
        for i, value in enumerate(loss.cpu().tolist()):
            tables[i].append((cands[i], float(value)))
        done += 1
        report(progress, done, total)

    for rule in rules:
        for e in coarse:
            evaluate([candidate(rule, 2.0**e)] * b)

    def best(i: int) -> dict:
        return min(tables[i], key=lambda row: row[1])[0]

    for step in refine:
        below, above = [], []
        for i in range(b):
            p = best(i)
            v = p[key]
            below.append(candidate(p.get("method"), min(max(v * 2.0**-step, lo), hi)))
            above.append(candidate(p.get("method"), min(max(v * 2.0**step, lo), hi)))
        evaluate(below)
        evaluate(above)

    chosen = [best(i) for i in range(b)]
    out = _apply(method, y, sigmas, chosen, inner)
    done += 1
    report(progress, done, total)
    params = [{**p, "sigma": sigmas[i]} for i, p in enumerate(chosen)]
    result = AutotuneResult(
        image=out.clamp(0, 1).to(x.dtype),
        method=method,
        params=params,
        table=tables,
        sigma=sigmas,
        criterion=criterion,
    )
    return (result.image, result) if return_info else result.image
