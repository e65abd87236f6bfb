"""Reading and writing image files (PNG, TIFF, JPEG, BMP, WebP) with bit depth kept.

Two levels:

- :func:`read_array` / :func:`write_array` move the file's own samples (uint8, uint16 or float32
  ``[H, W, C]``, C = 1..4, RGB order, alpha last) without any conversion, so a round trip is
  bit-exact. PNG goes through OpenCV (``IMREAD_UNCHANGED`` keeps 16-bit RGB, which Pillow and
  imageio truncate to 8 bits), TIFF through tifffile. A PNG whose header says 16 bits is checked
  to come back as 16 bits.
- :func:`read_image` / :func:`write_image` exchange float32 arrays in [0, 1]: integers are scaled
  by 255 or 65535 (written values are rounded, so the error is at most half a step), float TIFFs
  are taken as they are.

Every write is atomic: the file is written to a temporary file in the destination folder,
flushed to disk and renamed over the destination, so an interrupted write leaves the old file
(or none), never half a file. Text metadata goes into PNG ``tEXt``/``iTXt`` chunks (as ComfyUI's
Save Image stores ``prompt`` and ``workflow``) and into the TIFF ImageDescription tag.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import tempfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from ..errors import InvalidImageError, InvalidParameterError
from ..image import SplitImage, join_alpha, split_alpha, to_numpy

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".webp")
_TIFF = (".tif", ".tiff")
_MAX_DEPTH = {".png": 16, ".jpg": 8, ".jpeg": 8, ".bmp": 8, ".webp": 8, ".tif": 32, ".tiff": 32}
_DTYPE_OF_DEPTH = {8: np.uint8, 16: np.uint16, 32: np.float32}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: PNG colour types (IHDR) that hold gray samples: 0 gray, 4 gray + alpha.
_PNG_GRAY_TYPES = (0, 4)

_UMASK = os.umask(0)
os.umask(_UMASK)


@dataclass
class LoadedImage:
    """Pixels ``[H, W, C]`` float32 in [0, 1] and the file's bit depth (8, 16 or 32 for float)."""

    pixels: np.ndarray
    bit_depth: int
    path: Path


# ---- atomic writes ----------------------------------------------------------------------------


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Create or replace ``path`` with what ``write(file)`` writes, atomically.

    The data goes to a temporary file in the same folder, is flushed and fsynced, and is renamed
    over ``path`` (``os.replace``); the folder entry is then fsynced too where the platform allows.
    If ``write`` raises, or the process dies, the old file is untouched and the temporary file is
    removed (on an exception) — no partial file ever carries the destination's name.
    """
    path = Path(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    try:
        # Opened by name: tifffile wants a file object whose ``name`` is a path, not a descriptor.
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates the file readable by its owner only; give it the permissions open() would.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)
    return path


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable (POSIX); folders cannot be opened this way on Windows."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---- PNG chunks ---------------------------------------------------------------------------------


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, payload) of every chunk of a PNG file's bytes."""
    if not data.startswith(_PNG_SIGNATURE):
        raise InvalidImageError("png", "not a PNG file (bad signature).", "check that it is a valid PNG.")
    chunks = []
    pos = len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        chunks.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
        if kind == b"IEND":
            break
    return chunks


def png_header(data: bytes) -> tuple[int, int, int, int]:
    """``(width, height, bit_depth, colour_type)`` from the IHDR chunk of a PNG file's bytes."""
    if len(data) < 33 or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise InvalidImageError("png", "the file has no PNG header.", "check that it is a valid PNG.")
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    return width, height, depth, colour


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def _text_chunk(key: str, value: str) -> bytes:
    """A ``tEXt`` chunk (Latin-1, as ComfyUI writes JSON), or ``iTXt`` (UTF-8) for other text."""
    keyword = key.encode("latin-1", errors="strict")
    if not 1 <= len(keyword) <= 79 or b"\0" in keyword:
        raise InvalidParameterError("metadata", f"key {key!r} is not a valid PNG text keyword.", "use 1-79 plain characters.")
    try:
        return _png_chunk(b"tEXt", keyword + b"\0" + value.encode("latin-1"))
    except UnicodeEncodeError:
        return _png_chunk(b"iTXt", keyword + b"\0\0\0\0\0" + value.encode("utf-8"))


