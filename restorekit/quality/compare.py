"""Side-by-side comparison: a labelled grid of several images (results, reference, input).

:func:`compare_grid` takes up to any number of batches and returns one RGB grid per batch
index. Tiles are scaled to the first image's height (keeping aspect), each under a dark strip
with its label. Text is drawn with Pillow's built-in font into a small mask and composited in
torch, so the grid itself is built on the images' device.

Options: a caption line per tile (e.g. PSNR/SSIM against a reference, see :func:`compare_metrics`),
a zoomed crop of one region of every image (as an inset in the tile's corner or as an extra row
below the tiles, with the region outlined on the full view) and a highlighted "best" tile
(:func:`best_index`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InvalidImageError, InvalidParameterError
from ..image import check_image, from_numpy, match_batch, match_channels
from ..progress import ProgressCallback, report

log = logging.getLogger(__name__)

#: Grey level of the label strips, of their text, and of the gaps/unused cells.
STRIP_LEVEL = 0.08
TEXT_LEVEL = 0.96
BACKGROUND_LEVEL = 0.22
MAX_LABEL_HEIGHT = 512
MAX_GAP = 256
#: Colour of the outline around the zoomed region and of the inset's frame, and of the best tile's strip.
CROP_COLOR = (1.0, 0.82, 0.1)
BEST_STRIP_COLOR = (0.07, 0.36, 0.15)
#: Side of an inset as a fraction of the tile's shorter side.
INSET_FRACTION = 0.42
CROP_LAYOUTS = ("inset", "row")
METRICS = ("psnr", "ssim")


def auto_label_height(tile_height: int) -> int:
    """Label strip height in px for tiles ``tile_height`` px tall: 1/18 of it, between 20 and 96 px."""
    return int(min(96, max(20, round(tile_height / 18))))


def parse_labels(text: str, slots: Sequence[int]) -> list[str]:
    """Labels for the connected inputs from a comma-separated string.

    The k-th entry names the k-th connected input (``slots`` holds their 1-based input
    numbers, e.g. ``[1, 2, 4]`` when input 3 is not connected). Missing or blank entries default to the input number;
    surplus entries are ignored (and logged).
    """
    parts = [p.strip() for p in text.split(",")] if text.strip() else []
    if len(parts) > len(slots):
        log.info("compare: %d labels given for %d images; the extra ones are ignored", len(parts), len(slots))
    return [parts[i] if i < len(parts) and parts[i] else str(slot) for i, slot in enumerate(slots)]


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # Pillow < 10.1 or built without FreeType: fixed bitmap font
        return ImageFont.load_default()


def text_mask(text: str, width: int, height: int) -> np.ndarray:
    """Coverage mask ``[height, width]`` float32 in [0, 1] of ``text`` centred in the box.

    The font size follows the box height; text too wide for the box is shortened with "...".
    """
    from PIL import Image, ImageDraw

    canvas = Image.new("L", (max(width, 1), max(height, 1)), 0)
    if width < 1 or height < 6 or not text:
        return np.asarray(canvas, dtype=np.float32) / 255.0
    font = _font(max(6, round(height * 0.62)))
    draw = ImageDraw.Draw(canvas)
    margin = max(2, height // 6)
    shown = text
    while shown and draw.textlength(shown if shown == text else shown + "...", font=font) > width - 2 * margin:
        shown = shown[:-1]
    if shown != text:
        shown = shown + "..." if shown else ""
        if draw.textlength(shown, font=font) > width - 2 * margin:
            shown = ""
    if shown:
        left, top, right, bottom = draw.textbbox((0, 0), shown, font=font)
        x0 = (width - (right - left)) / 2 - left
        y0 = (height - (bottom - top)) / 2 - top
        draw.text((x0, y0), shown, fill=255, font=font)
    return np.asarray(canvas, dtype=np.float32) / 255.0


def _check_int(name: str, value: int, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidParameterError(name, f"must be a whole number from {lo} to {hi}, got {value!r}.", None)
    return value


def _resize_to_height(x: torch.Tensor, height: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    if h == height:
        return x
    width = max(1, round(w * height / h))
    mode = "bicubic" if min(h, w) >= 4 and height >= 4 else "bilinear"
    return F.interpolate(x, size=(height, width), mode=mode, antialias=True, align_corners=False).clamp(0.0, 1.0)


def compare_grid(
    images: Sequence[torch.Tensor],
    labels: Sequence[str] | None = None,
    *,
    columns: int = 0,
    label_height: int | None = None,
    gap: int = 4,
    names: Sequence[str] | None = None,
    captions: Sequence[Sequence[str]] | None = None,
    crop: tuple[float, float, float] | None = None,
    crop_layout: str = "inset",
    highlight: int | None = None,
    progress: ProgressCallback | None = None,
) -> torch.Tensor:
    """A labelled grid of ``images`` (core batches ``[B_k, C_k, H_k, W_k]``), one grid per batch index.

    Returns ``[B, 3, H, W]`` on the first image's device, float32 (float64 for float64 input), where ``B`` is the
    largest batch; batches of one are repeated, other mismatches raise
    :class:`InvalidImageError`. Grid ``i`` shows ``images[k][i]`` for every ``k`` in order.

    - Tiles are resized to the first image's height keeping their aspect ratio (antialiased),
      and centred in cells as wide as the widest tile; gray images are shown as RGB.
    - ``labels``: one per image (default ``"1"``, ``"2"``, …), drawn on a dark strip of
      ``label_height`` px above each tile (``None`` = :func:`auto_label_height`).
    - ``columns``: tiles per row; 0 puts all in one row. ``gap``: px between cells.
    - ``captions``: ``captions[k][i]`` is a second text line under tile ``k``'s label in grid ``i``
      (e.g. its PSNR); a strip of the label's height is added when given.
    - ``crop``: ``(x, y, size)`` as fractions: the centre of a square region (of each image's own
      width and height) and its side (of the image's shorter side). The region is outlined on every
      tile and shown enlarged (nearest neighbour, so pixels stay visible) either as an ``inset`` in
      the tile's corner opposite the region (side 0.42 of the tile's shorter side) or as an extra ``row``
      under the tiles (square, as tall as a tile but at most as wide).
    - ``highlight``: index of a tile whose label strip is drawn green (the "best" one).
    """
    if len(images) == 0:
        raise InvalidImageError("images", "nothing to compare.", "connect at least one image.")
    names = list(names) if names is not None else [f"image_{k + 1}" for k in range(len(images))]
    for img, name in zip(images, names, strict=False):
        check_image(img, name)
    n = len(images)
    columns = _check_int("columns", columns, 0, 10_000)
    gap = _check_int("gap", gap, 0, MAX_GAP)
    labels = list(labels) if labels is not None else [str(k + 1) for k in range(n)]
    if len(labels) != n:
        raise InvalidParameterError("labels", f"{len(labels)} labels for {n} images.", "give one label per image.")

    first = images[0]
    device, dtype = first.device, (first.dtype if first.dtype in (torch.float32, torch.float64) else torch.float32)
    batch = max(img.shape[0] for img in images)
    tile_h = first.shape[-2]
    strip_h = (
        auto_label_height(tile_h)
        if label_height is None
        else _check_int("label_height", label_height, 0, MAX_LABEL_HEIGHT)
    )

    if captions is not None and (len(captions) != n or any(len(c) != batch for c in captions)):
        raise InvalidParameterError("captions", f"expected {n} lists of {batch} captions.", "give one per tile and image.")
    if crop is not None:
        crop = _check_crop(crop)
        if crop_layout not in CROP_LAYOUTS:
            raise InvalidParameterError(
                "crop_layout", f"unknown layout {crop_layout!r}.", f"use one of {', '.join(CROP_LAYOUTS)}."
            )
    if highlight is not None:
        _check_int("highlight", highlight, 0, n - 1)

    tiles, sources = [], []
    for k, (img, name) in enumerate(zip(images, names, strict=False)):
        t = match_batch(img.to(device=device, dtype=dtype), batch, name)
        t = match_channels(t, 3)
        sources.append(t)
        tiles.append(_resize_to_height(t, tile_h))
        report(progress, k + 1, n + 1)

    cols = n if columns == 0 else min(columns, n)
    rows = math.ceil(n / cols)
    cell_w = max(t.shape[-1] for t in tiles)
    caption_h = strip_h if captions is not None else 0
    zoom_side = min(tile_h, min(t.shape[-1] for t in tiles)) if crop is not None and crop_layout == "row" else 0
    zoom_h = zoom_side + gap if zoom_side else 0
    cell_h = strip_h + caption_h + tile_h + zoom_h
    out_h = rows * cell_h + (rows - 1) * gap
    out_w = cols * cell_w + (cols - 1) * gap
    out = torch.full((batch, 3, out_h, out_w), BACKGROUND_LEVEL, device=device, dtype=dtype)

    for k, (tile, source, text) in enumerate(zip(tiles, sources, labels, strict=True)):
        r, c = divmod(k, cols)
        w = tile.shape[-1]
        top = r * (cell_h + gap)
        left = c * (cell_w + gap) + (cell_w - w) // 2
        if strip_h > 0:
            mask = from_numpy(text_mask(text, w, strip_h)[None, :, :, None], like=out)
            background = _color(BEST_STRIP_COLOR if k == highlight else (STRIP_LEVEL,) * 3, out)
            out[:, :, top : top + strip_h, left : left + w] = background + (TEXT_LEVEL - background) * mask
        if caption_h > 0:
            lines = [text_mask(captions[k][i], w, caption_h) for i in range(batch)]
            mask = from_numpy(np.stack(lines)[:, :, :, None], like=out)
            y = top + strip_h
            out[:, :, y : y + caption_h, left : left + w] = STRIP_LEVEL + (TEXT_LEVEL - STRIP_LEVEL) * mask
        y = top + strip_h + caption_h
        if crop is not None:
            tile = tile.clone()
            region = _crop_region(source.shape[-2:], crop)
            _outline(tile, _scale_box(region, source.shape[-2], tile_h, tile.shape[-1] / source.shape[-1]))
            if crop_layout == "inset":
                side = max(1, round(INSET_FRACTION * min(tile_h, w)))
                if side >= 8:
                    _place_inset(tile, _zoom(source, region, side), crop)
            else:
                zoom = _zoom(source, region, zoom_side)
                _outline(zoom, (0, 0, zoom_side, zoom_side))
                zy, zx = y + tile_h + gap, c * (cell_w + gap) + (cell_w - zoom_side) // 2
                out[:, :, zy : zy + zoom_side, zx : zx + zoom_side] = zoom
        out[:, :, y : y + tile_h, left : left + w] = tile
    report(progress, n + 1, n + 1)
    return out


def _color(rgb: Sequence[float], like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(rgb, device=like.device, dtype=like.dtype).view(1, 3, 1, 1)


def _check_crop(crop: tuple[float, float, float]) -> tuple[float, float, float]:
    if len(crop) != 3:
        raise InvalidParameterError("crop", f"expected (x, y, size), got {crop!r}.", None)
    for name, value, lo in zip(("crop_x", "crop_y", "crop_size"), crop, (0.0, 0.0, 1e-6), strict=True):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= 1.0:
            raise InvalidParameterError(name, f"must be a fraction in [{lo:g}, 1], got {value!r}.", None)
    return float(crop[0]), float(crop[1]), float(crop[2])


def _crop_region(size: Sequence[int], crop: tuple[float, float, float]) -> tuple[int, int, int, int]:
    """``(top, left, height, width)`` in px of the square region ``crop`` of an image of ``size`` (H, W)."""
    h, w = int(size[0]), int(size[1])
    side = max(1, min(h, w, round(crop[2] * min(h, w))))
    top = min(max(0, round(crop[1] * h - side / 2)), h - side)
    left = min(max(0, round(crop[0] * w - side / 2)), w - side)
    return top, left, side, side


def _scale_box(box: tuple[int, int, int, int], src_h: int, tile_h: int, sx: float) -> tuple[int, int, int, int]:
    sy = tile_h / src_h
    top, left, bh, bw = box
    return round(top * sy), round(left * sx), max(1, round(bh * sy)), max(1, round(bw * sx))


def _outline(img: torch.Tensor, box: tuple[int, int, int, int]) -> None:
    """Draw a rectangle (in place) just inside ``box`` = (top, left, height, width), 1 px per 200 px of image."""
    h, w = img.shape[-2:]
    top, left, bh, bw = box
    bottom, right = min(h, top + bh), min(w, left + bw)
    line = max(1, round(min(h, w) / 200))
    color = _color(CROP_COLOR, img)
    img[:, :, top : min(bottom, top + line), left:right] = color
    img[:, :, max(top, bottom - line) : bottom, left:right] = color
    img[:, :, top:bottom, left : min(right, left + line)] = color
    img[:, :, top:bottom, max(left, right - line) : right] = color


def _zoom(source: torch.Tensor, box: tuple[int, int, int, int], side: int) -> torch.Tensor:
    top, left, bh, bw = box
    region = source[:, :, top : top + bh, left : left + bw]
    if side >= bh:  # enlarging: nearest neighbour keeps the pixels visible
        return F.interpolate(region, size=(side, side), mode="nearest-exact")
    return F.interpolate(region, size=(side, side), mode="area")


def _place_inset(tile: torch.Tensor, zoom: torch.Tensor, crop: tuple[float, float, float]) -> None:
    """Put ``zoom`` (framed) into the corner of ``tile`` opposite the region, so it does not hide it."""
    side = zoom.shape[-1]
    h, w = tile.shape[-2:]
    zoom = zoom.clone()
    _outline(zoom, (0, 0, side, side))
    top = 0 if crop[1] > 0.5 else h - side
    left = 0 if crop[0] > 0.5 else w - side
    tile[:, :, top : top + side, left : left + side] = zoom


def compare_metrics(
    images: Sequence[torch.Tensor], reference: torch.Tensor, names: Sequence[str] | None = None
) -> dict[str, torch.Tensor]:
    """PSNR (dB) and SSIM of every image against ``reference``: ``{"psnr": [K, B], "ssim": [K, B]}``.

    ``B`` is the largest batch (batches of one are repeated). An image whose size differs from the
    reference's gets NaN (not comparable); a gray image against an RGB reference is compared on gray.
    Identical images have PSNR ``inf``.
    """
    from .metrics import psnr, ssim

    names = list(names) if names is not None else [f"image_{k + 1}" for k in range(len(images))]
    check_image(reference, "reference")
    batch = max([img.shape[0] for img in images] + [reference.shape[0]])
    ref = match_batch(reference, batch, "reference")
    out = {m: torch.full((len(images), batch), float("nan"), device=reference.device) for m in METRICS}
    for k, (img, name) in enumerate(zip(images, names, strict=True)):
        if tuple(img.shape[-2:]) != tuple(reference.shape[-2:]):
            continue
        x = match_batch(img, batch, name).to(reference.device)
        out["psnr"][k] = psnr(x, ref).float()
        out["ssim"][k] = ssim(x, ref).float()
    return out


def best_index(values: torch.Tensor) -> int | None:
    """The row of ``values`` ``[K, B]`` (higher is better) with the best mean over the batch; NaN rows
    (not comparable) are skipped, ``inf`` (identical to the reference) wins. None when all are NaN."""
    finite_mean = torch.where(values.isnan(), torch.zeros_like(values), values.clamp(max=1e6)).sum(dim=1)
    counted = (~values.isnan()).sum(dim=1)
    if not bool((counted > 0).any()):
        return None
    score = torch.where(counted > 0, finite_mean / counted.clamp(min=1), torch.full_like(finite_mean, -math.inf))
    return int(score.argmax())
