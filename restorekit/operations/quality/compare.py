"""Compare: side-by-side grids with labels, metrics against a reference, zoomed crops and a best pick."""

from __future__ import annotations

import math

import torch

from ...image import match_batch
from ...params import Output, Param, operation
from ...progress import ProgressCallback
from ...quality.compare import (
    CROP_LAYOUTS,
    MAX_GAP,
    MAX_LABEL_HEIGHT,
    METRICS,
    best_index,
    compare_grid,
    compare_metrics,
    parse_labels,
)
from ..common import choice_param, report_output, text_table

METRIC_CHOICES = ("psnr_ssim", "psnr", "ssim", "none")


def _optional_image(k: int) -> Param:
    return Param(f"image_{k}", "image", optional=True, help=f"Optional image number {k} to add to the grid.")


def _fmt(metric: str, value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if metric == "psnr":
        return "inf dB" if math.isinf(value) else f"{value:.2f} dB"
    return f"{value:.4f}"


def _caption(shown: tuple[str, ...], values: dict[str, torch.Tensor], k: int, i: int) -> str:
    parts = [_fmt(m, float(values[m][k, i])) for m in shown]
    return "size differs" if all(p == "n/a" for p in parts) else " / ".join(parts)


def _report(labels: list[str], slots: list[int], values: dict[str, torch.Tensor] | None, best: int | None,
            best_by: str, batch: int) -> str:
    if values is None:
        return (f"{len(slots)} images compared, no reference connected: no metrics, no best pick "
                f"(best_image is image {slots[0]}).")
    rows = [[str(slot), label, *(_fmt(m, float(values[m][k].nanmean())) for m in METRICS)]
            for k, (slot, label) in enumerate(zip(slots, labels, strict=True))]
    lines = [f"Against the reference (mean over {batch} image{'s' if batch != 1 else ''}; PSNR in dB, higher is "
             "better; n/a = size differs from the reference):",
             text_table(["input", "label", "PSNR", "SSIM"], rows)]
    if best is None:
        lines.append(f"No image has the reference's size: no best pick (best_image is image {slots[0]}).")
    else:
        lines.append(f"Best by {best_by.upper()}: image {slots[best]} ({labels[best]}).")
        if batch > 1:
            winners = [best_index(values[best_by][:, i : i + 1]) for i in range(batch)]
            lines.append("Best per batch image: " + ", ".join(str(slots[w]) if w is not None else "-" for w in winners))
    return "\n".join(lines)


@operation(
    "compare",
    display_name="Compare",
    category="quality",
    description=(
        "Puts up to six images side by side in a labelled grid (one grid per batch index), scaled to the "
        "first image's height; with a reference, prints PSNR/SSIM on each tile and picks the best image; "
        "optionally shows a zoomed crop of one region of every image."
    ),
    inputs=[
        Param("image_1", "image", help="First image; every tile is scaled to its height."),
        Param("image_2", "image", help="Second image."),
        *(_optional_image(k) for k in range(3, 7)),
        Param("labels", "string", "",
              help="Comma-separated labels, the k-th naming the k-th connected image, e.g. 'noisy, BM3D, NLM'. "
              "Missing or empty labels show the input number."),
        Param("columns", "int", 0, min=0, max=7, help="Tiles per row; 0 puts all images in one row."),
        Param("label_height", "int", 0, min=0, max=MAX_LABEL_HEIGHT, units="px", advanced=True,
              help="Height of the label strip above each tile; 0 = automatic (about 1/18 of the tile height, at "
              "least 20)."),
        Param("gap", "int", 4, min=0, max=MAX_GAP, units="px", help="Space between tiles.", advanced=True),
        Param("reference", "image", optional=True,
              help="Optional clean reference: each image of its size gets PSNR/SSIM printed on its tile, and the best "
              "one is picked."),
        choice_param("metrics", "psnr_ssim", METRIC_CHOICES,
                     "What to print under each label when a reference is connected: PSNR (dB) and/or SSIM, or none."),
        choice_param("best_by", "psnr", METRICS,
                     "The metric (against the reference, mean over the batch) that picks the best image."),
        Param("show_reference", "bool", True, help="Add the reference as the last tile, labelled 'reference'."),
        Param("crop_size", "float", 0.0, min=0.0, max=1.0, step=0.01, units="fraction of the shorter side",
              help="Side of a square region shown enlarged for every image; 0 = no zoomed crops."),
        Param("crop_x", "float", 0.5, min=0.0, max=1.0, step=0.01, units="fraction of the width",
              help="Horizontal centre of the zoomed region (0 = left edge, 1 = right edge)."),
        Param("crop_y", "float", 0.5, min=0.0, max=1.0, step=0.01, units="fraction of the height",
              help="Vertical centre of the zoomed region (0 = top, 1 = bottom)."),
        choice_param("crop_layout", "inset", CROP_LAYOUTS,
                     "inset: the enlarged region in a corner of each tile; row: as an extra row under the tiles. The "
                     "region is outlined on every full view."),
    ],
    outputs=[
        Output("image", "image", "RGB grids, one per batch index (inputs with one image are repeated).", alpha=False),
        Output("best_image", "image", "The image with the best metric against the reference (image 1 without one)."),
        Output("best_index", "int", "Input number (1-6) of the best image; 1 without a reference."),
        report_output("PSNR and SSIM of each input against the reference and which one is best."),
    ],
    gpu=True,
    combine_inputs=True,
)
def run_compare(
    image_1, image_2, image_3, image_4, image_5, image_6, labels, columns, label_height, gap,
    reference=None, metrics="psnr_ssim", best_by="psnr", show_reference=True, crop_size=0.0, crop_x=0.5,
    crop_y=0.5, crop_layout="inset", progress: ProgressCallback | None = None,
):
    given = [
        (k, img)
        for k, img in enumerate((image_1, image_2, image_3, image_4, image_5, image_6), start=1)
        if img is not None
    ]
    slots = [k for k, _ in given]
    images = [img for _, img in given]
    names = [f"image_{k}" for k in slots]
    texts = parse_labels(labels, slots)
    batch = max(img.shape[0] for img in images)
    values, best, captions = None, None, None
    if reference is not None:
        values = compare_metrics(images, reference, names)
        best = best_index(values[best_by])
        batch = max(batch, reference.shape[0])
        shown = {"psnr_ssim": METRICS, "psnr": ("psnr",), "ssim": ("ssim",), "none": ()}[metrics]
        if shown:
            captions = [[_caption(shown, values, k, i) for i in range(batch)] for k in range(len(images))]
        if show_reference:
            images = [*images, reference]
            names = [*names, "reference"]
            texts = [*texts, "reference"]
            if captions is not None:
                captions.append([""] * batch)
    grid = compare_grid(
        images,
        texts,
        columns=columns,
        label_height=label_height if label_height > 0 else None,
        gap=gap,
        names=names,
        captions=captions,
        crop=(crop_x, crop_y, crop_size) if crop_size > 0 else None,
        crop_layout=crop_layout,
        highlight=best,
        progress=progress,
    )
    chosen = best if best is not None else 0
    best_image = match_batch(given[chosen][1], grid.shape[0], names[chosen])
    report = _report(texts[: len(slots)], slots, values, best, best_by, grid.shape[0])
    return {"image": grid, "best_image": best_image, "best_index": slots[chosen], "report": report}
