"""TV Denoise (node RK_TvDenoise): total-variation denoising, Chambolle or split Bregman, weight from sigma."""

from __future__ import annotations

import torch

from ...denoise.tv import COLORS, MAX_ITERATIONS, MAX_WEIGHT, METHODS, TvInfo, tv_denoise
from ...params import Param, operation
from ...progress import ProgressCallback
from ..common import IMAGE, blend_param, choice_param, image_output, report_output, sigma_param, text_table


def _format_report(infos: list[TvInfo], *, method: str, color: str, channels: int, weight_given: bool) -> str:
    colour = "gray" if channels == 1 else ("vectorial colour TV" if color == "vectorial" else "per RGB channel")
    how = "given" if weight_given else "automatic from sigma"
    head = (f"TV denoise ({'Chambolle dual projection' if method == 'chambolle' else 'split Bregman'}), {colour}; "
            f"weight {how}; sigma and weight in 0-255 grey levels; change = mean |du| of the last measured iteration.")
    rows = []
    for i, info in enumerate(infos):
        sigma = "-" if info.sigma is None else f"{info.sigma * 255:.2f} ({'estimated' if info.sigma_estimated else 'given'})"
        rows.append([str(i + 1), sigma, f"{info.weight * 255:.2f}", str(info.iterations), f"{info.change * 255:.4f}"])
    return head + "\n" + text_table(["image", "sigma", "weight", "iterations", "change"], rows)


@operation(
    "tv_denoise",
    display_name="TV Denoise",
    category="denoise",
    description=(
        "Total-variation denoising (Rudin-Osher-Fatemi): the image closest to the input whose total variation is "
        "small, which flattens noise and keeps edges sharp (flat areas may look cartoon-like). The weight follows "
        "the noise sigma, given or estimated; the report gives sigma, weight and convergence."
    ),
    inputs=[
        IMAGE,
        sigma_param(help="Noise standard deviation; sets the automatic weight. 0 = estimate it from each image."),
        choice_param("method", "chambolle", METHODS,
                     help="Solver of the same problem: chambolle = Chambolle's dual projection (accelerated, fastest); "
                     "split_bregman = Goldstein-Osher split Bregman."),
        Param("weight", "float", 0.0, min=0.0, max=MAX_WEIGHT * 255, step=0.5, units="0-255 grey levels",
              scale=1 / 255, zero_is_auto=True, advanced=True,
              help="Regularisation weight (scikit-image denoise_tv_chambolle's weight x 255); larger = smoother. "
              "0 = automatic from sigma."),
        Param("iterations", "int", 0, min=0, max=MAX_ITERATIONS, zero_is_auto=True, advanced=True,
              help="Iteration budget; the solver stops earlier once converged. 0 = the method's default (100)."),
        choice_param("color", "vectorial", COLORS, advanced=True,
                     help="Colour images: vectorial = one gradient norm over R, G and B (shared edges, fewer colour "
                     "fringes); per_channel = each channel on its own. Ignored for gray images."),
        blend_param(),
    ],
    outputs=[
        image_output("The denoised image."),
        report_output("Sigma per image (given or estimated), weight, iterations run and last change."),
    ],
    gpu=True,
)
def run_tv_denoise(
    image: torch.Tensor,
    sigma: float | None,
    method: str,
    weight: float | None,
    iterations: int | None,
    color: str,
    strength: float,
    progress: ProgressCallback | None = None,
) -> dict[str, object]:
    out, infos = tv_denoise(
        image, sigma=sigma, weight=weight, method=method, iterations=iterations, color=color, progress=progress,
        return_info=True,
    )
    if strength < 1.0:
        out = torch.lerp(image, out, strength)
    report = _format_report(infos, method=method, color=color, channels=image.shape[1], weight_given=weight is not None)
    return {"image": out, "report": report}
