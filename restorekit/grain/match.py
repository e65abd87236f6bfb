"""Grain matching: re-create a reference image's grain on other images (analyse -> synthesise).

The reference is analysed blind (:func:`~restorekit.grain.analysis.analyze_grain`); optionally the
target's own grain is removed first (:func:`~restorekit.grain.removal.remove_grain`, the target
analysed blind too); then the reference's grain model is synthesised onto the target
(:func:`~restorekit.grain.synthesis.add_grain`), its amplitude following the target's own luma
through the model's scaling function. Units: [0, 1] image units, lengths in pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import InvalidImageError, InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report, scaled
from .analysis import analyze_grain
from .model import GrainModel
from .removal import METHODS, remove_grain
from .synthesis import SYNTHESIS_CHOICES, add_grain


@dataclass
class GrainMatch:
    """What :func:`match_grain` did: the reference's models (one, or one per target), the synthesis
    used per target, and the target's own models when its grain was removed (else empty)."""

    reference_models: list[GrainModel]
    synthesis: list[str]
    removed_models: list[GrainModel]


def match_grain(
    target: torch.Tensor,
    reference: torch.Tensor,
    *,
    remove_existing: bool = False,
    strength: float = 1.0,
    seed: int = 0,
    synthesis: str | None = None,
    removal_method: str = "bm3d",
    progress: ProgressCallback | None = None,
    return_info: bool = False,
) -> tuple[torch.Tensor, list[GrainModel]] | tuple[torch.Tensor, list[GrainModel], GrainMatch]:
    """Give ``target`` ``[B, C, H, W]`` the grain of ``reference`` ``[1 or B, C', H', W']`` (both in [0, 1],
    C and C' = 1 or 3; sizes may differ).

    Args:
        remove_existing: remove the target's own grain first (blind analysis, ``removal_method``).
        strength: multiplier on the reference's grain amplitude, 0-2 (1 = as measured).
        seed: grain seed (frame ``i`` of the batch uses its own pattern, as :func:`add_grain`).
        synthesis: ``ar``, ``gaussian``, ``boolean`` or ``boolean_fast``; None = the measured model's.
        removal_method: ``bm3d``, ``wavelet`` or ``nlm`` (see :func:`remove_grain`).
        progress: called with ``(step, total)``.
        return_info: also return a :class:`GrainMatch`.

    Returns:
        ``(image, models)``: the target with the reference's grain, same shape, dtype and device as
        ``target``, in [0, 1], and the grain model applied to each target image; with ``return_info``
        also a :class:`GrainMatch`. A reference of one image applies to every target; otherwise the
        batch lengths must match.
    """
    check_image(target, "image")
    check_image(reference, "reference")
    b, br = target.shape[0], reference.shape[0]
    if br not in (1, b):
        raise InvalidImageError("reference", f"has {br} images for a target batch of {b}.",
                                "give one reference image (applied to all) or one per target image.")
    s = float(strength)
    if not math.isfinite(s) or not 0.0 <= s <= 2.0:
        raise InvalidParameterError("strength", f"must be in [0, 2], got {strength}.", "1 = the reference's grain.")
    if synthesis is not None and synthesis not in SYNTHESIS_CHOICES:
        raise InvalidParameterError("synthesis", f"{synthesis!r} unknown.",
                                    f"use one of {SYNTHESIS_CHOICES} or None (the model's).")
    if removal_method not in METHODS or removal_method == "model":
        raise InvalidParameterError("removal_method", f"{removal_method!r} is not a classical removal method.",
                                    "use bm3d, wavelet or nlm.")
    # One bar: the reference's analysis 10 steps, removing the target's grain the next 70, synthesis the rest.
    total = 100
    ref_models = list(analyze_grain(reference.to(target.device)))
    report(progress, 10, total)
    removed_models: list[GrainModel] = []
    base = target
    if remove_existing:
        base, _, info = remove_grain(target, method=removal_method, return_info=True,
                                     progress=scaled(progress, 10, 70, total))
        removed_models = info.models
    report(progress, 80, total)

    colour = target.shape[1] == 3
    used: list[GrainModel] = []
    methods: list[str] = []
    outs = []
    # One reference model for the batch: one call; per-image models: one call each, with the frame offset
    # that gives image i the same pattern as in a batch call.
    groups = [(0, b, ref_models[0])] if br == 1 else [(i, i + 1, ref_models[i]) for i in range(b)]
    for lo, hi, m in groups:
        method = synthesis or m.synthesis
        outs.append(add_grain(base[lo:hi], m, seed=seed, strength=s, synthesis=method,
                              color=m.has_chroma and colour, frame_offset=lo))
        stored = "boolean" if method == "boolean_fast" else method
        applied = m.replace(synthesis=stored) if stored != m.synthesis else m
        used += [applied] * (hi - lo)
        methods += [method] * (hi - lo)
    out = torch.cat(outs) if len(outs) > 1 else outs[0]
    report(progress, total, total)
    if return_info:
        return out, used, GrainMatch(ref_models, methods, removed_models)
    return out, used


__all__ = ["GrainMatch", "match_grain"]
