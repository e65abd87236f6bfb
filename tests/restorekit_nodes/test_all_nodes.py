"""Every registered node, run as ComfyUI runs it: default parameters, inside torch.inference_mode()."""

from __future__ import annotations

import inspect
import sys
import tempfile
from functools import cache
from pathlib import Path

import pytest
import torch
from pack import load_pack, v1_classes

CLASSES = v1_classes()
NODE_IDS = sorted(CLASSES)


@cache
def _model_file() -> str:
    """A small real network (DnCNN layout, random weights) saved as a weights file."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
    import model_factory

    folder = Path(tempfile.mkdtemp(prefix="rk_nodes_"))
    return str(model_factory.make_file("DnCNN", folder, "safetensors"))


def _defaults(cls: type) -> dict:
    spec = cls.INPUT_TYPES()
    values = {}
    for section in ("required", "optional"):
        for name, (kind, options) in spec.get(section, {}).items():
            if cls.OPERATION.param(name).kind == "model_file":
                values[name] = _model_file()  # outside ComfyUI a model file is a path
            elif isinstance(kind, list):
                values[name] = options.get("default", kind[0])
            elif kind in ("FLOAT", "INT", "BOOLEAN", "STRING"):
                values[name] = options["default"]
    return values


def _make_psf() -> object:
    make = CLASSES["RK_MakePsf"]()
    return getattr(make, make.FUNCTION)(**_defaults(CLASSES["RK_MakePsf"]))[0]


def _load_model() -> object:
    """A model as the Load Restoration Model node hands it on (the pack's own class)."""
    load = next(c for c in CLASSES.values() if any(o.kind == "model" for o in c.OPERATION.outputs))
    return getattr(load(), load.FUNCTION)(**_defaults(load))[0]


#: Nodes that train a network run here with a small budget (their defaults are sized for a GPU);
#: everything else about them — inference mode, batch, alpha, gray — is checked as for any node.
SMALL_BUDGET = {
    "RK_Noise2Void": {"steps": 6, "patches_per_step": 4, "width": 8},
    "RK_DeepImagePrior": {"iterations": 6},
}


def _inputs(cls: type, image: torch.Tensor) -> dict:
    values = _defaults(cls)
    values.update(SMALL_BUDGET.get(cls.OPERATION.node_id, {}))
    for name, (kind, _options) in cls.INPUT_TYPES()["required"].items():
        if kind == "IMAGE":
            values[name] = image
        elif kind == "MASK":
            values[name] = torch.ones(image.shape[:3])
        elif kind == "RK_PSF":
            values[name] = _make_psf()
        elif kind == "RK_RESTORATION_MODEL":
            values[name] = _load_model()
    return values


def _images() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    base = torch.rand(3, 48, 40, 3, generator=gen)
    smooth = torch.nn.functional.avg_pool2d(base.permute(0, 3, 1, 2), 5, 1, 2).permute(0, 2, 3, 1)
    rgba = torch.cat([smooth[:1], torch.rand(1, 48, 40, 1, generator=gen)], dim=-1)
    return {"rgb_batch3": smooth.contiguous(), "rgba": rgba.contiguous(), "gray": smooth[:1, :, :, :1].contiguous()}


IMAGES = _images()


@pytest.mark.parametrize("kind", sorted(IMAGES))
@pytest.mark.parametrize("node_id", NODE_IDS)
def test_node_runs_with_defaults_in_inference_mode(node_id: str, kind: str) -> None:
    cls = CLASSES[node_id]
    image = IMAGES[kind]
    values = _inputs(cls, image)
    with torch.inference_mode():
        outputs = getattr(cls(), cls.FUNCTION)(**values)
    assert isinstance(outputs, tuple) and len(outputs) == len(cls.RETURN_TYPES)
    takes_image = "image" in cls.INPUT_TYPES()["required"] or "image_1" in cls.INPUT_TYPES()["required"]
    for kind_out, value in zip(cls.RETURN_TYPES, outputs, strict=True):
        if kind_out == "IMAGE":
            assert value.dtype == torch.float32 and value.dim() == 4
            assert torch.isfinite(value).all()
            assert value.min() >= 0 and value.max() <= 1
            if value.shape[-1] == 1:
                assert image.shape[-1] == 1, "gray outputs only for gray inputs (ComfyUI's Save/Preview need RGB)"
            if takes_image:
                assert value.shape[0] == image.shape[0], "batch length must be kept"
            if takes_image and value.shape[1:3] == image.shape[1:3]:
                assert value.shape[-1] == image.shape[-1], "channel count (and alpha) must be kept"
                if image.shape[-1] == 4:
                    assert torch.equal(value[..., 3], image[..., 3]), "alpha must pass through unchanged"
        elif kind_out == "FLOAT":
            assert isinstance(value, float) and value == value and abs(value) != float("inf")
        elif kind_out == "STRING":
            assert isinstance(value, str)


@pytest.mark.parametrize("node_id", NODE_IDS)
def test_node_schema(node_id: str) -> None:
    cls = CLASSES[node_id]
    assert node_id.startswith("RK_")
    assert cls.CATEGORY.startswith("restorekit/")
    assert cls.DESCRIPTION and len(cls.DESCRIPTION) > 20
    spec = cls.INPUT_TYPES()
    declared = {}
    for section in ("required", "optional"):
        for name, (kind, options) in spec.get(section, {}).items():
            assert options.get("tooltip"), f"{node_id}.{name} has no tooltip"
            declared[name] = kind
    op = cls.OPERATION
    # Where a core function is bound directly, ``bind`` renames inputs (image -> x) and keywords
    # with a default that no input sets keep the core's default.
    params = {n: q for n, q in inspect.signature(op.func).parameters.items() if n != "progress"}
    wired = sorted(op.bind.get(name, name) for name in declared)
    required = sorted(n for n, q in params.items() if q.default is q.empty)
    assert set(wired) <= set(params) and set(required) <= set(wired), (
        "the function's parameters must match the declared inputs"
    )
    assert len(cls.RETURN_NAMES) == len(cls.RETURN_TYPES) == len(cls.OUTPUT_TOOLTIPS)
    assert all(cls.OUTPUT_TOOLTIPS)
    assert hasattr(cls, cls.FUNCTION)


def test_node_ids_unique_and_display_names() -> None:
    pack = load_pack()
    classes, names = pack.restorekit_nodes.node_mappings()
    assert len(classes) == len(set(classes)) >= 10
    assert set(names) == set(classes)
    assert len(set(names.values())) == len(names), "display names must be unique"
