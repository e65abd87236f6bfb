"""Auto-Denoise: measure the noise, pick a denoiser and its settings, and say why.

Each image of the batch is analysed with :func:`restorekit.quality.noise_analysis.analyse_noise`
and gets a method by the rule below; images that chose the same method and settings are
denoised together. Methods are used only when importable: wavelet
(:mod:`restorekit.denoise.wavelet`) and NLM (:mod:`restorekit.denoise.nlm`) always, BM3D
(``restorekit.denoise.bm3d``), the built-in denoiser (when its weights are installed), Noise2Void (``restorekit.learned.n2v``) and Deep Image Prior
(``restorekit.learned.dip``) where present.

Decision rule (``method="auto"``), by the analysis' main finding:

- **clean** (white-noise estimate below 3/255): nothing worth removing; a gentle pass is applied
  anyway, wavelet SureShrink at the estimated sigma (it adapts its thresholds and leaves clean
  detail almost untouched), and the report says so.
- **jpeg** (8x8 blocking with little fine noise left): a deblocking-strength smoother: BM3D
  (``quality``/``balanced``, when present) or NLM with ``sigma = 2 x`` the measured excess
  block-boundary step (never less than the noise estimate). On Set12 JPEG quality 20 and 50 crops
  NLM at that sigma gained 0.1-1.2 dB over the decoded JPEG.
- **correlated** (grain, low-pass noise): N2V's blind spot assumes pixel-independent noise, so it is
  not used. BM3D with the noise power spectrum estimated from flat areas
  (:func:`restorekit.quality.noise_analysis.estimate_noise_psd`, scaled to ``1.3 x`` the flat-area
  total std, which reads ~0.8x the true std) for ``quality``, and for ``balanced`` when the image is on
  a GPU (on the CPU it is ~25x slower than NLM); otherwise NLM with ``sigma = 1.3 x`` that std (the
  fine-scale estimate reads far too low for correlated noise). On Set12 crops with Gaussian-filtered
  noise (filter sigma 1 px, std 20): NLM +2.7 to +3.8 dB, BM3D with the estimated PSD +3.2 to +4.6 dB
  (0.3-0.8 dB over NLM, as good as with the true PSD), wavelet shrinkage +0.6 to +1.7 dB and
  white-noise BM3D +0.8 to +1.7 dB.
- **poisson_gaussian** (signal-dependent): the generalized Anscombe transform with the fitted
  ``variance = a * intensity + b`` makes the noise unit-variance Gaussian, the Gaussian denoiser runs
  in that domain (BM3D / NLM; wavelet for ``fast``) and the closed-form approximation of the exact
  unbiased inverse (Makitalo & Foi 2013) maps back. With ``prefer="quality"`` and Noise2Void present,
  N2V is used instead (it needs no noise model, only pixel independence).
- **gaussian**: the built-in denoiser (:mod:`restorekit.models.builtin`) at the estimated sigma when its
  weights are installed (for ``fast`` only on a GPU); otherwise BM3D when present, else NLM
  (``quality``/``balanced``); wavelet SureShrink for ``fast``.

The built-in denoiser also replaces BM3D/NLM as the Gaussian denoiser in the Anscombe domain of the
**poisson_gaussian** branch when its weights are installed. It is not used for correlated noise or JPEG
blocking, which it was not trained on.

``method`` other than ``"auto"`` forces that denoiser for every image (with the analysis' sigma;
the total std for correlated noise); the report still states the analysis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ..errors import InvalidParameterError, MissingDependencyError
from ..image import check_image
from ..progress import ProgressCallback, report, scaled
from ..quality.noise_analysis import NoiseAnalysis, analyse_noise, estimate_noise_psd

METHODS = ("auto", "wavelet", "nlm", "bm3d", "n2v", "dip", "builtin")
PREFER = ("quality", "balanced", "fast")
#: sigma for JPEG artefacts = this x the excess block-boundary step (measured on Set12 q20/q50 crops).
JPEG_SIGMA_PER_STEP = 2.0
#: sigma for correlated noise = this x the flat-area total std (which reads ~0.8x the true std).
CORRELATED_SIGMA_GAIN = 1.3
_NAMES = {
    "wavelet": "wavelet shrinkage (SureShrink)",
    "nlm": "non-local means",
    "bm3d": "BM3D",
    "n2v": "Noise2Void (self-supervised training)",
    "dip": "Deep Image Prior",
    "builtin": "the built-in denoiser (restorekit's noise-conditional network)",
}


def available_methods() -> dict[str, bool]:
    """Which denoisers can be imported in this installation."""
    from ..models.builtin import builtin_weights_available

    found = {"wavelet": True, "nlm": True, "builtin": builtin_weights_available()}
    for name, module, attr in (
        ("bm3d", "restorekit.denoise.bm3d", "bm3d_denoise"),
        ("n2v", "restorekit.learned.n2v", "noise2void"),
        ("dip", "restorekit.learned.dip", "deep_image_prior"),
    ):
        try:
            mod = __import__(module, fromlist=[attr])
            found[name] = hasattr(mod, attr)
        except ImportError:
            found[name] = False
    return found


@dataclass
class AutoChoice:
    """The decision for one image: ``method``, the ``sigma`` handed to it ([0, 1] units, in the domain
    it runs in; None for the learned methods), whether the Anscombe transform ``vst`` was applied,
    whether BM3D gets an estimated noise power spectrum (``psd``, scaled to ``sigma``), and ``reason``
    (one sentence)."""

    method: str
    reason: str
    sigma: float | None
    analysis: NoiseAnalysis
    vst: bool = False
    psd: bool = False
    extra: dict = field(default_factory=dict)


def choose(
    analysis: NoiseAnalysis,
    *,
    prefer: str = "balanced",
    available: dict[str, bool] | None = None,
    on_gpu: bool = False,
) -> AutoChoice:
    """Apply the decision rule of the module docstring to one image's analysis (``on_gpu``: the image is
    on a CUDA device, where BM3D with a noise PSD is affordable for ``balanced``)."""
    avail = available if available is not None else available_methods()
    a = analysis
    strong = "bm3d" if avail.get("bm3d") else "nlm"
    strong_why = "BM3D is the strongest classical denoiser available" if strong == "bm3d" else (
        "non-local means is the strongest classical denoiser available (BM3D is not installed)"
    )
    if a.kind == "clean":
        return AutoChoice(
            "wavelet",
            f"the noise is below the threshold (sigma {a.sigma255:.2f} < {3.0:g} grey levels): the image is practically "
            "clean, so only a gentle wavelet SureShrink pass at the estimated sigma is applied",
            max(a.sigma, 1e-4),
            a,
        )
    if a.kind == "jpeg":
        sigma = max(JPEG_SIGMA_PER_STEP * a.block_step, a.sigma)
        method = strong if prefer != "fast" else "nlm"
        return AutoChoice(
            method,
            f"8x8 JPEG blocking (boundary/interior step ratio {a.blockiness:.2f}) with little fine noise left: "
            f"{_NAMES[method]} at a deblocking strength sigma {sigma * 255:.2f} (2 x the {a.block_step * 255:.2f} "
            "grey-level excess step at block boundaries)",
            sigma,
            a,
        )
    if a.kind == "correlated":
        sigma = min(max(CORRELATED_SIGMA_GAIN * a.sigma_total, a.sigma), 1.0)
        if avail.get("bm3d") and (prefer == "quality" or (prefer == "balanced" and on_gpu)):
            return AutoChoice(
                "bm3d",
                f"spatially correlated noise / grain (lag-1 correlation excess {a.correlation:+.2f}): BM3D with the "
                f"noise power spectrum estimated from flat areas, scaled to std {sigma * 255:.2f} (Noise2Void is not "
                "used: its blind spot needs pixel-independent noise)",
                sigma,
                a,
                psd=True,
            )
        return AutoChoice(
            "nlm",
            f"spatially correlated noise / grain (lag-1 correlation excess {a.correlation:+.2f}): non-local means at "
            f"sigma {sigma * 255:.2f} from the flat-area noise std (its patch averaging copes with correlated noise "
            "better than wavelet shrinkage or white-noise BM3D did in our measurements; Noise2Void is not used: its "
            "blind spot needs pixel-independent noise)",
            sigma,
            a,
        )
    if a.kind == "poisson_gaussian":
        if prefer == "quality" and avail.get("n2v"):
            return AutoChoice(
                "n2v",
                f"signal-dependent (Poisson-Gaussian) noise, {a.signal_dependence:.0%} of the variance from the signal; "
                "quality preferred: Noise2Void learns the denoiser from the image and needs no noise model",
                None,
                a,
            )
        method = "wavelet" if prefer == "fast" else ("builtin" if avail.get("builtin") else strong)
        return AutoChoice(
            method,
            f"signal-dependent (Poisson-Gaussian) noise, {a.signal_dependence:.0%} of the variance from the signal: "
            "the generalized Anscombe transform makes it Gaussian, then "
            f"{_NAMES[method]} denoises it and the exact unbiased inverse maps back",
            1.0,
            a,
            vst=True,
        )
    if avail.get("builtin") and (prefer != "fast" or on_gpu):
        return AutoChoice(
            "builtin",
            f"white Gaussian-like noise (sigma {a.sigma255:.2f}): the built-in network, conditioned on that sigma, "
            "is the strongest white-noise denoiser shipped with restorekit",
            a.sigma,
            a,
        )
    if prefer == "fast":
        return AutoChoice(
            "wavelet",
            f"white Gaussian-like noise (sigma {a.sigma255:.2f}); speed preferred: wavelet SureShrink",
            a.sigma,
            a,
        )
    return AutoChoice(
        strong,
        f"white Gaussian-like noise (sigma {a.sigma255:.2f}): {strong_why}",
        a.sigma,
        a,
    )


# ---- generalized Anscombe transform (Poisson-Gaussian, variance = a * intensity + b) ----------


def _gat_limits(gain: float, floor: float) -> tuple[float, float, float]:
    s2 = floor / (gain * gain)
    tmin = 2.0 * math.sqrt(3.0 / 8.0 + s2)
    tmax = 2.0 * math.sqrt(1.0 / gain + 3.0 / 8.0 + s2)
    return s2, tmin, tmax


def gat_forward(x: torch.Tensor, gain: float, floor: float) -> tuple[torch.Tensor, float]:
    """Generalized Anscombe transform of ``x`` (noise variance ``gain * x + floor``), rescaled to [0, 1].

    Returns the transformed image and its (approximately constant) noise std in the [0, 1] range.
    """
    s2, tmin, tmax = _gat_limits(gain, floor)
    t = 2.0 * torch.sqrt((x / gain + 3.0 / 8.0 + s2).clamp_min(0))
    return ((t - tmin) / (tmax - tmin)).clamp(0, 1), 1.0 / (tmax - tmin)


def gat_inverse(u: torch.Tensor, gain: float, floor: float) -> torch.Tensor:
    """Inverse of :func:`gat_forward` for a denoised ``u``: the closed-form approximation of the exact
    unbiased inverse (Makitalo & Foi, IEEE TIP 2013), clamped to [0, 1]."""
    s2, tmin, tmax = _gat_limits(gain, floor)
    d = u * (tmax - tmin) + tmin
    dc = d.clamp_min(1.0)
    r = math.sqrt(1.5)
    inv = 0.25 * d * d + 0.25 * r / dc - 11.0 / 8.0 / dc**2 + 0.625 * r / dc**3 - 0.125 - s2
    return (gain * inv).clamp(0, 1)


# ---- running the methods ------------------------------------------------------------------------


def _run(method: str, x: torch.Tensor, sigmas: list, seed: int, progress: ProgressCallback | None):
    """Denoise the group ``x`` with ``method`` (``sigmas``: one per image, [0, 1]); returns (image, note)."""
    if method == "wavelet":
        from .wavelet import wavelet_denoise

        out = torch.empty_like(x)
        for i, s in enumerate(sigmas):
            out[i : i + 1] = wavelet_denoise(
                x[i : i + 1], sigma=min(max(s, 1e-4), 1.0), progress=scaled(progress, i, 1, len(sigmas))
            )
        return out, ""
    if method == "nlm":
        from .nlm import nlm_denoise

        return nlm_denoise(x, sigma=[float(s) for s in sigmas], progress=progress), ""
    if method == "bm3d":
        from .bm3d import bm3d_denoise

        sig = torch.tensor([max(float(s), 1e-4) for s in sigmas], device=x.device, dtype=torch.float32)
        return bm3d_denoise(x, sigma=sig, progress=progress), ""
    if method == "builtin":
        from ..models.builtin import builtin_denoise

        sig = torch.tensor([max(float(s), 0.0) for s in sigmas], device=x.device, dtype=torch.float32).clamp(max=1.0)
        return builtin_denoise(x, sigma=sig, progress=progress), ""
    if method == "n2v":
        from ..learned.n2v import noise2void

        out, info = noise2void(x, seed=seed, return_info=True, progress=progress)
        return out, _training_note(info)
    from ..learned.dip import deep_image_prior

    out, info = deep_image_prior(x, seed=seed, return_info=True, progress=progress)
    return out, _training_note(info)


#: Analyse (and estimate noise spectra of) at most this many pixels per call, reporting progress in between.
_CHUNK_PIXELS = 2**20


def _one_bar(progress: ProgressCallback | None, total: int) -> ProgressCallback | None:
    """Forward ``(done, total)`` calls to ``progress`` without ever moving back or past ``total`` (a sub-step
    that restarts its own count, e.g. after an out-of-memory retry, keeps the bar where it was)."""
    if progress is None:
        return None
    high = [0]

    def bar(done: int, _total: int) -> None:
        high[0] = max(high[0], min(int(done), total))
        progress(high[0], total)

    return bar


def _chunked(fn, x: torch.Tensor, progress: ProgressCallback | None) -> torch.Tensor:
    """``fn(part, slice)`` on consecutive images of ``x`` of at most :data:`_CHUNK_PIXELS` pixels per call
    (at least one image), concatenated; progress after each call."""
    b, _, h, w = x.shape
    step = max(1, _CHUNK_PIXELS // max(1, h * w))
    parts = []
    for i in range(0, b, step):
        parts.append(fn(x[i : i + step], slice(i, i + step)))
        report(progress, min(b, i + step), b)
    return torch.cat(parts)


def _analyse(x: torch.Tensor, progress: ProgressCallback | None) -> list[NoiseAnalysis]:
    """:func:`analyse_noise` in chunks of images (per-image results; progress in between)."""
    b, _, h, w = x.shape
    step = max(1, _CHUNK_PIXELS // max(1, h * w))
    analyses: list[NoiseAnalysis] = []
    for i in range(0, b, step):
        analyses += analyse_noise(x[i : i + step])
        report(progress, min(b, i + step), b)
    return analyses


def _training_note(info: dict) -> str:
    if not isinstance(info, dict):
        return ""
    keys = [k for k in ("steps", "iterations", "final_loss", "seconds", "device", "precision") if k in info]
    return ", ".join(f"{k} {info[k]:.4g}" if isinstance(info[k], float) else f"{k} {info[k]}" for k in keys)


def auto_denoise(
    x: torch.Tensor,
    *,
    method: str = "auto",
    prefer: str = "balanced",
    seed: int = 0,
    return_info: bool = False,
    progress: ProgressCallback | None = None,
) -> torch.Tensor | tuple[torch.Tensor, list[AutoChoice]]:
    """Analyse the noise of every image of ``x`` ``[B, C, H, W]`` (float in [0, 1], C = 1 or 3), choose a
    denoiser per image (module docstring) and apply it.

    Args:
        method: ``"auto"`` or a forced denoiser (``"wavelet"``, ``"nlm"``, ``"bm3d"``, ``"n2v"``, ``"dip"``);
            forcing one that is not installed raises :class:`MissingDependencyError`.
        prefer: ``"quality"``, ``"balanced"`` or ``"fast"`` (see the decision rule).
        seed: seed for the learned methods (N2V, DIP).
        return_info: also return the choice made for each image (see Returns).
        progress: called with ``(done, total)`` on one bar that never moves back: ``total = 100 x (B + 1)``,
            the noise analysis counts 100 steps and each image 100 more (the run of its group).

    Returns:
        The denoised batch; with ``return_info=True``, ``(denoised batch, one AutoChoice per image)``.
        Never the input unchanged: even a clean image gets the gentle pass, and its choice says why.
        :func:`format_report` makes the report text from the choices.
    """
    check_image(x, "image")
    if method not in METHODS:
        raise InvalidParameterError("method", f"{method!r} is not one of the options.", f"choose one of {', '.join(METHODS)}.")
    if prefer not in PREFER:
        raise InvalidParameterError("prefer", f"{prefer!r} is not one of the options.", f"choose one of {', '.join(PREFER)}.")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidParameterError("seed", f"expected a whole number >= 0, got {seed!r}.", "use e.g. 0.")
    avail = available_methods()
    if method != "auto" and not avail.get(method):
        raise MissingDependencyError(
            "method",
            f"{_NAMES[method]} is not available in this installation.",
            "choose 'auto', 'wavelet' or 'nlm', or install the module that provides it.",
        )
    b, _, h, w = x.shape
    # One bar 0 -> 100 x (B + 1): the analysis takes the first 100 steps, each image group 100 per image.
    total = 100 * (b + 1)
    bar = _one_bar(progress, total)
    xf = x.detach().float()
    analyses = _analyse(xf, scaled(bar, 0, 100, total))
    if method == "auto":
        choices = [choose(a, prefer=prefer, available=avail, on_gpu=x.device.type == "cuda") for a in analyses]
    else:
        choices = []
        for a in analyses:
            if method in ("n2v", "dip"):
                sigma = None
            else:
                sigma = max(a.sigma, CORRELATED_SIGMA_GAIN * a.sigma_total if a.correlated else 0.0, 1e-4)
            choices.append(AutoChoice(method, f"{_NAMES[method]} was chosen by the user (method override)", sigma, a))

    groups: dict[tuple, list[int]] = {}
    for i, ch in enumerate(choices):
        groups.setdefault((ch.method, "vst", i) if ch.vst else (ch.method, ch.psd), []).append(i)
    out = torch.empty_like(xf)
    start = 100
    for idx in groups.values():
        ch = choices[idx[0]]
        sub = xf[idx]
        span = 100 * len(idx)
        sub_progress = scaled(bar, start, span, total)
        if ch.vst:
            a = ch.analysis
            u, sigma_u = gat_forward(sub, a.noise_gain, a.noise_floor)
            res, note = _run(ch.method, u, [min(sigma_u, 1.0)], seed, sub_progress)
            res = gat_inverse(res.float(), a.noise_gain, a.noise_floor)
            ch.extra["vst_sigma"] = sigma_u
        elif ch.psd:
            from .bm3d import bm3d_denoise

            # named apart from ``total`` (the progress total), which this used to overwrite
            total_sigma = torch.tensor([choices[i].sigma for i in idx], device=sub.device)
            # the spectrum estimate counts for the first 10 % of the group's range, the BM3D run for the rest
            psd = _chunked(lambda part, sl, ts=total_sigma: estimate_noise_psd(part, total_sigma=ts[sl]), sub,
                           scaled(sub_progress, 0, 10, 100))
            res, note = bm3d_denoise(sub, noise_psd=psd, progress=scaled(sub_progress, 10, 90, 100)), ""
        else:
            res, note = _run(ch.method, sub, [choices[i].sigma for i in idx], seed, sub_progress)
        if note:
            for i in idx:
                choices[i].extra["training"] = note
        out[idx] = res.float()
        start += span
        report(bar, start, total)
    out = out.clamp_(0, 1).to(x.dtype)
    return (out, choices) if return_info else out


def format_report(choices: list[AutoChoice]) -> str:
    """The Auto-Denoise report: per image, the noise found, the method chosen and why (0-255 units)."""
    lines = ["Auto-Denoise: noise analysed per image, then a method chosen by a fixed rule (see the docs)."]
    for i, ch in enumerate(choices):
        a = ch.analysis
        found = ", ".join(a.flags) or "white noise"
        lines.append("")
        lines.append(f"image {i + 1}: noise sigma {a.sigma255:.2f} (0-255), found: {found}.")
        settings = ""
        if ch.vst:
            settings = f" (Anscombe domain, sigma {ch.extra.get('vst_sigma', 0.0) * 255:.2f} there)"
        elif ch.psd:
            settings = f" (estimated noise power spectrum, total std {ch.sigma * 255:.2f})"
        elif ch.sigma is not None:
            settings = f" (sigma {ch.sigma * 255:.2f})"
        lines.append(f"  method: {_NAMES[ch.method]}{settings}.")
        lines.append(f"  why: {ch.reason}.")
        if "training" in ch.extra:
            lines.append(f"  training: {ch.extra['training']}.")
    return "\n".join(lines)
