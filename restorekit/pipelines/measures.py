"""The measures a pipeline reports before and after each stage (no reference image needed).

* ``noise``: estimated white-noise std of luma (Donoho's wavelet MAD), 0-255 grey levels;
* ``sharpness``: variance of the 4-neighbour Laplacian of luma, squared 8-bit grey levels
  (:func:`restorekit.quality.metrics.laplacian_variance`; noise raises it too);
* ``contrast``: RMS contrast, the std of luma in [0, 1] (:func:`restorekit.quality.metrics.rms_contrast`);
* ``blur``: edge blur as a Gaussian std in px and ``spread``: luma 1st-99th percentile range in [0, 1]
  (:func:`restorekit.enhance.assessment.assess`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..enhance.assessment import assess
from ..quality.metrics import laplacian_variance, rms_contrast


@dataclass(frozen=True)
class Measures:
    """No-reference measures of one image (units in the module docstring)."""

    noise: float
    sharpness: float
    contrast: float
    blur: float
    spread: float

    def short(self) -> str:
        """``noise 12.3, sharpness 456, contrast 0.213``."""
        return f"noise {self.noise:.1f}, sharpness {self.sharpness:.0f}, contrast {self.contrast:.3f}"


def measure(x: torch.Tensor) -> list[Measures]:
    """One :class:`Measures` per image of ``x`` ``[B, C, H, W]`` in [0, 1]."""
    a = assess(x)
    sharp = laplacian_variance(x).tolist()
    contrast = rms_contrast(x).tolist()
    return [
        Measures(noise=m.noise * 255.0, sharpness=s, contrast=c, blur=m.blur, spread=m.spread)
        for m, s, c in zip(a, sharp, contrast, strict=True)
    ]


def mean_measures(ms: list[Measures]) -> Measures:
    """The mean of each measure over a batch."""
    n = max(len(ms), 1)
    return Measures(*(sum(getattr(m, f) for m in ms) / n for f in ("noise", "sharpness", "contrast", "blur", "spread")))
