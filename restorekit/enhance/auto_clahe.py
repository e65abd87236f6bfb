"""Auto CLAHE: the clip limit and the tile grid chosen per image from the entropy of the result.

After B. S. Min, D. K. Lim, S. J. Kim, J. H. Lee, "A Novel Method of Determining Parameters of
CLAHE Based on Image Entropy", IJSEIA 7(5), 2013: the entropy of the equalised image rises with
the clip limit and then levels off; the parameter is taken at the point of maximum curvature of
that curve, first for the clip limit (on an 8x8 grid), then, with that clip limit, for the grid.

How the curve and its curvature are measured here:

- Entropy: Shannon entropy in bits of a 64-level histogram of the equalised lightness
  (:func:`output_entropy`; at most 6 bits). 64 levels measure how the values spread, not the
  gaps a stretched 8-bit histogram leaves between levels.
- Sweeps: clip limits :data:`CLIP_SWEEP` (1 to 16, about 2^(k/3)) and square grids
  :data:`TILE_SWEEP` (2 to 16 tiles per side), both on a log2 axis. The wide clip range lets the
  curve of a low-contrast image level off inside the sweep (it does so later: a higher clip).
- Curvature (:func:`knee_index`): both axes are scaled to [0, 1], the curve is fitted by least
  squares with ``a + b exp(-s / tau)`` (``s`` = x or 1 - x, ``tau`` from a log grid: a smooth
  saturating or accelerating curve), and the chosen point is the maximum over [0, 1] of the
  fitted curve's curvature ``|E''| / (1 + E'^2)^(3/2)`` (with the fit scaled to unit range), rounded
  to the nearest sweep value. The fit keeps the choice stable where second differences of the
  measured curve would follow its noise. A flat curve (a flat image) gives the first value.
- The sweep runs on a copy of the lightness resampled (antialiased bilinear) to
  ``analysis_size`` x ``analysis_size`` pixels, a multiple of 48 so that every grid of the sweep
  divides it (tiles are the same regions of the image as on the full image). Its CLAHE uses the
  clip limit as a fractional count (``clip * tile pixels / bins``) so that the small tiles of
  the copy behave like the large tiles of the full image, and the in-bin linear mapping. On the 12
  Set12 images the choice agrees within one sweep step with the same criterion swept at full
  resolution with :func:`~restorekit.enhance.clahe.clahe`, except the clip limit of image 07, whose
  nearly straight curve tips from one end of the sweep to the other (tests/enhance/test_auto_clahe.py).

The whole sweep of a batch is batched: one scatter for the histograms of every grid, and one
gather-based bilinear blend for all clip limits (then all grids) of all images. The chosen
settings are then applied at full resolution with :func:`~restorekit.enhance.clahe.clahe`'s core,
images with the same choice together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report
from .clahe import (
    COLOR_SPACES,
    _check_mapping,
    _check_params,
    _clahe_channel,
    _lookup_mask,
    _work_dtype,
    finish,
    merge_lightness,
    split_lightness,
)

#: Clip limits tried (relative to a uniform histogram, as in :func:`~restorekit.enhance.clahe.clahe`).
CLIP_SWEEP: tuple[float, ...] = (1.0, 1.25, 1.6, 2.0, 2.5, 3.2, 4.0, 5.0, 6.4, 8.0, 10.0, 12.8, 16.0)
#: Tile grids tried (tiles per side).
TILE_SWEEP: tuple[int, ...] = (2, 3, 4, 6, 8, 12, 16)
#: Grid on which the clip limit is chosen.
REFERENCE_TILES = 8
#: Levels of the histogram whose entropy is measured.
ENTROPY_BINS = 64
#: Analysis copies must be a multiple of this (the least common multiple of TILE_SWEEP).
ANALYSIS_MULTIPLE = 48
_BINS = 256
# Elements of the largest gather index built at once (images x settings x 4 corners x pixels).
_GATHER_ELEMENTS = 1 << 24
# Fit of the knee: decay constants tried (fractions of the normalised axis) and evaluation points.
_TAUS = torch.logspace(math.log10(0.02), math.log10(5.0), 64, dtype=torch.float64)
_FINE = torch.linspace(0.0, 1.0, 401, dtype=torch.float64)


@dataclass(frozen=True)
class AutoClaheChoice:
    """What Auto CLAHE chose for one image, with the entropies (bits, 64 levels) it was based on."""

    clip_limit: float
    tiles: int
    entropy_input: float
    entropy_output: float
    clip_entropies: tuple[float, ...]
    tile_entropies: tuple[float, ...]


def output_entropy(y: torch.Tensor, levels: int = ENTROPY_BINS) -> torch.Tensor:
    """Shannon entropy in bits of a ``levels``-bin histogram over [0, 1] of each ``[..., N]`` row of ``y``."""
    idx = (y.float() * levels).floor_().clamp_(0, levels - 1).long()
    counts = torch.zeros((*y.shape[:-1], levels), device=y.device, dtype=torch.float32)
    counts.scatter_add_(-1, idx, torch.ones_like(idx, dtype=torch.float32))
    p = counts / counts.sum(dim=-1, keepdim=True)
    return -(p * torch.where(p > 0, p.log2(), torch.zeros_like(p))).sum(dim=-1)


def knee_index(entropy: torch.Tensor, x: tuple[float, ...] | list[float]) -> torch.Tensor:
    """Index into ``x`` of the point of maximum curvature of each curve ``entropy`` ``[B, K]`` over ``x``.

    See the module docstring: both axes normalised, a smooth ``a + b exp(-s / tau)`` fitted by least
    squares, its curvature maximised over [0, 1] and rounded to the nearest sweep point. Computed in
    float64 on the CPU (the curves are tiny); returns ``[B]`` int64 on the CPU.
    """
    e = entropy.detach().to("cpu", torch.float64)
    xs = torch.as_tensor(x, dtype=torch.float64)
    xn = (xs - xs[0]) / (xs[-1] - xs[0])
    taus = _TAUS.view(-1, 1)
    basis = torch.cat([torch.exp(-xn / taus), torch.exp(-(1.0 - xn) / taus)])  # [2T, K]
    centred = basis - basis.mean(dim=1, keepdim=True)
    em = e - e.mean(dim=1, keepdim=True)
    b = (em @ centred.T) / (centred * centred).sum(dim=1)  # [B, 2T] least-squares slopes
    residual = ((em.unsqueeze(1) - b.unsqueeze(-1) * centred) ** 2).sum(dim=-1)
    best = residual.argmin(dim=1)
    slope = b.gather(1, best.view(-1, 1))
    tau = _TAUS[best % _TAUS.numel()].view(-1, 1)
    s = torch.where((best >= _TAUS.numel()).view(-1, 1), 1.0 - _FINE, _FINE)
    g = torch.exp(-s / tau)
    # Unit range of the fitted curve over [0, 1]; the sign of the axis flip does not change |E''| or E'^2.
    span = (slope * (1.0 - torch.exp(-1.0 / tau))).abs()
    scale = torch.where(span > 1e-9, 1.0 / span.clamp(min=1e-9), torch.zeros_like(span))
    d1 = slope * g / tau * scale
    d2 = slope * g / tau**2 * scale
    kappa = d2.abs() / (1.0 + d1 * d1) ** 1.5
    at = _FINE[kappa.argmax(dim=1)]
    return (at.view(-1, 1) - xn.view(1, -1)).abs().argmin(dim=1)


def _check_analysis_size(analysis_size: int) -> None:
    if (
        isinstance(analysis_size, bool)
        or not isinstance(analysis_size, int)
        or not ANALYSIS_MULTIPLE <= analysis_size <= 1920
        or analysis_size % ANALYSIS_MULTIPLE
    ):
        raise InvalidParameterError(
            "analysis_size",
            f"expected a multiple of {ANALYSIS_MULTIPLE} in {ANALYSIS_MULTIPLE}..1920, got {analysis_size!r}.",
            "give e.g. 240 (every tile grid of the sweep must divide it).",
        )


class _Sweep:
    """CLAHE of square analysis images ``[B, S, S]`` for many (grid, clip limit) settings at once."""

    def __init__(self, v: torch.Tensor) -> None:
        self.b, self.s = v.shape[0], v.shape[-1]
        self.device = v.device
        pos = v.reshape(self.b, -1) * _BINS
        self.idx = pos.floor().clamp_(0, _BINS - 1)
        self.frac = (pos - self.idx).clamp_(0.0, 1.0)
        self.idx = self.idx.long()
        # Histograms of every grid of the sweep in one scatter: rows = tiles of all grids, in order.
        self.base = {}
        rows = 0
        for n in TILE_SWEEP:
            self.base[n] = rows
            rows += n * n
        tile = torch.stack([self._tile_of(n) + self.base[n] for n in TILE_SWEEP])  # [G, P]
        flat = (tile.unsqueeze(0) * _BINS + self.idx.unsqueeze(1)).reshape(self.b, -1)
        counts = torch.zeros((self.b, rows * _BINS), device=self.device, dtype=torch.float32)
        counts.scatter_add_(1, flat, torch.ones_like(flat, dtype=torch.float32))
        self.hist = counts.view(self.b, rows, _BINS)
        self.area = torch.cat(
            [torch.full((n * n,), float((self.s // n) ** 2), device=self.device) for n in TILE_SWEEP]
        )

    def _tile_of(self, n: int) -> torch.Tensor:
        t = torch.arange(self.s, device=self.device) // (self.s // n)
        return (t.view(-1, 1) * n + t.view(1, -1)).reshape(-1)

    def _corners(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The four tiles around every pixel (rows within grid ``n``) and their bilinear weights, ``[4, P]``."""
        size = self.s // n
        pos = (torch.arange(self.s, device=self.device, dtype=torch.float32) + 0.5) / size - 0.5
        lo = pos.floor()
        f = pos - lo
        lo = lo.long()
        a, b = lo.clamp(0, n - 1), (lo + 1).clamp(0, n - 1)
        rows = torch.stack([a, a, b, b]).view(4, -1, 1)
        cols = torch.stack([a, b, a, b]).view(4, 1, -1)
        wy = torch.stack([1 - f, 1 - f, f, f]).view(4, -1, 1)
        wx = torch.stack([1 - f, f, 1 - f, f]).view(4, 1, -1)
        return (rows * n + cols).reshape(4, -1), (wy * wx).reshape(4, -1)

    @staticmethod
    def _cdf(hist: torch.Tensor, area: torch.Tensor, clip: torch.Tensor) -> torch.Tensor:
        """Clipped (fractional limit, excess spread evenly) cumulative histograms with a leading 0: ``[..., bins + 1]``."""
        clipped = torch.minimum(hist, clip * area / _BINS)
        clipped = clipped + (area - clipped.sum(dim=-1, keepdim=True)) / _BINS
        cdf = (clipped.cumsum(dim=-1) / area).clamp_(0.0, 1.0)
        return torch.cat([torch.zeros_like(cdf[..., :1]), cdf], dim=-1)

    def _entropies(self, cdf: torch.Tensor, settings: list[tuple[int, int]]) -> torch.Tensor:
        """Entropy ``[B, K]`` of the analysis images mapped by each ``(first row, grid)`` of ``cdf`` ``[B, R, bins + 1]``."""
        corners, weights = zip(*(self._corners(n) for _, n in settings), strict=True)
        first = torch.tensor([r for r, _ in settings], device=self.device).view(-1, 1, 1)
        rows = torch.stack(corners) + first  # [K, 4, P]
        weights = torch.stack(weights)
        nb = _BINS + 1
        table = cdf.reshape(self.b, -1)
        index = (rows * nb).unsqueeze(0) + self.idx.view(self.b, 1, 1, -1)  # [B, K, 4, P]
        index = index.reshape(self.b, -1)
        lo = table.gather(1, index)
        hi = table.gather(1, index + 1)
        k, p = rows.shape[0], rows.shape[-1]
        frac = self.frac.view(self.b, 1, 1, p)
        mapped = torch.lerp(lo.view(self.b, k, 4, p), hi.view(self.b, k, 4, p), frac)
        return output_entropy((mapped * weights).sum(dim=2))

    def clip_curve(self) -> torch.Tensor:
        """Entropy ``[B, len(CLIP_SWEEP)]`` on the reference grid."""
        n = REFERENCE_TILES
        r = self.base[n]
        hist = self.hist[:, r : r + n * n].unsqueeze(1)  # [B, 1, n², bins]
        clips = torch.tensor(CLIP_SWEEP, device=self.device).view(1, -1, 1, 1)
        cdf = self._cdf(hist, self.area[r : r + n * n].view(1, 1, -1, 1), clips)  # [B, K, n², bins + 1]
        return self._entropies(cdf, [(k * n * n, n) for k in range(len(CLIP_SWEEP))])

    def tile_curve(self, clip: torch.Tensor) -> torch.Tensor:
        """Entropy ``[B, len(TILE_SWEEP)]`` with clip limit ``clip`` ``[B]`` per image."""
        cdf = self._cdf(self.hist, self.area.view(1, -1, 1), clip.view(-1, 1, 1))
        return self._entropies(cdf, [(self.base[n], n) for n in TILE_SWEEP])


