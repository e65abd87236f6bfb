"""Side-by-side comparison: a labelled grid of several images (results, reference, input).

:func:`compare_grid` takes up to any number of batches and returns one RGB grid per batch
index. Tiles are scaled to the first image's height (keeping aspect), each under a dark strip
with its label. Text is drawn with Pillow's built-in font into a small mask and composited in
torch, so the grid itself is built on the images' device.
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

    tiles = []
    for k, (img, name) in enumerate(zip(images, names, strict=False)):
        t = match_batch(img.to(device=device, dtype=dtype), batch, name)
        t = match_channels(t, 3)
        tiles.append(_resize_to_height(t, tile_h))
        report(progress, k + 1, n + 1)

    cols = n if columns == 0 else min(columns, n)
    rows = math.ceil(n / cols)
    cell_w = max(t.shape[-1] for t in tiles)
    cell_h = strip_h + tile_h
    out_h = rows * cell_h + (rows - 1) * gap
    out_w = cols * cell_w + (cols - 1) * gap
    out = torch.full((batch, 3, out_h, out_w), BACKGROUND_LEVEL, device=device, dtype=dtype)

    for k, (tile, text) in enumerate(zip(tiles, labels, strict=True)):
        r, c = divmod(k, cols)
        w = tile.shape[-1]
        top = r * (cell_h + gap)
        left = c * (cell_w + gap) + (cell_w - w) // 2
        if strip_h > 0:
            mask = from_numpy(text_mask(text, w, strip_h)[None, :, :, None], like=out)
            out[:, :, top : top + strip_h, left : left + w] = STRIP_LEVEL + (TEXT_LEVEL - STRIP_LEVEL) * mask
        out[:, :, top + strip_h : top + cell_h, left : left + w] = tile
    report(progress, n + 1, n + 1)
    return out
