"""Smart Restore: measure each image, build its pipeline from the measures, and say why.

Per image, in this order (``strength`` 0-2 scales every amount; 0 = the input unchanged):

1. **Denoise** when :func:`restorekit.quality.noise_analysis.analyse_noise` finds white noise
   (gaussian, signal-dependent or JPEG) above :data:`NOISE_MIN` grey levels, or correlated noise
   above :data:`CORRELATED_MIN` (below that a "correlated" residual is mostly texture), at the
   measured sigma x strength. A connected model is used for it, else the built-in denoiser whose weights ship
   with restorekit (when installed); no other model is ever loaded or
   downloaded here. Film grain found by the blind grain analysis is kept when ``preserve_grain``.
2. **Deblur** (``allow_deblur``) when the blur PSF found on the input (:mod:`.blur`) is larger
   than :data:`DEBLUR_MIN_SIGMA` px with confidence at least :data:`DEBLUR_MIN_CONFIDENCE`: Wiener
   deconvolution with it (a motion fit needs :data:`MOTION_MIN_CONFIDENCE`; a weak one on an image whose
   edges measure blurred is refitted as a Gaussian); otherwise **sharpen** (step 5) when the edge blur exceeds :data:`SHARPEN_BLUR`.
3. **Contrast** when the luma 1st-99th percentile spread is under :data:`SPREAD_MIN`: a linear
   stretch about the mean to :data:`SPREAD_TARGET` (Multiscale Detail with one gain on every band).
4. **Colour** when both the gray-world and the white-patch illuminant are tinted by more than
   :data:`CAST_MIN` (ratio of the strongest to the weakest channel): white-patch white balance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report, scaled
from .blur import BlurFit, estimate_psfs
from .measures import measure
from .restore import DENOISE_METHODS, DENOISE_OPS, auto_denoise_method, stretch_values
from .stages import STAGES, StageRecord, image_summary, records_details, records_table, run_recorded

NOISE_MIN = 3.0
CORRELATED_MIN = 12.0
DEBLUR_MIN_SIGMA = 0.9
DEBLUR_MIN_CONFIDENCE = 0.3
MOTION_MIN_CONFIDENCE = 0.6
SHARPEN_BLUR = 1.2
SPREAD_MIN = 0.5
SPREAD_TARGET = 0.75
#: Cast ratio above which Smart Restore white-balances. Natural scenes have dominant colours: on the
#: 68 clean CBSD68 photographs the ratio is 1.44 median, 2.66 at the 95th percentile, 3.18 at most,
#: so only a cast stronger than any of them is corrected (a lighter one is reported, not acted on).
CAST_MIN = 3.3


@dataclass
class SmartPlan:
    """What Smart Restore found and did for one image."""

    findings: list[str] = field(default_factory=list)
    records: list[StageRecord] = field(default_factory=list)

    @property
    def degradations(self) -> list[str]:
        """The degradations acted on (``noise``, ``blur``, ``low contrast``, ``colour cast``)."""
        names = {"denoise": "noise", "deblur": "blur", "sharpen": "blur", "contrast": "low contrast",
                 "color": "colour cast"}
        out: list[str] = []
        for r in self.records:
            if not r.skipped and names[r.stage] not in out:
                out.append(names[r.stage])
        return out


@dataclass
class SmartResult:
    image: torch.Tensor
    report: str
    plans: list[SmartPlan]


def _grain_class(x: torch.Tensor) -> tuple[str, float]:
    from ..grain.analysis import analyze_grain

    if min(x.shape[-2:]) < 16:
        return "unknown", 0.0
    models, infos = analyze_grain(x, return_info=True)
    return str(models[0].classification), float(infos[0].confidence)


def _cast(x: torch.Tensor) -> float:
    from ..enhance.white_balance import estimate_illuminant

    ratios = []
    for method in ("gray_world", "white_patch"):
        ill = estimate_illuminant(x, method=method)[0].clamp(min=1e-4)
        ratios.append(float(ill.max() / ill.min()))
    return min(ratios)


def _restore_one(
    x: torch.Tensor, strength: float, allow_deblur: bool, preserve_grain: bool, method: str, model: Any,
    progress: ProgressCallback | None,
) -> tuple[torch.Tensor, SmartPlan]:
    from ..quality.noise_analysis import analyse_noise

    plan = SmartPlan()
    y = x
    now = measure(y)
    first = now[0]
    noise = analyse_noise(y)[0]
    grain, grain_conf = _grain_class(y)
    plan.findings.append(f"noise {noise.sigma255:.1f} grey levels, type {noise.kind}")
    plan.findings.append(f"grain class {grain} (confidence {grain_conf:.2f}, blind analysis)")

    def skip(stage: str, why: str) -> None:
        plan.records.append(StageRecord(stage, skipped=why))

    def do(stage: str, op: str, values: dict[str, Any], why: str, k: int) -> None:
        nonlocal y, now
        y, now, rec = run_recorded(stage, op, y, values, now, scaled(progress, k, 1, len(STAGES)), why)
        plan.records.append(rec)

    # 1. denoise
    white = noise.kind in ("gaussian", "poisson_gaussian", "jpeg")
    needs = (white and noise.sigma255 > NOISE_MIN) or (noise.kind == "correlated" and noise.sigma255 > CORRELATED_MIN)
    if strength == 0:
        skip("denoise", "strength 0")
    elif not needs:
        limit = NOISE_MIN if white or noise.kind == "clean" else CORRELATED_MIN
        skip("denoise", f"noise {noise.sigma255:.1f} ({noise.kind}) is under {limit:g} grey levels")
    elif preserve_grain and grain == "film_grain" and noise.kind != "gaussian":
        skip("denoise", f"film grain detected (confidence {grain_conf:.2f}) and preserve_grain is on")
    else:
        sigma = min(255.0, noise.sigma255 * strength)
        values: dict[str, Any] = {"model": model, "noise_level": sigma} if method == "model" else {"sigma": sigma}
        do("denoise", DENOISE_OPS[method], values, f"{noise.kind} noise {noise.sigma255:.1f} > {NOISE_MIN:g}", 0)
    # 2. deblur (or sharpen, step 5)
    deblurred = False
    if strength == 0:
        skip("deblur", "strength 0")
    elif not allow_deblur:
        skip("deblur", "allow_deblur is off")
    else:
        # The PSF is fitted on the input (denoising softens edges and biases the fit); Wiener gets the
        # input's noise level: its regularisation then also removes what the denoiser left.
        fit = estimate_psfs(x)[0]
        plan.findings.append(f"blur: {fit.text()}, measured before denoising; edge blur {first.blur:.2f} px")
        weak_motion = fit.kind == "motion" and fit.confidence < MOTION_MIN_CONFIDENCE
        if (weak_motion or fit.kind not in ("gaussian", "motion")) and first.blur > DEBLUR_MIN_SIGMA:
            # Periodic texture can pass for a weak motion fit; the edges say blurred, so fit a Gaussian.
            fit = estimate_psfs(x, model="gaussian")[0]
            plan.findings.append(f"blur refitted as Gaussian (edges blurred, no confident motion fit): {fit.text()}")
        elif weak_motion:
            fit = BlurFit(fit.psf, "none", 0.0, fit.confidence, fit.source + ", weak motion fit with sharp edges")
        if fit.kind in ("gaussian", "motion") and fit.size > DEBLUR_MIN_SIGMA and fit.confidence >= DEBLUR_MIN_CONFIDENCE:
            do("deblur", "wiener_deconvolution", {"psf": fit.psf, "sigma": min(255.0, noise.sigma255)},
               f"{fit.kind} blur {fit.size:.2f} px", 1)
            deblurred = True
        else:
            skip("deblur", f"blur {fit.size:.2f} px (confidence {fit.confidence:.2f}) under {DEBLUR_MIN_SIGMA:g} px "
                 f"or confidence under {DEBLUR_MIN_CONFIDENCE:g}")
    # 3. contrast
    spread = now[0].spread
    plan.findings.append(f"luma spread {spread:.2f} (1st-99th percentile)")
    if strength == 0:
        skip("contrast", "strength 0")
    elif spread >= SPREAD_MIN:
        skip("contrast", f"luma spread {spread:.2f} >= {SPREAD_MIN:g}")
    else:
        target = spread + (SPREAD_TARGET - spread) * min(strength, 1.0) * (1.0 + 0.2 * max(strength - 1.0, 0.0))
        do("contrast", "multiscale_detail", stretch_values(spread, target),
           f"luma spread {spread:.2f} < {SPREAD_MIN:g}, stretched to {target:.2f}", 2)
    # 4. colour
    if y.shape[1] != 3:
        skip("color", "gray image")
    elif strength == 0:
        skip("color", "strength 0")
    else:
        cast = _cast(y)
        plan.findings.append(f"colour cast ratio {cast:.2f} (strongest / weakest illuminant channel)")
        if cast > CAST_MIN:
            do("color", "color_enhance", {"white_balance": "white_patch", "vibrance": 0.0,
                                           "strength": min(1.0, strength)}, f"cast {cast:.2f} > {CAST_MIN:g}", 3)
        else:
            skip("color", f"cast ratio {cast:.2f} <= {CAST_MIN:g}")
    # 5. sharpen
    blur_px = now[0].blur
    if strength == 0:
        skip("sharpen", "strength 0")
    elif deblurred:
        skip("sharpen", "deblurred instead")
    elif blur_px <= SHARPEN_BLUR:
        skip("sharpen", f"edge blur {blur_px:.2f} px <= {SHARPEN_BLUR:g} px")
    else:
        amount = min(5.0, (0.5 + (blur_px - SHARPEN_BLUR)) * strength)
        do("sharpen", "smart_sharpen", {"amount": amount}, f"edge blur {blur_px:.2f} px > {SHARPEN_BLUR:g} px", 4)
    order = {s: i for i, s in enumerate(STAGES)}
    plan.records.sort(key=lambda r: order[r.stage])
    return y, plan


def smart_restore(
    x: torch.Tensor,
    *,
    strength: float = 1.0,
    allow_deblur: bool = True,
    preserve_grain: bool = True,
    denoise_method: str = "auto",
    model: object | None = None,
    progress: ProgressCallback | None = None,
) -> SmartResult:
    """Analyse each image of ``x`` ``[B, C, H, W]`` in [0, 1] and restore it (see the module docstring).

    Args:
        strength: 0-2, scales every stage (1 = as measured).
        allow_deblur: may deconvolve with the estimated PSF (off = sharpen at most).
        preserve_grain: keep film grain found by the grain analysis instead of denoising it.
        denoise_method: auto (connected model, else the built-in denoiser when installed, else BM3D on a GPU,
            wavelet on the CPU), wavelet, bm3d, nlm, tv, model or builtin.
        model: a loaded restoration model; never loaded here.
        progress: ``(done, total)`` in stages over the batch.

    Returns:
        A :class:`SmartResult`: the image (shape, dtype, device of ``x``), the report and one plan per image.
    """
    check_image(x, "image")
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0.0 <= strength <= 2.0:
        raise InvalidParameterError("strength", f"expected a number in [0, 2], got {strength!r}.", "give e.g. 1.0.")
    for name, v in (("allow_deblur", allow_deblur), ("preserve_grain", preserve_grain)):
        if not isinstance(v, bool):
            raise InvalidParameterError(name, f"expected True or False, got {v!r}.", "give True or False.")
    if denoise_method not in DENOISE_METHODS:
        raise InvalidParameterError("denoise_method", f"expected one of {', '.join(DENOISE_METHODS)}, got "
                                    f"{denoise_method!r}.", "give auto.")
    method = auto_denoise_method(x, model) if denoise_method == "auto" else denoise_method
    if method == "model" and model is None:
        raise InvalidParameterError("denoise_method", "model needs a connected restoration model (none is loaded "
                                    "or downloaded here).", "connect Load Restoration Model or pick another method.")
    b = x.shape[0]
    total = b * len(STAGES)
    report(progress, 0, total)
    outs, plans = [], []
    for i in range(b):
        y, plan = _restore_one(x[i : i + 1], float(strength), allow_deblur, preserve_grain, method, model,
                               scaled(progress, i * len(STAGES), len(STAGES), total))
        outs.append(y)
        plans.append(plan)
        report(progress, (i + 1) * len(STAGES), total)
    out = torch.cat(outs, dim=0).clamp(0.0, 1.0).to(x.dtype)
    model_text = {"model": "a connected model", "builtin": "the built-in denoiser (shipped weights; no model connected)"}.get(
        method, f"{method} (no model connected; none is loaded)")
    lines = [f"Smart Restore, strength {strength:g}: {image_summary(x)}; analysed and planned per image. Denoiser: "
             f"{model_text}. Noise in 0-255 grey levels, sharpness = Laplacian variance, contrast = RMS luma."]
    for i, plan in enumerate(plans):
        found = ", ".join(plan.degradations) or "nothing to restore"
        lines.append(f"\nimage {i}: found {found}")
        lines += [f"  measured {f}" for f in plan.findings]
        lines.append(records_table(plan.records))
        lines += records_details(plan.records)
    return SmartResult(out, "\n".join(lines), plans)
