"""Lightness-order error (LOE): how much an enhancement changes which pixels are brighter than which.

S. Wang, J. Zheng, H.-M. Hu, B. Li, "Naturalness Preserved Enhancement Algorithm for
Non-Uniform Illumination Images", IEEE Trans. Image Processing 22(9), 2013.

Definition implemented (the paper's, on a grid of about ``size`` pixels on the smaller side):

- lightness ``L(p) = max(R, G, B)`` (a gray image is its own lightness);
- both images are sampled on the same coarse grid of ``h x w`` cells with
  ``r = size / min(H, W)``, ``h = round(H r)``, ``w = round(W r)`` (no resampling when
  ``r >= 1``); each cell takes the pixel at its centre (nearest neighbour, see below);
- ``U(a, b) = 1 if a >= b else 0`` and, over the ``m = h w`` grid pixels,
  ``RD(p) = sum_q U(L(p), L(q)) XOR U(Le(p), Le(q))``, ``LOE = (1 / m) sum_p RD(p)``.

So a pair whose order is reversed counts twice (once from each side), a pair that was equal
and is no longer equal counts once. LOE is 0 when the order of lightness is kept exactly and
grows with every flip; its largest value is ``m - 1``.

The paper's code shrinks with ``imresize`` (bicubic). Averaging does not commute with a tone
curve, so a strictly increasing curve would score above 0 after it; sampling pixels does commute,
so here any strictly increasing tone curve (applied to all channels) scores exactly 0.

Everything is batched torch on the input's device: the pair comparisons are ``[B, rows, m]``
boolean blocks, a few of them per image for large ``size``.
"""

from __future__ import annotations

import torch

from ..errors import InvalidImageError, InvalidParameterError
from ..image import check_image

MAX_SIZE = 400
# Elements of the boolean pair-comparison block formed at once (256 Mi = 256 MiB).
_BLOCK_ELEMENTS = 1 << 28


def _grid_size(h: int, w: int, size: int) -> tuple[int, int]:
    r = size / min(h, w)
    if r >= 1.0:
        return h, w
    return max(1, round(h * r)), max(1, round(w * r))


def _sample(lightness: torch.Tensor, gh: int, gw: int) -> torch.Tensor:
    """Nearest-neighbour samples at the centres of a ``gh x gw`` grid of cells: ``[B, gh * gw]``."""
    _, _, h, w = lightness.shape
    dev = lightness.device
    rows = ((torch.arange(gh, device=dev, dtype=torch.float64) + 0.5) * (h / gh)).floor().long().clamp_(0, h - 1)
    cols = ((torch.arange(gw, device=dev, dtype=torch.float64) + 0.5) * (w / gw)).floor().long().clamp_(0, w - 1)
    return lightness[:, 0].index_select(1, rows).index_select(2, cols).reshape(lightness.shape[0], -1)


def lightness_order_error(enhanced: torch.Tensor, original: torch.Tensor, *, size: int = 50) -> torch.Tensor:
    """Lightness-order error of ``enhanced`` against ``original`` (Wang et al. 2013), per image.

    Args:
        enhanced: the result, ``[B, C, H, W]`` float in [0, 1], C = 1 or 3.
        original: the image it was made from, same batch and size (C may differ: lightness is
            ``max`` over whatever channels there are).
        size: the smaller side of the comparison grid in pixels (the paper's 50), 2..400; the
            work grows as the fourth power of it. Images smaller than that are compared at
            full size.

    Returns:
        ``[B]`` float32 (float64 for float64 inputs) on the input's device: the mean number of
        other grid pixels whose lightness order relative to each pixel changed (0 = order kept;
        at most ``m - 1`` for ``m`` grid pixels). See the module docstring for the exact formula.
    """
    check_image(enhanced, "enhanced")
    check_image(original, "original")
    if enhanced.shape[0] != original.shape[0] or enhanced.shape[-2:] != original.shape[-2:]:
        raise InvalidImageError(
            "original",
            f"has shape {tuple(original.shape)} but the enhanced image has {tuple(enhanced.shape)}.",
            "compare an image with the result made from it (same batch length, height and width).",
        )
    if isinstance(size, bool) or not isinstance(size, int) or not 2 <= size <= MAX_SIZE:
        raise InvalidParameterError(
            "size", f"expected a whole number of pixels in 2..{MAX_SIZE}, got {size!r}.", "give e.g. 50 (the paper's)."
        )
    b, _, h, w = original.shape
    gh, gw = _grid_size(h, w, size)
    out_dtype = torch.float64 if torch.float64 in (enhanced.dtype, original.dtype) else torch.float32
    # Comparisons only: each image keeps its own dtype, so order is judged on its exact values.
    lo = _sample(original.amax(dim=1, keepdim=True), gh, gw)  # [B, m]
    le = _sample(enhanced.amax(dim=1, keepdim=True), gh, gw)
    m = lo.shape[1]
    rows = max(1, min(m, _BLOCK_ELEMENTS // max(1, b * m)))
    total = torch.zeros(b, dtype=torch.int64, device=original.device)
    for start in range(0, m, rows):  # blocks of rows of the m x m comparison, bounded in memory
        stop = min(m, start + rows)
        u_orig = lo[:, start:stop, None] >= lo[:, None, :]
        u_enh = le[:, start:stop, None] >= le[:, None, :]
        total += (u_orig ^ u_enh).sum(dim=(1, 2))
    return total.to(out_dtype) / m
