"""Running one pipeline stage: a registered operation, timed and measured, its failure named.

A stage is one of ``denoise``, ``deblur``, ``contrast``, ``color``, ``sharpen`` and runs one
registered operation through :func:`restorekit.params.run` with values in node units (noise sigma
0-255 etc.), so it is validated exactly as the node would be. A stage never fails silently: an
operation that is not installed, a bad value or an error inside the operation raises an error
naming the stage and the operation, with the original error chained.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import AlgorithmError, InvalidParameterError, RestoreError
from ..progress import CallbackRelay, ProgressCallback
from .measures import Measures, measure

#: Stages in the order they run.
STAGES = ("denoise", "deblur", "contrast", "color", "sharpen")


@dataclass
class StageRecord:
    """What one stage did to one image (or to the batch): its operation, values, time and measures."""

    stage: str
    operation: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    before: Measures | None = None
    after: Measures | None = None
    skipped: str = ""
    reason: str = ""


def text_table(header: list[str], rows: list[list[str]]) -> str:
    """Right-aligned columns."""
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def image_summary(x: torch.Tensor) -> str:
    """``3 images, RGB, 640x480 px``."""
    b, c, h, w = x.shape
    return f"{b} image{'s' if b != 1 else ''}, {'RGB' if c == 3 else 'gray'}, {w}x{h} px"


def _format_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def values_text(values: dict[str, Any]) -> str:
    """``amount=1, radius=0`` (data inputs such as a PSF by their description)."""
    parts = []
    for k, v in values.items():
        if isinstance(v, torch.Tensor):
            continue
        if hasattr(v, "description") and hasattr(v, "kernel"):
            v = v.description
        elif k == "model":
            v = "connected model"
        parts.append(f"{k}={_format_value(v)}")
    return ", ".join(parts) or "defaults"


def _operation(stage: str, name: str):
    from ..params import OPERATIONS, all_operations

    all_operations()  # imports restorekit.operations, which registers them
    if name not in OPERATIONS:
        raise AlgorithmError(
            f"{stage} stage",
            f"needs the operation {name!r}, which is not installed in this version of restorekit.",
            f"choose another method for the {stage} stage or turn the stage off.",
        )
    return OPERATIONS[name]


def run_stage(
    stage: str, name: str, image: torch.Tensor, values: dict[str, Any], progress: ProgressCallback | None = None
) -> tuple[torch.Tensor, float]:
    """Run operation ``name`` for ``stage`` on ``image`` with node-unit ``values``; ``(image, seconds)``.

    Raises the operation's own error class (re-raised with the stage named in its subject) or
    :class:`AlgorithmError` for any other failure, the cause chained.
    """
    from ..params import run

    _operation(stage, name)
    relay = CallbackRelay(progress)  # the callback's own exception (ComfyUI's interruption) passes unchanged
    start = time.perf_counter()
    try:
        out = run(name, image=image, progress=relay.callback, **values)["image"]
    except BaseException as e:
        if relay.raised_by_callback(e):
            raise
        if isinstance(e, RestoreError):
            raise type(e)(f"{stage} stage ({name}): {e.subject}", e.problem, e.fix) from e
        if not isinstance(e, Exception):
            raise
        raise AlgorithmError(
            f"{stage} stage ({name})", f"failed: {type(e).__name__}: {e}", f"turn the {stage} stage off or change its method."
        ) from e
    if out.shape != image.shape or not torch.isfinite(out).all():
        raise AlgorithmError(
            f"{stage} stage ({name})", f"returned an image of shape {tuple(out.shape)} or with non-finite values.",
            f"turn the {stage} stage off or change its method.",
        )
    return out.to(image.dtype), time.perf_counter() - start


def run_recorded(
    stage: str, name: str, image: torch.Tensor, values: dict[str, Any], before: list[Measures],
    progress: ProgressCallback | None = None, reason: str = "",
) -> tuple[torch.Tensor, list[Measures], StageRecord]:
    """:func:`run_stage` plus the measures after it and a record (measures averaged over the batch)."""
    from .measures import mean_measures

    out, seconds = run_stage(stage, name, image, values, progress)
    after = measure(out)
    rec = StageRecord(stage, name, dict(values), seconds, mean_measures(before), mean_measures(after), reason=reason)
    return out, after, rec


def parse_overrides(text: str, operations: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Parse ``stage.parameter=value`` lines (or ``;``-separated) into ``{stage: {parameter: value}}``.

    ``operations`` maps each stage to the operation it will run; the parameter must be a value input of
    that operation and the value must pass its check (node units), else :class:`InvalidParameterError`
    names the line.
    """
    out: dict[str, dict[str, Any]] = {}
    if not isinstance(text, str):
        raise InvalidParameterError("overrides", f"expected text, got {type(text).__name__}.", "give lines like sharpen.amount=0.8.")
    for raw in text.replace(";", "\n").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, eq, value = line.partition("=")
        stage, dot, param = key.strip().partition(".")
        stage, param, value = stage.strip().lower(), param.strip(), value.strip()
        if not eq or not dot or not param:
            raise InvalidParameterError(
                "overrides", f"cannot read {line!r}.", "write one stage.parameter=value per line, e.g. sharpen.amount=0.8."
            )
        if stage not in STAGES:
            raise InvalidParameterError(
                "overrides", f"unknown stage {stage!r} in {line!r}.", f"stages are {', '.join(STAGES)}."
            )
        op = _operation(stage, operations[stage])
        names = [p.name for p in op.inputs if not p.is_data]
        if param not in names:
            raise InvalidParameterError(
                "overrides", f"the {stage} stage's operation {op.name!r} has no parameter {param!r} (in {line!r}).",
                f"its parameters are {', '.join(names)}.",
            )
        p = op.param(param)
        try:
            parsed = p.parse(value)
            p.to_core(parsed)
        except RestoreError as e:
            raise InvalidParameterError("overrides", f"{line!r}: {e.problem}", e.fix) from e
        out.setdefault(stage, {})[param] = parsed
    return out


def records_table(records: list[StageRecord], prefix: list[str] | None = None) -> str:
    """The per-stage table of a report: before -> after measures (noise 0-255, sharpness, RMS contrast)."""
    header = (["image"] if prefix else []) + ["stage", "operation", "seconds", "noise", "sharpness", "contrast"]
    rows = []
    for i, r in enumerate(records):
        lead = [prefix[i]] if prefix else []
        if r.skipped or r.before is None or r.after is None:
            rows.append(lead + [r.stage, "skipped", "-", "-", "-", "-"])
            continue
        b, a = r.before, r.after
        rows.append(lead + [
            r.stage, r.operation, f"{r.seconds:.2f}", f"{b.noise:.1f} -> {a.noise:.1f}",
            f"{b.sharpness:.0f} -> {a.sharpness:.0f}", f"{b.contrast:.3f} -> {a.contrast:.3f}",
        ])
    return text_table(header, rows)


def records_details(records: list[StageRecord], prefix: list[str] | None = None) -> list[str]:
    """One line per stage: the values used, or why it was skipped, and the reasoning."""
    lines = []
    for i, r in enumerate(records):
        lead = f"{prefix[i]} " if prefix else ""
        if r.skipped:
            lines.append(f"{lead}{r.stage}: skipped, {r.skipped}")
        else:
            why = f" ({r.reason})" if r.reason else ""
            lines.append(f"{lead}{r.stage}: {r.operation} with {values_text(r.values)}{why}")
    return lines