def _with_png_text(encoded: bytes, metadata: Mapping[str, str]) -> bytes:
    """The PNG bytes with text chunks inserted right after IHDR (so before the image data)."""
    if not metadata:
        return encoded
    end_of_ihdr = len(_PNG_SIGNATURE) + 8 + 13 + 4
    text = b"".join(_text_chunk(k, v) for k, v in metadata.items())
    return encoded[:end_of_ihdr] + text + encoded[end_of_ihdr:]


def _png_text(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for kind, payload in _png_chunks(data):
        if kind == b"tEXt":
            key, _, value = payload.partition(b"\0")
            out[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"zTXt":
            key, _, rest = payload.partition(b"\0")
            out[key.decode("latin-1")] = zlib.decompress(rest[1:]).decode("latin-1")
        elif kind == b"iTXt":
            key, _, rest = payload.partition(b"\0")
            compressed, rest = rest[0], rest[2:]
            _language, _, rest = rest.partition(b"\0")
            _translated, _, text = rest.partition(b"\0")
            out[key.decode("latin-1")] = (zlib.decompress(text) if compressed else text).decode("utf-8")
    return out


def read_metadata(path: str | Path) -> dict[str, str]:
    """Text metadata of a PNG (``tEXt``/``zTXt``/``iTXt`` chunks by keyword) or a TIFF (the
    ImageDescription tag as ``description``); other formats give ``{}``."""
    path = _existing(path)
    suffix = path.suffix.lower()
    if suffix == ".png":
        return _png_text(path.read_bytes())
    if suffix in _TIFF:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            tag = tif.pages[0].tags.get("ImageDescription")
            return {"description": str(tag.value)} if tag is not None else {}
    return {}


def metadata_from_json(text: str) -> dict[str, str]:
    """Metadata entries from a JSON object: each key becomes one text entry; string values are
    kept as they are, other values are written as JSON (as ComfyUI stores ``prompt`` and
    ``workflow``). An empty string gives ``{}``."""
    if not text.strip():
        return {}
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidParameterError("metadata", f"is not valid JSON ({err.msg} at position {err.pos}).",
                                    'give a JSON object, e.g. {"workflow": {...}}, or leave it empty.') from None
    if not isinstance(parsed, dict):
        raise InvalidParameterError("metadata", f"must be a JSON object, got {type(parsed).__name__}.",
                                    'give a JSON object, e.g. {"prompt": {...}, "workflow": {...}}.')
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in parsed.items()}


# ---- reading ------------------------------------------------------------------------------------


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InvalidImageError(str(path), "file not found.", "check the path.")
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise InvalidImageError(
            str(path), f"unsupported file type {suffix!r}.", f"use one of {', '.join(IMAGE_SUFFIXES)}."
        )
    return path


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            arr = np.asarray(page.asarray())
            axes = page.axes
    except (tifffile.TiffFileError, ValueError, OSError) as err:
        raise InvalidImageError(str(path), f"the TIFF file could not be read ({err}).", "check that it is a valid TIFF.") from err
    if arr.ndim == 3 and axes.startswith("S"):
        arr = np.moveaxis(arr, 0, -1)  # planar (separate) sample layout
    return arr


def _read_with_opencv(path: Path) -> np.ndarray:
    import cv2

    raw = np.fromfile(path, dtype=np.uint8)
    # imdecode from bytes handles non-ASCII paths, which cv2.imread does not on every platform.
    arr = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise InvalidImageError(str(path), "the file could not be decoded.", "check that it is a valid image.")
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA)
    if path.suffix.lower() == ".png":
        _, _, depth, colour = png_header(raw[:33].tobytes())
        if depth == 16 and arr.dtype != np.uint16:
            raise InvalidImageError(
                str(path), f"the header says 16 bits per sample but the decoder returned {arr.dtype}.",
                "please report this with the file; OpenCV should keep 16-bit PNG samples.",
            )
        if colour in _PNG_GRAY_TYPES and arr.ndim == 3 and arr.shape[2] == 4:
            arr = arr[:, :, [0, 3]]  # OpenCV expands gray + alpha to BGRA
    return arr


