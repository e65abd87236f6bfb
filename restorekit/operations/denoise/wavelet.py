"""Wavelet Denoise (node RK_WaveletDenoise)."""

from __future__ import annotations

from ...denoise.wavelet import (
    COLORS,
    DEFAULT_METHOD,
    DEFAULT_MODE,
    DEFAULT_SHIFTS,
    DEFAULT_TRANSFORM,
    DEFAULT_WAVELET,
    DISCRETE_WAVELETS,
    MAX_LEVELS,
    METHODS,
    TRANSFORMS,
    WaveletInfo,
    wavelet_denoise,
)
from ...denoise.wavelet_threshold import MODES
from ...params import Output, Param, operation
from ...progress import ProgressCallback
from ..common import IMAGE, sigma_param

_METHOD_TEXT = {
    "bayes": "BayesShrink (per-subband threshold sigma^2 / sigma_x)",
    "visu": "VisuShrink (universal threshold sigma * sqrt(2 ln N))",
    "sure": "SureShrink (per-subband threshold minimising Stein's unbiased risk estimate)",
    "manual": "manual threshold",
}


def _ordered(default: str, options: tuple[str, ...]) -> tuple[str, ...]:
    return (default, *[o for o in options if o != default])


def _format_report(
    infos: list[WaveletInfo],
    *,
    method: str,
    mode: str,
    wavelet: str,
    levels_requested: int,
    transform: str,
    shifts: int,
    color: str,
    sure_hybrid: bool,
    channels: int,
) -> str:
    levels = infos[0].levels if infos else 0
    how = (
        "automatic"
        if levels_requested == 0
        else ("as requested" if levels_requested == levels else f"clamped from {levels_requested} to fit the image")
    )
    method_text = _METHOD_TEXT[method]
    if method == "sure":
        method_text += ", hybrid rule on" if sure_hybrid else ", hybrid rule off"
        if mode == "hard":
            method_text += " (risk of soft thresholding: hard has no unbiased risk estimate)"
    transform_text = f"cycle spinning over {shifts}x{shifts} shifts" if transform == "cycle_spin" else transform
    colour_text = "gray" if channels == 1 else ("YCbCr (BT.601)" if color == "ycbcr" else "per RGB channel")
    lines = [
        f"Wavelet denoise: {method_text}; {mode} thresholding; wavelet {wavelet}; {levels} levels ({how}); "
        f"{transform_text} transform; colour: {colour_text}.",
        "Sigma and thresholds in 0-255 grey levels; thresholds per level, finest first, as H/V/D"
        + (" (mean over the shifts)." if transform == "cycle_spin" else "."),
    ]
    if channels == 3 and color == "ycbcr":
        lines.append("Sigma is the noise of each YCbCr channel (a given RGB sigma s is 0.67 s, 0.62 s, 0.66 s there).")
    for i, info in enumerate(infos):
        source = "estimated" if info.sigma_estimated else "given"
        sig = ", ".join(f"{name} {s * 255:.2f}" for name, s in zip(info.channels, info.sigma, strict=True))
        lines.append(f"image {i + 1}: sigma ({source}) {sig}")
        for name, per_level in zip(info.channels, info.thresholds, strict=True):
            if not per_level:
                lines.append(f"  {name}: image too small to decompose, returned unchanged")
                continue
            parts = [f"L{j + 1} " + "/".join(f"{t * 255:.2f}" for t in lvl) for j, lvl in enumerate(per_level)]
            lines.append(f"  {name} thresholds: " + ", ".join(parts))
    return "\n".join(lines)


