"""Run an operation on ComfyUI values through the core's one conversion (:mod:`restorekit.kinds`).

This module does not import ComfyUI; :mod:`.comfy_bridge` supplies the device and the progress
callback when ComfyUI is present, :mod:`.model_files` the model folders.
"""

from __future__ import annotations

from typing import Any

import torch

from ..restorekit.kinds import Context, convert_inputs, convert_outputs
from ..restorekit.params import Operation
from ..restorekit.progress import ProgressCallback
from .model_files import resolve_model_file


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
    ctx = Context(device=device if op.gpu else torch.device("cpu"), resolve_model_file=resolve_model_file)
    core, main = convert_inputs(op, values, ctx, "node")
    results = op.call(core, progress)
    ctx.device = output_device
    return convert_outputs(op, results, main, ctx)
