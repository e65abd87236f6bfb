"""Save Image 16-bit: numbered PNG/TIFF files at 16 bits or float, with optional workflow metadata."""

from __future__ import annotations

import torch

from ...errors import InvalidImageError
from ...image import match_batch, to_numpy
from ...io import metadata_from_json, resolve_output_prefix, write_image
from ...io.folders import next_numbered_paths
from ...params import Output, Param, operation
from ..common import IMAGE, choice_param

#: format -> (file suffix, bit depth)
FORMATS = {"png16": (".png", 16), "tiff16": (".tif", 16), "tiff32f": (".tif", 32)}


def save_batch(
    image: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    filename_prefix: str = "restorekit/image",
    format: str = "png16",
    metadata: str = "",
    compress: bool = False,
) -> list[str]:
    """Write a core batch ``[B, C, H, W]`` as numbered files ``<prefix>_00001_.png``, … and return their paths.

    ``filename_prefix`` is ``folder/name`` relative to :func:`restorekit.io.output_dir`. ``mask``
    (``[B, 1, H, W]``, ComfyUI's convention) adds an alpha channel ``1 - mask``. ``metadata``: a JSON
    object whose entries become PNG text chunks / the TIFF ImageDescription.
    """
    suffix, depth = FORMATS[format]
    text = metadata_from_json(metadata)
    pixels = image
    if mask is not None:
        if tuple(mask.shape[-2:]) != tuple(image.shape[-2:]):
            raise InvalidImageError(
                "mask", f"is {mask.shape[-1]}x{mask.shape[-2]} px but the image is {image.shape[-1]}x{image.shape[-2]} px.",
                "connect the mask that belongs to the image (e.g. from Load Image 16-bit).",
            )
        alpha = 1.0 - match_batch(mask, image.shape[0], "mask").to(image.device, image.dtype)
        pixels = torch.cat([image, alpha], dim=1)
    folder, stem = resolve_output_prefix(filename_prefix)
    targets = next_numbered_paths(folder, stem, suffix, image.shape[0])
    written = []
    for target, arr in zip(targets, to_numpy(pixels), strict=True):
        written.append(str(write_image(target, arr, depth, metadata=text, compress=compress)))
    return written


@operation(
    "save_image_16bit",
    display_name="Save Image 16-bit",
    category="io",
    description=(
        "Saves images as 16-bit PNG, 16-bit TIFF or 32-bit float TIFF (numbered files for a batch, written "
        "atomically), with the mask as alpha and optional workflow metadata; returns the written paths."
    ),
    inputs=[
        IMAGE,
        Param("mask", "mask", optional=True,
              help="Optional mask saved as the alpha channel (alpha = 1 - mask, ComfyUI's convention). Unconnected or "
              "all zero: no alpha channel."),
        Param("filename_prefix", "string", "restorekit/image",
              help="folder/name relative to the output folder (ComfyUI's output folder; outside ComfyUI "
              "./restorekit-output). Files are numbered name_00001_.png, name_00002_.png, ..."),
        choice_param("format", "png16", tuple(FORMATS),
                     "png16: 16-bit PNG; tiff16: 16-bit TIFF; tiff32f: 32-bit float TIFF (every bit of the float "
                     "image kept)."),
        Param("metadata", "string", "", multiline=True, advanced=True,
              help='Optional JSON object stored in the file, e.g. {"prompt": {...}, "workflow": {...}}: one PNG text '
              "chunk per key (as ComfyUI's Save Image), or the TIFF ImageDescription."),
        Param("compress", "bool", False, advanced=True,
              help="Lossless compression: TIFF Deflate instead of none, PNG zlib level 9 instead of 1. Smaller files, "
              "slower writes."),
    ],
    outputs=[Output("paths", "string", "The files written, one path per line.")],
    gpu=False,
    output_node=True,  # ComfyUI runs a node only if it is an output node or feeds one
)
def run_save_image_16bit(
    image: torch.Tensor, mask: torch.Tensor | None, filename_prefix: str, format: str, metadata: str, compress: bool
) -> str:
    return "\n".join(
        save_batch(image, mask, filename_prefix=filename_prefix, format=format, metadata=metadata, compress=compress)
    )
