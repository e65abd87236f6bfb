"""The one boundary between the outside world and the core algorithms.

Outside: ComfyUI IMAGE tensors ``[B, H, W, C]`` (C = 1..4, float in [0, 1]), MASK tensors
``[B, H, W]``, files read by :mod:`restorekit.io`. Inside: core tensors ``[B, C, H, W]``
float32, contiguous, C = 1 (gray) or 3 (RGB), values in [0, 1]; alpha travels beside.

Everything that converts, validates, makes contiguous or splits alpha lives here, once.
Algorithms receive core tensors and never look at layout, dtype or ComfyUI.
"""

from __future__ import annotations

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


def _check_values(t: torch.Tensor, name: str) -> None:
    if t.numel() == 0:
        raise InvalidImageError(name, f"the image is empty (shape {tuple(t.shape)}).", "connect a non-empty image.")
    if not all_finite(t):
        raise InvalidImageError(
            name,
            "the image contains NaN or infinite values.",
            "check the node that produced it (a division by zero or an overflow upstream).",
        )


def split_alpha(x: torch.Tensor, name: str = "image", device: torch.device | str | None = None) -> SplitImage:
    """Validate a channels-first batch ``[B, C, H, W]`` with C = 1..4 and split off its alpha.

    C = 2 and 4 carry alpha last. Values are clamped to [0, 1]; the result is float32,
    contiguous, on ``device`` (default: the input's device).
    """
    if x.dim() != 4:
        raise InvalidImageError(name, f"expected shape [batch, channels, height, width], got {tuple(x.shape)}.", None)
    c = x.shape[1]
    if c not in (1, 2, 3, 4):
        raise InvalidImageError(
            name,
            f"expected 1 to 4 channels (gray, gray + alpha, RGB, RGBA), got {c}.",
            "give a gray, RGB or RGBA image.",
        )
    if x.dtype not in _FLOAT_DTYPES:
        raise InvalidImageError(
            name, f"expected a floating-point image in [0, 1], got dtype {x.dtype}.", "convert it to float first."
        )
    _check_values(x, name)
    x = x.to(device=device if device is not None else x.device, dtype=torch.float32).clamp(0.0, 1.0)
    alpha = None
    if c in (2, 4):
        alpha = x[:, c - 1 :].contiguous()
        x = x[:, : c - 1]
    return SplitImage(pixels=x.contiguous(), alpha=alpha)


def image_from_bhwc(image: torch.Tensor, name: str = "image", device: torch.device | str | None = None) -> SplitImage:
    """Validate a channels-last batch ``[B, H, W, C]`` (ComfyUI's IMAGE) and convert it to a core batch.

    Accepts C = 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA); a 3-D ``[H, W, C]`` tensor is
    taken as a batch of one. See :func:`split_alpha` for the result.
    """
    if not isinstance(image, torch.Tensor):
        raise InvalidImageError(name, f"expected an IMAGE tensor, got {type(image).__name__}.", "connect an IMAGE output.")
    if image.dim() == 3:
        image = image.unsqueeze(0)
    if image.dim() != 4:
        raise InvalidImageError(
            name,
            f"expected shape [batch, height, width, channels], got {tuple(image.shape)}.",
            "connect an IMAGE (not a MASK or latent).",
        )
    if image.shape[-1] not in (1, 2, 3, 4):
        raise InvalidImageError(
            name,
            f"expected 1 to 4 channels in the last dimension, got {image.shape[-1]} (shape {tuple(image.shape)}).",
            "connect an IMAGE in layout [batch, height, width, channels].",
        )
    return split_alpha(image.permute(0, 3, 1, 2), name, device)


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


def mask_from_bhw(mask: torch.Tensor, name: str = "mask", device: torch.device | str | None = None) -> torch.Tensor:
    """Validate a mask ``[B, H, W]`` (ComfyUI's MASK) or ``[H, W]``) and return ``[B, 1, H, W]`` float32."""
    if not isinstance(mask, torch.Tensor) or mask.dim() not in (2, 3):
        shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise InvalidImageError(name, f"expected a MASK [batch, height, width], got {shape}.", "connect a MASK output.")
    if mask.dim() == 2:
        mask = mask.unsqueeze(0)
    if mask.dtype not in _FLOAT_DTYPES:
        mask = mask.float()
    _check_values(mask, name)
    m = mask.to(device=device if device is not None else mask.device, dtype=torch.float32)
    return m.clamp(0.0, 1.0).unsqueeze(1).contiguous()


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