def read_array(path: str | Path) -> tuple[np.ndarray, int]:
    """The file's samples unchanged, ``[H, W, C]`` (C = 1..4, RGB order, alpha last), and their
    bit depth: uint8 (8), uint16 (16) or float32 (32; float16/float64 TIFFs are converted).

    Only the first page of a multi-page TIFF is read.
    """
    path = _existing(path)
    arr = _read_tiff(path) if path.suffix.lower() in _TIFF else _read_with_opencv(path)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidImageError(str(path), f"unsupported image layout {arr.shape}.", "use a gray, RGB or RGBA image.")
    if arr.dtype == bool:
        return arr.astype(np.uint8) * np.uint8(255), 8
    if arr.dtype in (np.uint8, np.uint16):
        return arr, 8 * arr.dtype.itemsize
    if np.issubdtype(arr.dtype, np.floating):
        return arr.astype(np.float32, copy=False), 32
    raise InvalidImageError(
        str(path), f"unsupported pixel type {arr.dtype}.", "save the image as 8- or 16-bit integer, or float TIFF."
    )


def to_unit(arr: np.ndarray) -> np.ndarray:
    """Samples as float32 in [0, 1] units: integers divided by their maximum (255 or 65535),
    floats as they are."""
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / np.float32(255.0)
    if arr.dtype == np.uint16:
        # Dividing in float64 then rounding once keeps the error of k/65535 below half a float32 step.
        return (arr.astype(np.float64) / 65535.0).astype(np.float32)
    return arr.astype(np.float32, copy=False)


def read_image(path: str | Path) -> LoadedImage:
    """Read an image file into float32 ``[H, W, C]`` (RGB/RGBA order) with its bit depth."""
    arr, depth = read_array(path)
    return LoadedImage(pixels=to_unit(arr), bit_depth=depth, path=Path(path))


# ---- writing ------------------------------------------------------------------------------------


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


def quantize(pixels: np.ndarray, bit_depth: int) -> np.ndarray:
    """Float pixels in [0, 1] (clipped) as the samples of a ``bit_depth`` file: uint8/uint16
    rounded to the nearest step (error at most half a step), float32 for 32."""
    arr = np.asarray(pixels)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if not np.isfinite(arr).all():
        raise InvalidImageError("pixels", "contain NaN or infinite values.", "check the step that produced them.")
    if bit_depth == 32:
        return np.clip(arr, 0.0, 1.0).astype(np.float32, copy=False)
    if bit_depth not in (8, 16):
        raise InvalidParameterError("bit_depth", f"must be 8, 16 or 32, got {bit_depth!r}.", None)
    top = 255.0 if bit_depth == 8 else 65535.0
    # float64 so that x * 65535 is exact enough for rounding to the nearest step in every case.
    scaled = np.multiply(arr, top, dtype=np.float64)
    np.clip(scaled, 0.0, top, out=scaled)
    np.rint(scaled, out=scaled)
    return scaled.astype(_DTYPE_OF_DEPTH[bit_depth])


def _check_samples(data: np.ndarray, suffix: str) -> np.ndarray:
    if data.ndim == 2:
        data = data[:, :, None]
    if data.ndim != 3 or data.shape[2] not in (1, 2, 3, 4) or data.shape[0] == 0 or data.shape[1] == 0:
        raise InvalidImageError("pixels", f"unsupported layout {data.shape}.", "give [height, width, 1..4] samples.")
    depth = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16, np.dtype(np.float32): 32}.get(data.dtype)
    if depth is None:
        raise InvalidImageError("pixels", f"unsupported sample type {data.dtype}.", "give uint8, uint16 or float32.")
    output_bit_depth(f"x{suffix}", depth)
    return data


def _write_tiff(fh: BinaryIO, data: np.ndarray, description: str | None, compress: bool) -> None:
    import tifffile

    channels = data.shape[2]
    tifffile.imwrite(
        fh,
        data[:, :, 0] if channels == 1 else data,
        photometric="minisblack" if channels in (1, 2) else "rgb",
        extrasamples=("unassalpha",) if channels in (2, 4) else None,
        compression="zlib" if compress else None,
        description=description,
        metadata=None,
    )


def _encode_png_gray_alpha(data: np.ndarray, compress: bool) -> bytes:
    """A gray + alpha PNG (colour type 4), which OpenCV cannot write: unfiltered rows, zlib-compressed."""
    h, w, _ = data.shape
    depth = 8 * data.dtype.itemsize
    rows = data.astype(data.dtype.newbyteorder(">"), copy=False).reshape(h, -1).view(np.uint8)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()
    header = struct.pack(">IIBBBBB", w, h, depth, 4, 0, 0, 0)
    return (_PNG_SIGNATURE + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(raw, 9 if compress else 1))
            + _png_chunk(b"IEND", b""))


