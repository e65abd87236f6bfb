"""Image file input/output."""

from .files import IMAGE_SUFFIXES, LoadedImage, list_images, output_bit_depth, read_image, write_image

__all__ = ["IMAGE_SUFFIXES", "LoadedImage", "list_images", "output_bit_depth", "read_image", "write_image"]
