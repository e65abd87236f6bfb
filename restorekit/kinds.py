"""Every kind of operation input and output, in one table, and the one conversion that uses it.

A :class:`Kind` says, for one kind (``image``, ``float``, ``psf``, …): its ComfyUI socket type and
V3 input class, how a node value, a command-line text or a Python value becomes a core value,
how a core result goes back to a node, and for data kinds how the CLI reads and writes files.
:func:`convert_inputs` and :func:`convert_outputs` are the only code that turns outside values
into core values and back; the node runner, the CLI and :func:`restorekit.run` all call them.
Nothing here imports ComfyUI: ComfyUI-only details (model folders) come in through
:class:`Context`.

The rule for bad input, the same for every operation (``tests/restorekit_nodes/test_bad_input.py``
checks it over all nodes): a value is converted where one sane reading exists, otherwise it is
rejected with :class:`~restorekit.errors.InvalidImageError` / :class:`~restorekit.errors.InvalidParameterError`
naming the input, what is wrong and how to fix it; nothing is silently replaced.

- Images and masks: float16/bfloat16/float64 and non-contiguous views are converted (float32,
  contiguous); a 3-D ``[H, W, C]`` image is a batch of one. Values slightly outside [0, 1] (by at most
  :data:`restorekit.image.RANGE_TOLERANCE`, what resampling and sharpening overshoot) are clamped
  and a note saying so goes into the operation's ``report`` output (or the log, where there is no
  report). Rejected: NaN/Inf, an empty batch or a 0-pixel image, values further outside (0-255 or
  -1..1 data, HDR: the message says which scale it looks like), integer or bool images, 2-D, 5-D and
  channels-first tensors, and channel counts other than 1-4 (2 and 4 carry alpha).
- Numbers: Python and numpy ints/floats; an int widget takes a whole float (3.0). Rejected: NaN/Inf,
  fractions for ints, text, booleans and values outside the declared range (ComfyUI does not always
  enforce widget ranges: workflow files, API calls and converted widgets bypass them).
- Choices: exactly one of the options. Booleans: True/False. Text: a string. A missing widget value
  (None) takes the declared default.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .errors import InvalidImageError, InvalidParameterError
from .image import (
    SplitImage,
    alpha_for,
    image_from_bhwc,
    image_to_bhwc,
    mask_from_bhw,
    mask_to_bhw,
)

if TYPE_CHECKING:
    from .params import Operation, Output, Param

_log = logging.getLogger("restorekit")

#: Where input values come from: ComfyUI (``node``), the command line (``text``: strings and file
#: paths) or Python callers (``python``: core tensors and user-unit numbers).
SOURCES = ("node", "text", "python")


@dataclass
class Context:
    """What a conversion needs besides the values.

    ``device``: where tensors go (None = where they are). ``resolve_model_file``: maps a model
    file name chosen in a node to a path (the pack supplies ComfyUI's folders). ``notes``: lines
    the boundary adds to an operation's ``report`` output (e.g. an input it ignored).
    """

    device: torch.device | str | None = None
    resolve_model_file: Callable[[str], str] = str
    notes: list[str] = field(default_factory=list)


@dataclass
class MainImage:
    """What the outputs inherit from the first connected image input: alpha, channels, bit depth."""

    alpha: torch.Tensor | None = None
    channels: int = 3
    bit_depth: int = 8


def opaque(main: MainImage) -> MainImage:
    """``main`` without its alpha (for outputs declared ``alpha=False``)."""
    return MainImage(None, main.channels, main.bit_depth)


# ---- number formatting and value checks (user units) ------------------------------------------

def format_number(value: float) -> str:
    """A number as a person writes it: ``2,147,483,647``, ``0.0000001``, ``2.5``, ``-360``."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return np.format_float_positional(float(value), trim="-")


def _range_text(p: Param) -> str:
    if p.min is not None and p.max is not None:
        return f"between {format_number(p.min)} and {format_number(p.max)}"
    if p.min is not None:
        return f"of at least {format_number(p.min)}"
    if p.max is not None:
        return f"of at most {format_number(p.max)}"
    return "(any number)"


def _number(p: Param, value: Any) -> float | int | None:
    units = f" {p.units}" if p.units else ""
    wanted = "a whole number" if p.kind == "int" else "a number"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InvalidParameterError(
            p.name, f"expected {wanted}, got {_shown(value)}.", f"give {wanted} {_range_text(p)}{units}."
        )
    value = float(value) if not isinstance(value, numbers.Integral) else int(value)
    if not math.isfinite(value):
        raise InvalidParameterError(
            p.name, f"{value} is not a finite number.", f"give {wanted} {_range_text(p)}{units}."
        )
    if p.kind == "int":
        if value != int(value):
            raise InvalidParameterError(
                p.name,
                f"expected a whole number, got {format_number(value)}.",
                f"give a whole number {_range_text(p)}{units}, e.g. {math.floor(value):,} or {math.ceil(value):,}.",
            )
        value = int(value)
    lo, hi = p.min, p.max
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise InvalidParameterError(
            p.name,
            f"{format_number(value)} is outside the allowed range "
            f"[{format_number(lo) if lo is not None else '-inf'}, {format_number(hi) if hi is not None else 'inf'}]"
            f"{units}.",
            f"give a value {_range_text(p)}.",
        )
    if p.zero_is_auto and value == 0:
        return None
    return value * p.scale if p.scale != 1.0 else value


def _shown(value: Any) -> str:
    """A bad value as an error message shows it: short, with its type where the repr does not say it."""
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return text if isinstance(value, (str, int, float)) else f"{text} ({type(value).__name__})"


def _boolean(p: Param, value: Any) -> bool:
    if isinstance(value, np.bool_):
        return bool(value)
    if not isinstance(value, bool):
        raise InvalidParameterError(
            p.name, f"expected true/false, got {_shown(value)}.", "switch it on or off (true or false)."
        )
    return value


def _choice(p: Param, value: Any) -> str:
    if not isinstance(value, str) or value not in p.choices:
        raise InvalidParameterError(
            p.name, f"{_shown(value)} is not one of the options.", f"choose one of: {', '.join(p.choices)}."
        )
    return value


def _text(p: Param, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidParameterError(
            p.name, f"expected text, got {_shown(value)}.", "give text (connect a STRING or type it in)."
        )
    return value


def _model_file(p: Param, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameterError(
            p.name, "no weights file was chosen.",
            "put a .pth/.safetensors file into ComfyUI/models/restorekit (or upscale_models) and pick it, "
            "or give a path on the command line; `restorekit weights list` shows published weights and "
            "`restorekit weights fetch NAME` downloads one.",
        )
    return value


def _parse_number(p: Param, text: str) -> float | int:
    try:
        return int(text) if p.kind == "int" else float(text)
    except ValueError:
        pass
    try:
        return float(text)  # "3.0" or "2.5" for an int: the check accepts the first and explains the second
    except ValueError:
        wanted = "a whole number" if p.kind == "int" else "a number"
        raise InvalidParameterError(
            p.name, f"cannot read {text!r} as {wanted}.", f"give {wanted} {_range_text(p)}, e.g. {p.default!r}."
        ) from None


def _parse_bool(p: Param, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise InvalidParameterError(p.name, f"cannot read {text!r} as bool.", "give true or false.")


def _as_is(p: Param, text: str) -> str:
    return text


# ---- data kinds: node values, files, Python values ----------------------------------------

def _image_from_node(p: Param, value: Any, ctx: Context) -> SplitImage:
    return image_from_bhwc(value, p.name, ctx.device, ctx.notes)


def _image_from_file(p: Param, text: str, ctx: Context) -> SplitImage:
    from .io import load_image

    split, depth = load_image(Path(text), ctx.device)
    split.bit_depth = depth
    return split


def _image_from_python(p: Param, value: Any, ctx: Context) -> SplitImage:
    from .image import split_alpha

    if not isinstance(value, torch.Tensor) or value.dim() != 4:
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise InvalidImageError(
            p.name,
            f"expected a core tensor [batch, channels, height, width], got {shape}.",
            "give a 4-D float tensor in [0, 1] (x[None] adds the batch dimension of a single image).",
        )
    return split_alpha(value, p.name, ctx.device, ctx.notes)


def _optional_mask(p: Param, mask: torch.Tensor, ctx: Context) -> torch.Tensor | None:
    """An all-zero optional mask counts as not connected: ComfyUI's Load Image hands one out
    (64x64 zeros) for every image without alpha, and wiring it in is the obvious first try."""
    if p.optional and not bool(mask.any()):
        ctx.notes.append(f"{p.name}: the connected mask is all zero (what Load Image gives for an image without "
                         "alpha), so it was treated as not connected.")
        return None
    return mask


def _mask_from_node(p: Param, value: Any, ctx: Context) -> torch.Tensor | None:
    return _optional_mask(p, mask_from_bhw(value, p.name, ctx.device, ctx.notes), ctx)


def _mask_from_file(p: Param, text: str, ctx: Context) -> torch.Tensor | None:
    from .io import read_image

    pixels = torch.from_numpy(read_image(Path(text)).pixels[:, :, 0])
    return _optional_mask(p, mask_from_bhw(pixels, p.name, ctx.device, ctx.notes), ctx)


def _mask_from_python(p: Param, value: Any, ctx: Context) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor) and value.dim() == 4 and value.shape[1] == 1:
        value = value[:, 0]
    return _optional_mask(p, mask_from_bhw(value, p.name, ctx.device, ctx.notes), ctx)


def _psf_type() -> type:
    from .deblur.psf import PSF

    return PSF


def _model_type() -> type:
    from .models.loader import RestorationModel

    return RestorationModel


def _grain_type() -> type:
    from .grain.model import GrainModel

    return GrainModel


def _grain_from_node(p: Param, value: Any, ctx: Context) -> Any:
    if value is not None and not isinstance(value, _grain_type()):
        raise InvalidParameterError(p.name, f"expected a grain model, got {type(value).__name__}.", "connect Grain Analyze.")
    return value


def _grain_from_file(p: Param, text: str, ctx: Context) -> Any:
    """A grain model from a ``.json`` file (as written by the CLI) or an AV1 film-grain table (first entry)."""
    import json

    from .grain.model import GrainModel

    path = Path(text)
    if not path.is_file():
        raise InvalidParameterError(p.name, f"grain file {text} not found.", "check the path.")
    if path.suffix.lower() == ".json":
        return GrainModel.from_dict(json.loads(path.read_text()))
    from .grain.av1_table import read_av1_table

    return read_av1_table(path)[0]


def _write_grain(path: Path, value: Any, main: MainImage, bits: int | None) -> list[Path]:
    """The model as ``.json`` (everything) and, where AV1 can express it, an AV1 film-grain table ``.tbl``."""
    import json

    from .grain.av1_table import av1_exportable, write_av1_table

    written = [path.with_suffix(".json")]
    written[0].write_text(json.dumps(value.to_dict(), indent=2))
    if av1_exportable(value):
        written.append(write_av1_table(path.with_suffix(".tbl"), [value]))
    return written


def _psf_from_node(p: Param, value: Any, ctx: Context) -> Any:
    if not isinstance(value, _psf_type()):
        raise InvalidParameterError(p.name, f"expected a PSF, got {type(value).__name__}.", "connect Make PSF.")
    return value


def _psf_from_text(p: Param, text: str, ctx: Context) -> Any:
    """A PSF from ``shape,key=value,…`` (e.g. ``motion,length=15,angle=30``) or a kernel image file."""
    from .io import IMAGE_SUFFIXES
    from .params import get_operation

    make_psf = get_operation("make_psf")
    path = Path(text)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        if not path.is_file():
            raise InvalidParameterError(p.name, f"kernel file {text} not found.", "check the path.")
        values: dict[str, Any] = {"shape": "custom", "custom": str(path)}
    else:
        head, *pairs = [s.strip() for s in text.split(",") if s.strip()] or [""]
        values = {"shape": head}
        for pair in pairs:
            if "=" not in pair:
                raise InvalidParameterError(p.name, f"cannot read {pair!r}.", "write key=value, e.g. sigma=2.")
            key, value = (s.strip() for s in pair.split("=", 1))
            names = [q.name for q in make_psf.inputs if not q.is_data]
            if key not in names:
                raise InvalidParameterError(p.name, f"unknown PSF parameter {key!r}.", f"use {', '.join(names)}.")
            values[key] = value
    core, _ = convert_inputs(make_psf, values, Context(device="cpu"), "text")
    return make_psf.call(core)[0]


def _model_from_node(p: Param, value: Any, ctx: Context) -> Any:
    if not isinstance(value, _model_type()):
        raise InvalidParameterError(
            p.name, f"expected a restoration model, got {type(value).__name__}.", "connect Load Restoration Model."
        )
    return value


def _model_from_file(p: Param, text: str, ctx: Context) -> Any:
    from .models.loader import load_model

    return load_model(text, device=ctx.device or "cpu")


# ---- outputs ---------------------------------------------------------------------------------

def _image_to_node(o: Output, value: torch.Tensor, main: MainImage, ctx: Context) -> torch.Tensor:
    if value.shape[1] == 1 and main.channels != 1:
        value = value.expand(-1, 3, -1, -1)  # ComfyUI's image nodes (Save, Preview, …) expect RGB
    return image_to_bhwc(value, alpha_for(main.alpha, value), ctx.device, name=o.name)


def _write_image(path: Path, value: torch.Tensor, main: MainImage, bits: int | None) -> list[Path]:
    from .io import output_bit_depth, save_images

    depth = output_bit_depth(path, bits, main.bit_depth)
    return save_images(path, value, alpha_for(main.alpha, value), depth)


def _write_mask(path: Path, value: torch.Tensor, main: MainImage, bits: int | None) -> list[Path]:
    from .io import output_bit_depth, save_images

    return save_images(path, value[:, :1], None, output_bit_depth(path, bits, main.bit_depth))


def _write_psf(path: Path, value: Any, main: MainImage, bits: int | None) -> list[Path]:
    """The kernel as a float32 TIFF, scaled so its peak is 1; ``--psf FILE`` reads it back exactly."""
    from .io import write_image

    kernel = value.kernel / value.kernel.max()
    return [write_image(path.with_suffix(".tif"), kernel.cpu().numpy()[:, :, None], 32)]


def _keep(o: Output, value: Any, main: MainImage, ctx: Context) -> Any:
    return value


# ---- widgets (ComfyUI input options; V1 option dict and V3 constructor arguments alike) --------

def _no_widget(p: Param, files: Callable[[], list[str]]) -> dict[str, Any]:
    return {}


def _number_widget(p: Param, files: Callable[[], list[str]]) -> dict[str, Any]:
    options = {"default": p.default, "min": p.min, "max": p.max, "step": p.step}
    if p.kind == "float":
        options.update(step=p.step or 0.01, round=False)
    if p.name == "seed":
        options["control_after_generate"] = True
    return {k: v for k, v in options.items() if v is not None}


def _choice_widget(p: Param, files: Callable[[], list[str]]) -> dict[str, Any]:
    return {"options": list(p.choices), "default": p.default}


# ---- the table ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Kind:
    """One kind of input or output; see the module docstring.

    Value kinds (widgets) have ``check`` (user value -> core value, validated) and ``parse``
    (command-line text -> user value); a value kind's ``from_node``, where set, maps the widget
    value before the check (a model file name to its path). Data kinds (sockets) have ``from_node``, ``from_text``
    (a file path or spec) and ``from_python``; as outputs, ``write`` puts them into files.
    ``to_node`` converts an output for ComfyUI; ``to_record`` for the CLI's printed/JSON results.
    ``widget`` gives a widget's options (default, range, step, choices as ``options``; a function
    listing the model files a node offers is passed in), which are V1's option dict and V3's constructor arguments.
    """

    name: str
    comfy_type: str
    v3_class: str
    data: bool = False
    numeric: bool = False
    check: Callable[[Param, Any], Any] | None = None
    parse: Callable[[Param, str], Any] = _as_is
    from_node: Callable[[Param, Any, Context], Any] | None = None
    from_text: Callable[[Param, str, Context], Any] | None = None
    from_python: Callable[[Param, Any, Context], Any] | None = None
    to_node: Callable[[Output, Any, MainImage, Context], Any] = _keep
    write: Callable[[Path, Any, MainImage, int | None], list[Path]] | None = None
    to_record: Callable[[Any], Any] | None = None
    widget: Callable[[Param, Callable[[], list[str]]], dict[str, Any]] = _no_widget
    cli_help: str = ""


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("image", "IMAGE", "Image", data=True, from_node=_image_from_node, from_text=_image_from_file,
             from_python=_image_from_python, to_node=_image_to_node, write=_write_image, cli_help="an image file"),
        Kind("mask", "MASK", "Mask", data=True, from_node=_mask_from_node, from_text=_mask_from_file,
             from_python=_mask_from_python, to_node=lambda o, v, m, c: mask_to_bhw(v, c.device), write=_write_mask,
             cli_help="an image file (its first channel)"),
        Kind("psf", "RK_PSF", "Custom", data=True, from_node=_psf_from_node, from_text=_psf_from_text,
             from_python=_psf_from_node, write=_write_psf,
             cli_help="shape,key=value,… (see `restorekit info make_psf`) or a kernel image file"),
        Kind("grain", "RK_GRAIN", "Custom", data=True, from_node=_grain_from_node, from_text=_grain_from_file,
             from_python=_grain_from_node, write=_write_grain, to_record=lambda v: v.to_dict(),
             cli_help="a grain model: .json (as written by the CLI) or an AV1 film-grain table (.tbl)"),
        Kind("model", "RK_RESTORATION_MODEL", "Custom", data=True, from_node=_model_from_node,
             from_text=_model_from_file, from_python=_model_from_node, to_record=lambda v: v.summary(),
             cli_help="a weights file (.pth, .pt, .ckpt, .safetensors)"),
        Kind("float", "FLOAT", "Float", numeric=True, check=_number, parse=_parse_number, to_record=float,
             widget=_number_widget),
        Kind("int", "INT", "Int", numeric=True, check=_number, parse=_parse_number, to_record=int,
             widget=_number_widget),
        Kind("bool", "BOOLEAN", "Boolean", check=_boolean, parse=_parse_bool,
             widget=lambda p, files: {"default": bool(p.default)}),
        Kind("choice", "COMBO", "Combo", check=_choice, widget=_choice_widget),
        Kind("string", "STRING", "String", check=_text, to_record=str,
             widget=lambda p, files: {"default": p.default or "", "multiline": p.multiline}),
        Kind("model_file", "COMBO", "Combo", check=_model_file,
             from_node=lambda p, v, c: c.resolve_model_file(v) if isinstance(v, str) else v,
             widget=lambda p, files: {"options": list(files())}),
    )
}
for _name, _convert in (("float", float), ("int", int), ("string", str)):
    object.__setattr__(KINDS[_name], "to_node", lambda o, v, m, c, _convert=_convert: _convert(v))


def kind_of(name: str) -> Kind:
    """The :class:`Kind` called ``name``; a declaration error (ValueError) for an unknown one."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown kind {name!r}; known kinds: {', '.join(KINDS)}") from None


# ---- the one conversion -------------------------------------------------------------------

def convert_inputs(
    op: Operation, values: dict[str, Any], ctx: Context, source: str, only: set[str] | None = None
) -> tuple[dict[str, Any], MainImage]:
    """Turn outside ``values`` (from ``source``, see :data:`SOURCES`) into the core values of ``op``.

    Missing widget values take their defaults; a missing required data input is an error; an
    unknown name is an error. ``only``: convert just these inputs (the CLI converts the options
    once and the files of each job apart). Returns the core values and what the first image passes
    on to the outputs (alpha, channel count, bit depth).
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    unknown = set(values) - {p.name for p in op.inputs}
    if unknown:
        raise InvalidParameterError(
            op.display_name, f"unexpected inputs {sorted(unknown)}.", f"valid inputs: {[p.name for p in op.inputs]}."
        )
    core: dict[str, Any] = {}
    main: MainImage | None = None
    for p in op.inputs:
        if only is not None and p.name not in only:
            continue
        kind = KINDS[p.kind]
        value = values.get(p.name)
        if kind.data:
            if value is None:
                if not p.optional:
                    raise InvalidImageError(p.name, "this input is required but nothing is connected.", "connect it.")
                core[p.name] = None
                continue
            reader = {"node": kind.from_node, "text": kind.from_text, "python": kind.from_python}[source]
            value = reader(p, value, ctx)
            if isinstance(value, SplitImage):
                if main is None:
                    main = MainImage(value.alpha, value.pixels.shape[1], value.bit_depth or 8)
                value = value.pixels
            core[p.name] = value
            continue
        if value is None:
            value = p.default
        elif source == "text":
            value = kind.parse(p, value)
        if source == "node" and kind.from_node is not None:
            value = kind.from_node(p, value, ctx)
        core[p.name] = kind.check(p, value)
    return core, main or MainImage()


def convert_outputs(op: Operation, results: tuple, main: MainImage, ctx: Context) -> tuple:
    """Turn core results into node values (images channels-last with the main image's alpha, masks
    ``[B, H, W]``, numbers and text as plain Python values). Notes the boundary made while converting
    the inputs are added to a ``report`` output."""
    out = []
    if ctx.notes and not any(spec.name == "report" for spec in op.outputs):
        for note in ctx.notes:
            _log.warning("%s: %s", op.display_name, note)
    for spec, value in zip(op.outputs, results, strict=True):
        if spec.name == "report" and ctx.notes:
            value = "\n".join([str(value), *ctx.notes])
        out.append(KINDS[spec.kind].to_node(spec, value, main if spec.alpha else opaque(main), ctx))
    return tuple(out)
