"""Quality Metrics: full-reference and no-reference measures with a report."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ...params import Output, Param, operation
from ...quality import full_reference as fr
from ...quality.metrics import measure, prepare_pair
from ...quality.no_reference import blur_effect, glcm_texture
from ..common import image_summary, text_table

try:  # the naturalness scores live in modules of their own; the node works without them
    from ...quality.brisque import brisque
    from ...quality.niqe import niqe
    from ...quality.piqe import piqe
except ImportError:  # pragma: no cover - only when a partial installation lacks them
    niqe = brisque = piqe = None

#: The psnr output is capped here so that identical images give a finite, JSON-safe number.
PSNR_CAP_DB = 100.0
#: GLCM settings of the texture outputs: 32 grey levels, neighbouring pixels, four directions.
GLCM_LEVELS = 32
#: NIQE and BRISQUE need images of at least this side (px).
NR_MIN_SIDE = 16

#: Full-reference measures after PSNR and SSIM: output name, column header, function, minimum side (px).
_FULL_REFERENCE: tuple[tuple[str, str, Callable[..., torch.Tensor], int], ...] = (
    ("ms_ssim", "MS-SSIM", fr.ms_ssim, fr.ms_ssim_min_side(5)),
    ("gmsd", "GMSD", fr.gmsd, 1),
    ("fsim", "FSIM", fr.fsim, fr.FSIM_MIN_SIDE),
    ("vif", "VIF", fr.vif, fr.VIF_MIN_SIDE),
    ("haarpsi", "HaarPSI", fr.haarpsi, fr.HAARPSI_MIN_SIDE),
)
_NATURALNESS = (("niqe", "NIQE", niqe, NR_MIN_SIDE), ("brisque", "BRISQUE", brisque, NR_MIN_SIDE),
                ("piqe", "PIQE", piqe, 1))


def _fmt_psnr(v: float) -> str:
    return "inf" if math.isinf(v) else f"{v:.2f}"


def _mean(values: torch.Tensor) -> float:
    return float(values.double().mean().item())


def _finite_mean(values: list[float]) -> float | None:
    """Mean of the finite values, None when there are none."""
    good = [v for v in values if math.isfinite(v)]
    return sum(good) / len(good) if good else None


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None or not math.isfinite(value) else spec.format(value)


def _table(columns: list[tuple[str, str, list[float] | None]], b: int) -> str:
    """Rows per image and (for a batch) a mean row; a column of None is "n/a" throughout."""
    header = ["image"] + [name for name, _, _ in columns]
    rows = [[str(i + 1)] + [_fmt(None if v is None else v[i], f) for _, f, v in columns] for i in range(b)]
    if b > 1:
        rows.append(["mean"] + [_fmt(None if v is None else _finite_mean(v), f) for _, f, v in columns])
    return text_table(header, rows)


_FR_OUTPUTS = [
    Output("ms_ssim", "float", "Mean MS-SSIM against the reference (1 = identical). 0.0 without a reference or when "
           "the image is under 161 px on its short side (the report says n/a)."),
    Output("gmsd", "float", "Mean GMSD against the reference (0 = identical, larger = worse; typically 0-0.35). "
           "0.0 when no reference is connected."),
    Output("fsim", "float", "Mean FSIM (FSIMc for colour) against the reference (1 = identical). 0.0 when no "
           "reference is connected."),
    Output("vif", "float", "Mean pixel-domain VIF against the reference (1 = identical, 0 = no information left, "
           "above 1 = contrast enhanced). 0.0 without a reference or for images under 41 px."),
    Output("haarpsi", "float", "Mean HaarPSI against the reference (1 = identical, 0 = worst). 0.0 without a "
           "reference or for images under 16 px."),
]
_NR_OUTPUTS = [
    Output("blur", "float", "Perceptual blur (Crete-Roffet et al. 2007), 0 = sharp to 1 = fully blurred (batch mean)."),
    Output("entropy", "float", "Entropy of the 8-bit luma histogram in bits, 0-8 (batch mean)."),
    Output("colourfulness", "float", "Hasler-Suesstrunk colourfulness on the 0-255 scale (0 = gray, ~33 moderately, "
           "~59 quite, ~82 highly colourful; batch mean)."),
    Output("texture_contrast", "float", f"GLCM contrast of luma at {GLCM_LEVELS} grey levels, neighbouring pixels, "
           "mean of 4 directions: squared grey-level steps (batch mean)."),
    Output("texture_homogeneity", "float", "GLCM homogeneity, 0-1 (1 = neighbours always equal; batch mean)."),
    Output("texture_energy", "float", "GLCM energy (root of the angular second moment), 0-1 (1 = uniform; batch mean)."),
    Output("texture_correlation", "float", "GLCM correlation of neighbouring grey levels, -1 to 1 (batch mean)."),
    Output("niqe", "float", "NIQE naturalness (lower = more natural; sharp photos ~3-6). Mean over images where "
           "computable; 0.0 when none is (under 16 px, flat)."),
    Output("brisque", "float", "BRISQUE quality (lower = better, ~0-100). Mean over images where computable; 0.0 when "
           "none is (under 16 px, flat)."),
    Output("piqe", "float", "PIQE quality, 0-100 (lower = better; batch mean)."),
]


@operation(
    "quality_metrics",
    display_name="Quality Metrics",
    category="quality",
    description=(
        "Measures image quality. Against an optional reference: PSNR, SSIM, MS-SSIM, GMSD, FSIM, VIF and HaarPSI. "
        "Without one: noise level, sharpness, perceptual blur, contrast, clipping, entropy, colourfulness, GLCM "
        "texture and the NIQE / BRISQUE / PIQE naturalness scores. Numbers are batch means; the report lists every "
        "image."
    ),
    inputs=[
        Param("image", "image", help="The image or batch of images to measure."),
        Param("reference", "image", optional=True,
              help="Optional clean/original image of the same size for the full-reference measures. One reference "
              "image is used for the whole batch. Gray against RGB is compared on luma."),
    ],
    outputs=[
        Output(
            "psnr",
            "float",
            f"Mean PSNR in dB against the reference (identical images count as {PSNR_CAP_DB:g} dB). 0.0 when no reference is connected.",
        ),
        Output("ssim", "float", "Mean SSIM against the reference (1 = identical). 0.0 when no reference is connected."),
        Output("noise_sigma", "float", "Estimated noise standard deviation, 0-255 grey levels (batch mean)."),
        Output(
            "sharpness",
            "float",
            "Variance of the Laplacian of luma in squared 0-255 grey levels (higher = more fine detail; noise raises it too).",
        ),
        Output("contrast", "float", "RMS contrast: standard deviation of luma, 0-1 units (batch mean)."),
        Output("clipping", "float", "Percent of samples clipped to black (<= 0.5/255) or white (>= 254.5/255)."),
        Output("report", "string", "Tables with every measure for each image and the batch mean, with units."),
        *_FR_OUTPUTS,
        *_NR_OUTPUTS,
    ],
    gpu=True,
)
def run_quality_metrics(image, reference):
    m = measure(image, reference)
    has_ref = reference is not None
    b, _, h, w = image.shape
    side = min(h, w)
    clip_total = m["clip_dark"] + m["clip_bright"]
    psnr_capped = m["psnr"].clamp(max=PSNR_CAP_DB) if has_ref else None
    out: dict[str, object] = {}
    lines = [f"Quality metrics: {image_summary(image)}."]

    # ---- full reference
    fr_values: dict[str, list[float] | None] = {}
    skipped = []
    if has_ref:
        a, r = prepare_pair(image, reference)
        for name, header, func, minimum in _FULL_REFERENCE:
            if side < minimum:
                fr_values[name] = None
                skipped.append(f"{header} n/a (image under {minimum} px)")
            else:
                fr_values[name] = func(a, r).double().cpu().tolist()
        if image.shape[1] != reference.shape[1]:
            compared = "luma (one side is gray)"
        else:
            compared = "RGB" if image.shape[1] == 3 else "gray"
        lines.append(
            f"Reference: {image_summary(reference)}; compared on {compared}, values as given (no 8-bit rounding)."
        )
        if skipped:
            lines.append("Not computed for this size: " + "; ".join(skipped) + " (the outputs are 0.0).")
    else:
        lines.append("No reference connected: PSNR, SSIM, MS-SSIM, GMSD, FSIM, VIF and HaarPSI are not computed "
                     "(their outputs are 0.0).")
    for name, *_ in _FULL_REFERENCE:
        values = fr_values.get(name)
        mean = _finite_mean(values) if values is not None else None
        out[name] = 0.0 if mean is None else mean

    # ---- no reference
    blur = blur_effect(image)
    texture = glcm_texture(image, levels=GLCM_LEVELS)
    nr_values: dict[str, list[float] | None] = {}
    missing = []
    for name, header, func, minimum in _NATURALNESS:
        if func is None:
            nr_values[name] = None
            missing.append(f"{header} (module not installed)")
        elif side < minimum:
            nr_values[name] = None
            missing.append(f"{header} (image under {minimum} px)")
        else:
            nr_values[name] = func(image).double().cpu().tolist()
    for name, *_ in _NATURALNESS:
        values = nr_values[name]
        mean = _finite_mean(values) if values is not None else None
        out[name] = 0.0 if mean is None else mean

    col = {k: m[k].double().cpu().tolist() for k in m}
    if has_ref:
        fr_table = [("PSNR dB", "{:.2f}", None), ("SSIM", "{:.4f}", col["ssim"])]
        fr_table += [(header, "{:.4f}", fr_values[name]) for name, header, _, _ in _FULL_REFERENCE]
        header = ["image"] + [c[0] for c in fr_table]
        rows = []
        for i in range(b):
            rows.append([str(i + 1), _fmt_psnr(col["psnr"][i])] + [_fmt(None if v is None else v[i], f)
                                                                  for _, f, v in fr_table[1:]])
        if b > 1:
            rows.append(["mean", f"{_mean(psnr_capped):.2f}"] + [_fmt(None if v is None else _finite_mean(v), f)
                                                                  for _, f, v in fr_table[1:]])
        lines += ["", "Full reference:", text_table(header, rows)]

    basic = [
        ("noise", "{:.2f}", col["noise_sigma"]),
        ("sharpness", "{:.1f}", col["sharpness"]),
        ("blur", "{:.3f}", blur.double().cpu().tolist()),
        ("contrast", "{:.4f}", col["contrast"]),
        ("clip dark %", "{:.3f}", col["clip_dark"]),
        ("clip bright %", "{:.3f}", col["clip_bright"]),
        ("mean luma", "{:.4f}", col["mean"]),
        ("entropy", "{:.3f}", col["entropy"]),
        ("colourful", "{:.1f}", col["colorfulness"]),
    ]
    lines += ["", "No reference:", _table(basic, b)]
    tex = {k: v.double().cpu().tolist() for k, v in texture.items()}
    second = [
        ("GLCM contrast", "{:.3f}", tex["contrast"]),
        ("homogeneity", "{:.4f}", tex["homogeneity"]),
        ("energy", "{:.4f}", tex["energy"]),
        ("correlation", "{:.4f}", tex["correlation"]),
    ] + [(header, "{:.2f}", nr_values[name]) for name, header, _, _ in _NATURALNESS]
    lines += ["", "Texture and naturalness:", _table(second, b)]
    if missing:
        lines.append("Not computed: " + "; ".join(missing) + " (their outputs are 0.0).")
    if any(v is not None and not all(math.isfinite(t) for t in v) for v in nr_values.values()):
        lines.append("n/a in a row: the score is undefined for that image (e.g. a flat image for NIQE); the batch "
                     "mean leaves it out.")

    units = [
        "noise: estimated noise sigma, 0-255 grey levels (wavelet MAD estimator)",
        "sharpness: variance of the 4-neighbour Laplacian of luma, squared 0-255 grey levels",
        "blur: Crete-Roffet perceptual blur of luma, 0 (sharp) to 1 (blurred), 11-tap re-blur",
        "contrast: RMS contrast (std of luma), 0-1; mean luma: 0-1",
        "clip dark/bright: % of samples at or below 0.5/255 / at or above 254.5/255",
        "entropy: bits of the 8-bit luma histogram (0-8); colourful: Hasler-Suesstrunk M (0 = gray, ~60 = quite colourful)",
        f"GLCM: co-occurrence of luma at {GLCM_LEVELS} grey levels, neighbouring pixels, mean of 0/45/90/135 degrees; "
        "contrast in squared grey-level steps, homogeneity and energy 0-1, correlation -1 to 1",
        "NIQE (unitless, lower = more natural), BRISQUE (~0-100, lower = better), PIQE (0-100, lower = better)",
    ]
    if has_ref:
        units[:0] = [
            f"PSNR: dB (inf = identical; counted as {PSNR_CAP_DB:g} dB in the mean and the psnr output); "
            "SSIM: Wang et al. 2004, 11x11 Gaussian window sigma 1.5, mean over channels",
            "MS-SSIM: 5 scales, per channel (1 = identical); GMSD: on luma, 0 = identical, larger = worse; "
            "FSIM: FSIMc for colour (1 = identical); VIF: pixel-domain VIFp on luma (1 = identical, >1 = contrast "
            "enhanced); HaarPSI: 0-1 (1 = identical); conventions of piq",
        ]
    lines += ["", "Units:"] + ["  " + u for u in units]

    out.update({
        "psnr": _mean(psnr_capped) if has_ref else 0.0,
        "ssim": _mean(m["ssim"]) if has_ref else 0.0,
        "noise_sigma": _mean(m["noise_sigma"]),
        "sharpness": _mean(m["sharpness"]),
        "contrast": _mean(m["contrast"]),
        "clipping": _mean(clip_total),
        "report": "\n".join(lines),
        "blur": _mean(blur),
        "entropy": _mean(m["entropy"]),
        "colourfulness": _mean(m["colorfulness"]),
        "texture_contrast": _mean(texture["contrast"]),
        "texture_homogeneity": _mean(texture["homogeneity"]),
        "texture_energy": _mean(texture["energy"]),
        "texture_correlation": _mean(texture["correlation"]),
    })
    return out
