"""Operations that measure and compare: Quality Metrics, Estimate Noise, Compare."""

from __future__ import annotations

import math

import torch

from ..params import IMAGE, Output, Param, operation
from ..quality.compare import MAX_GAP, MAX_LABEL_HEIGHT, compare_grid, parse_labels
from ..quality.metrics import measure
from ..quality.noise import estimate_sigma

#: The psnr output is capped here so that identical images give a finite, JSON-safe number.
PSNR_CAP_DB = 100.0

_NOISE_ESTIMATOR = (
    "Donoho's robust estimator: median absolute value of the finest db2 diagonal wavelet band / 0.6745, "
    "per channel. It assumes white Gaussian noise; fine texture reads as a little noise, "
    "and smoothed or JPEG-compressed noise reads low."
)


def _shape_text(x: torch.Tensor) -> str:
    b, c, h, w = x.shape
    return f"{b} image{'s' if b != 1 else ''}, {'RGB' if c == 3 else 'gray'}, {w}x{h} px"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


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
        Param(
            "reference",
            "image",
            optional=True,
            help=(
                "Optional clean/original image of the same size for PSNR and SSIM. One reference image is "
                "used for the whole batch. Gray against RGB is compared on luma."
            ),
        ),
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

    lines = [f"Quality metrics: {_shape_text(image)}."]
    if has_ref:
        if image.shape[1] != reference.shape[1]:
            compared = "luma (one side is gray)"
        else:
            compared = "RGB" if image.shape[1] == 3 else "gray"
        lines.append(
            f"Reference: {_shape_text(reference)}; compared on {compared}, values as given (no 8-bit rounding)."
        )
    else:
        lines.append("No reference connected: PSNR and SSIM are not computed (their outputs are 0.0).")
    lines += ["", _table(header, rows), ""]
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


@operation(
    "estimate_noise",
    display_name="Estimate Noise",
    category="denoise",
    description=(
        "Estimates the white-noise standard deviation of each image and channel in 0-255 grey levels, "
        "ready to feed a denoiser's sigma input."
    ),
    inputs=[IMAGE],
    outputs=[
        Output("sigma", "float", "Noise sigma, 0-255 grey levels: mean over channels and images."),
        Output("sigma_red", "float", "Noise sigma of the red channel, 0-255 (the gray sigma for gray images)."),
        Output("sigma_green", "float", "Noise sigma of the green channel, 0-255 (the gray sigma for gray images)."),
        Output("sigma_blue", "float", "Noise sigma of the blue channel, 0-255 (the gray sigma for gray images)."),
        Output("report", "string", "Per-image, per-channel estimates in 0-255 grey levels and the estimator used."),
    ],
    gpu=True,
)
def run_estimate_noise(image):
    sig = (estimate_sigma(image) * 255.0).double().cpu()  # [B, C]
    if sig.shape[1] == 1:
        sig_rgb = sig.expand(-1, 3)
        header = ["image", "gray"]
    else:
        sig_rgb = sig
        header = ["image", "red", "green", "blue", "mean"]
    rows = []
    for i in range(sig.shape[0]):
        vals = sig[i].tolist()
        rows.append([str(i + 1)] + [f"{v:.2f}" for v in vals] + ([f"{sum(vals) / 3:.2f}"] if len(vals) == 3 else []))
    if sig.shape[0] > 1:
        means = sig.mean(dim=0).tolist()
        rows.append(["mean"] + [f"{v:.2f}" for v in means] + ([f"{sum(means) / 3:.2f}"] if len(means) == 3 else []))
    report = "\n".join(
        [
            f"Noise sigma estimate, 0-255 grey levels: {_shape_text(image)}.",
            "",
            _table(header, rows),
            "",
            "Estimator: " + _NOISE_ESTIMATOR,
        ]
    )
    per_channel = sig_rgb.mean(dim=0).tolist()
    return {
        "sigma": float(sig.mean().item()),
        "sigma_red": float(per_channel[0]),
        "sigma_green": float(per_channel[1]),
        "sigma_blue": float(per_channel[2]),
        "report": report,
    }


def _optional_image(k: int) -> Param:
    return Param(f"image_{k}", "image", optional=True, help=f"Optional image number {k} to add to the grid.")


@operation(
    "compare",
    display_name="Compare",
    category="quality",
    description=(
        "Puts up to six images side by side in a labelled grid (one grid per batch index), scaled to the "
        "first image's height."
    ),
    inputs=[
        Param("image_1", "image", help="First image; every tile is scaled to its height."),
        Param("image_2", "image", help="Second image."),
        *(_optional_image(k) for k in range(3, 7)),
        Param(
            "labels",
            "string",
            "",
            help=(
                "Comma-separated labels, the k-th naming the k-th connected image, e.g. 'noisy, BM3D, NLM'. "
                "Missing or empty labels show the input number."
            ),
        ),
        Param("columns", "int", 0, min=0, max=6, help="Tiles per row; 0 puts all images in one row."),
        Param(
            "label_height",
            "int",
            0,
            min=0,
            max=MAX_LABEL_HEIGHT,
            units="px",
            help="Height of the label strip above each tile; 0 = automatic (about 1/18 of the tile height, at least 20).",
            advanced=True,
        ),
        Param("gap", "int", 4, min=0, max=MAX_GAP, units="px", help="Space between tiles.", advanced=True),
    ],
    outputs=[Output("image", "image", "RGB grids, one per batch index (inputs with one image are repeated).")],
    gpu=True,
    combine_inputs=True,
)
def run_compare(
    image_1, image_2, image_3, image_4, image_5, image_6, labels, columns, label_height, gap, progress=None
):
    given = [
        (k, img)
        for k, img in enumerate((image_1, image_2, image_3, image_4, image_5, image_6), start=1)
        if img is not None
    ]
    slots = [k for k, _ in given]
    return compare_grid(
        [img for _, img in given],
        parse_labels(labels, slots),
        columns=columns,
        label_height=label_height if label_height > 0 else None,
        gap=gap,
        names=[f"image_{k}" for k in slots],
        progress=progress,
    )
