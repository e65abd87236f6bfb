"""Contrast-adaptive sharpening (CAS), after AMD FidelityFX CAS (T. Lottes, 2019).

Per pixel, over its 3 x 3 neighbourhood::

    a b c
    d e f        mn = min(b, d, e, f, h) + min(a .. i)      (a "soft" minimum, in [0, 2])
    g h i        mx = max(b, d, e, f, h) + max(a .. i)

    amp  = sqrt(clamp(min(mn, 2 - mx) / mx, 0, 1))
    w    = -amp / (8 - 3 * sharpness)                        (sharpness in [0, 1])
    out  = clamp((w (b + d + f + h) + e) / (1 + 4 w), 0, 1)

``amp`` is the distance of the local signal to the limits 0 and 1 relative to its maximum: it
is small where the neighbourhood already spans much of the range (strong edges, which are
sharpened less and so ring less) and large in low-contrast areas. The filter is a normalised
cross-shaped sharpening kernel, so flat areas stay flat. This is the published formula of the
non-scaling path; ``sharpness`` 0 is the weakest (peak -1/8), 1 the strongest (peak -1/5).
Borders repeat the edge pixel (clamped texture reads).

CAS was designed for linear light. ``space="linear"`` decodes sRGB first and encodes the result
again; ``"srgb"`` runs on the gamma-encoded values as most ports do. With ``luminance_only`` (the
default) the filter runs on one luminance channel (BT.601 luma of sRGB, or Rec. 709 luminance
of linear light) and its change is added to every colour channel, so colours are kept;
otherwise each channel is filtered on its own with its own ``amp`` (the "per channel" variant of
the shader, which weighs every channel by its own contrast instead of green's).

Elementwise torch on nine shifted views of one padded tensor: a few memory-bound kernels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..color import linear_to_srgb, luma, srgb_to_linear
from ..errors import InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report

SPACES = ("linear", "srgb")
_REC709 = (0.2126, 0.7152, 0.0722)


def check_sharpness(sharpness: float) -> None:
    if isinstance(sharpness, bool) or not isinstance(sharpness, (int, float)) or not math.isfinite(sharpness) \
            or not 0.0 <= sharpness <= 1.0:
        raise InvalidParameterError(
            "sharpness", f"expected a number in [0, 1], got {sharpness!r}.", "give e.g. 0.5 (AMD's range 0-1)."
        )


def check_space(space: str) -> None:
    if space not in SPACES:
        raise InvalidParameterError("space", f"unknown space {space!r}.", f"choose one of: {', '.join(SPACES)}.")


def cas_filter(y: torch.Tensor, sharpness: float) -> torch.Tensor:
    """The CAS formula applied to every channel of ``y`` ``[B, C, H, W]`` (values in [0, 1]) on its own.

    No checks and no colour handling: the building block of :func:`contrast_adaptive_sharpen`.
    """
    h, w = y.shape[-2:]
    p = F.pad(y, (1, 1, 1, 1), mode="replicate")
    a, b, c = p[..., 0:h, 0:w], p[..., 0:h, 1 : w + 1], p[..., 0:h, 2 : w + 2]
    d, f = p[..., 1 : h + 1, 0:w], p[..., 1 : h + 1, 2 : w + 2]
    g, hh, i = p[..., 2 : h + 2, 0:w], p[..., 2 : h + 2, 1 : w + 1], p[..., 2 : h + 2, 2 : w + 2]
    e = y
    cross_min = torch.minimum(torch.minimum(torch.minimum(b, d), torch.minimum(f, hh)), e)
    cross_max = torch.maximum(torch.maximum(torch.maximum(b, d), torch.maximum(f, hh)), e)
    corner_min = torch.minimum(torch.minimum(a, c), torch.minimum(g, i))
    corner_max = torch.maximum(torch.maximum(a, c), torch.maximum(g, i))
    mn = cross_min + torch.minimum(cross_min, corner_min)
    mx = cross_max + torch.maximum(cross_max, corner_max)
    # mx = 0 only for an all-black neighbourhood: amp is then 0 (the shader's saturate(NaN)).
    amp = (torch.minimum(mn, 2.0 - mx) / mx.clamp_min(1e-12)).clamp(0.0, 1.0).sqrt()
    weight = amp * (-1.0 / (8.0 - 3.0 * float(sharpness)))
    neighbours = b + d + f + hh
    return ((weight * neighbours + e) / (1.0 + 4.0 * weight)).clamp(0.0, 1.0)


def cas_change(x: torch.Tensor, *, sharpness: float, space: str, luminance_only: bool) -> torch.Tensor:
    """``CAS(x) - x`` in sRGB for ``x`` ``[B, C, H, W]`` float32/64 in [0, 1] (unclamped when added back).

    For ``luminance_only`` on RGB the change is one luminance channel broadcast over R, G, B in
    the working space; it is returned already converted back to sRGB values.
    """
    work = srgb_to_linear(x) if space == "linear" else x
    if luminance_only and x.shape[1] == 3:
        if space == "linear":
            weights = torch.tensor(_REC709, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
            y = (work * weights).sum(dim=1, keepdim=True)
        else:
            y = luma(work)
        out = work + (cas_filter(y, sharpness) - y)
    else:
        out = cas_filter(work, sharpness)
    if space == "linear":
        out = linear_to_srgb(out.clamp(0.0, 1.0))
    return out - x


def contrast_adaptive_sharpen(
    x: torch.Tensor,
    *,
    sharpness: float = 0.5,
    space: str = "linear",
    luminance_only: bool = True,
    progress: ProgressCallback | None = None,
) -> torch.Tensor:
    """AMD FidelityFX contrast-adaptive sharpening of ``x`` ``[B, C, H, W]`` (C = 1 or 3, sRGB in [0, 1]).

    Args:
        sharpness: 0-1, AMD's parameter: the kernel's negative lobe runs from -1/8 (0) to -1/5 (1) of the
            centre before the contrast-adaptive ``amp`` scales it.
        space: ``"linear"`` (filter linear light, as CAS was designed) or ``"srgb"`` (the encoded values).
        luminance_only: RGB: filter luminance and add its change to R, G and B (colours kept); off =
            every channel on its own. Gray images are filtered directly.

    Returns:
        The sharpened batch in [0, 1], same shape, dtype and device. See the module docstring.
    """
    check_image(x, "image")
    check_sharpness(sharpness)
    check_space(space)
    if not isinstance(luminance_only, bool):
        raise InvalidParameterError("luminance_only", f"expected true/false, got {luminance_only!r}.", None)
    report(progress, 0, 1)
    work = torch.float64 if x.dtype == torch.float64 else torch.float32
    xf = x.to(work)
    out = (xf + cas_change(xf, sharpness=sharpness, space=space, luminance_only=luminance_only)).clamp(0.0, 1.0)
    report(progress, 1, 1)
    return out.to(x.dtype)
