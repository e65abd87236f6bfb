"""Run an operation on ComfyUI values: convert inputs at the boundary, call the core, convert outputs.

This module does not import ComfyUI; :mod:`.comfy_bridge` supplies the device and the progress
callback when ComfyUI is present.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..restorekit.errors import InvalidImageError, InvalidParameterError
from ..restorekit.image import alpha_for, from_comfy, mask_from_comfy, mask_to_comfy, to_comfy
from ..restorekit.params import Operation
from ..restorekit.progress import ProgressCallback
from .model_files import resolve_model_file


def _psf_type():
    from ..restorekit.deblur.psf import PSF

    return PSF


def _model_type():
    from ..restorekit.models.loader import RestorationModel

    return RestorationModel


@dataclass
class MainImage:
    """What the outputs inherit from the first connected image input: alpha and channel count."""

    alpha: torch.Tensor | None = None
    channels: int = 3


def convert_inputs(
    op: Operation, values: dict[str, Any], device: torch.device | str | None
) -> tuple[dict[str, Any], MainImage]:
    """Turn node input values into core values; return them and what the main image passes on."""
    core: dict[str, Any] = {}
    main = MainImage()
    seen_image = False
    unknown = set(values) - {p.name for p in op.inputs}
    if unknown:
        raise InvalidParameterError(
            op.display_name, f"unexpected inputs {sorted(unknown)}.", f"valid inputs: {[p.name for p in op.inputs]}."
        )
    for p in op.inputs:
        value = values.get(p.name)
        if p.is_data and value is None:
            if not p.optional:
                raise InvalidImageError(p.name, "this input is required but nothing is connected.", "connect it.")
            core[p.name] = None
            continue
        if p.kind == "image":
            split = from_comfy(value, p.name, device)
            core[p.name] = split.pixels
            if not seen_image:
                main, seen_image = MainImage(split.alpha, split.pixels.shape[1]), True
        elif p.kind == "mask":
            core[p.name] = mask_from_comfy(value, p.name, device)
        elif p.kind == "psf":
            if not isinstance(value, _psf_type()):
                raise InvalidParameterError(p.name, f"expected a PSF, got {type(value).__name__}.", "connect Make PSF.")
            core[p.name] = value
        elif p.kind == "model":
            if not isinstance(value, _model_type()):
                raise InvalidParameterError(
                    p.name, f"expected a restoration model, got {type(value).__name__}.", "connect Load Restoration Model."
                )
            core[p.name] = value
        elif p.kind == "model_file":
            core[p.name] = p.to_core(resolve_model_file(value) if isinstance(value, str) else value)
        else:
            core[p.name] = p.to_core(value)
    return core, main


def convert_outputs(op: Operation, results: tuple, main: MainImage, device: torch.device | str | None) -> tuple:
    """Turn core results into ComfyUI values.

    Alpha is re-attached to images of the main image's size. A gray result stays gray only when
    the main input was gray; otherwise it is shown as RGB, since ComfyUI's image nodes (Save,
    Preview, …) expect three channels.
    """
    out = []
    alpha = main.alpha
    for spec, value in zip(op.outputs, results, strict=True):
        if spec.kind == "image":
            if value.shape[1] == 1 and main.channels != 1:
                value = value.expand(-1, 3, -1, -1)
            out.append(to_comfy(value, alpha_for(alpha, value), device, name=f"{op.display_name}: {spec.name}"))
        elif spec.kind == "mask":
            out.append(mask_to_comfy(value, device))
        elif spec.kind == "float":
            out.append(float(value))
        elif spec.kind == "int":
            out.append(int(value))
        elif spec.kind == "string":
            out.append(str(value))
        else:
            out.append(value)
    return tuple(out)


def run_operation(
    op: Operation,
    values: dict[str, Any],
    *,
    device: torch.device | str | None = None,
    output_device: torch.device | str | None = None,
    progress: ProgressCallback | None = None,
) -> tuple:
    """Validate and convert ``values`` (ComfyUI types), run ``op``, and return ComfyUI outputs.

    ``device``: where GPU-capable operations compute (default: where the inputs are);
    operations declared CPU-only always get CPU tensors. ``output_device``: where IMAGE and
    MASK outputs are returned (default: the compute device).
    """
    compute = device if op.gpu else torch.device("cpu")
    core, main = convert_inputs(op, values, compute)
    results = op.call(core, progress)
    return convert_outputs(op, results, main, output_device)
