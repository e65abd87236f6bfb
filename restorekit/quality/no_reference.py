"""No-reference measures: perceptual blur, entropy, colourfulness and grey-level co-occurrence texture.

Every function takes a core batch ``[B, C, H, W]`` (float in [0, 1], C = 1 or 3, any device)
and returns values per image as tensors ``[B]`` on the input's device, in float32 (float64 for
float64 input). Measures of structure work on BT.601 luma. :func:`entropy` and
:func:`colorfulness` are those of :mod:`restorekit.quality.metrics` (re-exported here so the
no-reference measures are found in one place).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..color import luma
from ..errors import InvalidParameterError
from ..image import check_image
from .metrics import colorfulness, entropy

__all__ = ["GLCM_PROPERTIES", "blur_effect", "colorfulness", "colourfulness", "entropy", "glcm_texture"]

colourfulness = colorfulness

#: The properties :func:`glcm_texture` returns, in order.
GLCM_PROPERTIES = ("contrast", "homogeneity", "energy", "correlation")


def _work(x: torch.Tensor) -> torch.Tensor:
    return luma(x.to(torch.float64 if x.dtype == torch.float64 else torch.float32))


def _int_param(name: str, value: object, low: int, high: int, fix: str, odd: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high or (odd and value % 2 == 0):
        what = f"an odd integer from {low} to {high}" if odd else f"an integer from {low} to {high}"
        raise InvalidParameterError(name, f"must be {what}, got {value!r}.", fix)
    return value


# ---- perceptual blur -------------------------------------------------------------------------


def _pad_symmetric(y: torch.Tensor, before: int, after: int, dim: int) -> torch.Tensor:
    """Pad by mirroring with the edge sample repeated (``d c b a | a b c d``), any pad width."""
    n = y.shape[dim]
    idx = torch.arange(-before, n + after, device=y.device) % (2 * n)
    idx = torch.where(idx >= n, 2 * n - 1 - idx, idx)
    return y.index_select(dim, idx)


def _abs_sobel(y: torch.Tensor, dim: int) -> torch.Tensor:
    """|Sobel derivative| along ``dim`` (-2 rows, -1 columns) with [1, 2, 1] / 4 smoothing across it."""
    other = -1 if dim == -2 else -2
    p = _pad_symmetric(_pad_symmetric(y, 1, 1, -2), 1, 1, -1)
    d = p.narrow(dim, 2, y.shape[dim]) - p.narrow(dim, 0, y.shape[dim])
    n = y.shape[other]
    s = 0.25 * d.narrow(other, 0, n) + 0.5 * d.narrow(other, 1, n) + 0.25 * d.narrow(other, 2, n)
    return s.abs()


def blur_effect(x: torch.Tensor, *, size: int = 11) -> torch.Tensor:
    """Perceptual blur per image ``[B]`` (Crété-Roffet et al. 2007): 0 = sharp, 1 = fully blurred.

    The image (luma) ``F`` is re-blurred with a ``size``-tap box filter along one axis to ``B``;
    re-blurring an already blurred image changes its derivatives little, so
    ``1 - sum(max(0, |D F| - |D B|)) / sum(|D F|)`` (the share of gradient the re-blur does not
    remove) is near 1 for a blurred image and lower for a sharp one. Taken along columns and
    along rows, the larger of the two is returned. Conventions of scikit-image's
    ``blur_effect`` (values agree with it): Sobel derivatives, symmetric borders, sums over
    rows/columns ``2 .. n - 2`` (the whole side where it is under 4 px). A side of one pixel has
    no derivative and is skipped (a 1 x 1 image gives 1, as a flat image does).
    ``size``: odd, 3 to 63 px; compare values only at the same size.
    """
    check_image(x, "image")
    size = _int_param("size", size, 3, 63, "use 11 (the scikit-image default) or 9 (the paper).", odd=True)
    y = _work(x)
    tiny = 2.220446049250313e-16  # numpy's spacing(1.0): keeps 0/0 out of flat regions
    h, w = y.shape[-2:]
    rows = slice(2, h - 1) if h >= 4 else slice(0, h)
    cols = slice(2, w - 1) if w >= 4 else slice(0, w)
    r = size // 2
    values = []
    for dim in (-2, -1):
        if y.shape[dim] < 2:
            continue  # no derivative along a side of one pixel
        padded = _pad_symmetric(y, r, r, dim)
        kernel = (size, 1) if dim == -2 else (1, size)
        reblurred = F.avg_pool2d(padded, kernel, stride=1)
        sharp = _abs_sobel(y, dim).clamp(min=tiny)
        soft = _abs_sobel(reblurred, dim).clamp(min=tiny)
        kept = torch.clamp(sharp - soft, min=0.0)
        m1 = sharp[..., rows, cols].flatten(1).sum(dim=1)
        m2 = kept[..., rows, cols].flatten(1).sum(dim=1)
        values.append((m1 - m2).abs() / m1)
    if not values:
        return torch.ones(y.shape[0], device=y.device, dtype=y.dtype)
    return torch.stack(values).amax(dim=0)


# ---- GLCM texture ----------------------------------------------------------------------------


def _offsets(distance: int) -> list[tuple[int, int]]:
    """(row, column) steps for 0, 45, 90 and 135 degrees."""
    d = distance
    return [(0, d), (d, d), (d, 0), (d, -d)]


def glcm(x: torch.Tensor, *, levels: int = 32, distance: int = 1) -> torch.Tensor:
    """Symmetric, normalised grey-level co-occurrence matrices ``[B, 4, levels, levels]`` of luma.

    Luma is rounded to 8 bits and quantised to ``levels`` grey levels (``floor(v * levels / 256)``);
    entry ``[b, a, i, j]`` is the fraction of pixel pairs ``distance`` px apart in direction
    ``a`` (0, 45, 90, 135 degrees; a diagonal pair is ``distance`` px apart on each axis, as
    Haralick's) with levels ``i`` and ``j``, both orders counted. Directions
    that have no pixel pair (an image thinner than ``distance`` + 1 px) are all zero.
    """
    check_image(x, "image")
    levels = _int_param("levels", levels, 2, 256, "use 32 (default), or 256 for full 8-bit levels.")
    distance = _int_param("distance", distance, 1, 64, "use 1 px (neighbouring pixels).")
    return _glcm(_work(x), levels, distance)


def _glcm(y: torch.Tensor, levels: int, distance: int) -> torch.Tensor:
    b, _, h, w = y.shape
    q = torch.floor(torch.round(y[:, 0].clamp(0.0, 1.0) * 255.0) * (levels / 256.0)).long()
    index = []
    for a, (dr, dc) in enumerate(_offsets(distance)):
        rows, cols = h - dr, w - abs(dc)
        if rows <= 0 or cols <= 0:
            continue
        c0 = max(0, -dc)
        first = q[:, :rows, c0 : c0 + cols]
        second = q[:, dr : dr + rows, c0 + dc : c0 + dc + cols]
        base = (torch.arange(b, device=y.device).view(b, 1, 1) * 4 + a) * (levels * levels)
        index.append((base + first * levels + second).flatten())
    total = b * 4 * levels * levels
    if index:
        counts = torch.bincount(torch.cat(index), minlength=total).view(b, 4, levels, levels)
    else:
        counts = torch.zeros(b, 4, levels, levels, dtype=torch.long, device=y.device)
    p = (counts + counts.transpose(-1, -2)).to(y.dtype)
    sums = p.sum(dim=(-2, -1), keepdim=True)
    return p / sums.clamp(min=1.0)


def glcm_texture(x: torch.Tensor, *, levels: int = 32, distance: int = 1) -> dict[str, torch.Tensor]:
    """Haralick texture properties of the grey-level co-occurrence matrix, per image ``[B]`` each.

    From :func:`glcm` (luma, ``levels`` grey levels, pairs ``distance`` px apart), averaged over
    the four directions 0, 45, 90 and 135 degrees (those with pixel pairs):

    - ``contrast``: ``sum P(i, j) (i - j)^2``, in squared grey levels of the ``levels``-level scale
      (0 for a flat image; local variation).
    - ``homogeneity``: ``sum P(i, j) / (1 + (i - j)^2)``, 0-1 (1 = neighbours always equal).
    - ``energy``: ``sqrt(sum P(i, j)^2)``, 0-1 (1 = a single grey-level pair: uniform texture).
    - ``correlation``: ``sum P(i, j) (i - mu)(j - mu) / sigma^2``, -1 to 1 (1 for a flat image).

    The definitions of scikit-image's ``graycoprops`` (values agree with it on the same levels).
    """
    p = glcm(x, levels=levels, distance=distance)
    i = torch.arange(p.shape[-1], device=p.device, dtype=p.dtype)
    diff2 = (i.view(-1, 1) - i.view(1, -1)).square()
    contrast = (p * diff2).sum(dim=(-2, -1))
    homogeneity = (p / (1.0 + diff2)).sum(dim=(-2, -1))
    energy = torch.sqrt(p.square().sum(dim=(-2, -1)))
    marginal = p.sum(dim=-1)  # symmetric: the row and column marginals are equal
    mu = (marginal * i).sum(dim=-1, keepdim=True)
    dev = i - mu
    var = (marginal * dev.square()).sum(dim=-1)
    cov = (p * dev.unsqueeze(-1) * dev.unsqueeze(-2)).sum(dim=(-2, -1))
    flat = var < 1e-12 * (levels * levels)
    correlation = torch.where(flat, torch.ones_like(cov), cov / torch.where(flat, torch.ones_like(var), var))
    present = p.sum(dim=(-2, -1)) > 0  # [B, 4]
    n = present.sum(dim=1)
    out = {}
    defaults = {"contrast": 0.0, "homogeneity": 1.0, "energy": 1.0, "correlation": 1.0}  # as for a flat image
    for name, v in zip(GLCM_PROPERTIES, (contrast, homogeneity, energy, correlation), strict=True):
        mean = torch.where(present, v, torch.zeros_like(v)).sum(dim=1) / n.clamp(min=1)
        out[name] = torch.where(n > 0, mean, torch.full_like(mean, defaults[name]))
    return out
