"""Colour transforms of CBM3D: RGB to a luma/chroma space, each channel rescaled to [0, 1].

As in CBM3D (Dabov et al., ICIP 2007) and the reference implementation: the opponent transform
(``opp``: mean, red-blue, (red+blue)/2-green) or YCbCr (BT.601) is applied, then every transformed
channel is stretched to [0, 1] by its own minimum and maximum over the (noisy) image. Grouping is
done on the first (luma) channel; noise variances follow from the transform: a channel that is
``sum_j a_ij x_j`` scaled by ``1 / range_i`` carries the noise variance
``sum_j a_ij^2 var_j / range_i^2`` (cross-channel correlations are neglected, as in the reference).
"""

from __future__ import annotations

import torch

from .options import COLOR_MATRICES, COLOR_SPACES, MIN_RANGE


def forward_matrix(space: str) -> torch.Tensor:
    """The 3x3 RGB -> space matrix (float64)."""
    return torch.tensor(COLOR_MATRICES[space], dtype=torch.float64)


class ColourTransform:
    """Forward/inverse transform of a batch with per-image, per-channel normalisation."""

    def __init__(self, x: torch.Tensor, space: str) -> None:
        self.a = forward_matrix(space).to(x.device)
        self.a_inv = torch.linalg.inv(self.a)
        o = torch.einsum("ij,bjhw->bihw", self.a.float(), x)
        self.lo = o.amin((2, 3), keepdim=True)
        self.range = (o.amax((2, 3), keepdim=True) - self.lo).clamp(min=MIN_RANGE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """RGB ``[B, 3, H, W]`` -> normalised luma/chroma."""
        return (torch.einsum("ij,bjhw->bihw", self.a.float(), x) - self.lo) / self.range

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Normalised luma/chroma -> RGB."""
        return torch.einsum("ij,bjhw->bihw", self.a_inv.float(), y * self.range + self.lo)

    def variance_factors(self) -> torch.Tensor:
        """``[B, 3, 3]``: variance of transformed channel i = sum_j factor[b, i, j] * var of RGB channel j."""
        r2 = self.range.view(-1, 3, 1).double() ** 2
        return (self.a**2)[None] / r2


__all__ = ["COLOR_SPACES", "ColourTransform", "forward_matrix"]
