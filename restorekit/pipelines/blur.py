"""The blur PSF of each image for the deblur stage: Estimate Blur's fit, or the edge-blur measure.

:func:`restorekit.deblur.estimate.estimate_blur` (blind Gaussian / motion fit with a confidence) is
used when it is installed; otherwise the Gaussian std measured from the edges by
:func:`restorekit.enhance.assessment.assess` gives a Gaussian PSF (``source`` says which).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..deblur.psf import PSF, gaussian_psf
from ..errors import AlgorithmError, RestoreError


@dataclass(frozen=True)
class BlurFit:
    """The PSF found for one image: its kind, size (sigma or length px), confidence 0-1 and source."""

    psf: PSF
    kind: str
    size: float
    confidence: float
    source: str

    def text(self) -> str:
        if self.kind not in ("gaussian", "motion"):
            return f"no blur found, confidence {self.confidence:.2f} ({self.source})"
        size = f"sigma {self.size:.2f} px" if self.kind == "gaussian" else f"length {self.size:.1f} px"
        return f"{self.kind} {size}, confidence {self.confidence:.2f} ({self.source})"


def _estimate_core():
    try:
        from ..deblur.estimate import estimate_blur
    except ImportError:
        return None
    return estimate_blur


def estimate_psfs(x: torch.Tensor, model: str = "auto") -> list[BlurFit]:
    """One :class:`BlurFit` per image of ``x`` ``[B, C, H, W]``; ``model``: auto, gaussian or motion."""
    estimate = _estimate_core()
    if estimate is not None:
        try:
            found = estimate(x) if model == "auto" else estimate(x, model=model)
        except RestoreError:
            raise
        except Exception as e:  # noqa: BLE001  (named as the deblur stage's failure, cause chained)
            raise AlgorithmError("deblur stage (estimate_blur)", f"the blur estimate failed: {type(e).__name__}: {e}",
                                 "connect a PSF (Make PSF) or turn the deblur stage off.") from e
        fits = []
        for e in found:
            size = float(e.sigma if e.kind == "gaussian" else e.length if e.kind == "motion" else 0.0)
            fits.append(BlurFit(e.psf, str(e.kind), size, float(e.confidence), "Estimate Blur"))
        return fits
    from ..enhance.assessment import assess

    fits = []
    for a in assess(x):
        sigma = max(float(a.blur), 0.3)
        fits.append(BlurFit(gaussian_psf(sigma), "gaussian", sigma, 0.5, "edge-blur measure; Estimate Blur not installed"))
    return fits