def _choose(light: torch.Tensor, analysis_size: int) -> list[AutoClaheChoice]:
    """Run the two sweeps on analysis copies of ``light`` ``[B, 1, H, W]`` and pick the settings."""
    per_chunk = max(1, _GATHER_ELEMENTS // (4 * max(len(CLIP_SWEEP), len(TILE_SWEEP)) * analysis_size**2))
    choices: list[AutoClaheChoice] = []
    for start in range(0, light.shape[0], per_chunk):
        part = light[start : start + per_chunk].float()
        v = F.interpolate(part, size=(analysis_size, analysis_size), mode="bilinear", antialias=True,
                          align_corners=False).clamp_(0.0, 1.0)
        sweep = _Sweep(v[:, 0])
        clip_e = sweep.clip_curve()
        clip_i = knee_index(clip_e, [math.log2(c) for c in CLIP_SWEEP])
        clips = torch.tensor(CLIP_SWEEP, dtype=torch.float32)[clip_i]
        tile_e = sweep.tile_curve(clips.to(v.device))
        tile_i = knee_index(tile_e, [math.log2(n) for n in TILE_SWEEP])
        e_in = output_entropy(v.reshape(v.shape[0], -1)).cpu()
        clip_e, tile_e = clip_e.cpu(), tile_e.cpu()
        for j in range(v.shape[0]):
            choices.append(
                AutoClaheChoice(
                    clip_limit=CLIP_SWEEP[int(clip_i[j])],
                    tiles=TILE_SWEEP[int(tile_i[j])],
                    entropy_input=float(e_in[j]),
                    entropy_output=float(tile_e[j, tile_i[j]]),
                    clip_entropies=tuple(clip_e[j].tolist()),
                    tile_entropies=tuple(tile_e[j].tolist()),
                )
            )
    return choices


def auto_clahe(
    x: torch.Tensor,
    *,
    color_space: str = "lab",
    strength: float = 1.0,
    analysis_size: int = 240,
    mapping: str = "auto",
    return_info: bool = False,
    progress: ProgressCallback | None = None,
) -> torch.Tensor | tuple[torch.Tensor, list[AutoClaheChoice]]:
    """CLAHE of a batch ``x`` ``[B, C, H, W]`` in [0, 1] with clip limit and tile grid chosen per image.

    Args:
        x: images, C = 1 or 3 (sRGB: only the lightness of ``color_space`` is analysed and
            equalised). Any device, any float dtype.
        color_space: as in :func:`~restorekit.enhance.clahe.clahe`: ``"lab"``, ``"oklab"``,
            ``"ycbcr"`` or ``"hsv"``.
        strength: blend between the input (0) and the full result (1).
        analysis_size: side in pixels of the square copy the sweeps run on; a multiple of 48
            (48..1920). Larger = closer to a full-resolution sweep, slower.
        mapping: how the final CLAHE reads its mappings (``"auto"``, ``"lookup"``, ``"linear"``;
            see :func:`~restorekit.enhance.clahe.clahe`).
        return_info: also return one :class:`AutoClaheChoice` per image.
        progress: optional callback, called with (done, total) images.

    Returns:
        The equalised batch (same shape, dtype and device as ``x``, in [0, 1]), and with
        ``return_info`` the list of choices. The clip limit is chosen from :data:`CLIP_SWEEP`
        and the grid (tiles per side) from :data:`TILE_SWEEP` by the entropy-curvature criterion
        of the module docstring; each image is processed independently.
    """
    check_image(x, "image")
    _check_params(2.0, _BINS, strength, color_space)
    _check_mapping(mapping)
    _check_analysis_size(analysis_size)
    total = x.shape[0]
    report(progress, 0, total)
    xf = x.to(_work_dtype(x)).clamp(0.0, 1.0)
    light, aux = split_lightness(xf, color_space)
    choices = _choose(light, analysis_size)
    if strength == 0:
        out = x.clone()
    else:
        lookup = _lookup_mask(x, mapping)
        new = torch.empty_like(light)
        groups: dict[tuple[float, int], list[int]] = {}
        for i, c in enumerate(choices):
            groups.setdefault((c.clip_limit, c.tiles), []).append(i)
        done = 0
        for (clip, tiles), members in groups.items():
            index = torch.tensor(members, device=x.device)
            mask = lookup if isinstance(lookup, bool) else lookup[index]
            if not isinstance(mask, bool) and bool(mask.all()):
                mask = True
            new[index] = _clahe_channel(light[index], clip_limit=clip, tiles=tiles, bins=_BINS, lookup=mask)
            done += len(members)
            report(progress, done, total)
        out = finish(x, merge_lightness(xf, new, aux, color_space), float(strength))
    report(progress, total, total)
    return (out, choices) if return_info else out


__all__ = ["CLIP_SWEEP", "COLOR_SPACES", "TILE_SWEEP", "AutoClaheChoice", "auto_clahe", "knee_index", "output_entropy"]
