"""Tests of the Load Restoration Model and Restore With Model operations (nodes RK_LoadRestorationModel,
RK_RestoreWithModel), with random-weight real architectures from tests/models/model_factory.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import restorekit.operations.models  # noqa: F401  (registers the operations)
from restorekit.errors import InvalidParameterError, RestoreError
from restorekit.params import OPERATIONS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
model_factory = pytest.importorskip("model_factory")


@pytest.fixture(scope="module")
def load_op():
    return OPERATIONS["load_restoration_model"]


@pytest.fixture(scope="module")
def op():
    return OPERATIONS["restore_with_model"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    return {
        "FFDNet": model_factory.make_file("FFDNet", folder, "safetensors"),
        "DnCNN": model_factory.make_file("DnCNN", folder, "pth"),
        "Compact-x2": model_factory.make_file("Compact-x2", folder, "pth"),
    }


def _defaults(op, **overrides):
    return {p.name: p.to_core(overrides.get(p.name, p.default)) for p in op.inputs if not p.is_data}


def _load(load_op, path):
    model, info = load_op.call({"model_name": str(path)})
    return model, info


def test_declarations(load_op, op):
    assert load_op.node_id == "RK_LoadRestorationModel" and op.node_id == "RK_RestoreWithModel"
    assert load_op.full_category == op.full_category == "restorekit/models"
    load_op.check_signature()
    op.check_signature()
    assert load_op.param("model_name").kind == "model_file"
    assert [(o.name, o.kind) for o in load_op.outputs] == [("model", "model"), ("info", "string")]
    assert [(o.name, o.kind) for o in op.outputs] == [("image", "image"), ("report", "string")]
    assert op.param("model").kind == "model" and op.param("noise_map").kind == "mask" and op.param("noise_map").optional
    assert op.gpu and not load_op.gpu
    assert all(p.help for p in op.inputs + load_op.inputs)
    for name in ("overlap", "precision", "gray_mode"):
        assert op.param(name).advanced
    assert op.param("noise_level").to_core(0) is None
    assert op.param("noise_level").to_core(25.5) == pytest.approx(0.1)
    with pytest.raises(InvalidParameterError):
        op.param("strength").to_core(1.5)


def test_load(load_op, files):
    model, info = _load(load_op, files["FFDNet"])
    assert model.architecture == "FFDNet" and model.noise_conditional
    assert "FFDNet" in info and "noise" in info


def test_load_errors(load_op, tmp_path):
    with pytest.raises(RestoreError):
        _load(load_op, tmp_path / "missing.pth")
    bad = tmp_path / "corrupt.safetensors"
    bad.write_bytes(b"not a weights file at all")
    with pytest.raises(RestoreError):
        _load(load_op, bad)
    with pytest.raises(InvalidParameterError):
        load_op.param("model_name").to_core("")


@pytest.mark.parametrize("shape", [(3, 3, 64, 64), (1, 1, 64, 64), (1, 3, 3, 5), (2, 1, 1, 1), (1, 1, 7, 9)])
@pytest.mark.parametrize("name", ["FFDNet", "DnCNN"])
def test_defaults_run(load_op, op, files, shape, name):
    model, _ = _load(load_op, files[name])
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        image, report = op.call({"model": model, "image": x, "noise_map": None, **_defaults(op)})
    assert image.shape == x.shape
    assert torch.isfinite(image).all() and image.min() >= 0 and image.max() <= 1
    assert report.startswith("Restore with model:") and name[:5] in report


def test_noise_level_and_map(load_op, op, files):
    model, _ = _load(load_op, files["FFDNet"])
    x = torch.rand(2, 3, 32, 40, generator=torch.Generator().manual_seed(1))
    base = {"model": model, "image": x, **_defaults(op)}

    def run(**kw):
        values = {**base, "noise_map": None, **kw}
        return op.call(values)

    given, report = run(noise_level=25 / 255)
    assert "25.0 /255" in report and "given" in report
    est, report = run(noise_level=None, estimate_noise=True)
    assert "estimated" in report
    default, report = run(noise_level=None, estimate_noise=False)
    assert "model default" in report
    # a mask with noise level 0: absolute level on a 0-1 scale
    as_map, _ = run(noise_level=None, noise_map=torch.full((1, 1, 32, 40), 25 / 255))
    assert torch.allclose(as_map, given, atol=1e-5)
    # a mask with a noise level set: a weight of that level
    weighted, _ = run(noise_level=50 / 255, noise_map=torch.full((2, 1, 32, 40), 0.5))
    assert torch.allclose(weighted, given, atol=1e-5)


def test_sr_model_output_larger(load_op, op, files):
    model, _ = _load(load_op, files["Compact-x2"])
    x = torch.rand(3, 3, 20, 24)
    image, report = op.call({"model": model, "image": x, "noise_map": None, **_defaults(op, strength=0.5)})
    assert image.shape == (3, 3, 40, 48) and "x2" in report


def test_tiling_options_reported(load_op, op, files):
    model, _ = _load(load_op, files["DnCNN"])
    x = torch.rand(1, 1, 100, 90)
    image, report = op.call({"model": model, "image": x, "noise_map": None, **_defaults(op, tile=48, overlap=16)})
    assert "tiles 48px overlap 16px" in report
    seen = []
    op.call({"model": model, "image": x, "noise_map": None, **_defaults(op, tile=48, overlap=16)},
            progress=lambda d, n: seen.append((d, n)))
    assert seen and seen[-1][0] == seen[-1][1] == 9


def test_missing_model(op):
    with pytest.raises(InvalidParameterError):
        op.call({"model": None, "image": torch.rand(1, 3, 8, 8), "noise_map": None, **_defaults(op)})


def test_model_goes_back_to_its_device(load_op, op, files, device):
    model, _ = _load(load_op, files["DnCNN"])
    x = torch.rand(1, 1, 16, 16, device=device)
    op.call({"model": model, "image": x, "noise_map": None, **_defaults(op)})
    assert model.device.type == "cpu"
