"""Contrast-limited adaptive histogram equalisation (CLAHE), after Zuiderveld (1994).

K. Zuiderveld, "Contrast Limited Adaptive Histogram Equalization", Graphics Gems IV, 1994.

The image (or its lightness channel) is cut into a grid of tiles. Each tile gets a histogram
whose bins are clipped at ``clip_limit`` times the height of a uniform histogram; the clipped
excess is spread over all bins, and the normalised cumulative histogram becomes that tile's
grey-level mapping. Every pixel is mapped through the four tiles whose centres surround it and the four
results are blended bilinearly, so no tile seams appear.

Everything is torch and batched: the histograms of all tiles of all images are one ``bincount``
on an offset index, the mappings one ``cumsum``; the interpolation blends tile rows into a table
and reads it with two gathers. No Python loop over tiles; it runs on any device. The conventions follow OpenCV's ``cv2.createCLAHE`` so that settings transfer:

- ``clip_limit`` is relative to the uniform bin height (tile pixels / bins); 0 disables clipping.
- ``tiles`` is the grid (rows, cols). OpenCV's ``tileGridSize`` is a ``Size``, i.e. (cols, rows).
- Images whose size is not a multiple of the grid are extended at the bottom and right by
  mirror reflection (without repeating the edge pixel, OpenCV's BORDER_REFLECT_101) until they
  are; the histograms see the extension, the output keeps the original size.

The clip limit (rounded down to a whole count, at least 1) and the redistribution of the
excess (whole counts to every bin, the remainder to every n-th bin) are OpenCV's. Two things
differ, both small: the mappings stay in floating point instead of being rounded to 8 bits, and
each tile's mapping is anchored at the geometric centre of the tile (OpenCV's anchor lies half a
pixel up and left of it, which breaks mirror symmetry). On 8-bit Set12 images with clip 2 and 8x8 tiles the result, rounded
to 8 bits, is within 0.25-0.55 grey levels of OpenCV on average (at most 3). With tiles of only
a few pixels the half-pixel shift matters more.

Two ways to read a tile's mapping (``mapping``):

- ``"lookup"``: every value of bin ``i`` maps to the cumulative count up to and including bin
  ``i`` (OpenCV's rule). Piecewise constant within a bin, so an image with more than 8 bits comes
  out with at most about ``bins`` levels per tile blend.
- ``"linear"``: the cumulative histogram interpolated linearly at the value's exact position
  inside its bin, ``C[i] + f (C[i+1] - C[i])`` with ``f = v * bins - i`` in [0, 1] (the CDF of the
  histogram read as uniform within each bin). Continuous and monotone, so 16-bit and float images
  keep their fine levels; it lies below the lookup value by ``(1 - f)`` of the bin's share.
- ``"auto"`` (default), decided per image: ``"lookup"`` when every value of the image (all channels)
  is on the 8-bit grid ``k / 255`` (within 0.001 of a level, or the dtype's precision for float16 /
  bfloat16), otherwise ``"linear"``. 8-bit images therefore give exactly the results of the lookup
  rule; 16-bit images made from 8-bit ones (``k * 257 / 65535``) count as 8-bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..color import lab_to_rgb, luma, oklab_to_rgb, rgb_to_lab, rgb_to_oklab
from ..errors import InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report

COLOR_SPACES = ("lab", "oklab", "ycbcr", "hsv")
MAPPINGS = ("auto", "lookup", "linear")
MAX_TILES = 256
MAX_BINS = 65536
# Size (elements) of the row-blended mapping table built per block of image rows.
_TABLE_ELEMENTS = 1 << 23
# Pixels per chunk of the batch processed at once (16 Mpx: about 128 MiB per int64 index array).
_CHUNK_PIXELS = 1 << 24


def _reflect101_index(n_out: int, n: int, device: torch.device) -> torch.Tensor:
    """Indices ``0..n_out-1`` folded into ``[0, n)`` by mirror reflection without edge repeat.

    Works for any extension length (the pattern repeats with period ``2 (n - 1)``); a
    one-pixel axis maps everything to 0.
    """
    i = torch.arange(n_out, device=device)
    if n == 1:
        return torch.zeros_like(i)
    period = 2 * (n - 1)
    i = i % period
    return torch.where(i < n, i, period - i)


def _grid(tiles: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(tiles, bool):
        raise InvalidParameterError("tiles", f"expected a whole number or (rows, cols), got {tiles!r}.", "give e.g. 8.")
    if isinstance(tiles, int):
        rows = cols = tiles
    else:
        try:
            rows, cols = (int(t) for t in tiles)
            ok = all(float(t) == int(t) and not isinstance(t, bool) for t in tiles)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise InvalidParameterError(
                "tiles", f"expected a whole number or a pair (rows, cols), got {tiles!r}.", "give e.g. 8 or (8, 8)."
            )
    for value in (rows, cols):
        if not 1 <= value <= MAX_TILES:
            raise InvalidParameterError(
                "tiles",
                f"the grid {rows}x{cols} is outside 1..{MAX_TILES} tiles per axis.",
                "give e.g. 8 (an 8x8 grid).",
            )
    return rows, cols


def _check_mapping(mapping: str) -> None:
    if mapping not in MAPPINGS:
        raise InvalidParameterError(
            "mapping", f"{mapping!r} is not supported.", f"choose one of: {', '.join(MAPPINGS)}."
        )


def on_8bit_grid(x: torch.Tensor) -> torch.Tensor:
    """Per image of ``x`` ``[B, C, H, W]``: whether every value is ``k / 255`` for a whole ``k``.

    Tolerance 0.001 of a level, or 255 times the dtype's machine epsilon where that is larger
    (float16: 0.25 level; bfloat16 cannot tell, so it always counts as 8-bit). Returns ``[B]`` bool.
    """
    tol = max(1e-3, 255.0 * torch.finfo(x.dtype).eps)

    def max_offset(values: torch.Tensor) -> torch.Tensor:
        levels = values.to(_work_dtype(values)) * 255.0
        return (levels - levels.round()).abs_().amax(dim=1)

    # A strided sample first: a 16-bit or float image shows off-grid values at once, and only
    # images whose sample is on the grid need the full pass.
    flat = x.reshape(x.shape[0], -1)
    sample = max_offset(flat[:, :: max(1, flat.shape[1] // 4096)]) <= tol
    if not bool(sample.any()):
        return sample
    return max_offset(flat) <= tol


def _check_params(clip_limit: float, bins: int, strength: float, color_space: str) -> None:
    if isinstance(clip_limit, bool) or not isinstance(clip_limit, (int, float)) or not 0.0 <= clip_limit < float("inf"):
        raise InvalidParameterError(
            "clip_limit",
            f"expected a finite number >= 0, got {clip_limit!r}.",
            "give e.g. 2.0 (as in OpenCV); 0 disables clipping.",
        )
    if isinstance(bins, bool) or not isinstance(bins, int) or not 2 <= bins <= MAX_BINS:
        raise InvalidParameterError(
            "bins", f"expected a whole number in 2..{MAX_BINS}, got {bins!r}.", "give e.g. 256."
        )
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0.0 <= strength <= 1.0:
        raise InvalidParameterError("strength", f"expected a number in [0, 1], got {strength!r}.", "give e.g. 1.0.")
    if color_space not in COLOR_SPACES:
        raise InvalidParameterError(
            "color_space", f"{color_space!r} is not supported.", f"choose one of: {', '.join(COLOR_SPACES)}."
        )


def _clip_histograms(hist: torch.Tensor, clip_limit: float, area: int) -> torch.Tensor:
    """Clip histograms ``[N, bins]`` of ``area`` pixels each and spread the excess (Zuiderveld).

    The limit is ``clip_limit * area / bins`` rounded down to a whole count (at least 1). The
    excess is spread as whole counts: ``excess // bins`` to every bin, then the remaining
    ``r`` counts one each to bins ``0, s, 2s, ...`` with ``s = max(bins // r, 1)``. This is the
    redistribution used by OpenCV; counts stay integers, so it is exact in floating point.
    """
    bins = hist.shape[1]
    limit = max(int(clip_limit * area / bins), 1)
    clipped = hist.clamp(max=float(limit))
    excess = (hist - clipped).sum(dim=1, keepdim=True)
    per_bin = torch.div(excess, bins, rounding_mode="floor")
    residual = excess - per_bin * bins
    step = torch.div(float(bins), residual.clamp(min=1.0), rounding_mode="floor").clamp(min=1.0)
    i = torch.arange(bins, device=hist.device, dtype=hist.dtype).view(1, bins)
    extra = ((i.remainder(step) == 0) & (torch.div(i, step, rounding_mode="floor") < residual)).to(hist.dtype)
    return clipped + per_bin + extra


def clahe_channel(
    v: torch.Tensor,
    *,
    clip_limit: float = 2.0,
    tiles: int | Sequence[int] = 8,
    bins: int = 256,
    mapping: str = "auto",
) -> torch.Tensor:
    """CLAHE of a single-channel batch ``v`` ``[B, 1, H, W]`` with values in [0, 1].

    Values are binned as ``floor(v * bins)`` (so an 8-bit image with 256 bins uses one bin per
    grey level); the result is in [0, 1], same shape, float. Parameters as in :func:`clahe`
    (``mapping="auto"`` looks at ``v`` itself). Use :func:`clahe` for images; this is the
    per-channel core it is built on.
    """
    _check_mapping(mapping)
    return _clahe_channel(v, clip_limit=clip_limit, tiles=tiles, bins=bins, lookup=_lookup_mask(v, mapping))


def _lookup_mask(x: torch.Tensor, mapping: str) -> torch.Tensor | bool:
    """True (all images lookup), False (all linear) or a ``[B]`` mask of the images read by lookup."""
    if mapping != "auto":
        return mapping == "lookup"
    mask = on_8bit_grid(x)
    if bool(mask.all()):  # one sync; most inputs are 8-bit and keep the cheaper lookup path
        return True
    return mask if bool(mask.any()) else False


def _clahe_channel(
    v: torch.Tensor, *, clip_limit: float, tiles: int | Sequence[int], bins: int, lookup: torch.Tensor | bool
) -> torch.Tensor:
    rows, cols = _grid(tiles)
    b, _, h, w = v.shape
    dev = v.device
    dtype = torch.float64 if v.dtype == torch.float64 else torch.float32
    # Bin of every pixel; int32 (half the memory traffic of int64) unless the offsets need more.
    itype = torch.int32 if b * rows * cols * bins < 2**31 else torch.int64
    # v >= 0, so truncation after the clamp is the floor (one pass less than floor_ + clamp_).
    idx = (v[:, 0].to(dtype) * bins).clamp_(0, bins - 1).to(itype)  # [B, H, W]

    # Extend at the bottom/right (reflect-101) as OpenCV does: when either side is not a multiple
    # of its grid count, both sides grow by (count - size % count) pixels.
    if h % rows or w % cols:
        hp, wp = h + rows - h % rows, w + cols - w % cols
    else:
        hp, wp = h, w
    ext = idx
    if hp != h:
        ext = ext.index_select(1, _reflect101_index(hp, h, dev))
    if wp != w:
        ext = ext.index_select(2, _reflect101_index(wp, w, dev))
    th, tw = hp // rows, wp // cols
    area = th * tw
    n_tiles = rows * cols

    # All histograms at once: one bincount over bin + (image * tiles + tile) * bins.
    tile_row = torch.arange(hp, device=dev, dtype=itype) // th * (cols * bins)
    tile_col = torch.arange(wp, device=dev, dtype=itype) // tw * bins
    flat = ext + (tile_row.view(hp, 1) + tile_col.view(1, wp))
    if b > 1:
        flat += (torch.arange(b, device=dev, dtype=itype) * (n_tiles * bins)).view(b, 1, 1)
    hist = torch.bincount(flat.reshape(-1), minlength=b * n_tiles * bins).to(dtype)
    del flat, ext
    hist = hist.view(b * n_tiles, bins)
    if clip_limit > 0:
        hist = _clip_histograms(hist, clip_limit, area)
    lut = (hist.cumsum(dim=1) / area).clamp_(0.0, 1.0)
    if lookup is not True:
        return _blend_linear(v, idx, lut, lookup, h, w, th, tw, rows, cols, bins, dtype)
    lut = lut.view(b, rows, cols * bins)

    # Bilinear blend of the four surrounding tile mappings, tile centres at (t + 1/2) * tile size:
    # first between tile rows (per image row, all columns and bins), then between tile columns
    # with one gather per side. Rows are done in blocks to bound the row-blended table's size.
    r0, r1, fy = _tile_weights(h, th, rows, dev, dtype)
    c0, c1, fx = _tile_weights(w, tw, cols, dev, dtype)
    c0, dc, fx = (c0 * bins).view(1, 1, w), ((c1 - c0) * bins).view(1, 1, w), fx.view(1, 1, w)
    out = torch.empty((b, h, w), device=dev, dtype=dtype)
    block = max(1, _TABLE_ELEMENTS // max(1, b * cols * bins))
    bands = _bands(h, th, rows, dtype, lut)
    for y in range(0, h, block):
        ys = slice(y, min(h, y + block))
        table = _row_table(bands, fy, y, min(h, y + block))  # [B, rows', cols * bins]
        index = idx[:, ys].long()
        index += c0
        left = table.gather(2, index)
        index += dc
        torch.lerp(left, table.gather(2, index), fx, out=out[:, ys])
    return out.unsqueeze(1)


def _blend_linear(
    v: torch.Tensor,
    idx: torch.Tensor,
    lut: torch.Tensor,
    lookup: torch.Tensor | bool,
    h: int,
    w: int,
    th: int,
    tw: int,
    rows: int,
    cols: int,
    bins: int,
    dtype: torch.dtype,
) -> torch.Tensor:
    """The bilinear tile blend of :func:`_clahe_channel` with each mapping read linearly inside its bin.

    ``lut`` ``[B * tiles, bins]`` holds the inclusive cumulative shares; a leading 0 per tile gives
    ``C[i]`` (start of bin ``i``) and ``C[i + 1]`` (its end). The blend is linear in the tables and
    the in-bin position ``f`` is the same for the four tiles, so blending first and interpolating
    in ``f`` last is the same as interpolating every tile's mapping. Images flagged in ``lookup``
    use ``f = 1``, which reproduces the lookup rule exactly (``lerp(a, b, 1) == b``).
    """
    b = v.shape[0]
    dev = v.device
    nb = bins + 1
    lut = torch.cat([lut.new_zeros(lut.shape[0], 1), lut], dim=1).view(b, rows, cols * nb)
    frac = (v[:, 0].to(dtype) * bins - idx.to(dtype)).clamp_(0.0, 1.0)
    if lookup is not False:
        frac = torch.where(lookup.view(b, 1, 1), torch.ones_like(frac), frac)
    r0, r1, fy = _tile_weights(h, th, rows, dev, dtype)
    c0, c1, fx = _tile_weights(w, tw, cols, dev, dtype)
    c0, dc, fx = (c0 * nb).view(1, 1, w), ((c1 - c0) * nb).view(1, 1, w), fx.view(1, 1, w)
    out = torch.empty((b, h, w), device=dev, dtype=dtype)
    block = max(1, _TABLE_ELEMENTS // max(1, b * cols * nb))
    bands = _bands(h, th, rows, dtype, lut)
    for y in range(0, h, block):
        ys = slice(y, min(h, y + block))
        table = _row_table(bands, fy, y, min(h, y + block))  # [B, rows', cols * (bins + 1)]
        f = frac[:, ys]
        index = idx[:, ys].long()
        index += c0
        left = torch.lerp(table.gather(2, index), table.gather(2, index + 1), f)
        index += dc
        right = torch.lerp(table.gather(2, index), table.gather(2, index + 1), f)
        torch.lerp(left, right, fx, out=out[:, ys])
    return out.unsqueeze(1)


def _bands(h: int, th: int, rows: int, dtype: torch.dtype, lut: torch.Tensor) -> list[tuple[int, int, torch.Tensor, torch.Tensor]]:
    """The image rows between consecutive tile-row centres: ``(start, stop, upper mapping, lower - upper)``.

    Within a band both tile rows are fixed, so the row blend is one broadcast ``addcmul`` per band
    instead of two row gathers of the whole table; there are at most ``rows + 1`` bands. The tile
    rows are found on the CPU with the same arithmetic as :func:`_tile_weights` (no device sync).
    """
    r0, r1, _ = _tile_weights(h, th, rows, torch.device("cpu"), dtype)
    pair = r0 * (rows + 1) + r1  # a band is a run of equal (upper, lower) tile rows
    starts = torch.nonzero(torch.diff(pair, prepend=pair[:1] - 1)).view(-1).tolist()
    tops, bottoms = r0[starts].tolist(), r1[starts].tolist()
    out = []
    for k, start in enumerate(starts):
        stop = starts[k + 1] if k + 1 < len(starts) else h
        top = lut[:, tops[k] : tops[k] + 1]
        out.append((start, stop, top, lut[:, bottoms[k] : bottoms[k] + 1] - top))
    return out


def _row_table(bands: list[tuple[int, int, torch.Tensor, torch.Tensor]], fy: torch.Tensor, y0: int, y1: int) -> torch.Tensor:
    """Rows ``y0..y1-1`` of the row-blended mapping table ``[B, y1 - y0, cols * bins]`` (see :func:`_bands`)."""
    top = bands[0][2]
    table = torch.empty((top.shape[0], y1 - y0, top.shape[2]), device=top.device, dtype=top.dtype)
    for start, stop, upper, diff in bands:
        a, b = max(start, y0), min(stop, y1)
        if a < b:
            torch.addcmul(upper, fy[a:b].view(1, -1, 1), diff, out=table[:, a - y0 : b - y0])
    return table


def _tile_weights(
    n: int, size: int, count: int, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For pixels ``0..n-1`` along an axis: the tiles before/after (clamped) and the weight of the after one."""
    pos = (torch.arange(n, device=device, dtype=dtype) + 0.5) / size - 0.5
    lo = pos.floor()
    frac = pos - lo
    lo = lo.long()
    return lo.clamp(0, count - 1), (lo + 1).clamp(0, count - 1), frac


def clahe(
    x: torch.Tensor,
    *,
    clip_limit: float = 2.0,
    tiles: int | Sequence[int] = 8,
    bins: int = 256,
    color_space: str = "lab",
    strength: float = 1.0,
    mapping: str = "auto",
    progress: ProgressCallback | None = None,
) -> torch.Tensor:
    """Contrast-limited adaptive histogram equalisation of a batch ``x`` ``[B, C, H, W]`` in [0, 1].

    Args:
        x: images, C = 1 (equalised directly) or 3 (sRGB; only the lightness channel of
            ``color_space`` is equalised, the colour is kept). Any device, any float dtype.
        clip_limit: histogram clip height relative to a uniform histogram (tile pixels / bins),
            the same number as OpenCV's ``clipLimit``. Larger = more contrast; 1 = almost no
            change; 0 = no clipping (plain adaptive equalisation). Typical 1.5-4.
        tiles: the tile grid, one number for a square grid or ``(rows, cols)``; 1..256 per axis.
        bins: histogram bins over [0, 1] (256 = one per 8-bit grey level), 2..65536.
        color_space: for RGB input, whose lightness is equalised: ``"lab"`` (CIE L*),
            ``"oklab"`` (Oklab L), ``"ycbcr"`` (BT.601 Y) or ``"hsv"`` (V = max of R, G, B).
        strength: blend between the input (0, returned exactly) and the full result (1).
        mapping: how a tile's mapping is read between bin edges (see the module docstring):
            ``"lookup"`` (one value per bin, OpenCV's rule), ``"linear"`` (interpolated inside the
            bin; keeps 16-bit and float precision) or ``"auto"``: lookup for images on the 8-bit
            grid, linear for the others, decided per image.
        progress: optional callback, called with (done, total) images.

    Returns:
        The equalised batch, same shape, dtype and device as ``x``, clamped to [0, 1].
        Each image is processed independently (``clahe(x)[i] == clahe(x[i:i+1])``).
    """
    check_image(x, "image")
    _check_params(clip_limit, bins, strength, color_space)
    _check_mapping(mapping)
    _grid(tiles)
    total = x.shape[0]
    report(progress, 0, total)
    if strength == 0:
        report(progress, total, total)
        return x.clone()
    options = {"clip_limit": float(clip_limit), "tiles": tiles, "bins": bins}
    # Whole batch at once, in chunks of images that bound the working memory (int64 indices).
    per_chunk = max(1, _CHUNK_PIXELS // (x.shape[-2] * x.shape[-1]))
    parts = []
    for start in range(0, total, per_chunk):
        part = x[start : start + per_chunk]
        lookup = _lookup_mask(part, mapping)
        xf = part.to(_work_dtype(part)).clamp(0.0, 1.0)
        light, aux = split_lightness(xf, color_space)
        out = merge_lightness(xf, _clahe_channel(light, lookup=lookup, **options), aux, color_space)
        parts.append(finish(part, out, float(strength)))
        report(progress, start + part.shape[0], total)
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=0)


def _work_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def split_lightness(xf: torch.Tensor, color_space: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The channel CLAHE equalises, ``[B, 1, H, W]`` in [0, 1], and what :func:`merge_lightness` needs.

    ``xf`` is the float32/float64 image clamped to [0, 1]; gray images are their own lightness.
    Lab L* is scaled by 1/100; Oklab L, BT.601 luma and HSV V are used as they are.
    """
    if xf.shape[1] == 1:
        return xf, None
    if color_space == "lab":
        lab = rgb_to_lab(xf)
        return (lab[:, :1] / 100.0).clamp(0.0, 1.0), lab
    if color_space == "oklab":
        lab = rgb_to_oklab(xf)
        return lab[:, :1].clamp(0.0, 1.0), lab
    if color_space == "ycbcr":
        y = luma(xf)
        return y.clamp(0.0, 1.0), y
    v = xf.amax(dim=1, keepdim=True)
    return v, None


def merge_lightness(xf: torch.Tensor, light: torch.Tensor, aux: torch.Tensor | None, color_space: str) -> torch.Tensor:
    """The image of :func:`split_lightness` with its lightness replaced by ``light`` (not clamped)."""
    if xf.shape[1] == 1:
        return light
    if color_space == "lab":
        return lab_to_rgb(torch.cat([light * 100.0, aux[:, 1:]], dim=1))
    if color_space == "oklab":
        return oklab_to_rgb(torch.cat([light, aux[:, 1:]], dim=1))
    if color_space == "ycbcr":
        # Changing Y with Cb, Cr kept adds the same amount to R, G and B (every row of the
        # YCbCr -> RGB matrix has Y coefficient 1), so the round trip reduces to one addition.
        return xf + (light - aux)
    # Changing V = max(R, G, B) with H, S kept scales R, G and B by V' / V (black stays grey).
    v = xf.amax(dim=1, keepdim=True)
    return torch.where(v > 0, xf * (light / v.clamp(min=1e-12)), light.expand_as(xf))


def finish(x: torch.Tensor, out: torch.Tensor, strength: float) -> torch.Tensor:
    """Clamp ``out`` to [0, 1], blend it with the input ``x`` by ``strength`` and cast to ``x``'s dtype."""
    out = out.clamp(0.0, 1.0)
    if strength < 1:
        out = torch.lerp(x.to(out.dtype), out, strength).clamp(0.0, 1.0)
    return out.to(x.dtype)
