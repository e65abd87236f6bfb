"""Noise2Void: a denoising network trained on the input image itself (no clean image, no noise level)."""

from __future__ import annotations

from typing import Any

import torch

from ...learned.n2v import noise2void
from ...learned.unet import MAX_DEPTH
from ...params import Output, Param, operation
from ...progress import ProgressCallback
from ..common import IMAGE, seed_param


def format_report(info: dict[str, Any], batch: int) -> str:
    """The training report as a few human-readable lines (losses as RMS in 0-255 grey levels)."""

    def rms255(mse: float) -> float:
        return (max(mse, 0.0) ** 0.5) * 255

    ph, pw = info["patch_size"]
    tiling = "untiled" if info["tile"] <= 0 else f"in tiles of {info['tile']} px"
    if info["self_ensemble"]:
        tiling += ", 8-fold self-ensemble"
    lines = [
        f"Noise2Void: {info['steps']} steps of {info['patches']} patches {ph}x{pw} from {batch} image(s), "
        f"{info['masked_per_patch']} masked pixels per patch ({100 * info['mask_ratio']:.1f}%, {info['mask_mode']}); "
        f"U-Net width {info['width']}, depth {info['depth']} ({info['parameters'] / 1e3:.0f}k parameters).",
        f"Masked loss (RMS, 0-255 grey levels): {rms255(info['initial_loss']):.2f} at the start -> "
        f"{rms255(info['final_loss']):.2f} at the end (includes the noise itself, so it cannot reach 0).",
        f"Time {info['seconds']:.1f} s (training {info['train_seconds']:.1f} s, inference "
        f"{info['inference_seconds']:.2f} s) on {info['device']}, {info['precision']}; "
        f"inference {tiling}.",
    ]
    return "\n".join(lines)


#: Training budget when steps / patches per step / width are left at 0 (automatic). The GPU setting
#: is the one benchmarked on BSD68; on a CPU it would take about an hour even for a small image, so
#: a smaller network and batch keep the node usable there (about half a minute for 512 x 512).
GPU_BUDGET = {"steps": 2000, "patches_per_step": 64, "width": 32}
CPU_BUDGET = {"steps": 300, "patches_per_step": 16, "width": 16}


def automatic_budget(device: torch.device) -> dict[str, int]:
    """The automatic training budget for ``device``."""
    return dict(GPU_BUDGET if device.type == "cuda" else CPU_BUDGET)


@operation(
    "noise2void",
    display_name="Noise2Void",
    category="denoise",
    description=(
        "Self-supervised denoising: trains a small U-Net on the input image(s) themselves with blind-spot "
        "masking (Noise2Void), then applies it. Needs no clean image and no noise level; suited to noise that is "
        "independent from pixel to pixel. One network is trained on the whole batch. Much faster on a GPU."
    ),
    inputs=[
        IMAGE,
        Param("steps", "int", 0, min=0, max=100000,
              help="Training steps. More steps = better result and longer run. 0 = automatic: 2000 on a GPU (seconds "
              "on a recent card), 300 on a CPU (where 2000 steps of the GPU setting take an hour)."),
        Param("patch_size", "int", 64, min=8, max=512, step=8, units="pixels",
              help="Side of the square training patches (reduced to the image size for small images).", advanced=True),
        Param("patches_per_step", "int", 0, min=0, max=1024,
              help="Training patches per step (batch size). More = smoother training, slower steps. 0 = automatic: "
              "64 on a GPU, 16 on a CPU.", advanced=True),
        Param("mask_ratio", "float", 0.05, min=0.001, max=0.25, step=0.001,
              help="Fraction of the pixels of each patch that are hidden (replaced by a neighbour) and predicted. "
              "Higher trains faster per step; too high hides too much context. 0.02-0.06 work well.", advanced=True),
        Param("learning_rate", "float", 0.002, min=0.00001, max=0.01, step=0.00001,
              help="Peak learning rate of the Adam optimiser (decays along a cosine curve to 1% at the end).", advanced=True),
        Param("width", "int", 0, min=0, max=128,
              help="Feature channels of the network's first level (doubling at each level). Larger = slower, "
              "sometimes better. 0 = automatic: 32 on a GPU, 16 on a CPU.", advanced=True),
        Param("depth", "int", 2, min=1, max=MAX_DEPTH, advanced=True,
              help="Down-sampling levels of the U-Net (its receptive field grows with depth)."),
        seed_param(),
        Param("tile", "int", 0, min=0, max=8192, step=64, units="pixels", advanced=True,
              help="Tile side for applying the trained network to large images. 0 = automatic (whole image when it "
              "fits in memory; smaller tiles after an out-of-memory error)."),
        Param("self_ensemble", "bool", True, advanced=True,
              help="Average the trained network's outputs over the 8 flips and 90-degree rotations of the image (a "
              "few tenths of a dB better; 8 inference passes, small next to training)."),
    ],
    outputs=[
        Output("image", "image", "The denoised image(s)."),
        Output("report", "string", "Training report: steps, masked loss at start and end, time, device, precision."),
    ],
    gpu=True,
    node_suffix="Noise2Void",
)
def run_noise2void(
    image: torch.Tensor,
    steps: int,
    patch_size: int,
    patches_per_step: int,
    mask_ratio: float,
    learning_rate: float,
    width: int,
    depth: int,
    seed: int,
    tile: int,
    self_ensemble: bool,
    progress: ProgressCallback | None = None,
) -> dict[str, object]:
    auto = automatic_budget(image.device)
    out, info = noise2void(
        image,
        steps=steps or auto["steps"],
        patch_size=patch_size,
        patches_per_step=patches_per_step or auto["patches_per_step"],
        mask_ratio=mask_ratio,
        learning_rate=learning_rate,
        width=width or auto["width"],
        depth=depth,
        seed=seed,
        tile=tile,
        self_ensemble=self_ensemble,
        progress=progress,
        return_info=True,
    )
    return {"image": out, "report": format_report(info, image.shape[0])}
