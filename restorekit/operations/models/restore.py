"""Restore With Model: run a loaded network on a batch, tiled."""

from __future__ import annotations

import torch

from ...errors import InvalidParameterError
from ...models.restore import GRAY_MODES, PRECISIONS, restore_with_model
from ...params import Output, Param, operation
from ...progress import ProgressCallback
from ..common import IMAGE, blend_param, sigma_param


@operation(
    "restore_with_model",
    display_name="Restore With Model",
    category="models",
    description=(
        "Runs a loaded restoration model on a batch: denoising, deblurring, artefact removal or super-resolution. "
        "Large images are processed in overlapping tiles blended without seams (tile size from free memory, halved "
        "when the GPU runs out of memory); fp16/bf16 where the model supports it; a noise level (or per-pixel map) "
        "for noise-conditional models such as FFDNet, DRUNet and FDnCNN."
    ),
    inputs=[
        Param("model", "model", help="A model from Load Restoration Model."),
        IMAGE,
        sigma_param(
            "noise_level",
            help=(
                "Noise level for noise-conditional models (FFDNet, DRUNet, FDnCNN): the noise standard deviation. "
                "0 = automatic: estimated from each image when 'estimate noise' is on, else the model's default "
                "(15). Ignored by other models."
            ),
        ),
        Param("estimate_noise", "bool", True,
              help="When the noise level is 0: estimate it from each image (on) or use the model's default (off)."),
        Param("noise_map", "mask", optional=True,
              help="Optional per-pixel noise level for noise-conditional models. With noise level 0 the mask value "
              "is the noise standard deviation on a 0-1 scale (0.1 = 25.5 grey levels); with a noise level set, the "
              "mask weights it (1 = the full level)."),
        Param("tile", "int", 0, min=0, max=8192, step=8, units="pixels",
              help="Tile side for large images. 0 = automatic: the whole image when it fits in memory, else the "
              "largest tile that fits. Halved automatically when the GPU runs out of memory."),
        Param("overlap", "int", 32, min=0, max=512, step=8, units="pixels", advanced=True,
              help="Overlap between neighbouring tiles; the tiles are blended smoothly over its central half."),
        Param("precision", "choice", "auto", choices=PRECISIONS, advanced=True,
              help="auto = bf16/fp16 on a GPU where the model supports it, fp32 on the CPU. A tile whose "
              "half-precision output overflows is rerun in fp32."),
        Param("gray_mode", "choice", "luma", choices=GRAY_MODES, advanced=True,
              help="Gray (1-channel) models on colour images: restore the luma and keep the colour (luma), or "
              "restore R, G and B separately (per_channel)."),
        blend_param("Blend with the input: 1 = the model's output, 0 = the input (upscaled bicubically for SR models)."),
    ],
    outputs=[
        Output("image", "image", "The restored image (larger by the model's scale factor for SR models)."),
        Output("report", "string", "The model, the noise level used, tiling, precision and any fallback."),
    ],
    gpu=True,
)
def run_restore_with_model(
    model,
    image,
    noise_level,
    estimate_noise,
    noise_map,
    tile,
    overlap,
    precision,
    gray_mode,
    strength,
    progress: ProgressCallback | None = None,
):
    if model is None:
        raise InvalidParameterError("model", "no model is connected.", "connect Load Restoration Model.")
    levels = None
    if noise_map is not None:
        levels = noise_map.to(image.device, torch.float32)
        if noise_level is not None:
            levels = levels * noise_level
            noise_level = None
    home = getattr(model, "device", None)
    try:
        out, info = restore_with_model(
            model, image, noise_level=noise_level, noise_map=levels, estimate_noise=estimate_noise, tile=tile,
            overlap=overlap, precision=precision, gray_mode=gray_mode, strength=strength, return_info=True,
            progress=progress,
        )
    finally:
        # Put the model back where it was (ComfyUI loads it on the CPU and caches it between runs: it must not
        # keep holding GPU memory; the CLI loads it on its device once for all files).
        if home is not None and torch.device(home) != image.device:
            model.to(home)
    name = getattr(model, "name", "model")
    arch = getattr(model, "architecture", "?")
    head = f"{name} ({arch}, {getattr(model, 'purpose', '?')}, x{getattr(model, 'scale', 1)})"
    sizes = f"{image.shape[-1]}x{image.shape[-2]} -> {out.shape[-1]}x{out.shape[-2]}, {image.shape[0]} image(s)"
    return {"image": out, "report": f"Restore with model: {head}; {sizes}; {info.summary()}"}
