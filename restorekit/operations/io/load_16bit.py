"""Load Image 16-bit: a PNG or TIFF file (or a folder of them) at full precision, with its alpha as a mask."""

from __future__ import annotations

from pathlib import Path

import torch

from ...errors import InvalidImageError
from ...image import match_channels
from ...io import IMAGE_SUFFIXES, load_image, resolve_input
from ...params import Output, Param, operation

#: restorekit's bundled sample images, the last place a relative name is looked up.
SAMPLES_DIR = Path(__file__).resolve().parents[2] / "data"


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    found = sorted(q for q in path.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise InvalidImageError(str(path), "the folder holds no image files.", f"put {', '.join(IMAGE_SUFFIXES)} files in it.")
    return found


def load_images(path: str) -> dict[str, torch.Tensor | int]:
    """Read ``path`` (a file, or a folder whose images form a batch in name order) into a core batch.

    Returns ``image`` ``[B, C, H, W]`` float32 in [0, 1] (C = 3 if any file is colour, else 1), ``mask``
    ``[B, 1, H, W]`` = 1 - alpha (ComfyUI's convention; zeros where a file has no alpha) and
    ``bit_depth``, the largest of the files' (8, 16, or 32 for float TIFF).
    """
    files = _files(resolve_input(path, (SAMPLES_DIR,)))
    loaded = [load_image(f, "cpu") for f in files]
    sizes = {tuple(split.pixels.shape[-2:]) for split, _ in loaded}
    if len(sizes) > 1:
        raise InvalidImageError(
            path, f"the images have different sizes {sorted(sizes)}, so they cannot form one batch.",
            "put images of one size into the folder, or load them one by one.",
        )
    channels = max(split.pixels.shape[1] for split, _ in loaded)
    image = torch.cat([match_channels(split.pixels, channels) for split, _ in loaded])
    mask = torch.cat([
        1.0 - split.alpha if split.alpha is not None else torch.zeros_like(split.pixels[:, :1]) for split, _ in loaded
    ])
    return {"image": image, "mask": mask, "bit_depth": max(depth for _, depth in loaded)}


@operation(
    "load_image_16bit",
    display_name="Load Image 16-bit",
    category="io",
    description=(
        "Loads a PNG (8/16-bit) or TIFF (8/16-bit or 32-bit float) file at full precision, or every image of a "
        "folder as one batch, with the alpha channel as a mask (mask = 1 - alpha, as ComfyUI's Load Image)."
    ),
    inputs=[
        Param("path", "string", "astronaut.png",
              help="Image file or folder. A relative name is looked up in the input folder (ComfyUI's input folder; "
              "outside ComfyUI the current folder), then among restorekit's bundled samples (astronaut.png)."),
    ],
    outputs=[
        Output("image", "image", "The image(s), float32 in [0, 1] with every bit of the file kept."),
        Output("mask", "mask", "1 - alpha (ComfyUI's convention); all zeros for images without alpha."),
        Output("bit_depth", "int", "Bits per sample of the file: 8, 16, or 32 for float TIFF (the largest in a folder)."),
    ],
    gpu=False,
)
def run_load_image_16bit(path: str) -> dict[str, torch.Tensor | int]:
    return load_images(path)