def _encode_with_opencv(data: np.ndarray, suffix: str, compress: bool) -> bytes:
    import cv2

    channels = data.shape[2]
    if channels == 2 and suffix == ".png":
        return _encode_png_gray_alpha(data, compress)
    if channels == 2:  # gray + alpha: OpenCV writes 1, 3 or 4 channels
        data = np.concatenate([data[:, :, :1]] * 3 + [data[:, :, 1:]], axis=2)
        channels = 4
    if channels == 3:
        data = cv2.cvtColor(data, cv2.COLOR_RGB2BGR)
    elif channels == 4:
        data = cv2.cvtColor(data, cv2.COLOR_RGBA2BGRA)
    if suffix in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, 95]
    elif suffix == ".png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, 9 if compress else 1]
    else:
        params = []
    ok, encoded = cv2.imencode(suffix, data if channels != 1 else data[:, :, 0], params)
    if not ok:
        raise InvalidParameterError("output", f"the image could not be encoded as {suffix}.", "try another format.")
    return encoded.tobytes()


def write_array(
    path: str | Path, data: np.ndarray, *, metadata: Mapping[str, str] | None = None, compress: bool = False
) -> Path:
    """Write samples ``[H, W, C]`` (uint8, uint16 or float32 for TIFF; C = 1..4, alpha last) unchanged, atomically.

    ``metadata``: text entries (PNG text chunks by key; TIFF: the ImageDescription, one value as
    is or several as a JSON object; other formats: not stored). ``compress``: TIFF Deflate instead
    of uncompressed, PNG zlib level 9 instead of 1 (smaller, slower). Returns ``path``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    data = np.ascontiguousarray(_check_samples(np.asarray(data), suffix))
    metadata = dict(metadata or {})
    if suffix in _TIFF:
        if not metadata:
            description = None
        elif len(metadata) == 1:
            description = next(iter(metadata.values()))
        else:
            description = json.dumps(metadata)
        return atomic_write(path, lambda fh: _write_tiff(fh, data, description, compress))
    encoded = _encode_with_opencv(data, suffix, compress)
    if suffix == ".png":
        encoded = _with_png_text(encoded, metadata)
    return atomic_write(path, lambda fh: fh.write(encoded))


def write_image(
    path: str | Path,
    pixels: np.ndarray,
    bit_depth: int = 8,
    *,
    metadata: Mapping[str, str] | None = None,
    compress: bool = False,
) -> Path:
    """Write float ``[H, W, C]`` pixels in [0, 1] as an 8/16-bit integer or 32-bit float file (atomically).

    Values are clipped to [0, 1] and rounded to the nearest step; see :func:`write_array` for
    ``metadata`` and ``compress``.
    """
    depth = output_bit_depth(path, bit_depth)
    return write_array(path, quantize(pixels, depth), metadata=metadata, compress=compress)


# ---- core batches -------------------------------------------------------------------------------


def load_image(path: str | Path, device: torch.device | str | None = None) -> tuple[SplitImage, int]:
    """An image file as a core batch of one (``[1, C, H, W]``, alpha split off) and its bit depth."""
    loaded = read_image(path)
    channels_first = torch.from_numpy(loaded.pixels).permute(2, 0, 1).unsqueeze(0)
    return split_alpha(channels_first, str(path), device), loaded.bit_depth


def save_images(
    path: str | Path,
    pixels: torch.Tensor,
    alpha: torch.Tensor | None = None,
    bit_depth: int = 8,
    name: str = "result",
    *,
    metadata: Mapping[str, str] | None = None,
    compress: bool = False,
) -> list[Path]:
    """Write a core batch ``[B, C, H, W]`` (alpha appended when given) as files, one per image.

    One image goes to ``path``; a batch to ``stem_0.ext``, ``stem_1.ext``, …. Returns the paths written.
    """
    path = Path(path)
    arrays = to_numpy(join_alpha(pixels, alpha, name))
    if len(arrays) == 1:
        targets = [path]
    else:
        targets = [path.with_name(f"{path.stem}_{i}{path.suffix}") for i in range(len(arrays))]
    return [write_image(t, a, bit_depth, metadata=metadata, compress=compress) for t, a in zip(targets, arrays, strict=True)]


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
