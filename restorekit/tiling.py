"""Run an image-to-image function tile by tile and blend the tiles without seams.

Networks are run on overlapping tiles when a whole image does not fit in memory.
:func:`tiled_apply` cuts the image into a grid of overlapping tiles, calls the function on
them (several tiles per call when asked), and blends the results with smooth weights that
form an exact partition of unity: inside each overlap the weight of one tile falls from 1
to 0 along a raised-cosine ramp while the weight of its neighbour rises from 0 to 1. Image
borders are never attenuated (a tile's weight is 1 along every side that touches the border).

The ramp covers only the central half of each overlap: output pixels within a quarter of
the overlap of a tile's inner edge get zero weight. So a network whose receptive radius is at
most ``overlap / 4`` (e.g. 8 layers of 3x3 convolutions for an overlap of 32) gives exactly
the untiled result, and networks with a larger reach are blended smoothly.

For networks that need sizes divisible by ``multiple_of`` (U-Nets, window transformers) the
image is reflect-padded once to a multiple, exactly as an untiled run would be, tiles have
sizes and positions that are multiples of ``multiple_of`` (so down-sampling phases and window
grids line up with the untiled run), and the output is cropped back.

:func:`auto_tile_size`, :func:`free_memory_bytes` and :func:`run_with_oom_backoff` choose a
tile size from free memory and halve it when CUDA runs out of memory.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from typing import TypeVar

import torch

from .errors import AlgorithmError, InvalidParameterError
from .progress import ProgressCallback, report

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = [
    "tiled_apply",
    "tile_starts",
    "tile_layout",
    "blend_weights_1d",
    "pad_to_multiple",
    "auto_tile_size",
    "free_memory_bytes",
    "run_with_oom_backoff",
    "is_out_of_memory",
    "seam_visibility",
]


# ---- geometry ------------------------------------------------------------------------------


def _check_int(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidParameterError(name, f"expected a whole number >= {minimum}, got {value!r}.", None)
    return value


def pad_to_multiple(x: torch.Tensor, multiple_of: int) -> torch.Tensor:
    """Pad ``x`` [B,C,H,W] at the bottom and right so H and W are multiples of ``multiple_of``.

    Reflection padding (mirror without repeating the edge pixel) where the image is large
    enough; for images smaller than the padding the reflection is repeated, and a single
    row/column is replicated.
    """
    h, w = x.shape[-2:]
    ph = (-h) % multiple_of
    pw = (-w) % multiple_of
    if ph == 0 and pw == 0:
        return x
    return _pad_reflect(x, ph, pw)


def _pad_reflect(x: torch.Tensor, ph: int, pw: int) -> torch.Tensor:
    # F.pad(mode="reflect") needs pad < size; build a periodic mirror index instead so any size works.
    h, w = x.shape[-2:]
    iy = _mirror_index(h, h + ph, x.device)
    ix = _mirror_index(w, w + pw, x.device)
    return x.index_select(-2, iy).index_select(-1, ix)


def _mirror_index(n: int, total: int, device: torch.device) -> torch.Tensor:
    i = torch.arange(total, device=device)
    if n == 1:
        return torch.zeros_like(i)
    period = 2 * (n - 1)
    i = i % period
    return torch.where(i < n, i, period - i)


def tile_starts(size: int, tile: int, overlap: int, multiple_of: int = 1) -> list[int]:
    """Start positions of tiles of length ``tile`` covering ``[0, size)``.

    ``size`` and ``tile`` must be multiples of ``multiple_of``; every start is a multiple of it.
    Neighbouring tiles overlap by at least ``overlap`` (when the alignment allows it) and the
    starts are spread evenly, the first at 0 and the last at ``size - tile``.
    """
    if tile >= size:
        return [0]
    m = multiple_of
    max_step = max(m, ((tile - overlap) // m) * m)
    if max_step > tile - overlap:
        log.debug("tiling: overlap %d cannot be kept with tile %d aligned to %d; using step %d", overlap, tile, m, max_step)
    q = (size - tile) // m  # distance to cover, in units of m
    q_step = max_step // m
    gaps = -(-q // q_step)  # ceil
    return [((k * q) // gaps) * m for k in range(gaps + 1)]


def tile_layout(h: int, w: int, *, tile: int, overlap: int, multiple_of: int = 1) -> tuple[list[int], list[int], int, int]:
    """The tile grid :func:`tiled_apply` uses on an ``h x w`` image: ``(row starts, column starts, tile
    height, tile width)`` in pixels of the image padded to a multiple of ``multiple_of``.

    ``tile <= 0`` means one tile covering the padded image. The number of crops per image is
    ``len(row starts) * len(column starts)``.
    """
    _check_int("overlap", overlap, 0)
    _check_int("multiple_of", multiple_of, 1)
    hp, wp = -(-h // multiple_of) * multiple_of, -(-w // multiple_of) * multiple_of
    if tile <= 0:
        th, tw = hp, wp
    else:
        t = max(multiple_of, (tile // multiple_of) * multiple_of)
        th, tw = min(t, hp), min(t, wp)
        if overlap >= t and (th < hp or tw < wp):
            raise InvalidParameterError(
                "overlap", f"an overlap of {overlap} px must be smaller than the tile ({t} px).",
                "use an overlap of at most a quarter of the tile size.",
            )
    return tile_starts(hp, th, overlap, multiple_of), tile_starts(wp, tw, overlap, multiple_of), th, tw


def blend_weights_1d(starts: list[int], tile: int, scale: int = 1) -> list[torch.Tensor]:
    """1-D blending weights (float64, length ``tile * scale``) for tiles at ``starts`` (input pixels).

    In the overlap ``o`` of two neighbours the weight ramps over the central ``o - 2 * (o // 4)``
    pixels (raised cosine) and is 0/1 outside it; the weights of all tiles sum to 1 at every
    output pixel, and are 1 along the image borders.
    """
    n = len(starts)
    length = tile * scale
    weights = []
    for k in range(n):
        w = torch.ones(length, dtype=torch.float64)
        if k > 0:  # ramp up against the previous tile
            zone_start, zone_len = _zone(starts[k - 1], starts[k], tile, scale)
            rel = zone_start - starts[k] * scale
            w[:rel] = 0.0
            w[rel : rel + zone_len] *= _ramp(zone_len)
        if k < n - 1:  # ramp down against the next tile
            zone_start, zone_len = _zone(starts[k], starts[k + 1], tile, scale)
            rel = zone_start - starts[k] * scale
            w[rel : rel + zone_len] *= 1.0 - _ramp(zone_len)
            w[rel + zone_len :] = 0.0
        weights.append(w)
    # Normalise so the weights are an exact partition of unity even where three tiles overlap.
    size = (starts[-1] + tile) * scale
    total = torch.zeros(size, dtype=torch.float64)
    for s, w in zip(starts, weights, strict=True):
        total[s * scale : s * scale + length] += w
    return [w / total[s * scale : s * scale + length] for s, w in zip(starts, weights, strict=True)]


def _zone(left: int, right: int, tile: int, scale: int) -> tuple[int, int]:
    """Output-pixel start and length of the blend zone between tiles starting at ``left`` < ``right``."""
    overlap = max(0, left + tile - right)
    margin = overlap // 4
    return (right + margin) * scale, (overlap - 2 * margin) * scale


def _ramp(n: int) -> torch.Tensor:
    """Raised-cosine ramp rising from ~0 to ~1 over ``n`` samples (pixel centres); r(i) + r(n-1-i) = 1."""
    if n <= 0:
        return torch.ones(0, dtype=torch.float64)
    t = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    return 0.5 - 0.5 * torch.cos(math.pi * t)


# ---- tiled application -----------------------------------------------------------------------


def tiled_apply(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    *,
    tile: int,
    overlap: int,
    scale: int = 1,
    multiple_of: int = 1,
    max_batch: int | None = None,
    progress: ProgressCallback | None = None,
) -> torch.Tensor:
    """Apply ``fn`` to ``x`` [B,C,H,W] in overlapping tiles and blend the results without seams.

    ``fn`` maps a crop ``[b, C, h, w]`` (h, w multiples of ``multiple_of``) to
    ``[b, C', h * scale, w * scale]``. ``tile``: tile side in input pixels (rounded down to a
    multiple of ``multiple_of``); ``tile <= 0`` or a tile at least as large as the image means
    one call on the whole (padded) image. ``overlap``: minimum overlap of neighbouring tiles in
    input pixels (0 <= overlap < tile). ``scale``: integer output/input size ratio.
    ``multiple_of``: the image is reflect-padded to a multiple of it and tiles are aligned to it.
    ``max_batch``: most crops per ``fn`` call; None = one tile position for the whole batch
    (``B`` crops) per call. ``progress`` is called with (crops done, crops total) after each call.

    Returns ``[B, C', H * scale, W * scale]`` in ``x``'s dtype, on ``x``'s device. With the
    identity function the result equals ``x`` exactly (weights sum to one).
    """
    if x.ndim != 4:
        raise InvalidParameterError("image", f"expected a [B, C, H, W] tensor, got shape {tuple(x.shape)}.", None)
    if isinstance(tile, bool) or not isinstance(tile, int):
        raise InvalidParameterError("tile", f"expected a whole number of pixels, got {tile!r}.", "use 0 for no tiling.")
    _check_int("overlap", overlap, 0)
    _check_int("scale", scale, 1)
    _check_int("multiple_of", multiple_of, 1)
    if max_batch is not None:
        _check_int("max_batch", max_batch, 1)

    b, _, h, w = x.shape
    xp = pad_to_multiple(x, multiple_of)
    hp, wp = xp.shape[-2:]
    ys, xs, th, tw = tile_layout(h, w, tile=tile, overlap=overlap, multiple_of=multiple_of)
    wy = blend_weights_1d(ys, th, scale)
    wx = blend_weights_1d(xs, tw, scale)

    positions = [(iy, ix) for iy in range(len(ys)) for ix in range(len(xs))]
    crops = [(p, i) for p in range(len(positions)) for i in range(b)]  # tile-major
    chunk = max_batch or b
    total = len(crops)
    single = len(positions) == 1

    out: torch.Tensor | None = None
    wy_dev: list[torch.Tensor] = []
    wx_dev: list[torch.Tensor] = []
    acc_dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    done = 0
    for c0 in range(0, total, chunk):
        group = crops[c0 : c0 + chunk]
        pieces = []
        for p, i in group:
            iy, ix = positions[p]
            pieces.append(xp[i : i + 1, :, ys[iy] : ys[iy] + th, xs[ix] : xs[ix] + tw])
        if single and len(group) == b:
            batch_in = xp
        else:
            batch_in = pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=0)
        y = fn(batch_in)
        _check_output(y, batch_in, scale)
        if single and len(group) == b:  # untiled, whole batch in one call: no blending needed
            out = y.to(device=x.device)
            done += len(group)
            report(progress, done, total)
            break
        if out is None:
            out = torch.zeros(b, y.shape[1], hp * scale, wp * scale, dtype=acc_dtype, device=x.device)
        if not wy_dev:
            wy_dev.extend(w.to(device=x.device, dtype=acc_dtype) for w in wy)
            wx_dev.extend(w.to(device=x.device, dtype=acc_dtype) for w in wx)
        for j, (p, i) in enumerate(group):
            iy, ix = positions[p]
            weight = wy_dev[iy][:, None] * wx_dev[ix][None, :]
            y0, x0 = ys[iy] * scale, xs[ix] * scale
            out[i, :, y0 : y0 + th * scale, x0 : x0 + tw * scale] += y[j].to(device=x.device, dtype=acc_dtype) * weight
        done += len(group)
        report(progress, done, total)
    assert out is not None
    return out[:, :, : h * scale, : w * scale].to(dtype=x.dtype)


def _check_output(y: object, x: torch.Tensor, scale: int) -> None:
    expected = (x.shape[0], x.shape[-2] * scale, x.shape[-1] * scale)
    if not isinstance(y, torch.Tensor) or y.ndim != 4 or (y.shape[0], y.shape[-2], y.shape[-1]) != expected:
        shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise AlgorithmError(
            "tiling",
            f"the function returned {shape} for a tile of shape {tuple(x.shape)}; expected "
            f"[{expected[0]}, C, {expected[1]}, {expected[2]}] (scale {scale}).",
            "check the model's scale factor and size multiple.",
        )


def seam_visibility(tiled: torch.Tensor, reference: torch.Tensor) -> float:
    """How much tile seams stand out in ``tiled - reference`` (e.g. a tiled vs an untiled run), relative to
    the image's own detail.

    For each column (and row) the mean absolute horizontal (vertical) step of the difference image is taken;
    a seam is a column whose step exceeds the typical (median) one. Returns the worst excess divided by the
    mean absolute step of ``reference``: about 0 when no line stands out; below 0.01-0.05 a seam is not
    visible, a hard cut between differing tiles gives about 1.
    """
    d = (tiled - reference).float()
    ref = reference.float()
    worst = 0.0
    for dim, keep in ((-1, (0, 1, 2)), (-2, (0, 1, 3))):
        if d.shape[dim] < 3:
            continue
        steps = d.diff(dim=dim).abs().mean(dim=keep)
        excess = (steps.max() - steps.median()) / ref.diff(dim=dim).abs().mean().clamp_min(1e-12)
        worst = max(worst, float(excess))
    return worst


# ---- memory ---------------------------------------------------------------------------------


def free_memory_bytes(device: torch.device | str) -> int:
    """Bytes of memory free for tensors on ``device``.

    CUDA: free device memory plus memory PyTorch has cached but not used. CPU: available
    physical memory (from /proc/meminfo or sysconf), or 8 GiB when it cannot be read.
    """
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(free + max(cached, 0))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def auto_tile_size(
    free_bytes: int,
    bytes_per_pixel_estimate: float,
    *,
    batch: int = 1,
    multiple_of: int = 1,
    minimum: int = 64,
    maximum: int = 2048,
    safety: float = 0.6,
) -> int:
    """Largest square tile side (input pixels) whose working memory fits ``safety * free_bytes``.

    ``bytes_per_pixel_estimate``: peak working memory per input pixel of one crop (activations,
    for the chosen precision); ``batch`` crops run at once. The result is rounded down to a
    multiple of ``multiple_of`` and clamped to [``minimum``, ``maximum``] (both rounded to the
    multiple as well).
    """
    if bytes_per_pixel_estimate <= 0 or not math.isfinite(bytes_per_pixel_estimate):
        raise InvalidParameterError("bytes_per_pixel_estimate", f"must be positive, got {bytes_per_pixel_estimate}.", None)
    _check_int("batch", batch, 1)
    _check_int("multiple_of", multiple_of, 1)
    budget = max(0.0, safety * float(free_bytes))
    side = int(math.sqrt(budget / (bytes_per_pixel_estimate * batch)))
    lo = max(multiple_of, -(-minimum // multiple_of) * multiple_of)
    hi = max(lo, (maximum // multiple_of) * multiple_of)
    side = (side // multiple_of) * multiple_of
    return int(min(hi, max(lo, side)))


def is_out_of_memory(error: BaseException) -> bool:
    """True for a CUDA (or other accelerator) out-of-memory error."""
    oom = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    if isinstance(error, (oom, torch.cuda.OutOfMemoryError)):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def run_with_oom_backoff(
    run: Callable[[int], T],
    tile: int,
    *,
    minimum: int = 64,
    full_size: int = 0,
    what: str = "model",
) -> T:
    """Call ``run(tile)``; on out-of-memory free the cache, halve the tile and try again.

    ``tile <= 0`` means "untiled"; its first back-off uses half of ``full_size`` (the image's
    larger side). Each retry is logged (warning). When the tile would fall below ``minimum``
    an :class:`AlgorithmError` is raised saying how to get more memory.
    """
    current = tile
    while True:
        failed = False
        try:
            return run(current)
        except Exception as error:  # noqa: BLE001 - only out-of-memory is handled, the rest re-raised
            if not is_out_of_memory(error):
                raise
            failed = True
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
        if failed:
            # Outside the except block: the traceback (and the tensors its frames hold) is gone.
            _empty_cache()
            size = current if current > 0 else full_size
            nxt = size // 2
            if nxt < minimum:
                raise AlgorithmError(
                    what,
                    f"ran out of GPU memory even with tiles of {size} px ({message}).",
                    "process fewer images at once, choose precision fp16/bf16, close other programs using the GPU, "
                    "or run on the CPU.",
                )
            log.warning("%s: out of GPU memory with %s; retrying with tiles of %d px", what,
                        f"tiles of {current} px" if current > 0 else "the whole image", nxt)
            current = nxt


def _empty_cache() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
