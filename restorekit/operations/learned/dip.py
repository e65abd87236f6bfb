"""Deep Image Prior denoising (a network fitted to each image, stopped early without a clean image)."""

from __future__ import annotations

from dataclasses import replace

import torch

from ...learned.dip import PRECISIONS, STOP_RULES, deep_image_prior
from ...learned.skipnet import PADDINGS
from ...params import Output, Param, operation
from ...progress import ProgressCallback
from ..common import IMAGE, seed_param, sigma_param


def format_report(rep: dict, *, sigma_given: bool) -> str:
    """A readable summary of :func:`deep_image_prior`'s report dict (sigma in 0-255 grey levels)."""
    n = len(rep["iterations"])
    s = rep["settings"]
    head = (
        f"Deep Image Prior: {n} image{'s' if n != 1 else ''} in {rep['seconds']:.1f} s on {rep['device']} "
        f"({rep['precision']}); width {s['width']}, depth {s['depth']}, learning rate {s['learning_rate']:g}, "
        f"at most {s['iterations']} iterations per image."
    )
    lines = [head]
    sigmas = rep.get("noise_sigma")
    for i in range(n):
        text = f"image {i}: {rep['iterations'][i]} iterations, {rep['stop_reason'][i]}"
        if sigmas is not None:
            text += f" (noise sigma {sigmas[i] * 255:.1f}, {'given' if sigma_given else 'estimated'})"
        lines.append(text + ".")
    return "\n".join(lines)


#: Iteration cap when the node's ``iterations`` is 0 (automatic): the GPU figure is where PSNR on
#: 256 px colour crops stops rising (bench_dip.py); a CPU is ~30x slower per iteration, so it gets
#: a budget that finishes a 256 px image in about a minute (small images stop earlier by themselves).
GPU_ITERATIONS = 3000
CPU_ITERATIONS = 400


def automatic_iterations(device: torch.device) -> int:
    """The iteration cap used when ``iterations`` is 0, for ``device``."""
    return GPU_ITERATIONS if device.type == "cuda" else CPU_ITERATIONS


@operation(
    "deep_image_prior",
    display_name="Deep Image Prior",
    category="denoise",
    description=(
        "Deep Image Prior: fits a fresh convolutional network to each image from random input; the network "
        "learns the picture before the noise, and fitting stops (without a clean reference) when the result "
        "is as close to the input as the noise level allows. No training data or weights needed; use a GPU."
    ),
    inputs=[
        IMAGE,
        Param("iterations", "int", 0, min=0, max=20000, step=50,
              help="Most fitting iterations per image. Early stopping ends small images sooner; images of 256 px and "
              "more usually use them all (on an H100 about 3 ms per iteration at 256x256, 60 ms at 1920x1080). 0 = "
              "automatic: 3000 on a GPU, 400 on a CPU (where an iteration at 256x256 takes about 0.1-0.2 s)."),
        Param("learning_rate", "float", 0.01, help="Adam step size of the fit.", min=0.0001, max=0.1, step=0.0005),
        Param("early_stop", "bool", True,
              help="Stop automatically when the result stops improving (no clean image needed). Off = run all "
              "iterations, which eventually reproduces the noise."),
        Param("ema", "float", 0.99, min=0.0, max=0.999, step=0.001,
              help="Averaging of successive outputs (the result averages about 1/(1-ema) iterations); 0 = take the "
              "last output."),
        Param("width", "int", 32, min=4, max=256, step=4,
              help="Feature channels of the network at every level. Wider = slower per iteration."),
        seed_param(),
        replace(
            sigma_param(
                help="Noise standard deviation used by the noise stopping rule. 0 = estimate it from each image."
            ),
            advanced=True,
        ),
        Param("stop_rule", "choice", "noise", choices=STOP_RULES, advanced=True,
              help="noise: stop when the result is as close to the input as the noise level allows (discrepancy). "
              "variance: stop when successive outputs vary least (ES-EMV; best with input_noise 0)."),
        Param("discrepancy", "float", 0.75, advanced=True, min=0.1, max=2.0, step=0.05,
              help="noise rule: stop when the mean squared difference to the input falls to this multiple of "
              "sigma^2. Lower = fit longer (sharper, noisier)."),
        Param("depth", "int", 5, min=1, max=7, advanced=True,
              help="Levels of the encoder-decoder (each halves the resolution)."),
        Param("skip_channels", "int", 4, help="Channels of each skip connection.", min=0, max=64, advanced=True),
        Param("input_channels", "int", 32, min=1, max=64, advanced=True,
              help="Channels of the fixed random input code."),
        Param("input_noise", "float", 0.033, advanced=True, min=0.0, max=0.5, step=0.001,
              help="Std of the fresh noise added to the input code at every iteration (the code lies in [0, 0.1)); "
              "regularises the fit."),
        Param("padding", "choice", "reflect", choices=PADDINGS, advanced=True,
              help="Border handling of the network's convolutions: reflect (the paper's) or zeros (faster on GPUs)."),
        Param("window", "int", 50, min=1, max=2000, advanced=True,
              help="variance rule: averaging window of the output variance, in iterations."),
        Param("patience", "int", 200, min=1, max=20000, advanced=True,
              help="variance rule: iterations without a new variance minimum before stopping."),
        Param("min_iterations", "int", 100, min=0, max=20000, advanced=True,
              help="Never stop before this many iterations."),
        Param("precision", "choice", "auto", choices=PRECISIONS, advanced=True,
              help="auto: bfloat16 mixed precision on GPUs that support it, float16 with loss scaling on older GPUs, "
              "float32 on the CPU."),
    ],
    outputs=[
        Output("image", "image", "The denoised image(s)."),
        Output("report", "string", "Iterations run, why each fit stopped, time, device and precision."),
    ],
    gpu=True,
)
def run_deep_image_prior(
    image,
    iterations,
    learning_rate,
    early_stop,
    ema,
    width,
    seed,
    sigma,
    stop_rule,
    discrepancy,
    depth,
    skip_channels,
    input_channels,
    input_noise,
    padding,
    window,
    patience,
    min_iterations,
    precision,
    progress: ProgressCallback | None = None,
):
    out, rep = deep_image_prior(
        image,
        iterations=iterations or automatic_iterations(image.device),
        learning_rate=learning_rate,
        early_stop=early_stop,
        ema=ema,
        seed=seed,
        width=width,
        depth=depth,
        skip_channels=skip_channels,
        input_channels=input_channels,
        input_noise=input_noise,
        padding=padding,
        sigma=sigma,
        stop_rule=stop_rule,
        discrepancy=discrepancy,
        window=window,
        patience=patience,
        min_iterations=min_iterations,
        precision=precision,
        progress=progress,
        return_info=True,
    )
    return {"image": out, "report": format_report(rep, sigma_given=sigma is not None)}
