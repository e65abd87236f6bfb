"""Estimate Noise: the noise level of each image per channel."""

from __future__ import annotations

from ...params import Output, operation
from ...quality.noise import estimate_sigma
from ..common import IMAGE, image_summary, text_table

_NOISE_ESTIMATOR = (
    "Donoho's robust estimator: median absolute value of the finest db2 diagonal wavelet band / 0.6745, "
    "per channel. It assumes white Gaussian noise; fine texture reads as a little noise, "
    "and smoothed or JPEG-compressed noise reads low."
)

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
            f"Noise sigma estimate, 0-255 grey levels: {image_summary(image)}.",
            "",
            text_table(header, rows),
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
