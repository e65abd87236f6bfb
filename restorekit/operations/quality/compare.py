"""Compare: side-by-side grids with labels."""

from __future__ import annotations

from ...params import Output, Param, operation
from ...quality.compare import MAX_GAP, MAX_LABEL_HEIGHT, compare_grid, parse_labels


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
        Param("labels", "string", "",
              help="Comma-separated labels, the k-th naming the k-th connected image, e.g. 'noisy, BM3D, NLM'. "
              "Missing or empty labels show the input number."),
        Param("columns", "int", 0, min=0, max=6, help="Tiles per row; 0 puts all images in one row."),
        Param("label_height", "int", 0, min=0, max=MAX_LABEL_HEIGHT, units="px", advanced=True,
              help="Height of the label strip above each tile; 0 = automatic (about 1/18 of the tile height, at "
              "least 20)."),
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
