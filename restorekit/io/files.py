"""Reading and writing image files (PNG, TIFF, JPEG, BMP, WebP) with bit depth kept.

Images are exchanged as float32 numpy arrays ``[H, W, C]`` in [0, 1] (C = 1..4, RGB order,
alpha last). 8- and 16-bit integer files are scaled by 255 / 65535; float TIFFs are read as is,
so precision survives a round trip through the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import InvalidImageError, InvalidParameterError
from ..image import SplitImage, join_alpha, split_alpha, to_numpy

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".webp")
_TIFF = (".tif", ".tiff")
_MAX_DEPTH = {".png": 16, ".jpg": 8, ".jpeg": 8, ".bmp": 8, ".webp": 8, ".tif": 32, ".tiff": 32}


@dataclass
class LoadedImage:
    """Pixels ``[H, W, C]`` float32 in [0, 1] and the file's bit depth (8, 16 or 32 for float)."""

    pixels: np.ndarray
    bit_depth: int
    path: Path


def _scale_to_unit(arr: np.ndarray, path: Path) -> tuple[np.ndarray, int]:
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0, 8
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / 65535.0, 16
    if arr.dtype == bool:
        return arr.astype(np.float32), 8
    if np.issubdtype(arr.dtype, np.floating):
        return arr.astype(np.float32), 32
    raise InvalidImageError(
        str(path), f"unsupported pixel type {arr.dtype}.", "save the image as 8- or 16-bit integer, or float TIFF."
    )


def read_image(path: str | Path) -> LoadedImage:
    """Read an image file into float32 ``[H, W, C]`` (RGB/RGBA order) with its bit depth."""
    path = Path(path)
    if not path.is_file():
        raise InvalidImageError(str(path), "file not found.", "check the path.")
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise InvalidImageError(
            str(path), f"unsupported file type {suffix!r}.", f"use one of {', '.join(IMAGE_SUFFIXES)}."
        )
    if suffix in _TIFF:
        import tifffile

        arr = np.asarray(tifffile.imread(path))
        if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
            arr = np.moveaxis(arr, 0, -1)  # planar (C, H, W) TIFF
    else:
        import cv2

        # imdecode from bytes handles non-ASCII paths, which cv2.imread does not on every platform.
        arr = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        if arr is None:
            raise InvalidImageError(str(path), "the file could not be decoded.", "check that it is a valid image.")
        if arr.ndim == 3 and arr.shape[2] == 3:
            arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
        elif arr.ndim == 3 and arr.shape[2] == 4:
            arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidImageError(str(path), f"unsupported image layout {arr.shape}.", "use a gray, RGB or RGBA image.")
    pixels, depth = _scale_to_unit(arr, path)
    return LoadedImage(pixels=pixels, bit_depth=depth, path=path)


def output_bit_depth(path: str | Path, requested: int | None, source_depth: int = 8) -> int:
    """The bit depth to write: ``requested`` if the format allows it, else the source depth capped
    at what the format stores. An explicit request the format cannot store is an error."""
    suffix = Path(path).suffix.lower()
    if suffix not in _MAX_DEPTH:
        raise InvalidParameterError(
            "output", f"unsupported output type {suffix!r}.", f"use one of {', '.join(_MAX_DEPTH)}."
        )
    limit = _MAX_DEPTH[suffix]
    if requested is not None:
        if requested not in (8, 16, 32) or requested > limit:
            raise InvalidParameterError(
                "bit-depth",
                f"{suffix} files cannot store {requested}-bit images (at most {limit}).",
                "write a .tif for 32-bit float, a .png or .tif for 16-bit.",
            )
        return requested
    return min(source_depth, limit)


def write_image(path: str | Path, pixels: np.ndarray, bit_depth: int = 8) -> Path:
    """Write float ``[H, W, C]`` pixels in [0, 1] as an 8/16-bit integer or 32-bit float file."""
    path = Path(path)
    suffix = path.suffix.lower()
    depth = output_bit_depth(path, bit_depth)
    arr = np.clip(np.asarray(pixels, dtype=np.float32), 0.0, 1.0)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if depth == 8:
        data = np.round(arr * 255.0).astype(np.uint8)
    elif depth == 16:
        data = np.round(arr * 65535.0).astype(np.uint16)
    else:
        data = arr
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in _TIFF:
        import tifffile

        channels = data.shape[2]
        photometric = "minisblack" if channels in (1, 2) else "rgb"
        extrasamples = ("unassalpha",) if channels in (2, 4) else None
        tifffile.imwrite(path, data[:, :, 0] if channels == 1 else data, photometric=photometric,
                         extrasamples=extrasamples)
        return path
    import cv2

    channels = data.shape[2]
    if channels == 2:  # gray + alpha: most formats want RGBA
        data = np.concatenate([data[:, :, :1]] * 3 + [data[:, :, 1:]], axis=2)
        channels = 4
    if channels == 3:
        data = cv2.cvtColor(data, cv2.COLOR_RGB2BGR)
    elif channels == 4:
        data = cv2.cvtColor(data, cv2.COLOR_RGBA2BGRA)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if suffix in (".jpg", ".jpeg") else []
    ok, encoded = cv2.imencode(suffix, data if channels != 1 else data[:, :, 0], params)
    if not ok:
        raise InvalidParameterError(str(path), "the image could not be encoded.", "try another output format.")
    encoded.tofile(path)
    return path


def load_image(path: str | Path, device: torch.device | str | None = None) -> tuple[SplitImage, int]:
    """An image file as a core batch of one (``[1, C, H, W]``, alpha split off) and its bit depth."""
    loaded = read_image(path)
    channels_first = torch.from_numpy(loaded.pixels).permute(2, 0, 1).unsqueeze(0)
    return split_alpha(channels_first, str(path), device), loaded.bit_depth


def save_images(
    path: str | Path, pixels: torch.Tensor, alpha: torch.Tensor | None = None, bit_depth: int = 8, name: str = "result"
) -> list[Path]:
    """Write a core batch ``[B, C, H, W]`` (alpha appended when given) as files, one per image.

    One image goes to ``path``; a batch to ``stem_0.ext``, ``stem_1.ext``, …. Returns the paths written.
    """
    path = Path(path)
    arrays = to_numpy(join_alpha(pixels, alpha, name))
    if len(arrays) == 1:
        return [write_image(path, arrays[0], bit_depth)]
    return [write_image(path.with_name(f"{path.stem}_{i}{path.suffix}"), a, bit_depth) for i, a in enumerate(arrays)]


def list_images(paths: list[str | Path]) -> list[Path]:
    """Expand files and folders (non-recursive, sorted) into a list of image files."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES and q.is_file())
            if not found:
                raise InvalidImageError(str(p), "the folder holds no image files.", f"put {', '.join(IMAGE_SUFFIXES)} files in it.")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise InvalidImageError(str(p), "no such file or folder.", "check the path.")
    return out
