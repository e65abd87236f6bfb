"""Run a loaded restoration network on a batch: tiling, precision, noise level, colour handling.

:func:`restore_with_model` is the core of the "Restore With Model" node. It takes a
:class:`~restorekit.models.loader.RestorationModel` (any architecture spandrel knows, plus
ours) and

- feeds noise-conditional models (FFDNet, DRUNet, FDnCNN…) a noise level: a constant, a
  per-pixel map, an estimate from the image, or the model's own default;
- runs the whole image when it fits in memory, otherwise overlapping tiles blended without
  seams (:mod:`restorekit.tiling`), the tile size chosen from free memory and halved on
  out-of-memory; off CUDA one image per network call and tiles of at most
  :data:`CPU_TILE_PIXELS`, so that progress comes often; automatic tiles overlap by 4x the
  network's measured receptive radius, which reproduces the untiled result where the radius is
  at most :data:`PROBE_RADIUS`;
- calls the progress callback (ComfyUI's interruption check) from the network's modules at most
  every :data:`CHECK_EVERY_S` during a forward pass, so Cancel acts within a fraction of a second;
- runs in bf16/fp16 under autocast where the model supports it (autocast keeps normalisation
  and softmax in fp32), and reruns any tile whose half-precision output is not finite in fp32;
- applies gray models to colour images (on luma, or on each channel) and colour models to gray
  images;
- handles super-resolution scale factors, and blends with the input (``strength``).
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from ..color import rgb_to_ycbcr, ycbcr_to_rgb
from ..errors import AlgorithmError, InvalidImageError, InvalidParameterError
from ..image import all_finite, check_image, match_batch
from ..progress import ProgressCallback
from ..quality.noise import estimate_sigma
from ..tiling import free_memory_bytes, is_out_of_memory, run_with_oom_backoff, tile_layout, tiled_apply

if TYPE_CHECKING:
    from .loader import RestorationModel

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "fp16", "bf16")
GRAY_MODES = ("luma", "per_channel")

#: Noise std of BT.601 luma when R, G, B carry independent noise of std 1.
LUMA_NOISE_FACTOR = math.sqrt(0.299**2 + 0.587**2 + 0.114**2)

#: Fallback working-memory estimates (bytes per input pixel, fp32) where no CUDA probe is possible.
_BYTES_PER_PIXEL = {"default": 8_000, "swinir": 16_000, "hat": 32_000, "swin2sr": 16_000, "dat": 24_000,
                    "restormer": 12_000, "scunet": 12_000, "drct": 32_000, "grl": 32_000}

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

#: Longest stretch of network work (seconds, host clock) between two progress calls: the network's
#: modules call the progress callback (ComfyUI's interruption check) during a forward pass this often.
CHECK_EVERY_S = 0.1
#: Automatic tiles off CUDA: at most this many input pixels per network call (one image, or one tile of a
#: larger image), so that one layer of a 64-channel network takes a fraction of a second on one core.
CPU_TILE_PIXELS = 576 * 576
#: Receptive radius (input pixels) measured before automatic tiling; the overlap is made 4x the radius so
#: that the zero-weight margin of the blend covers it and the tiles reproduce the untiled result. Networks
#: reaching further get an overlap of 4x this.
PROBE_RADIUS = 32


@dataclass
class RestoreInfo:
    """What :func:`restore_with_model` did, for reports."""

    precision: str = "fp32"
    tile: int = 0  # 0 = whole image
    overlap: int = 0
    tiles: int = 0  # crops processed (images x tiles)
    fp32_reruns: int = 0
    oom_retries: int = 0
    noise: str = "not used"  # how the noise level was chosen
    noise_levels: list[float] = field(default_factory=list)  # per image, 0-1 units (means of maps)
    gray_mode: str = ""
    scale: int = 1
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"precision {self.precision}"]
        parts.append("untiled" if self.tile == 0 else f"tiles {self.tile}px overlap {self.overlap}px ({self.tiles} crops)")
        if self.scale != 1:
            parts.append(f"scale x{self.scale}")
        if self.noise_levels:
            levels = ", ".join(f"{255 * s:.1f}" for s in self.noise_levels)
            parts.append(f"noise level ({self.noise}): {levels} /255")
        elif self.noise != "not used":
            parts.append(f"noise level: {self.noise}")
        if self.gray_mode:
            parts.append(f"gray model on colour: {self.gray_mode}")
        if self.fp32_reruns:
            parts.append(f"{self.fp32_reruns} tile(s) rerun in fp32 (half overflowed)")
        if self.oom_retries:
            parts.append(f"{self.oom_retries} out-of-memory retr{'y' if self.oom_retries == 1 else 'ies'}")
        return "; ".join(parts + self.notes)


def restore_with_model(
    model: RestorationModel,
    x: torch.Tensor,
    *,
    noise_level: float | None = None,
    noise_map: torch.Tensor | None = None,
    estimate_noise: bool = False,
    tile: int = 0,
    overlap: int = 32,
    precision: str = "auto",
    gray_mode: str = "luma",
    strength: float = 1.0,
    return_info: bool = False,
    progress: ProgressCallback | None = None,
) -> torch.Tensor | tuple[torch.Tensor, RestoreInfo]:
    """Restore ``x`` [B,C,H,W] in [0,1] (C = 1 or 3) with ``model``.

    Returns ``[B, C, H*s, W*s]`` in [0,1] (``s = model.scale``; 1 for denoisers) with ``x``'s
    dtype and device (the model is moved to ``x``'s device). With ``return_info`` returns
    ``(image, RestoreInfo)``.

    Noise level (used by noise-conditional models only; ignored, with a note, by others):
    ``noise_map`` ``[B or 1, 1, H, W]`` per-pixel std in [0,1] units wins over ``noise_level``
    (a std in [0,1] units), which wins over ``estimate_noise`` (estimate each image's std
    from its finest wavelet band); with none of them the model's own default is used. For a
    gray model run on the luma of a colour image the level is multiplied by 0.668, the std of
    luma when R, G and B carry independent noise of the given std.

    ``tile``: tile side in input pixels; 0 = automatic (the whole image when it fits in free
    memory, else the largest tile that fits); halved on out-of-memory. ``overlap``: tile overlap
    in input pixels. ``precision``: "auto" (bf16 or fp16 on CUDA where the model supports it,
    fp32 on CPU), "fp32", "fp16", "bf16". ``gray_mode`` for 1-channel models on RGB input:
    "luma" (restore BT.601 Y, keep chroma) or "per_channel". ``strength`` in [0,1]: blend
    with the input (bicubically upsampled for SR models); 1 = model output only.
    """
    check_image(x)
    _check_model(model, x)
    if precision not in PRECISIONS:
        raise InvalidParameterError("precision", f"{precision!r} is not one of {', '.join(PRECISIONS)}.", None)
    if gray_mode not in GRAY_MODES:
        raise InvalidParameterError("gray_mode", f"{gray_mode!r} is not one of {', '.join(GRAY_MODES)}.", None)
    if not (isinstance(strength, (int, float)) and 0.0 <= strength <= 1.0):
        raise InvalidParameterError("strength", f"must be in [0, 1], got {strength!r}.", "1 = full effect.")
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < 0:
        raise InvalidParameterError("tile", f"must be a whole number >= 0, got {tile!r}.", "use 0 for automatic.")
    if isinstance(overlap, bool) or not isinstance(overlap, int) or overlap < 0:
        raise InvalidParameterError("overlap", f"must be a whole number >= 0, got {overlap!r}.", None)
    if noise_level is not None and not (isinstance(noise_level, (int, float)) and 0.0 <= noise_level <= 1.0):
        raise InvalidParameterError(
            "noise_level", f"must be in [0, 1] (std / 255 for 8-bit levels), got {noise_level!r}.", None
        )
    b, c, h, w = x.shape
    if noise_map is not None:
        noise_map = _check_noise_map(noise_map, b, h, w, x.device)

    info = RestoreInfo(scale=int(model.scale), overlap=overlap)
    dtype = _choose_precision(model, x.device, precision)
    info.precision = "fp32" if dtype is None else {torch.float16: "fp16", torch.bfloat16: "bf16"}[dtype]
    model.to(x.device)

    xf = x.float()
    # ---- channels: what the network sees ------------------------------------------------------
    mode = "direct"
    if model.input_channels == 1 and c == 3:
        mode = gray_mode
        info.gray_mode = gray_mode
    elif model.input_channels == 3 and c == 1:
        mode = "replicate"
    if mode == "luma":
        ycc = rgb_to_ycbcr(xf)
        net_in = ycc[:, :1]
    elif mode == "per_channel":
        net_in = xf.reshape(b * 3, 1, h, w)
    elif mode == "replicate":
        net_in = xf.expand(b, 3, h, w)
    else:
        net_in = xf

    # ---- noise level ---------------------------------------------------------------------------
    level_map = _noise_levels(model, xf, net_in, mode, noise_level, noise_map, estimate_noise, info)
    if level_map is not None and mode == "per_channel":
        level_map = level_map.repeat_interleave(3, dim=0)

    # ---- run -----------------------------------------------------------------------------------
    out = _run_network(model, net_in, level_map, dtype, tile, overlap, info, progress)
    if not all_finite(out):
        raise AlgorithmError(
            "model", "the network produced NaN or infinite values.",
            "try precision fp32; if it persists the weights file may be damaged.",
        )

    # ---- back to the input's channels ------------------------------------------------------------
    s = info.scale
    if out.shape[1] not in (1, 3):
        raise AlgorithmError("model", f"produced {out.shape[1]} channels; expected 1 or 3.", None)
    if mode == "luma":
        chroma = ycc[:, 1:] if s == 1 else _upsample(ycc[:, 1:], s)
        out = ycbcr_to_rgb(torch.cat([out[:, :1], chroma], dim=1))
    elif mode == "per_channel":
        out = out[:, :1].reshape(b, 3, h * s, w * s)
    elif c == 1 and out.shape[1] == 3:
        out = out.mean(dim=1, keepdim=True)
    elif c == 3 and out.shape[1] == 1:
        out = out.expand(b, 3, h * s, w * s)
    out = out.clamp(0.0, 1.0)

    if strength < 1.0:
        base = xf if s == 1 else _upsample(xf, s)
        out = (strength * out + (1.0 - strength) * base).clamp(0.0, 1.0)
    out = out.to(dtype=x.dtype)
    return (out, info) if return_info else out


# ---- helpers ------------------------------------------------------------------------------------


def _check_model(model: Any, x: torch.Tensor) -> None:
    needed = ("input_channels", "output_channels", "scale", "size_multiple", "forward")
    if any(not hasattr(model, a) for a in needed):
        raise InvalidParameterError(
            "model", f"expected a loaded restoration model, got {type(model).__name__}.",
            "connect the output of Load Restoration Model.",
        )
    cin = model.input_channels
    if cin not in (1, 3):
        raise InvalidParameterError(
            "model", f"{getattr(model, 'name', 'the model')} takes {cin}-channel input; only 1- and 3-channel "
            "(gray / RGB) models are supported.", "use a gray or RGB model.",
        )
    if int(model.scale) < 1:
        raise InvalidParameterError("model", f"scale {model.scale} is not supported.", None)


def _check_noise_map(noise_map: torch.Tensor, b: int, h: int, w: int, device: torch.device) -> torch.Tensor:
    if not isinstance(noise_map, torch.Tensor) or noise_map.dim() != 4 or noise_map.shape[1] != 1:
        shape = tuple(noise_map.shape) if isinstance(noise_map, torch.Tensor) else type(noise_map).__name__
        raise InvalidImageError("noise_map", f"expected [B, 1, H, W], got {shape}.", "connect a MASK.")
    if tuple(noise_map.shape[-2:]) != (h, w):
        raise InvalidImageError(
            "noise_map", f"is {noise_map.shape[-1]}x{noise_map.shape[-2]} but the image is {w}x{h}.",
            "give a noise map of the image's size.",
        )
    if not all_finite(noise_map):
        raise InvalidImageError("noise_map", "contains NaN or infinite values.", None)
    return match_batch(noise_map.to(device=device, dtype=torch.float32), b, "noise_map").clamp(0.0, 1.0)


def _choose_precision(model: Any, device: torch.device, precision: str) -> torch.dtype | None:
    """None = fp32 (no autocast), else the autocast dtype."""
    half_ok = bool(getattr(model, "supports_half", False))
    bf16_ok = bool(getattr(model, "supports_bfloat16", False))
    if precision == "fp32":
        return None
    if precision == "auto":
        if device.type != "cuda":
            return None
        if bf16_ok and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float16 if half_ok else None
    if (precision == "fp16" and not half_ok) or (precision == "bf16" and not bf16_ok):
        raise InvalidParameterError(
            "precision", f"{getattr(model, 'name', 'this model')} does not support {precision}.",
            "choose auto or fp32.",
        )
    return _DTYPES[precision]


def _noise_levels(
    model: Any,
    xf: torch.Tensor,
    net_in: torch.Tensor,
    mode: str,
    noise_level: float | None,
    noise_map: torch.Tensor | None,
    estimate: bool,
    info: RestoreInfo,
) -> torch.Tensor | None:
    """Per-pixel noise std map [B,1,H,W] (0-1 units) for the network, or None for its default."""
    given = noise_map is not None or noise_level is not None
    if not getattr(model, "noise_conditional", False):
        if given:
            info.notes.append("noise level ignored: the model is not noise-conditional")
        return None
    b, _, h, w = xf.shape
    factor = LUMA_NOISE_FACTOR if mode == "luma" else 1.0
    if noise_map is not None:
        levels = noise_map * factor
        info.noise = "map"
    elif noise_level is not None:
        levels = torch.full((b, 1, h, w), noise_level * factor, device=xf.device)
        info.noise = "given"
    elif estimate:
        if mode == "luma":
            sigma = estimate_sigma(net_in)[:, 0]
        else:
            sigma = estimate_sigma(xf).mean(dim=1)
        levels = sigma.view(b, 1, 1, 1).expand(b, 1, h, w).to(xf.device, torch.float32).clamp(0.0, 1.0)
        info.noise = "estimated"
    else:
        info.noise = "model default"
        return None
    info.noise_levels = [float(v) for v in levels.mean(dim=(1, 2, 3))]
    if factor != 1.0:
        info.notes.append(f"noise level x{factor:.3f} for luma")
    return levels.contiguous()


#: Sizes some architectures pad to internally (so their spandrel size multiple is 1) and whose window grid or
#: down-sampling phase must line up between tiles: SCUNet pads to 64, FFDNet works on 2x2 sub-images, the
#: built-in denoiser's U-Net halves the resolution three times.
_INTERNAL_MULTIPLE = {"SCUNet": 64, "FFDNet": 2, "FFDNetIPOL": 2, "RestorekitBuiltin": 8}


def tile_alignment(model: Any) -> int:
    """Multiple that tile sizes and positions must keep so tiles see the same window grid / down-sampling
    phase as the whole image: the model's size multiple, its attention window (SwinIR, HAT, Swin2SR...),
    its U-Net padding (NAFNet) and the internal padding of a few architectures."""
    align = max(1, int(getattr(model, "size_multiple", 1) or 1))
    align = math.lcm(align, _INTERNAL_MULTIPLE.get(str(getattr(model, "architecture", "")), 1))
    module = getattr(model, "module", None)
    for attr in ("window_size", "padder_size"):
        value = getattr(module, attr, None)
        if isinstance(value, int) and 1 < value <= 256:
            align = math.lcm(align, value)
    return align


def _bytes_per_pixel(model: Any) -> float:
    arch = str(getattr(model, "architecture", "")).lower()
    return float(_BYTES_PER_PIXEL.get(arch, _BYTES_PER_PIXEL["default"]))


def _probe_bytes_per_pixel(forward: Callable[[torch.Tensor], torch.Tensor], channels: int, multiple: int,
                           device: torch.device) -> float | None:
    """Peak CUDA memory per input pixel of one forward on a small tile (None when not measurable)."""
    if device.type != "cuda":
        return None
    side = max(multiple, (128 // multiple) * multiple)
    probe = torch.rand(1, channels, side, side, device=device)
    torch.cuda.synchronize(device)
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    try:
        forward(probe)
    except Exception as error:  # noqa: BLE001
        if is_out_of_memory(error):
            return None
        raise
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device) - base
    return max(peak, 1) / (side * side) * 1.25  # margin: fragmentation, larger kernels' workspaces


def _run_network(
    model: Any,
    net_in: torch.Tensor,
    level_map: torch.Tensor | None,
    dtype: torch.dtype | None,
    tile: int,
    overlap: int,
    info: RestoreInfo,
    progress: ProgressCallback | None,
) -> torch.Tensor:
    device = net_in.device
    cin = net_in.shape[1]
    scale = int(model.scale)
    multiple = tile_alignment(model)
    tiling_mode = getattr(model, "tiling", "supported")

    # Raw (unclamped) output where the model offers it, so that half-precision overflow (inf) is seen.
    raw = {"clamp": False} if "clamp" in inspect.signature(model.forward).parameters else {}

    def forward_raw(t: torch.Tensor, levels: torch.Tensor | None, dt: torch.dtype | None) -> torch.Tensor:
        if dt is None:
            return model.forward(t, levels, **raw)
        with torch.autocast(device_type=device.type, dtype=dt):
            return model.forward(t, levels, **raw)

    state = {"dtype": dtype}
    beat = _Heartbeat(progress)

    def fn(crop: torch.Tensor) -> torch.Tensor:
        t, levels = (crop[:, :cin], crop[:, cin:]) if level_map is not None else (crop, None)
        y = forward_raw(t, levels, state["dtype"])
        if state["dtype"] is not None and not all_finite(y):
            info.fp32_reruns += 1
            log.warning("model %s: %s output not finite on a %dx%d tile; rerunning it in fp32",
                        getattr(model, "name", "?"), info.precision, t.shape[-1], t.shape[-2])
            y = forward_raw(t, levels, None)
            if info.fp32_reruns >= 2:  # the overflow is systematic: run the remaining tiles in fp32 directly
                state["dtype"] = None
                info.notes.append(f"switched from {info.precision} to fp32 after repeated overflow")
        return y.float()

    data = net_in if level_map is None else torch.cat([net_in, level_map], dim=1)
    n, _, h, w = data.shape

    def probe_fn(crop: torch.Tensor) -> torch.Tensor:
        t, levels = (crop[:, :cin], crop[:, cin:]) if level_map is not None else (crop, None)
        return forward_raw(t, levels, None).float()

    with torch.no_grad(), beat.attached(getattr(model, "module", None)):
        if tiling_mode == "internal":
            tile0, batch0 = 0, 1
            if tile:
                info.notes.append("tile ignored: the model tiles internally")
        elif tile > 0:
            tile0, batch0 = tile, 1
            if tiling_mode == "discouraged":
                info.notes.append("tiling is discouraged for this model; seams are possible")
        else:
            tile0, batch0, overlap = _auto_tile(model, fn, probe_fn, data, cin, multiple, dtype, overlap, info)

        attempts = 0

        def run(t: int) -> torch.Tensor:
            nonlocal attempts
            info.oom_retries = attempts
            attempts += 1
            crops = 0
            ov = min(overlap, t // 2) if t > 0 else overlap
            ys, xs, _, _ = tile_layout(h, w, tile=t, overlap=ov, multiple_of=multiple)
            beat.start(n * len(ys) * len(xs))

            def count(done: int, total: int) -> None:
                nonlocal crops
                crops = total
                beat.report(done, total)

            result = tiled_apply(fn, data, tile=t, overlap=ov, scale=scale, multiple_of=multiple,
                                 max_batch=batch0 if t == tile0 else 1, progress=count)
            side = max(multiple, t // multiple * multiple) if t > 0 else 0
            info.tile = 0 if side <= 0 or side >= max(h, w) else side
            info.overlap = ov if info.tile else 0
            if not info.tile and _WIDE_FIELD_NOTE in info.notes:  # the tile grew to the whole image after all
                info.notes.remove(_WIDE_FIELD_NOTE)
            info.tiles = crops
            return result

        if tiling_mode == "internal":  # cannot be tiled from outside: out of memory is a clear error at once
            return run_with_oom_backoff(run, 0, minimum=2**31, full_size=max(h, w),
                                        what=f"model {getattr(model, 'name', '')}".strip())
        minimum = max(32, multiple)
        return run_with_oom_backoff(run, tile0, minimum=minimum, full_size=max(h, w),
                                    what=f"model {getattr(model, 'name', '')}".strip())


def _auto_tile(model: Any, fn: Callable[[torch.Tensor], torch.Tensor], probe_fn: Callable[[torch.Tensor], torch.Tensor],
               data: torch.Tensor, cin: int, multiple: int, dtype: torch.dtype | None, overlap: int,
               info: RestoreInfo) -> tuple[int, int, int]:
    """(tile, crops per call, overlap): tile 0 = whole image.

    CUDA: the whole image, several images per call, when that fits in free memory, else the largest tile
    that fits. Elsewhere: one image per call and tiles of at most :data:`CPU_TILE_PIXELS`, so that
    progress (and the interruption check) comes often. When it tiles, the overlap is raised to 4x the
    network's measured receptive radius (:func:`receptive_radius`).
    """
    n, channels, h, w = data.shape
    device = data.device
    hp, wp = -(-h // multiple) * multiple, -(-w // multiple) * multiple
    bpp = _probe_bytes_per_pixel(fn, channels, multiple, device)
    if bpp is None:
        bpp = _bytes_per_pixel(model) * (0.5 if dtype is not None else 1.0)
    free = free_memory_bytes(device)
    per_image = hp * wp * bpp
    if device.type != "cuda":
        budget = 0.25 * free
        if hp * wp <= CPU_TILE_PIXELS and per_image <= budget:
            return 0, 1, overlap
        limit = min(math.isqrt(CPU_TILE_PIXELS), max(64, int(math.sqrt(budget / bpp))))
        overlap = _covering_overlap(probe_fn, data, cin, multiple, int(model.scale), overlap, info)
        return _even_tile(max(hp, wp), overlap, multiple, limit), 1, overlap
    budget = 0.7 * free
    if per_image <= budget:
        batch = int(max(1, min(n, budget // per_image)))
        return 0, batch, overlap
    side = int(math.sqrt(budget / bpp))
    side = max(multiple, max(64, side) // multiple * multiple)
    overlap = _covering_overlap(probe_fn, data, cin, multiple, int(model.scale), overlap, info)
    return _even_tile(max(hp, wp), overlap, multiple, side), 1, overlap


def _even_tile(size: int, overlap: int, multiple: int, limit: int) -> int:
    """Side of the fewest tiles of at most ``limit`` (about) that cover ``size`` with ``overlap``, evenly; at
    least twice the overlap (the most tiled runs keep)."""
    least = max(multiple, -(-2 * overlap // multiple) * multiple)
    limit = max(least, limit // multiple * multiple)
    if size <= limit:
        return limit
    step = max(multiple, limit - overlap)
    count = -(-(size - overlap) // step)
    side = -(-(size + (count - 1) * overlap) // count)
    return max(least, -(-side // multiple) * multiple)


_WIDE_FIELD_NOTE = (f"receptive field wider than {PROBE_RADIUS} px: tiles blend smoothly but differ slightly from an "
                    "untiled run")


def _covering_overlap(probe_fn: Callable[[torch.Tensor], torch.Tensor], data: torch.Tensor, cin: int, multiple: int,
                      scale: int, overlap: int, info: RestoreInfo) -> int:
    radius = receptive_radius(probe_fn, data, cin, multiple, scale)
    if radius is None:
        info.notes.append(_WIDE_FIELD_NOTE)
        return max(overlap, 4 * PROBE_RADIUS)
    return max(overlap, 4 * radius)


def receptive_radius(fn: Callable[[torch.Tensor], torch.Tensor], data: torch.Tensor, cin: int, multiple: int = 1,
                     scale: int = 1, limit: int = PROBE_RADIUS) -> int | None:
    """How far (input pixels, Chebyshev distance) a change of one input pixel moves ``fn``'s output,
    measured on a random probe of about ``2 * limit + 3`` pixels square; None when it reaches beyond
    ``limit`` (U-Nets, global attention or pooling).

    ``data`` [N, C, H, W] gives the channel count, device and dtype; channels from ``cin`` on are
    conditioning maps (noise levels) and are set to their mean. Any output change above 1e-8 of the
    largest one counts, so that faint but real reach (deep random-init layers, global pooling) is seen;
    outside the receptive field a direct convolution gives bit-identical outputs.
    """
    side = -(-(2 * limit + 3) // multiple) * multiple
    g = torch.Generator().manual_seed(0)
    base = torch.rand(1, data.shape[1], side, side, generator=g).to(device=data.device, dtype=data.dtype)
    if data.shape[1] > cin:
        base[:, cin:] = data[:, cin:].mean(dim=(0, 2, 3)).view(1, -1, 1, 1)
    c = side // 2
    probe = base.repeat(2, 1, 1, 1)
    probe[1, :cin, c, c] = 1.0 - probe[1, :cin, c, c]
    y = fn(probe)
    change = (y[1] - y[0]).abs().amax(dim=0)
    coords = torch.arange(change.shape[-1], device=change.device) // scale
    dist = (coords.view(-1, 1) - c).abs().maximum((coords.view(1, -1) - c).abs())
    hit = change > 1e-8 * change.max()
    radius = int(torch.where(hit, dist, 0).max())  # one sync, once per run
    return None if radius > limit else radius


class _Heartbeat:
    """Forwards tile progress and, from pre-hooks on the network's modules, repeats the last value at most
    every :data:`CHECK_EVERY_S` during a forward pass: the callback (ComfyUI's interruption check) then
    runs several times a second even inside one long network call."""

    def __init__(self, progress: ProgressCallback | None) -> None:
        self.progress = progress
        self.done, self.total = 0, 1
        self.last = time.perf_counter()

    def start(self, total: int) -> None:
        self.done, self.total = 0, max(1, total)

    def report(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        self.last = time.perf_counter()
        if self.progress is not None:
            self.progress(done, total)

    def _hook(self, module: torch.nn.Module, args: object) -> None:
        now = time.perf_counter()
        if now - self.last >= CHECK_EVERY_S:
            self.last = now
            self.progress(self.done, self.total)

    @contextmanager
    def attached(self, module: torch.nn.Module | None) -> Iterator[None]:
        if self.progress is None or not isinstance(module, torch.nn.Module):
            yield
            return
        handles = [m.register_forward_pre_hook(self._hook) for m in module.modules()
                   if not isinstance(m, torch.jit.ScriptModule)]  # scripted modules take no Python hooks
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()


def _upsample(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic upsampling by an integer factor, clamped to [0, 1] (for blending and chroma)."""
    if x.shape[-1] < 2 or x.shape[-2] < 2:
        return F.interpolate(x, scale_factor=scale, mode="nearest")
    return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0.0, 1.0)
