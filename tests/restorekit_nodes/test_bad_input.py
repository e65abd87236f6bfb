"""Every registered node under bad input, as ComfyUI could hand it over (issue 23, item 5).

A fixed table of node x case. Each call must either return a valid result (images and masks float32, finite,
in [0, 1], batch length kept; numbers finite) or raise a restorekit error that names one of the node's inputs
and says how to fix it. Any other exception (a RuntimeError from torch, an IndexError, ...) fails the case,
as do NaN/Inf or out-of-range outputs and a changed batch length. Cases the boundary decides (NaN pixels,
5 channels, a widget below its minimum, ...) must end the way the boundary's rule says (see
:mod:`restorekit.kinds`), with the error naming the very input under test.

Images are tiny (16x12, 1x1, 3x2) and slow nodes run with their smallest budget, so the unmarked table
(>= 1,000 calls; about 2,350) runs in well under a minute on a 2-core CPU. Marked slow: the cases of
secondary image inputs (reference, image_2) and widgets at their valid minimum/maximum. The count of calls and
of each outcome is printed at the end of the module (``-s`` not needed). Operations declared later are picked up
automatically; give slow ones their smallest budget in ``BUDGET``.
"""

from __future__ import annotations

import math
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import torch
from pack import PACK_MODULE, v1_classes

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CLASSES = v1_classes()
#: The pack's own error base class (the pack is imported as ComfyUI imports it, under another package name).
RestoreError = sys.modules[PACK_MODULE + ".restorekit.errors"].RestoreError
NODE_IDS = sorted(CLASSES)

#: The smallest budget of the nodes that iterate or train (every case runs with it).
BUDGET = {
    "RK_Noise2Void": {"steps": 1, "patches_per_step": 1, "width": 4, "depth": 1, "patch_size": 8},
    "RK_DeepImagePrior": {"iterations": 1, "width": 4, "depth": 1, "skip_channels": 0, "input_channels": 1,
                          "min_iterations": 0},
    "RK_RichardsonLucy": {"iterations": 3},
    "RK_DetailSharpen": {"iterations": 3},
}
#: Widgets whose maximum is a compute budget (iterations, sizes of an output): not run at their maximum.
SLOW_AT_MAX = {"iterations", "steps", "patches_per_step", "min_iterations", "patience", "window", "width"}
EXPENSIVE_AT_MAX = {
    "RK_Compare": {"label_height", "gap"},
    "RK_FrequencyBands": {"preview_size"},
    "RK_AutoClahe": {"analysis_size"},
    "RK_MakePsf": {"size", "length", "radius", "sigma"},
    "RK_Noise2Void": {"patch_size", "depth"},
    "RK_DeepImagePrior": {"depth", "skip_channels", "input_channels"},
    "RK_CLAHE": {"bins"},
}
#: Widgets no case changes (the budget, and widgets whose value is a file path).
KEEP = {"RK_LoadImage16bit": {"path"}, "RK_LoadRestorationModel": {"model_name"}}


# ---- valid special inputs ---------------------------------------------------------------------

