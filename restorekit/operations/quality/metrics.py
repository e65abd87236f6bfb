"""Quality Metrics: full-reference and no-reference measures with a report."""

from __future__ import annotations

import math

import torch

from ...params import Output, Param, operation
from ...quality.metrics import measure
from ..common import image_summary, text_table

#: The psnr output is capped here so that identical images give a finite, JSON-safe number.
PSNR_CAP_DB = 100.0

def _fmt_psnr(v: float) -> str:
    return "inf" if math.isinf(v) else f"{v:.2f}"


def _mean(values: torch.Tensor) -> float:
    return float(values.double().mean().item())


@operation(
    "quality_metrics",
    display_name="Quality Metrics",
    category="quality",
    description=(
        "Measures image quality: PSNR and SSIM against an optional reference, and without one the noise "
        "level, sharpness, contrast and clipping. Numbers are batch means; the report lists every image."
    ),
    inputs=[
        Param("image", "image", help="The image or batch of images to measure."),
        Param("reference", "image", optional=True,
              help="Optional clean/original image of the same size for PSNR and SSIM. One reference image is used "
              "for the whole batch. Gray against RGB is compared on luma."),
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
        Output("report", "string", "A table with every measure for each image, with units."),
    ],
    gpu=True,
)
def run_quality_metrics(image, reference):
    m = measure(image, reference)
    has_ref = reference is not None
    clip_total = m["clip_dark"] + m["clip_bright"]
    psnr_capped = m["psnr"].clamp(max=PSNR_CAP_DB) if has_ref else None

    header = ["image"]
    if has_ref:
        header += ["PSNR dB", "SSIM"]
    header += ["noise", "sharpness", "contrast", "clip dark %", "clip bright %", "mean luma", "entropy", "colourful"]
    columns = [
        m[k].double().cpu().tolist()
        for k in ("noise_sigma", "sharpness", "contrast", "clip_dark", "clip_bright", "mean", "entropy", "colorfulness")
    ]
    formats = ["{:.2f}", "{:.1f}", "{:.4f}", "{:.3f}", "{:.3f}", "{:.4f}", "{:.3f}", "{:.1f}"]
    psnrs = m["psnr"].double().cpu().tolist() if has_ref else []
    ssims = m["ssim"].double().cpu().tolist() if has_ref else []
    rows = []
    b = image.shape[0]
    for i in range(b):
        row = [str(i + 1)]
        if has_ref:
            row += [_fmt_psnr(psnrs[i]), f"{ssims[i]:.4f}"]
        row += [f.format(col[i]) for f, col in zip(formats, columns, strict=True)]
        rows.append(row)
    if b > 1:
        row = ["mean"]
        if has_ref:
            row += [f"{_mean(psnr_capped):.2f}", f"{_mean(m['ssim']):.4f}"]
        row += [f.format(sum(col) / b) for f, col in zip(formats, columns, strict=True)]
        rows.append(row)

    lines = [f"Quality metrics: {image_summary(image)}."]
    if has_ref:
        if image.shape[1] != reference.shape[1]:
            compared = "luma (one side is gray)"
        else:
            compared = "RGB" if image.shape[1] == 3 else "gray"
        lines.append(
            f"Reference: {image_summary(reference)}; compared on {compared}, values as given (no 8-bit rounding)."
        )
    else:
        lines.append("No reference connected: PSNR and SSIM are not computed (their outputs are 0.0).")
    lines += ["", text_table(header, rows), ""]
    units = [
        "noise: estimated noise sigma, 0-255 grey levels (wavelet MAD estimator)",
        "sharpness: variance of the 4-neighbour Laplacian of luma, squared 0-255 grey levels",
        "contrast: RMS contrast (std of luma), 0-1; mean luma: 0-1",
        "clip dark/bright: % of samples at or below 0.5/255 / at or above 254.5/255",
        "entropy: bits of the 8-bit luma histogram (0-8); colourful: Hasler-Suesstrunk M (0 = gray, ~60 = quite colourful)",
    ]
    if has_ref:
        units.insert(
            0,
            f"PSNR: dB (inf = identical; counted as {PSNR_CAP_DB:g} dB in the mean and the psnr output); "
            "SSIM: Wang et al. 2004, 11x11 Gaussian window sigma 1.5, mean over channels",
        )
    lines += ["Units:"] + ["  " + u for u in units]

    return {
        "psnr": _mean(psnr_capped) if has_ref else 0.0,
        "ssim": _mean(m["ssim"]) if has_ref else 0.0,
        "noise_sigma": _mean(m["noise_sigma"]),
        "sharpness": _mean(m["sharpness"]),
        "contrast": _mean(m["contrast"]),
        "clipping": _mean(clip_total),
        "report": "\n".join(lines),
    }
