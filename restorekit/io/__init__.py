"""Image file input/output."""

from .files import (
    IMAGE_SUFFIXES,
    LoadedImage,
    list_images,
    load_image,
    output_bit_depth,
    read_image,
    save_images,
    write_image,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "LoadedImage",
    "list_images",
    "load_image",
    "output_bit_depth",
    "read_image",
    "save_images",
    "write_image",
]