@cache
def _model_file() -> str:
    """A small real network (DnCNN layout, random weights) saved as a weights file."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
    import model_factory

    folder = Path(tempfile.mkdtemp(prefix="rk_bad_"))
    return str(model_factory.make_file("DnCNN", folder, "safetensors"))


def _params(node_id: str) -> list:
    return list(CLASSES[node_id].OPERATION.inputs)


def _defaults(node_id: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for p in _params(node_id):
        if p.kind == "model_file":
            values[p.name] = _model_file()
        elif not p.is_data:
            values[p.name] = p.default if p.default is not None else ""
    values.update(BUDGET.get(node_id, {}))
    return values


def _call(node_id: str, values: dict[str, Any]) -> tuple:
    cls = CLASSES[node_id]
    return getattr(cls(), cls.FUNCTION)(**values)


@cache
def _psf() -> Any:
    return _call("RK_MakePsf", {**_defaults("RK_MakePsf"), "sigma": 1.0, "size": 5})[0]


@cache
def _model() -> Any:
    load = next(i for i in NODE_IDS if any(o.kind == "model" for o in CLASSES[i].OPERATION.outputs))
    return _call(load, _defaults(load))[0]


@cache
def _grain() -> Any:
    return _call("RK_GrainAnalyze", {**_defaults("RK_GrainAnalyze"), "image": _image(2, 16, 12, 3)})[0]


def _image(b: int, h: int, w: int, c: int, seed: int = 0) -> torch.Tensor:
    """A smooth random image [B, H, W, C] in [0, 1] (float32, contiguous), ComfyUI's IMAGE."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(b, c, h + 4, w + 4, generator=gen)
    x = torch.nn.functional.avg_pool2d(x, 5, 1, 0) if h > 0 and w > 0 else x[:, :, :h, :w]
    return x.permute(0, 2, 3, 1).contiguous()


def _valid_inputs(node_id: str, batch: int = 2) -> dict[str, Any]:
    """Defaults plus a valid value for every data input (the optional ones connected where that is what a user
    does: a reference image, a grain model; not an optional model or mask)."""
    values = _defaults(node_id)
    main = _image(batch, 16, 12, 3)
    for p in _params(node_id):
        if p.kind == "image" and (not p.optional or p.name in ("reference",)):
            values[p.name] = main if p.name == _main_image(node_id) else _image(batch, 16, 12, 3, seed=1)
        elif p.kind == "mask" and not p.optional:
            values[p.name] = torch.ones(batch, 16, 12)
        elif p.kind == "psf":
            values[p.name] = _psf()
        elif p.kind == "model" and not p.optional:
            values[p.name] = _model()
        elif p.kind == "grain" and not p.optional:
            values[p.name] = _grain()
    return values


def _main_image(node_id: str) -> str | None:
    """The image input whose batch the outputs keep (None for nodes without one, e.g. Make PSF's custom kernel
    is tested as an image input of its own)."""
    names = [p.name for p in _params(node_id) if p.kind == "image" and not p.optional]
    return names[0] if names else None


