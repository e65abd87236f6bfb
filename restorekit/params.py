"""One declaration of every operation: its inputs, parameters and outputs.

An :class:`Operation` is declared once (in :mod:`restorekit.operations`) and read by
both the ComfyUI node layer and the CLI, so names, defaults, ranges, units and help agree.
Conversion of user units to core units (e.g. noise sigma 0-255 -> [0, 1]) happens here, in
:meth:`Param.to_core`, and nowhere else.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import AlgorithmError, InvalidParameterError
from .kinds import KINDS, format_number, kind_of

if TYPE_CHECKING:
    import torch

    from .progress import ProgressCallback

#: Kinds of outputs (every kind of :mod:`restorekit.kinds` except the widget-only ones).
OUTPUT_KINDS = ("image", "mask", "psf", "grain", "model", "float", "int", "string")

NODE_PREFIX = "RK_"
CATEGORY_ROOT = "restorekit"


@dataclass(frozen=True)
class Param:
    """One input of an operation.

    ``scale`` multiplies the user value to give the core value (``1/255`` for a noise sigma
    given in 0-255 units). With ``zero_is_auto`` a user value of 0 reaches the core as
    ``None`` ("estimate it"). ``optional`` applies to data inputs (image, mask, psf).
    """

    name: str
    kind: str
    default: Any = None
    help: str = ""
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: tuple[str, ...] = ()
    units: str = ""
    advanced: bool = False
    optional: bool = False
    scale: float = 1.0
    zero_is_auto: bool = False
    multiline: bool = False

    def __post_init__(self) -> None:
        kind = kind_of(self.kind)
        if not self.help:
            raise ValueError(f"parameter {self.name!r}: every input needs help text (used as its tooltip)")
        if self.kind == "choice" and self.default not in self.choices:
            raise ValueError(f"parameter {self.name!r}: default {self.default!r} not in {self.choices}")
        if kind.numeric and self.default is not None:
            if (self.min is not None and self.default < self.min) or (self.max is not None and self.default > self.max):
                raise ValueError(f"parameter {self.name!r}: default {self.default} outside [{self.min}, {self.max}]")

    @property
    def is_data(self) -> bool:
        """A socket connected from another node (image, mask, PSF, model), not a widget value."""
        return KINDS[self.kind].data

    @property
    def tooltip(self) -> str:
        """Help text with units and range, as shown in ComfyUI and ``restorekit info``."""
        parts = [self.help]
        if self.units:
            parts.append(f"Units: {self.units}.")
        if KINDS[self.kind].numeric and self.min is not None and self.max is not None:
            parts.append(f"Range {format_number(self.min)} to {format_number(self.max)}.")
        return " ".join(parts)

    def parse(self, text: str) -> Any:
        """Convert a command-line string to this parameter's user-level value."""
        return KINDS[self.kind].parse(self, text)

    def to_core(self, value: Any) -> Any:
        """Validate a user-level value and convert it to the core's units (None = the default)."""
        if self.is_data:
            return value
        return KINDS[self.kind].check(self, self.default if value is None else value)


@dataclass(frozen=True)
class Output:
    """One output of an operation.

    ``alpha``: an image output gets the first image input's alpha (resized when the size changed,
    as for super-resolution); False for pictures that are not the image itself (grids, charts,
    previews), which come out opaque.
    """

    name: str
    kind: str
    help: str
    alpha: bool = True

    def __post_init__(self) -> None:
        if self.kind not in OUTPUT_KINDS:
            raise ValueError(f"output {self.name!r}: unknown kind {self.kind!r}")


@dataclass(frozen=True)
class Operation:
    """An operation as users see it: a node in ComfyUI and a subcommand target in the CLI.

    ``func`` takes one keyword argument per input (core tensors ``[B, C, H, W]`` for images,
    core units for values) plus an optional ``progress`` callback, and returns a dict keyed by
    output name, a tuple in output order, or the value itself when there is one output.
    ``func`` may be the core function itself when nothing needs adapting; ``bind`` then maps an
    input's name to the function's keyword (``{"image": "x"}``).
    ``gpu``: the operation runs on torch and may use ComfyUI's GPU; otherwise it gets CPU tensors.
    ``output_node``: the node has an effect of its own (writes files), so ComfyUI runs it even when
    nothing is connected to its outputs.
    """

    name: str
    display_name: str
    category: str
    description: str
    inputs: tuple[Param, ...]
    outputs: tuple[Output, ...]
    func: Callable[..., Any]
    gpu: bool = True
    node_suffix: str | None = None
    combine_inputs: bool = False
    bind: dict[str, str] = field(default_factory=dict)
    output_node: bool = False

    @property
    def node_id(self) -> str:
        """The ComfyUI node id: fixed prefix + CamelCase name. Never changes once released."""
        return NODE_PREFIX + (self.node_suffix or "".join(part.capitalize() for part in self.name.split("_")))

    @property
    def full_category(self) -> str:
        return f"{CATEGORY_ROOT}/{self.category}"

    def param(self, name: str) -> Param:
        for p in self.inputs:
            if p.name == name:
                return p
        raise KeyError(name)

    def check_signature(self) -> None:
        """Raise unless ``func`` takes exactly what is declared.

        Every declared input (renamed by ``bind``) must be a keyword of ``func``, and every
        keyword of ``func`` without a default must be declared; keywords with a default that are
        not declared keep the core's default (``clamp`` of a core function, say).
        """
        sig = inspect.signature(self.func)
        accepted = {
            n: q for n, q in sig.parameters.items()
            if n != "progress" and q.kind not in (q.VAR_POSITIONAL, q.VAR_KEYWORD)
        }
        declared = [self.bind.get(p.name, p.name) for p in self.inputs]
        unknown = [n for n in declared if n not in accepted]
        undeclared = [n for n, q in accepted.items() if q.default is q.empty and n not in declared]
        unused = [n for n in self.bind if n not in {p.name for p in self.inputs}]
        if unknown or undeclared or unused:
            raise TypeError(
                f"operation {self.name!r}: function parameters {list(accepted)} do not match declared inputs "
                f"{declared} (not in the function: {unknown}; required but not declared: {undeclared}; "
                f"bind names no input: {unused})"
            )

    def call(self, values: dict[str, Any], progress: Callable[[int, int], None] | None = None) -> tuple:
        """Run ``func`` on core-level ``values`` and return the outputs as a tuple in declared order."""
        kwargs = {self.bind.get(name, name): value for name, value in values.items()}
        if "progress" in inspect.signature(self.func).parameters:
            kwargs["progress"] = progress
        result = _call_reporting_oom(self, kwargs)
        if isinstance(result, dict):
            missing = [o.name for o in self.outputs if o.name not in result]
            if missing:
                raise TypeError(f"operation {self.name!r} did not return outputs {missing}")
            return tuple(result[o.name] for o in self.outputs)
        if len(self.outputs) == 1 and not isinstance(result, tuple):
            return (result,)
        if not isinstance(result, tuple) or len(result) != len(self.outputs):
            raise TypeError(f"operation {self.name!r} returned {type(result).__name__}, expected {len(self.outputs)} outputs")
        return result


