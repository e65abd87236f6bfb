"""One declaration of every operation: its inputs, parameters and outputs.

An :class:`Operation` is declared once (in :mod:`restorekit.operations`) and read by
both the ComfyUI node layer and the CLI, so names, defaults, ranges, units and help agree.
Conversion of user units to core units (e.g. noise sigma 0-255 -> [0, 1]) happens here, in
:meth:`Param.to_core`, and nowhere else.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidParameterError

#: Kinds of inputs. Data inputs (image, mask, psf, model) are converted by the boundary;
#: value inputs (float, int, bool, choice, string, model_file) by :meth:`Param.to_core`.
#: ``model`` carries a loaded :class:`restorekit.models.loader.RestorationModel` between nodes;
#: ``model_file`` names a weights file (ComfyUI: a file in the model folders; CLI: a path).
DATA_KINDS = ("image", "mask", "psf", "model")
VALUE_KINDS = ("float", "int", "bool", "choice", "string", "model_file")
OUTPUT_KINDS = ("image", "mask", "psf", "model", "float", "int", "string")

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
        if self.kind not in DATA_KINDS + VALUE_KINDS:
            raise ValueError(f"parameter {self.name!r}: unknown kind {self.kind!r}")
        if not self.help:
            raise ValueError(f"parameter {self.name!r}: every input needs help text (used as its tooltip)")
        if self.kind == "choice" and self.default not in self.choices:
            raise ValueError(f"parameter {self.name!r}: default {self.default!r} not in {self.choices}")
        if self.kind in ("float", "int") and self.default is not None:
            if (self.min is not None and self.default < self.min) or (self.max is not None and self.default > self.max):
                raise ValueError(f"parameter {self.name!r}: default {self.default} outside [{self.min}, {self.max}]")

    @property
    def is_data(self) -> bool:
        return self.kind in DATA_KINDS

    @property
    def tooltip(self) -> str:
        """Help text with units and range, as shown in ComfyUI and ``restorekit info``."""
        parts = [self.help]
        if self.units:
            parts.append(f"Units: {self.units}.")
        if self.kind in ("float", "int") and self.min is not None and self.max is not None:
            parts.append(f"Range {self.min:g} to {self.max:g}.")
        return " ".join(parts)

    def parse(self, text: str) -> Any:
        """Convert a command-line string to this parameter's user-level value."""
        try:
            if self.kind == "float":
                return float(text)
            if self.kind == "int":
                return int(text)
            if self.kind == "bool":
                lowered = text.strip().lower()
                if lowered in ("1", "true", "yes", "on"):
                    return True
                if lowered in ("0", "false", "no", "off"):
                    return False
                raise ValueError(text)
        except ValueError:
            raise InvalidParameterError(
                self.name, f"cannot read {text!r} as {self.kind}.", f"give a {self.kind} value, e.g. {self.default!r}."
            ) from None
        return text

    def to_core(self, value: Any) -> Any:
        """Validate a user-level value and convert it to the core's units."""
        if self.is_data:
            return value
        if value is None:
            value = self.default
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise InvalidParameterError(self.name, f"expected true/false, got {value!r}.", None)
            return value
        if self.kind == "choice":
            if value not in self.choices:
                raise InvalidParameterError(
                    self.name, f"{value!r} is not one of the options.", f"choose one of: {', '.join(self.choices)}."
                )
            return value
        if self.kind == "string":
            if not isinstance(value, str):
                raise InvalidParameterError(self.name, f"expected text, got {type(value).__name__}.", None)
            return value
        if self.kind == "model_file":
            if not isinstance(value, str) or not value.strip():
                raise InvalidParameterError(
                    self.name, "no weights file was chosen.",
                    "put a .pth/.safetensors file into ComfyUI/models/restorekit (or upscale_models) and pick it, "
                    "or give a path on the command line.",
                )
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidParameterError(self.name, f"expected a number, got {value!r}.", None)
        if not math.isfinite(value):
            raise InvalidParameterError(self.name, f"{value} is not a finite number.", "give a finite value.")
        if self.kind == "int":
            if value != int(value):
                raise InvalidParameterError(self.name, f"expected a whole number, got {value}.", None)
            value = int(value)
        lo, hi = self.min, self.max
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise InvalidParameterError(
                self.name,
                f"{value:g} is outside the allowed range [{lo:g}, {hi:g}]{' ' + self.units if self.units else ''}.",
                f"give a value between {lo:g} and {hi:g}.",
            )
        if self.zero_is_auto and value == 0:
            return None
        return value * self.scale if self.scale != 1.0 else value


@dataclass(frozen=True)
class Output:
    """One output of an operation."""

    name: str
    kind: str
    help: str

    def __post_init__(self) -> None:
        if self.kind not in OUTPUT_KINDS:
            raise ValueError(f"output {self.name!r}: unknown kind {self.kind!r}")


@dataclass(frozen=True)
class Operation:
    """An operation as users see it: a node in ComfyUI and a subcommand target in the CLI.

    ``func`` takes one keyword argument per input (core tensors ``[B, C, H, W]`` for images,
    core units for values) plus an optional ``progress`` callback, and returns a dict keyed by
    output name, a tuple in output order, or the value itself when there is one output.
    ``gpu``: the operation runs on torch and may use ComfyUI's GPU; otherwise it gets CPU tensors.
    ``long_running``: worth a progress bar.
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
    extra: dict[str, Any] = field(default_factory=dict)

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
        """Raise if ``func``'s keyword parameters differ from the declared inputs."""
        sig = inspect.signature(self.func)
        accepted = [n for n in sig.parameters if n != "progress"]
        declared = [p.name for p in self.inputs]
        if sorted(accepted) != sorted(declared):
            raise TypeError(
                f"operation {self.name!r}: function parameters {accepted} do not match declared inputs {declared}"
            )

    def call(self, values: dict[str, Any], progress: Callable[[int, int], None] | None = None) -> tuple:
        """Run ``func`` on core-level ``values`` and return the outputs as a tuple in declared order."""
        kwargs = dict(values)
        if "progress" in inspect.signature(self.func).parameters:
            kwargs["progress"] = progress
        result = self.func(**kwargs)
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


def operation(
    name: str,
    *,
    display_name: str,
    category: str,
    description: str,
    inputs: list[Param] | tuple[Param, ...],
    outputs: list[Output] | tuple[Output, ...],
    **options: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator form of :func:`register` for an operation's adapter function."""

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        register(
            Operation(
                name=name,
                display_name=display_name,
                category=category,
                description=description,
                inputs=tuple(inputs),
                outputs=tuple(outputs),
                func=func,
                **options,
            )
        )
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


def all_operations() -> list[Operation]:
    """Every registered operation, in registration order."""
    from . import operations  # noqa: F401

    return list(OPERATIONS.values())


# ---- shared parameter declarations -------------------------------------------------------

IMAGE = Param("image", "image", help="The image or batch of images to process.")


def sigma_param(name: str = "sigma", help: str = "Noise standard deviation. 0 = estimate it from the image.") -> Param:
    """Noise sigma as users give it (0-255, 0 = auto); the core receives [0, 1] or None."""
    return Param(
        name, "float", 0.0, help=help, min=0.0, max=255.0, step=0.5, units="0-255 grey levels", scale=1 / 255,
        zero_is_auto=True,
    )


def seed_param() -> Param:
    return Param("seed", "int", 0, help="Random seed; the same seed gives the same result.", min=0, max=2**31 - 1)