# ---- the table ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """One bad input: ``apply`` edits the valid inputs; ``expect`` is "ok", "error" or "either";
    ``subject`` the input an error must name (None: any input of the node); ``batch`` the batch the image
    outputs must have (None: not checked)."""

    name: str
    apply: Callable[[dict[str, Any]], None]
    expect: str = "either"
    subject: str | None = None
    batch: int | None = None
    slow: bool = False


def _set(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(values: dict[str, Any]) -> None:
        values[name] = value() if callable(value) else value

    return apply


def _with_pixels(base: torch.Tensor, where: tuple, value: float) -> torch.Tensor:
    x = base.clone()
    x[where] = value
    return x


def _image_cases(name: str, main: bool) -> list[Case]:
    """Bad values of the image input ``name`` (the node's main image when ``main``)."""
    b = 2 if main else None
    rgb = _image(2, 16, 12, 3)
    big = _image(2, 32, 24, 3)
    table: list[tuple[str, Callable[[], Any], str, int | None]] = [
        ("rgb", lambda: rgb, "ok", b),
        ("gray", lambda: rgb[..., :1].contiguous(), "either", b),
        ("gray_alpha", lambda: rgb[..., :2].contiguous(), "either", b),
        ("rgba", lambda: torch.cat([rgb, rgb[..., :1]], -1), "either", b),
        ("float16", lambda: rgb.half(), "ok", b),
        ("bfloat16", lambda: rgb.bfloat16(), "ok", b),
        ("float64", lambda: rgb.double(), "ok", b),
        ("transposed_view", lambda: _image(2, 12, 16, 3).transpose(1, 2), "ok", b),
        ("strided_view", lambda: big[:, ::2, ::2], "ok", b),
        ("channels_view", lambda: _image(2, 16, 12, 5)[..., 1:4], "ok", b),
        ("hwc_3d", lambda: rgb[0], "ok", 1 if main else None),
        ("batch_1", lambda: rgb[:1], "ok", 1 if main else None),
        ("1x1", lambda: _image(2, 1, 1, 3), "either", b),
        ("3x2", lambda: _image(2, 3, 2, 3), "either", b),
        ("2x3_gray", lambda: _image(2, 2, 3, 1), "either", b),
        ("black", lambda: torch.zeros(2, 16, 12, 3), "either", b),
        ("white", lambda: torch.ones(2, 16, 12, 3), "either", b),
        ("slightly_outside", lambda: _with_pixels(_with_pixels(rgb, (0, 2, 3), 1.03), (1, 7, 5, 1), -0.02), "ok", b),
        ("nan_pixel", lambda: _with_pixels(rgb, (1, 3, 4, 0), math.nan), "error", None),
        ("all_nan", lambda: torch.full_like(rgb, math.nan), "error", None),
        ("inf_pixel", lambda: _with_pixels(rgb, (0, 0, 0, 1), math.inf), "error", None),
        ("minus_inf_pixel", lambda: _with_pixels(rgb, (0, 5, 5, 2), -math.inf), "error", None),
        ("0_255_scale", lambda: rgb * 255, "error", None),
        ("minus1_1_scale", lambda: _with_pixels(rgb * 2 - 1, (0, 0, 0, 0), -1.0), "error", None),
        ("huge_values", lambda: _with_pixels(rgb, (0, 0, 0, 0), 3e38), "error", None),
        ("empty_batch", lambda: rgb[:0], "error", None),
        ("zero_height", lambda: rgb[:, :0], "error", None),
        ("5_channels", lambda: _image(2, 16, 12, 5), "error", None),
        ("0_channels", lambda: rgb[..., :0], "error", None),
        ("channels_first", lambda: rgb.permute(0, 3, 1, 2).contiguous(), "error", None),
        ("mask_shaped_3d", lambda: rgb[..., 0], "error", None),
        ("2d", lambda: rgb[0, :, :, 0], "error", None),
        ("5d", lambda: rgb.unsqueeze(0), "error", None),
        ("uint8", lambda: (rgb * 255).to(torch.uint8), "error", None),
        ("bool", lambda: rgb > 0.5, "error", None),
        ("not_a_tensor", lambda: rgb.numpy(), "error", None),
    ]
    cases = [Case(f"{name}:{label}", _set(name, make), expect, name, batch) for label, make, expect, batch in table]
    if not main:
        cases += [
            Case(f"{name}:other_size", _set(name, lambda: _image(2, 20, 14, 3)), "either", None, None),
            Case(f"{name}:other_batch", _set(name, lambda: _image(3, 16, 12, 3)), "either", None, None),
        ]
    return cases


def _widget_cases(node_id: str) -> list[Case]:
    cases = []
    for p in _params(node_id):
        if p.is_data or p.name in KEEP.get(node_id, ()) or p.kind == "model_file":
            continue
        n = p.name
        if p.kind in ("float", "int"):
            budget = n in BUDGET.get(node_id, {}) or n in EXPENSIVE_AT_MAX.get(node_id, ()) or n in SLOW_AT_MAX
            for label, edge in (("at_min", p.min), ("at_max", None if budget else p.max)):
                if edge is not None:
                    cases.append(Case(f"{n}:{label}", _set(n, edge), "either", None, _batch_of(node_id), slow=True))
            if p.min is not None:
                below = p.min - (1 if p.kind == "int" else max(1e-3, 0.5 * abs(p.min) or 0.5))
                cases.append(Case(f"{n}:below_min", _set(n, below), "error", n))
            if p.max is not None:
                cases.append(Case(f"{n}:above_max", _set(n, p.max + (1 if p.kind == "int" else max(1.0, p.max))),
                                  "error", n))
            cases.append(Case(f"{n}:nan", _set(n, math.nan), "error", n))
            cases.append(Case(f"{n}:inf", _set(n, -math.inf), "error", n))
            cases.append(Case(f"{n}:text", _set(n, "1"), "error", n))
            if p.kind == "int":
                frac = (p.default or p.min or 0) + 0.5
                cases.append(Case(f"{n}:fraction", _set(n, frac), "error", n))
                cases.append(Case(f"{n}:whole_float", _set(n, float(p.default)), "ok", n))
            else:
                cases.append(Case(f"{n}:int_for_float", _set(n, int(p.default)) if float(p.default).is_integer()
                                  else _set(n, p.default), "ok", n))
        elif p.kind == "choice":
            cases.append(Case(f"{n}:unknown", _set(n, "no_such_option"), "error", n))
            cases.append(Case(f"{n}:wrong_case", _set(n, str(p.default).upper() + "_"), "error", n))
            cases.append(Case(f"{n}:number", _set(n, 3), "error", n))
        elif p.kind == "bool":
            cases.append(Case(f"{n}:text", _set(n, "maybe"), "error", n))
            cases.append(Case(f"{n}:none_given", _set(n, None), "ok", n))
        elif p.kind == "string":
            cases.append(Case(f"{n}:number", _set(n, 5), "error", n))
    return cases


def _special_cases(node_id: str) -> list[Case]:
    cases = []
    for p in _params(node_id):
        n = p.name
        if p.kind == "psf":
            cases.append(Case(f"{n}:tensor", _set(n, lambda: torch.ones(3, 3) / 9), "error", n))
        elif p.kind == "model":
            cases.append(Case(f"{n}:text", _set(n, "model.pth"), "error", n))
        elif p.kind == "grain":
            cases.append(Case(f"{n}:connected", _set(n, _grain), "ok", n))
            cases.append(Case(f"{n}:wrong_type", _set(n, {"sigma": 1}), "error", n))
        elif p.kind == "mask":
            cases.append(Case(f"{n}:ones", _set(n, lambda: torch.ones(2, 16, 12)), "either", n))
            cases.append(Case(f"{n}:nan", _set(n, lambda: torch.full((2, 16, 12), math.nan)), "error", n))
            cases.append(Case(f"{n}:4d", _set(n, lambda: torch.ones(2, 16, 12, 3)), "error", n))
            cases.append(Case(f"{n}:other_size", _set(n, lambda: torch.ones(2, 7, 5)), "either", None))
            cases.append(Case(f"{n}:outside", _set(n, lambda: torch.full((2, 16, 12), 1.01)), "either", n))
        elif p.kind == "image" and p.optional and n != "reference":
            cases.append(Case(f"{n}:connected", _set(n, lambda: _image(2, 16, 12, 3, seed=2)), "either", None))
    return cases


def _batch_of(node_id: str) -> int | None:
    return 2 if _main_image(node_id) is not None else None


def _cases(node_id: str) -> list[Case]:
    main = _main_image(node_id)
    cases = []
    for p in _params(node_id):
        if p.kind == "image" and (p.name == main or p.name in ("reference", "custom", "image_2")):
            for case in _image_cases(p.name, p.name == main):
                slow = p.name != main and p.name != "custom"
                cases.append(Case(case.name, case.apply, case.expect, case.subject, case.batch, slow))
    cases += _widget_cases(node_id) + _special_cases(node_id)
    return cases


def _prepare(node_id: str, case: Case) -> dict[str, Any]:
    values = _valid_inputs(node_id)
    if node_id == "RK_MakePsf" and case.name.startswith("custom:"):
        values["shape"] = "custom"
    if case.batch == 1:  # a single main image: the other inputs follow, as a user would connect them
        values = {k: v[:1] if isinstance(v, torch.Tensor) and v.dim() >= 3 else v for k, v in values.items()}
    case.apply(values)
    return values


TABLE = [(node_id, case) for node_id in NODE_IDS for case in _cases(node_id)]
OUTCOMES: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _print_counts(request):
    yield
    total = sum(OUTCOMES.values())
    line = (f"bad-input table: {total} calls ({len(TABLE)} in the table), "
            + ", ".join(f"{k}: {v}" for k, v in sorted(OUTCOMES.items())))
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is not None:
        with capture.global_and_fixture_disabled():
            print("\n" + line)
    else:
        print(line)


def test_the_table_is_large_enough() -> None:
    fast = [c for _n, c in TABLE if not c.slow]
    assert len(fast) >= 1000, f"only {len(fast)} unmarked calls"


def _check_outputs(node_id: str, case: Case, outputs: tuple) -> None:
    cls = CLASSES[node_id]
    assert isinstance(outputs, tuple) and len(outputs) == len(cls.RETURN_TYPES)
    for spec, value in zip(cls.OPERATION.outputs, outputs, strict=True):
        if spec.kind in ("image", "mask"):
            assert isinstance(value, torch.Tensor) and value.dtype == torch.float32, f"{spec.name}: {value!r:.80}"
            assert value.dim() == (4 if spec.kind == "image" else 3), f"{spec.name}: shape {tuple(value.shape)}"
            assert value.numel() > 0, f"{spec.name}: empty output {tuple(value.shape)}"
            assert bool(torch.isfinite(value).all()), f"{spec.name}: NaN/Inf in the output"
            assert value.min() >= 0 and value.max() <= 1, f"{spec.name}: values outside [0, 1]"
            if case.batch is not None and spec.kind == "image":
                assert value.shape[0] == case.batch, f"{spec.name}: batch {value.shape[0]}, expected {case.batch}"
        elif spec.kind in ("float", "int"):
            assert isinstance(value, (int, float)) and math.isfinite(value), f"{spec.name}: {value!r}"
        elif spec.kind == "string":
            assert isinstance(value, str), f"{spec.name}: {type(value).__name__}"
            if spec.name == "report" and case.name.endswith(":slightly_outside"):
                assert "clamped to [0, 1]" in value, "the report must say that the input was clamped"
            assert not re.search(r"\bnan\b", value, re.IGNORECASE), f"{spec.name} reports NaN: {value}"


def _run(node_id: str, case: Case) -> str:
    values = _prepare(node_id, case)
    try:
        with torch.inference_mode():
            outputs = _call(node_id, values)
    except RestoreError as error:
        names = {p.name for p in _params(node_id)} | {CLASSES[node_id].OPERATION.display_name}
        if case.expect == "ok":
            raise AssertionError(f"{case.name}: expected a result, got {error}") from error
        expected = {case.subject} if case.subject is not None and case.expect == "error" else names
        assert error.subject in expected, f"the error names {error.subject!r}, expected one of {sorted(expected)}: {error}"
        assert error.fix, f"the error says no fix: {error}"
        return "restorekit error"
    if case.expect == "error":
        raise AssertionError(f"{case.name}: expected a restorekit error naming {case.subject!r}, got a result")
    _check_outputs(node_id, case, outputs)
    return "ok"


#: Problems of single operations that the boundary cannot fix (reported to the integrator); strict, so a
#: fix shows up as an unexpected pass and the entry is removed.
KNOWN_PROBLEMS: dict[str, str] = {}


def _param(node_id: str, case: Case) -> Any:
    marks = [pytest.mark.slow] if case.slow else []
    known = KNOWN_PROBLEMS.get(f"{node_id}-{case.name}")
    if known:
        marks.append(pytest.mark.xfail(reason=known, strict=True))
    return pytest.param(node_id, case, id=f"{node_id}-{case.name}", marks=marks)


@pytest.mark.parametrize(("node_id", "case"), [_param(n, c) for n, c in TABLE])
def test_bad_input(node_id: str, case: Case) -> None:
    outcome = "known problem" if f"{node_id}-{case.name}" in KNOWN_PROBLEMS else "failed"
    try:
        outcome = _run(node_id, case)
    finally:
        OUTCOMES[outcome] += 1
