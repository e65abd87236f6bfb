"""Restore Pipeline: denoise -> deblur -> contrast -> colour -> sharpen, each stage one registered operation.

A ``preset`` sets how far the enhancing stages go (conservative < balanced < strong < maximum: CLAHE
clip limit and blend, vibrance, sharpening amount, Richardson-Lucy iterations, the stretch target);
denoising always runs at the noise level each operation estimates. Each stage can be turned off,
its method chosen, and any parameter of its operation overridden (``overrides``: lines
``stage.parameter=value`` in node units). The deblur stage uses the given PSF, else one estimated
per image (:mod:`.blur`). The report has one row per stage: operation, seconds, and noise (0-255),
sharpness (Laplacian variance) and RMS contrast before -> after, averaged over the batch, plus the
values each operation got.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..deblur.psf import PSF
from ..errors import InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report, scaled
from .blur import estimate_psfs
from .measures import measure
from .stages import STAGES, StageRecord, image_summary, parse_overrides, records_details, records_table, run_recorded

PRESETS = ("conservative", "balanced", "strong", "maximum")
DENOISE_METHODS = ("auto", "wavelet", "bm3d", "nlm", "tv", "model", "builtin")
DEBLUR_METHODS = ("wiener", "richardson_lucy", "bm3d")
CONTRAST_METHODS = ("clahe", "auto_clahe", "retinex", "stretch")

DENOISE_OPS = {"wavelet": "wavelet_denoise", "bm3d": "bm3d_denoise", "nlm": "nlm_denoise", "tv": "tv_denoise",
               "model": "restore_with_model", "builtin": "builtin_denoiser"}
DEBLUR_OPS = {"wiener": "wiener_deconvolution", "richardson_lucy": "richardson_lucy", "bm3d": "bm3d_deblur"}
CONTRAST_OPS = {"clahe": "clahe", "auto_clahe": "auto_clahe", "retinex": "retinex", "stretch": "multiscale_detail"}

#: Per preset (index 0-3): CLAHE clip limit and blend, Auto CLAHE / Retinex blend, stretch target
#: spread (luma 1st-99th percentile), vibrance, Smart Sharpen amount, Richardson-Lucy iterations.
CLAHE_CLIP = (1.25, 1.5, 2.0, 3.0)
CLAHE_BLEND = (0.5, 0.75, 1.0, 1.0)
AUTO_BLEND = (0.4, 0.6, 0.8, 1.0)
RETINEX_BLEND = (0.25, 0.5, 0.75, 1.0)
STRETCH_TARGET = (0.6, 0.7, 0.8, 0.9)
VIBRANCE = (0.1, 0.2, 0.3, 0.45)
SHARPEN_AMOUNT = (0.5, 1.0, 1.5, 2.5)
RL_ITERATIONS = (20, 40, 80, 150)


def stretch_values(spread: float, target: float) -> dict[str, Any]:
    """Multiscale Detail with one gain on every band = a linear stretch of RGB about the mean to ``target`` spread."""
    gain = min(4.0, max(1.0, target / max(spread, 1e-3)))
    return {"fine_gain": gain, "medium_gain": gain, "coarse_gain": gain, "base_gain": gain, "color": "rgb"}


def auto_denoise_method(x: torch.Tensor, model: object | None) -> str:
    """The connected model, else the built-in denoiser when its weights are installed, else BM3D on a GPU and
    wavelet SureShrink on the CPU (BM3D is slow there)."""
    from ..models.builtin import builtin_weights_available

    if model is not None:
        return "model"
    if builtin_weights_available():
        return "builtin"
    return "bm3d" if x.device.type == "cuda" else "wavelet"


def denoise_values(method: str, model: object | None) -> dict[str, Any]:
    return {"model": model} if method == "model" else {}


def _choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidParameterError(name, f"expected one of {', '.join(choices)}, got {value!r}.", f"give e.g. {choices[0]}.")
    return str(value)


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidParameterError(name, f"expected True or False, got {value!r}.", "give True or False.")
    return value


@dataclass
class PipelineResult:
    """The image, the report and one :class:`StageRecord` per stage (measures averaged over the batch)."""

    image: torch.Tensor
    report: str
    records: list[StageRecord]


def _same(a: object, b: object) -> bool:
    return a is b or (isinstance(a, (bool, int, float, str)) and isinstance(b, (bool, int, float, str)) and a == b)


def run_per_image(
    stage: str, op: str, y: torch.Tensor, values: list[dict[str, Any]], progress: ProgressCallback | None, reason: str
) -> tuple[torch.Tensor, StageRecord]:
    """Run a stage once on the batch when every image gets the same values, else once per image."""
    before = measure(y)
    same = all(v.keys() == values[0].keys() and all(_same(v[k], values[0][k]) for k in v) for v in values)
    if same:
        out, _, rec = run_recorded(stage, op, y, values[0], before, progress, reason)
        return out, rec
    outs, seconds = [], 0.0
    for i, v in enumerate(values):
        o, _, r = run_recorded(stage, op, y[i : i + 1], v, before[i : i + 1], scaled(progress, i, 1, len(values)))
        outs.append(o)
        seconds += r.seconds
    out = torch.cat(outs, dim=0)
    from .measures import mean_measures

    shared = {k: val for k, val in values[0].items() if all(k in v and _same(v[k], val) for v in values)}
    shared.update({k: "per image" for k in values[0] if k not in shared})
    rec = StageRecord(stage, op, shared, seconds, mean_measures(before), mean_measures(measure(out)), reason=reason)
    return out, rec


def restore_pipeline(
    x: torch.Tensor,
    *,
    preset: str = "balanced",
    denoise: bool = True,
    deblur: bool = True,
    contrast: bool = True,
    color: bool = True,
    sharpen: bool = True,
    denoise_method: str = "auto",
    deblur_method: str = "wiener",
    contrast_method: str = "clahe",
    overrides: str = "",
    model: object | None = None,
    psf: PSF | None = None,
    progress: ProgressCallback | None = None,
) -> PipelineResult:
    """Denoise, deblur, raise contrast, enhance colour and sharpen ``x`` ``[B, C, H, W]`` in [0, 1].

    Args:
        preset: conservative, balanced, strong or maximum (see the module docstring).
        denoise, deblur, contrast, color, sharpen: run the stage (off = reported as off).
        denoise_method: auto (connected model, else the built-in denoiser when installed, else BM3D on a GPU,
            wavelet on the CPU), wavelet, bm3d, nlm, tv, model (needs ``model``) or builtin.
        deblur_method: wiener, richardson_lucy or bm3d (BM3D deblurring).
        contrast_method: clahe, auto_clahe, retinex or stretch (linear stretch about the mean).
        overrides: ``stage.parameter=value`` lines in node units, applied on top of the preset.
        model: a loaded restoration model (Load Restoration Model) for the model denoiser.
        psf: the blur kernel for the deblur stage; None = estimated per image.
        progress: ``(done, total)`` over the five stages.

    Returns:
        A :class:`PipelineResult`; the image has ``x``'s shape, dtype and device, values in [0, 1].
    """
    check_image(x, "image")
    level = PRESETS.index(_choice("preset", preset, PRESETS))
    on = {s: _flag(s, v) for s, v in zip(STAGES, (denoise, deblur, contrast, color, sharpen), strict=True)}
    dm = _choice("denoise_method", denoise_method, DENOISE_METHODS)
    bm = _choice("deblur_method", deblur_method, DEBLUR_METHODS)
    cm = _choice("contrast_method", contrast_method, CONTRAST_METHODS)
    if dm == "auto":
        dm = auto_denoise_method(x, model)
    if dm == "model" and model is None:
        raise InvalidParameterError("denoise_method", "model needs a connected restoration model.",
                                    "connect Load Restoration Model to the model input or pick another method.")
    if psf is not None and not isinstance(psf, PSF):
        raise InvalidParameterError("psf", f"expected a PSF, got {type(psf).__name__}.", "connect Make PSF or Estimate Blur.")
    ops = {"denoise": DENOISE_OPS[dm], "deblur": DEBLUR_OPS[bm], "contrast": CONTRAST_OPS[cm],
           "color": "color_enhance", "sharpen": "smart_sharpen"}
    extra = parse_overrides(overrides, ops)
    off = [s for s in extra if not on[s]]
    if off:
        raise InvalidParameterError("overrides", f"they set parameters of the {', '.join(off)} stage, which is off.",
                                    "turn the stage on or remove those lines.")
    b = x.shape[0]
    y = x
    start = measure(x)
    records: list[StageRecord] = []
    notes: list[str] = []
    total = len(STAGES) * 100
    report(progress, 0, total)
    for i, stage in enumerate(STAGES):
        sub = scaled(progress, i * 100, 100, total)
        if not on[stage]:
            records.append(StageRecord(stage, skipped="turned off"))
            report(progress, (i + 1) * 100, total)
            continue
        reason = ""
        if stage == "denoise":
            values = [denoise_values(dm, model)] * b
            reason = "noise level estimated by the operation"
        elif stage == "deblur":
            if psf is not None:
                psfs, reason = [psf] * b, "given PSF"
            else:
                start_of_stage = i * 100
                fits = estimate_psfs(x, progress=lambda _d, _t, at=start_of_stage: report(progress, at, total))
                psfs = [f.psf for f in fits]
                reason = "PSF estimated per image on the input"
                notes += [f"image {j}: PSF {f.text()}" for j, f in enumerate(fits)]
            # The input's noise level: the deconvolution's regularisation then also removes what
            # the denoiser left (measured: +0.5 to 3 dB over the denoised image's own estimate).
            values = [{"psf": p, "sigma": min(255.0, m.noise)} for p, m in zip(psfs, start, strict=True)]
            if bm == "richardson_lucy":
                values = [dict(v, iterations=RL_ITERATIONS[level]) for v in values]
        elif stage == "contrast":
            if cm == "clahe":
                values = [{"clip_limit": CLAHE_CLIP[level], "strength": CLAHE_BLEND[level]}] * b
            elif cm == "auto_clahe":
                values = [{"strength": AUTO_BLEND[level]}] * b
            elif cm == "retinex":
                values = [{"strength": RETINEX_BLEND[level]}] * b
            else:
                values = [stretch_values(m.spread, STRETCH_TARGET[level]) for m in measure(y)]
                reason = f"gain per image to a luma spread of {STRETCH_TARGET[level]:g}"
        elif stage == "color":
            if y.shape[1] != 3:
                records.append(StageRecord(stage, skipped="gray image (no colour)"))
                report(progress, (i + 1) * 100, total)
                continue
            values = [{"vibrance": VIBRANCE[level]}] * b
        else:
            values = [{"amount": SHARPEN_AMOUNT[level]}] * b
        if stage in extra:
            values = [dict(v, **extra[stage]) for v in values]
            reason = (reason + "; " if reason else "") + "overridden: " + ", ".join(extra[stage])
        y, rec = run_per_image(stage, ops[stage], y, values, sub, reason)
        records.append(rec)
        report(progress, (i + 1) * 100, total)
    head = (f"Restore Pipeline, preset {preset}: {image_summary(x)}. Measures are means over the batch: noise = "
            "estimated std (0-255 grey levels), sharpness = Laplacian variance, contrast = RMS luma contrast.")
    text = "\n".join([head, records_table(records), *records_details(records), *notes])
    return PipelineResult(y.clamp(0.0, 1.0).to(x.dtype), text, records)
