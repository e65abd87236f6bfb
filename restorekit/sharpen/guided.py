"""Guided filter (He, Sun & Tang, "Guided Image Filtering", ECCV 2010 / TPAMI 2013).

In every window ``w_k`` of ``(2 r + 1) x (2 r + 1)`` pixels the output is modelled as a linear function of
the guide ``I``: ``q = a_k I + b_k`` with::

    a_k = cov_k(I, p) / (var_k(I) + eps),   b_k = mean_k(p) - a_k mean_k(I)

and the output at a pixel averages the coefficients of all windows that contain it:
``q = mean(a) I + mean(b)``. Where the guide varies much more than ``sqrt(eps)`` inside a window
(an edge) ``a ~ 1`` and the edge is kept; where it varies much less (flat areas, faint texture)
``a ~ 0`` and the output is the local mean. With the image as its own guide the filter is an
edge-preserving smoother, and ``x - guided_filter(x)`` is a detail layer with little halo.

Windows are clipped at the image border and each mean divides by the number of pixels actually
inside (the normalisation ``N`` of He's box filter). Every mean is a separable box average
(two ``avg_pool2d`` with ``count_include_pad=False``), the four means of one step are one pooling
call over a channel-stacked tensor; the cost does not depend on the image content and no loop
runs over pixels. The guide is gray (one channel, shared by every channel of ``p``) or has as
many channels as ``p`` (channel ``c`` guides channel ``c``); the colour-guide variant with a
3 x 3 covariance per window is not implemented.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import InvalidParameterError
from ..image import check_image

MAX_RADIUS = 64


def box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean of ``x`` ``[N, C, H, W]`` over the ``(2 radius + 1)^2`` window around each pixel.

    The window is clipped at the border and the mean divides by the pixels inside it. ``radius`` 0
    returns ``x``. Any size, 1 x 1 included.
    """
    if radius == 0:
        return x
    k = 2 * radius + 1
    # A clipped 2-D window is the product of two clipped 1-D ones, so the clipped mean is separable.
    y = F.avg_pool2d(x, (1, k), stride=1, padding=(0, radius), count_include_pad=False)
    return F.avg_pool2d(y, (k, 1), stride=1, padding=(radius, 0), count_include_pad=False)


def _check(radius: int, eps: float) -> None:
    if isinstance(radius, bool) or not isinstance(radius, int) or not 0 <= radius <= MAX_RADIUS:
        raise InvalidParameterError(
            "radius", f"expected a whole number of pixels in [0, {MAX_RADIUS}], got {radius!r}.",
            "give e.g. 2 (5 x 5 windows) for fine detail, 8-16 for local contrast.",
        )
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps <= 0:
        raise InvalidParameterError(
            "eps", f"expected a variance > 0, got {eps!r}.",
            "give the square of the contrast that counts as an edge, e.g. 0.1**2 = 0.01 in [0, 1] units.",
        )


def guided_filter(
    x: torch.Tensor, guide: torch.Tensor | None = None, *, radius: int = 2, eps: float = 1e-2
) -> torch.Tensor:
    """Guided filter of ``x`` ``[B, C, H, W]`` by ``guide`` (``None`` = ``x`` itself).

    Args:
        x: the image to filter, float, C = 1 or 3 (values are not required to lie in [0, 1]).
        guide: ``[B, 1, H, W]`` or ``[B, C, H, W]``; ``None`` uses ``x`` (self-guided, edge-preserving
            smoothing).
        radius: window radius ``r`` in pixels; windows are ``(2 r + 1) x (2 r + 1)``, clipped at the border.
        eps: regularisation, a variance in the image's units squared: contrast well above
            ``sqrt(eps)`` inside a window is kept, well below it is smoothed (0.01 = contrast 0.1).

    Returns:
        ``mean(a) * guide + mean(b)``, same shape, dtype and device as ``x`` (computed in float32,
        or float64 for float64 input). Not clamped.
    """
    check_image(x, "image")
    _check(radius, eps)
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    p = x.to(work)
    g = p if guide is None else guide.to(device=x.device, dtype=work)
    if g.dim() != 4 or g.shape[0] != x.shape[0] or g.shape[1] not in (1, x.shape[1]) or g.shape[2:] != x.shape[2:]:
        raise InvalidParameterError(
            "guide", f"expected [B, 1 or {x.shape[1]}, H, W] matching the image {tuple(x.shape)}, "
            f"got {tuple(g.shape)}.", "give a guide of the image's size (gray, or with the image's channels).",
        )
    b, c, h, w = p.shape
    g = g.expand(b, c, h, w)
    stats = box_mean(torch.cat([g, p, g * g, g * p], dim=1), radius)
    mean_g, mean_p, corr_gg, corr_gp = stats.split(c, dim=1)
    var_g = (corr_gg - mean_g * mean_g).clamp_min(0.0)
    cov_gp = corr_gp - mean_g * mean_p
    a = cov_gp / (var_g + eps)
    bias = mean_p - a * mean_g
    mean_a, mean_b = box_mean(torch.cat([a, bias], dim=1), radius).split(c, dim=1)
    return (mean_a * g + mean_b).to(x.dtype)
