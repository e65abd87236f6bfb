"""The blur PSF of each image for the deblur stage, from Estimate Blur's blind Gaussian / motion fit
(:func:`restorekit.deblur.estimate.estimate_blur`), with its confidence."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..deblur.psf import PSF
from ..errors import AlgorithmError, RestoreError
from ..progress import CallbackRelay, ProgressCallback


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


def estimate_psfs(x: torch.Tensor, model: str = "auto", progress: ProgressCallback | None = None) -> list[BlurFit]:
    """One :class:`BlurFit` per image of ``x`` ``[B, C, H, W]``; ``model``: auto, gaussian or motion. ``progress``
    is handed to the estimate; what it raises (ComfyUI's interruption) comes out unchanged."""
    from ..deblur.estimate import estimate_blur

    relay = CallbackRelay(progress)
    try:
        found = estimate_blur(x, model=model, progress=relay.callback)
    except RestoreError:
        raise
    except Exception as e:  # noqa: BLE001  (named as the deblur stage's failure, cause chained)
        if relay.raised_by_callback(e):
            raise
        raise AlgorithmError("deblur stage (estimate_blur)", f"the blur estimate failed: {type(e).__name__}: {e}",
                             "connect a PSF (Make PSF) or turn the deblur stage off.") from e
    fits = []
    for e in found:
        size = float(e.sigma if e.kind == "gaussian" else e.length if e.kind == "motion" else 0.0)
        fits.append(BlurFit(e.psf, str(e.kind), size, float(e.confidence), "Estimate Blur"))
    return fits
