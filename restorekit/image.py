"""The one boundary between the outside world and the core algorithms.

Outside: ComfyUI IMAGE tensors ``[B, H, W, C]`` (C = 1..4, float in [0, 1]), MASK tensors
``[B, H, W]``, files read by :mod:`restorekit.io`. Inside: core tensors ``[B, C, H, W]``
float32, contiguous, C = 1 (gray) or 3 (RGB), values in [0, 1]; alpha travels beside.

Everything that converts, validates, makes contiguous or splits alpha lives here, once.
Algorithms receive core tensors and never look at layout, dtype or ComfyUI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .errors import AlgorithmError, InvalidImageError

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


@dataclass
class SplitImage:
    """A core image batch with its alpha channel kept aside.

    ``pixels``: ``[B, C, H, W]`` float32, C = 1 or 3. ``alpha``: ``[B, 1, H, W]`` or None.
    ``bit_depth``: the bit depth of the file it was read from (8, 16, 32 = float), None otherwise.
    """

    pixels: torch.Tensor
    alpha: torch.Tensor | None
    bit_depth: int | None = None


def all_finite(t: torch.Tensor) -> bool:
    """True when no value of ``t`` is NaN or infinite.

    A finite sum proves it at a fraction of the cost of an element-wise check, which then runs
    only when the sum is not finite (NaN/Inf present, or an overflow of large finite values).
    """
    return bool(torch.isfinite(t.float().sum())) or bool(torch.isfinite(t).all())


#: How far values may lie outside [0, 1] and still be taken as an image in [0, 1] (clamped, with a note):
#: resampling (Lanczos, bicubic) and sharpening upstream overshoot by a few percent. Anything further
#: is another scale (0-255, -1..1) or an HDR image, which clamping would ruin, so it is rejected.
RANGE_TOLERANCE = 0.5


def _check_values(t: torch.Tensor, name: str) -> None:
    _check_not_empty(t, name)
    if not all_finite(t):
        raise _not_finite_error(t, name)


def _check_not_empty(t: torch.Tensor, name: str) -> None:
    if t.numel() == 0:
        if t.dim() > 0 and t.shape[0] == 0:
            raise InvalidImageError(
                name,
                f"the batch is empty: it holds no images (shape {tuple(t.shape)}).",
                "connect a node that outputs at least one image (a filter or a batch split upstream may have "
                "removed them all).",
            )
        raise InvalidImageError(
            name, f"the image is empty: it has no pixels (shape {tuple(t.shape)}).", "give an image of at least 1x1 pixels."
        )


def _not_finite_error(t: torch.Tensor, name: str) -> InvalidImageError:
    nan = int(torch.isnan(t).sum())
    inf = int(torch.isinf(t).sum())
    return InvalidImageError(
        name,
        f"the image contains NaN or infinite values ({nan:,} NaN and {inf:,} infinite of {t.numel():,}).",
        "check the node that produced it (a division by zero or an overflow upstream), or connect another image.",
    )


def checked_unit_range(
    t: torch.Tensor, name: str, notes: list[str] | None = None, what: str = "image"
) -> torch.Tensor:
    """``t`` (float32) clamped to [0, 1] after checking it is a non-empty, finite batch in [0, 1] give or take
    :data:`RANGE_TOLERANCE`.

    Values slightly outside are clamped and a line saying so is appended to ``notes``; values further out
    (0-255 or -1..1 scaled data, HDR) raise :class:`InvalidImageError` with the fix. One device sync.
    """
    _check_not_empty(t, name)
    lo, hi = (float(v) for v in torch.stack(torch.aminmax(t)).tolist())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise _not_finite_error(t, name)
    if lo < -RANGE_TOLERANCE or hi > 1.0 + RANGE_TOLERANCE:
        if hi > 2.0 and lo >= -RANGE_TOLERANCE:
            hint = f"it looks like 0-{255 if hi <= 255.5 else 65535} values: divide by {255 if hi <= 255.5 else 65535}"
        elif lo < -RANGE_TOLERANCE and hi <= 1.0 + RANGE_TOLERANCE:
            hint = "it looks like -1..1 values: map them with (x + 1) / 2"
        else:
            hint = "scale it into [0, 1], or tone-map/clamp an HDR image first"
        raise InvalidImageError(
            name,
            f"values range from {_short(lo)} to {_short(hi)}, far outside [0, 1] (up to {RANGE_TOLERANCE} outside "
            "is clamped).",
            f"{hint} (in ComfyUI: a normalise, image-math or clamp node before this one; for a file: save it "
            "tone-mapped or scaled into [0, 1]).",
        )
    if lo < 0.0 or hi > 1.0:
        if notes is not None:
            notes.append(f"{name}: the {what} had values from {_short(lo)} to {_short(hi)}; they were clamped to [0, 1].")
        t = t.clamp(0.0, 1.0)
    return t


def _short(v: float) -> str:
    return f"{v:.4g}"


def split_alpha(
    x: torch.Tensor,
    name: str = "image",
    device: torch.device | str | None = None,
    notes: list[str] | None = None,
) -> SplitImage:
    """Validate a channels-first batch ``[B, C, H, W]`` with C = 1..4 and split off its alpha.

    C = 2 and 4 carry alpha last. Any float dtype is accepted; values slightly outside [0, 1] are
    clamped (noted in ``notes``), NaN/Inf, an empty batch and values far outside are rejected (see
    :func:`checked_unit_range`). The result is float32, contiguous, on ``device`` (default: the
    input's device).
    """
    if not isinstance(x, torch.Tensor):
        raise InvalidImageError(name, f"expected an image tensor, got {type(x).__name__}.", "connect an image.")
    if x.dim() != 4:
        raise InvalidImageError(
            name,
            f"expected shape [batch, channels, height, width], got {tuple(x.shape)}.",
            "give a 4-D batch (add a batch dimension with x[None] for a single image).",
        )
    c = x.shape[1]
    if c not in (1, 2, 3, 4):
        raise InvalidImageError(
            name,
            f"expected 1 to 4 channels (gray, gray + alpha, RGB, RGBA), got {c}.",
            "give a gray, RGB or RGBA image.",
        )
    _check_dtype(x, name)
    x = x.to(device=device if device is not None else x.device, dtype=torch.float32)
    x = checked_unit_range(x, name, notes)
    alpha = None
    if c in (2, 4):
        alpha = x[:, c - 1 :].contiguous()
        x = x[:, : c - 1]
    return SplitImage(pixels=x.contiguous(), alpha=alpha)


def _check_dtype(x: torch.Tensor, name: str) -> None:
    if x.dtype not in _FLOAT_DTYPES:
        raise InvalidImageError(
            name,
            f"expected floating-point values in [0, 1], got dtype {str(x.dtype).replace('torch.', '')}.",
            "connect an IMAGE output (ComfyUI images are float); from Python, convert with x.float() / 255 "
            "(8-bit) or / 65535 (16-bit).",
        )


def image_from_bhwc(
    image: torch.Tensor,
    name: str = "image",
    device: torch.device | str | None = None,
    notes: list[str] | None = None,
) -> SplitImage:
    """Validate a channels-last batch ``[B, H, W, C]`` (ComfyUI's IMAGE) and convert it to a core batch.

    Accepts C = 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA); a 3-D ``[H, W, C]`` tensor with
    C <= 4 is taken as a batch of one (a 3-D tensor with more in its last dimension is a MASK).
    See :func:`split_alpha` for the values and the result.
    """
    if not isinstance(image, torch.Tensor):
        raise InvalidImageError(name, f"expected an IMAGE tensor, got {type(image).__name__}.", "connect an IMAGE output.")
    if image.dim() == 3 and image.shape[-1] > 4:
        raise InvalidImageError(
            name,
            f"expected an IMAGE [batch, height, width, channels], got shape {tuple(image.shape)}, which looks like a "
            "MASK [batch, height, width].",
            "connect an IMAGE output, or turn the mask into an image first (ComfyUI's Convert Mask to Image).",
        )
    if image.dim() == 3:
        image = image.unsqueeze(0)
    if image.dim() != 4:
        raise InvalidImageError(
            name,
            f"expected an IMAGE [batch, height, width, channels], got {image.dim()} dimensions "
            f"(shape {tuple(image.shape)}).",
            "connect an IMAGE (not a MASK, latent or video tensor); for a 5-D stack of frames, flatten it "
            "into one batch first.",
        )
    if image.shape[-1] not in (1, 2, 3, 4):
        raise InvalidImageError(
            name,
            f"expected 1 to 4 channels in the last dimension, got {image.shape[-1]} (shape {tuple(image.shape)}).",
            "connect an IMAGE in layout [batch, height, width, channels] with 1 (gray), 3 (RGB) or 4 (RGBA) "
            "channels; a channels-first tensor must be permuted first.",
        )
    return split_alpha(image.permute(0, 3, 1, 2), name, device, notes)


def join_alpha(pixels: torch.Tensor, alpha: torch.Tensor | None = None, name: str = "result") -> torch.Tensor:
    """A core result ``[B, C, H, W]`` with ``alpha`` appended as its last channel, float32 in [0, 1].

    Raises :class:`AlgorithmError` when the algorithm produced NaN/Inf, which is a bug to
    report rather than something to paper over, or when alpha no longer fits the result.
    """
    if pixels.dim() != 4:
        raise AlgorithmError(name, f"an algorithm returned shape {tuple(pixels.shape)}, expected 4 dimensions.", None)
    if not all_finite(pixels):
        raise AlgorithmError(
            name,
            "the algorithm produced NaN or infinite values.",
            "try other parameters; please report this with the image size and settings.",
        )
    out = pixels.float().clamp(0.0, 1.0)
    if alpha is None:
        return out
    if alpha.shape[-2:] != out.shape[-2:] or alpha.shape[0] != out.shape[0]:
        raise AlgorithmError(
            name,
            f"the result's size {tuple(out.shape[-2:])} differs from the alpha channel's {tuple(alpha.shape[-2:])}.",
            "this operation changes the image size and cannot keep alpha; remove alpha first.",
        )
    return torch.cat([out, alpha.to(out.device, torch.float32)], dim=1)


def image_to_bhwc(
    pixels: torch.Tensor,
    alpha: torch.Tensor | None = None,
    device: torch.device | str | None = None,
    name: str = "result",
) -> torch.Tensor:
    """Convert a core batch ``[B, C, H, W]`` (and optional alpha) to channels-last ``[B, H, W, C(+1)]``.

    float32, contiguous, clamped to [0, 1], on ``device``; checked as in :func:`join_alpha`.
    """
    out = join_alpha(pixels, alpha, name).permute(0, 2, 3, 1)
    if device is not None:
        out = out.to(device)
    return out.contiguous()


def alpha_for(alpha: torch.Tensor | None, result: torch.Tensor) -> torch.Tensor | None:
    """The input's alpha fitted to a result ``[B, C, H, W]``: as is, resized (bilinear) when the
    operation changed the size (super-resolution, Compare grids excluded by batch), or None when
    the batch differs or there is no alpha."""
    if alpha is None or alpha.shape[0] != result.shape[0]:
        return None
    if alpha.shape[-2:] == result.shape[-2:]:
        return alpha
    resized = torch.nn.functional.interpolate(
        alpha.float(), size=tuple(result.shape[-2:]), mode="bilinear", align_corners=False, antialias=True
    )
    return resized.clamp(0.0, 1.0)


def mask_from_bhw(
    mask: torch.Tensor,
    name: str = "mask",
    device: torch.device | str | None = None,
    notes: list[str] | None = None,
) -> torch.Tensor:
    """Validate a mask ``[B, H, W]`` (ComfyUI's MASK) or ``[H, W]`` and return ``[B, 1, H, W]`` float32.

    Integer and bool masks are converted to float; the values follow the rule of :func:`checked_unit_range`
    (slightly outside [0, 1]: clamped and noted; NaN/Inf, empty or far outside: rejected).
    """
    if not isinstance(mask, torch.Tensor) or mask.dim() not in (2, 3):
        shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise InvalidImageError(
            name,
            f"expected a MASK [batch, height, width], got {shape}.",
            "connect a MASK output (an IMAGE must be converted first, e.g. with ComfyUI's Convert Image to Mask).",
        )
    if mask.dim() == 2:
        mask = mask.unsqueeze(0)
    m = mask.to(device=device if device is not None else mask.device, dtype=torch.float32)
    return checked_unit_range(m, name, notes, "mask").unsqueeze(1).contiguous()


def mask_to_bhw(mask: torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """Convert a core mask ``[B, 1, H, W]`` to ``[B, H, W]`` float32 (ComfyUI's MASK)."""
    out = mask.float().clamp(0.0, 1.0)[:, 0]
    if device is not None:
        out = out.to(device)
    return out.contiguous()


def check_image(x: torch.Tensor, name: str = "image") -> None:
    """Check a core batch at a library entry point: ``[B, C, H, W]`` float, C = 1 or 3, finite."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] not in (1, 3):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise InvalidImageError(
            name,
            f"expected a [batch, channels, height, width] tensor with 1 or 3 channels, got {shape}.",
            "convert with restorekit.image.image_from_bhwc or read a file with restorekit.io.load_image.",
        )
    if not x.is_floating_point():
        raise InvalidImageError(name, f"expected a float tensor in [0, 1], got {x.dtype}.", "divide by 255 (or 65535) first.")
    _check_values(x, name)


def match_batch(x: torch.Tensor, batch: int, name: str) -> torch.Tensor:
    """Broadcast a batch of 1 to ``batch`` images; reject other mismatches."""
    if x.shape[0] == batch:
        return x
    if x.shape[0] == 1:
        return x.expand(batch, *x.shape[1:])
    raise InvalidImageError(
        name,
        f"has {x.shape[0]} images but the main input has {batch}.",
        "give one image (used for all) or exactly as many as the main input.",
    )


def match_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """Make a gray batch RGB (repeat) or an RGB batch gray (BT.601 luma) to match ``channels``."""
    if x.shape[1] == channels:
        return x
    if channels == 3:
        return x.expand(-1, 3, -1, -1)
    from .color import luma

    return luma(x)


def to_numpy(x: torch.Tensor) -> np.ndarray:
    """A core batch ``[B, C, H, W]`` as a C-contiguous float32 numpy array ``[B, H, W, C]`` on the CPU.

    This is the one place where arrays for CPU libraries (PyWavelets, OpenCV, scikit-image)
    are made; each image ``arr[i]`` is itself contiguous.
    """
    return np.ascontiguousarray(x.detach().to("cpu", torch.float32).permute(0, 2, 3, 1).numpy())


def from_numpy(arr: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """A numpy ``[B, H, W, C]`` array back to a core batch on ``like``'s device and dtype."""
    t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    if t.dim() == 3:
        t = t.unsqueeze(-1)
    return t.permute(0, 3, 1, 2).to(device=like.device, dtype=like.dtype).contiguous()
