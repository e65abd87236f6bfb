"""Adaptive Enhance: measure noise, blur and contrast, then apply what the image needs.

Each image of a batch is assessed (:mod:`.assessment`) and gets its own steps, in this order:

1. **Denoise** when the estimated noise is above :data:`NOISE_THRESHOLD` grey levels (below that
   the estimator mostly sees texture on clean photographs): adaptive block-Wiener filtering
   (:func:`~restorekit.enhance.adaptive_frequency.adaptive_frequency_filter`) at the estimated level.
2. **Contrast** when the 1st-99th percentile spread of luma is under :data:`SPREAD_TARGET`:
   CLAHE on lightness with a clip limit that grows with the shortfall (1.5 at a small shortfall,
   up to 3.5 for a flat image), so a well-exposed image is left alone and a washed-out one gains
   local contrast without noise being pumped up.
3. **Sharpen** when the blur measured after denoising is above :data:`BLUR_THRESHOLD` px:
   Smart Sharpen (edge- and noise-aware, overshoot-limited) with an amount that grows with the
   measured blur.

``strength`` scales every step (0 = the input unchanged, 1 = the amounts above). The report says,
per image, what was measured, what was done and why (including what was not done).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..errors import InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report
from .adaptive_frequency import adaptive_frequency_filter
from .assessment import Assessment, assess
from .clahe import clahe

#: Noise (0-255 grey levels) above which the image is denoised (clean Set12 photographs read 1.5-4.2).
NOISE_THRESHOLD = 5.0
#: Luma 1st-99th percentile spread ([0, 1]) below which local contrast is raised. The twelve
#: well-exposed Set12 photographs span 0.67-0.93; a washed-out image has about half that.
SPREAD_TARGET = 0.55
#: Measured blur (px) above which the image is sharpened.
BLUR_THRESHOLD = 0.8


@dataclass
class AdaptiveDecision:
    """What Adaptive Enhance measured and did for one image (noise in 0-255 grey levels, blur in px)."""

    before: Assessment
    after_denoise: Assessment
    steps: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def _check(strength: float, flags: dict[str, bool]) -> None:
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0.0 <= strength <= 2.0:
        raise InvalidParameterError("strength", f"expected a number in [0, 2], got {strength!r}.", "give e.g. 1.0.")
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise InvalidParameterError(name, f"expected True or False, got {value!r}.", "give True or False.")


def _sharpen(y: torch.Tensor, blur: float, strength: float) -> tuple[torch.Tensor, str]:
    from ..sharpen.smart import smart_sharpen

    amount = min(2.0, 0.5 + 1.0 * (blur - BLUR_THRESHOLD)) * strength
    return smart_sharpen(y, amount=amount), f"Smart Sharpen, amount {amount:.2f}"


def _enhance_one(
    x: torch.Tensor, strength: float, denoise: bool, contrast: bool, sharpen: bool
) -> tuple[torch.Tensor, AdaptiveDecision]:
    before = assess(x)[0]
    y = x
    decision = AdaptiveDecision(before, before)
    noise255 = before.noise * 255.0
    if not denoise:
        decision.reasons.append("denoise: off")
    elif noise255 > NOISE_THRESHOLD:
        y = adaptive_frequency_filter(y, sigma=before.noise, strength=min(strength, 1.0) if strength else 0.0)
        decision.steps.append(f"adaptive frequency filter at sigma {noise255:.1f}")
        decision.reasons.append(f"denoise: noise {noise255:.1f} > {NOISE_THRESHOLD:g} grey levels")
        decision.after_denoise = assess(y)[0]
    else:
        decision.reasons.append(f"denoise: skipped, noise {noise255:.1f} <= {NOISE_THRESHOLD:g} grey levels")
    measured = decision.after_denoise
    if not contrast:
        decision.reasons.append("contrast: off")
    elif measured.spread < SPREAD_TARGET:
        shortfall = (SPREAD_TARGET - measured.spread) / SPREAD_TARGET
        clip = 1.5 + 2.0 * shortfall
        y = clahe(y, clip_limit=clip, tiles=8, strength=min(1.0, strength))
        decision.steps.append(f"CLAHE, clip limit {clip:.2f}, 8x8 tiles")
        decision.reasons.append(f"contrast: luma spread {measured.spread:.2f} < {SPREAD_TARGET:g}")
    else:
        decision.reasons.append(f"contrast: skipped, luma spread {measured.spread:.2f} >= {SPREAD_TARGET:g}")
    if not sharpen:
        decision.reasons.append("sharpen: off")
    elif measured.blur > BLUR_THRESHOLD and strength > 0:
        y, step = _sharpen(y, measured.blur, strength)
        decision.steps.append(step)
        decision.reasons.append(f"sharpen: blur {measured.blur:.2f} px > {BLUR_THRESHOLD:g} px")
    else:
        decision.reasons.append(f"sharpen: skipped, blur {measured.blur:.2f} px <= {BLUR_THRESHOLD:g} px")
    return y, decision


def adaptive_enhance(
    x: torch.Tensor,
    *,
    strength: float = 1.0,
    denoise: bool = True,
    contrast: bool = True,
    sharpen: bool = True,
    return_info: bool = False,
    progress: ProgressCallback | None = None,
) -> torch.Tensor | tuple[torch.Tensor, list[AdaptiveDecision]]:
    """Measure each image of ``x`` ``[B, C, H, W]`` in [0, 1] and denoise / raise contrast / sharpen as needed.

    Args:
        strength: 0-2, scales every step's amount (0 = unchanged, 1 = as measured).
        denoise, contrast, sharpen: allow each step (a step still only runs when the image needs it).
        return_info: also return one :class:`AdaptiveDecision` per image.
        progress: optional callback ``(done, total)`` in images.

    Returns:
        The enhanced batch (same shape, dtype and device, in [0, 1]), with the decisions if asked.
    """
    check_image(x, "image")
    _check(strength, {"denoise": denoise, "contrast": contrast, "sharpen": sharpen})
    total = x.shape[0]
    report(progress, 0, total)
    outputs, decisions = [], []
    for i in range(total):
        if strength == 0:
            y, decision = x[i : i + 1].clone(), AdaptiveDecision(*(assess(x[i : i + 1]) * 2))
            decision.reasons.append("strength 0: unchanged")
        else:
            y, decision = _enhance_one(x[i : i + 1], float(strength), denoise, contrast, sharpen)
        outputs.append(y.clamp(0.0, 1.0).to(x.dtype))
        decisions.append(decision)
        report(progress, i + 1, total)
    out = torch.cat(outputs, dim=0)
    return (out, decisions) if return_info else out