def _call_reporting_oom(op: Operation, kwargs: dict[str, Any]) -> Any:
    """``op.func(**kwargs)``; an out-of-memory error escaping it becomes one :class:`AlgorithmError` saying
    what ran out, on which image size, and how to fix it (the nodes, the CLI and ``run`` all come here)."""
    try:
        return op.func(**kwargs)
    except (RuntimeError, MemoryError) as error:
        from .tiling import is_out_of_memory

        if not (is_out_of_memory(error) or isinstance(error, MemoryError)):
            raise
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        gpu = not isinstance(error, MemoryError)
    # Outside the except block, so the traceback's frames (and the tensors they hold) are released first.
    import torch

    if gpu and torch.cuda.is_available():
        torch.cuda.empty_cache()
    images = [v for v in kwargs.values() if isinstance(v, torch.Tensor) and v.dim() == 4]
    size = (
        f"{images[0].shape[0]} image(s) of {images[0].shape[-1]}x{images[0].shape[-2]} px, "
        f"{images[0].shape[1]} channel(s), on {images[0].device}" if images else "its inputs"
    )
    where = "GPU" if gpu else "CPU (system)"
    raise AlgorithmError(
        op.display_name,
        f"ran out of {where} memory on {size} ({first}).",
        "use a smaller image or fewer images at once, a smaller tile where the node has one, free memory (close "
        "other programs or models using the GPU), or run on the CPU"
        + (" (ComfyUI: --cpu)." if gpu else "."),
    ) from None


OPERATIONS: dict[str, Operation] = {}


def register(op: Operation) -> Operation:
    """Add ``op`` to the registry after checking its declaration."""
    op.check_signature()
    if op.name in OPERATIONS:
        raise ValueError(f"operation {op.name!r} registered twice")
    if any(o.node_id == op.node_id for o in OPERATIONS.values()):
        raise ValueError(f"node id {op.node_id!r} registered twice")
    if not op.description:
        raise ValueError(f"operation {op.name!r} needs a description")
    names = [p.name for p in op.inputs]
    if len(set(names)) != len(names):
        raise ValueError(f"operation {op.name!r} has duplicate input names")
    OPERATIONS[op.name] = op
    return op


def declare(name: str, func: Callable[..., Any], **declaration: Any) -> Operation:
    """Register an operation whose function is ``func`` itself, usually a core function (see
    :class:`Operation` for the keywords, ``bind`` included)."""
    return register(Operation(name=name, func=func, **declaration))


def operation(name: str, **declaration: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator form of :func:`declare` for an adapter function written for the operation."""

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        declare(name, func, **declaration)
        return func

    return wrap


def get_operation(name: str) -> Operation:
    """Look up an operation by CLI name (``wavelet_denoise``) or node id (``RK_WaveletDenoise``)."""
    from . import operations  # noqa: F401  (registers everything)

    key = name.replace("-", "_")
    if key in OPERATIONS:
        return OPERATIONS[key]
    for op in OPERATIONS.values():
        if op.node_id == name:
            return op
    raise InvalidParameterError(
        "operation", f"unknown operation {name!r}.", "run `restorekit list` to see the available operations."
    )


def run(
    name: str, *, device: torch.device | str | None = None, progress: ProgressCallback | None = None, **values: Any
) -> dict[str, Any]:
    """Run the operation ``name`` from Python and return its outputs by name.

    Images are core tensors ``[B, C, H, W]`` in [0, 1] (C = 1..4; alpha is split off and not
    returned), parameters are given in the units of the nodes and the CLI (noise sigma in 0-255,
    0 = automatic) and are validated the same way; missing parameters take their defaults.
    ``device``: where GPU-capable operations compute (default: where the inputs are).
    """
    from .kinds import Context, convert_inputs

    op = get_operation(name)
    ctx = Context(device=device if op.gpu else "cpu")
    core, _ = convert_inputs(op, values, ctx, "python")
    results = op.call(core, progress)
    if ctx.notes and "report" in (o.name for o in op.outputs):
        results = tuple("\n".join([str(v), *ctx.notes]) if o.name == "report" else v
                        for o, v in zip(op.outputs, results, strict=True))
    return {o.name: v for o, v in zip(op.outputs, results, strict=True)}


def all_operations() -> list[Operation]:
    """Every registered operation, in registration order."""
    from . import operations  # noqa: F401

    return list(OPERATIONS.values())