@operation(
    "wavelet_denoise",
    display_name="Wavelet Denoise",
    category="denoise",
    description=(
        "Removes Gaussian noise by shrinking wavelet coefficients (SureShrink, BayesShrink, VisuShrink or a manual "
        "threshold) with a decimated, stationary or cycle-spinning transform; fast and free of learned priors. "
        "The report gives the noise sigma and the thresholds used."
    ),
    inputs=[
        IMAGE,
        sigma_param(
            help="Noise standard deviation of the image. 0 = estimate it per channel (robust median estimate on the "
            "finest wavelet band)."
        ),
        Param("method", "choice", DEFAULT_METHOD, choices=_ordered(DEFAULT_METHOD, METHODS),
              help="How thresholds are chosen per subband: sure = SureShrink (minimises Stein's unbiased risk "
              "estimate; best measured), bayes = BayesShrink (sigma^2 / signal std), visu = VisuShrink (universal "
              "threshold, smooth, conservative), manual = the threshold below."),
        Param("transform", "choice", DEFAULT_TRANSFORM, choices=_ordered(DEFAULT_TRANSFORM, TRANSFORMS),
              help="stationary = undecimated transform (best, about 1 dB over decimated); decimated = ordinary DWT "
              "(fastest, blockier); cycle_spin = the decimated result averaged over shifts."),
        Param("color", "choice", "ycbcr", choices=COLORS,
              help="For colour images: ycbcr = denoise luma and chroma separately (better, fewer colour blotches); "
              "per_channel = R, G and B separately. Ignored for gray images."),
        Param("threshold", "float", 20.0, min=0.0, max=255.0, step=0.5, units="0-255 grey levels", scale=1 / 255,
              help="Threshold applied to every detail subband when method is manual (ignored otherwise); about 2 to "
              "3 times the noise sigma."),
        Param("mode", "choice", DEFAULT_MODE, choices=_ordered(DEFAULT_MODE, MODES), advanced=True,
              help="Shrinkage function: garrote (d - T^2/d, best measured with SureShrink), soft (shrink toward 0 by "
              "T; best with BayesShrink) or hard (keep or kill; best with VisuShrink)."),
        Param("wavelet", "choice", DEFAULT_WAVELET, choices=_ordered(DEFAULT_WAVELET, DISCRETE_WAVELETS),
              advanced=True,
              help="PyWavelets discrete wavelet. bior1.3 measured best with the stationary transform and cycle "
              "spinning; sym8 or db4 are better with the decimated transform."),
        Param("levels", "int", 0, min=0, max=MAX_LEVELS, step=1, advanced=True,
              help="Decomposition levels. 0 = automatic (coarsest band at least 16 pixels; 2 for VisuShrink). Larger "
              "values are clamped to what the image size allows."),
        Param("shifts", "int", DEFAULT_SHIFTS, min=1, max=16, step=1, advanced=True,
              help="Cycle spinning only: shifts per axis; shifts x shifts decompositions are averaged."),
        Param("sure_hybrid", "bool", True, advanced=True,
              help="SureShrink only: use the universal threshold on subbands that are nearly pure noise (Donoho & "
              "Johnstone's hybrid rule)."),
    ],
    outputs=[
        Output("image", "image", "The denoised image."),
        Output("report", "string", "Method, wavelet, levels, transform, sigma per channel and thresholds used."),
    ],
    gpu=True,
)
def run_wavelet_denoise(
    image,
    sigma,
    method,
    transform,
    color,
    threshold,
    mode,
    wavelet,
    levels,
    shifts,
    sure_hybrid,
    progress: ProgressCallback | None = None,
):
    out, infos = wavelet_denoise(
        image,
        sigma=sigma,
        method=method,
        mode=mode,
        wavelet=wavelet,
        levels=levels,
        transform=transform,
        shifts=shifts,
        color=color,
        threshold=threshold if method == "manual" else None,
        sure_hybrid=sure_hybrid,
        progress=progress,
        return_info=True,
    )
    report = _format_report(
        infos,
        method=method,
        mode=mode,
        wavelet=wavelet,
        levels_requested=levels,
        transform=transform,
        shifts=shifts,
        color=color,
        sure_hybrid=sure_hybrid,
        channels=image.shape[1],
    )
    return {"image": out, "report": report}
