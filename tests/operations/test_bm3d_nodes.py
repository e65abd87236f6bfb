"""Tests of the BM3D Denoise / BM3D Deblur operation declarations (nodes RK_BM3DDenoise, RK_BM3DDeblur)."""

from __future__ import annotations

import sys

import pytest
import torch

import restorekit.operations.denoise.bm3d  # noqa: F401  (registers the operations)
from restorekit.deblur.psf import gaussian_psf
from restorekit.denoise.bm3d import COLOR_SPACES, PROFILES, STAGES
from restorekit.errors import InvalidParameterError, MissingDependencyError
from restorekit.params import OPERATIONS


def _defaults(op, **overrides):
    return {p.name: p.to_core(overrides.get(p.name, p.default)) for p in op.inputs if not p.is_data}


def _data(op, x):
    data = {"image": x}
    if any(p.name == "psf" for p in op.inputs):
        data["psf"] = gaussian_psf(1.0)
    return data


@pytest.mark.parametrize("name,category", [("bm3d_denoise", "denoise"), ("bm3d_deblur", "deblur")])
def test_declaration(name, category):
    op = OPERATIONS[name]
    op.check_signature()
    assert op.full_category == f"restorekit/{category}"
    assert op.gpu is True
    assert [o.name for o in op.outputs] == ["image", "report"]
    assert all(p.help for p in op.inputs)
    assert op.param("sigma").to_core(0) is None
    assert op.param("sigma").to_core(25.5) == pytest.approx(0.1)
    assert set(op.param("profile").choices) == set(PROFILES)  # same choices as our core
    assert set(op.param("color_space").choices) == set(COLOR_SPACES)
    assert op.param("backend").choices == ("restorekit", "reference")
    if name == "bm3d_denoise":
        assert set(op.param("stage").choices) == set(STAGES)
    else:
        assert op.param("psf").kind == "psf"
    with pytest.raises(InvalidParameterError):
        op.param("profile").to_core("fast")


@pytest.mark.parametrize("name", ["bm3d_denoise", "bm3d_deblur"])
@pytest.mark.parametrize("shape", [(3, 3, 24, 24), (1, 1, 24, 24), (1, 3, 3, 5), (2, 1, 1, 1)])
def test_defaults_run_on_batches(name, shape):
    op = OPERATIONS[name]
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        image, report = op.call({**_data(op, x), **_defaults(op)})
    assert image.shape == x.shape
    assert torch.isfinite(image).all() and image.min() >= 0 and image.max() <= 1
    assert isinstance(report, str) and "backend restorekit" in report and "profile np" in report
    assert "Noise sigma (estimated" in report and report.count("image ") >= shape[0]
    assert " s." in report


def test_report_contents_and_stage():
    op = OPERATIONS["bm3d_denoise"]
    x = torch.rand(2, 3, 24, 24, generator=torch.Generator().manual_seed(1))
    image, report = op.call({"image": x, **_defaults(op, sigma=10.0, stage="hard", color_space="ycbcr")})
    assert "stage hard" in report and "colour space ycbcr" in report
    assert "given" in report and "10.00/10.00/10.00" in report
    op = OPERATIONS["bm3d_deblur"]
    _, report = op.call({**_data(op, x[:1]), **_defaults(op, sigma=2.55, profile="lc")})
    assert "PSF gaussian" in report and "profile lc" in report and "edges extrapolate" in report
    assert "2.55/2.55/2.55" in report


@pytest.mark.parametrize("name", ["bm3d_denoise", "bm3d_deblur"])
def test_reference_backend_missing(name, monkeypatch):
    op = OPERATIONS[name]
    monkeypatch.setitem(sys.modules, "bm3d", None)
    with pytest.raises(MissingDependencyError, match="pip install bm3d"):
        op.call({**_data(op, torch.rand(1, 1, 16, 16)), **_defaults(op, backend="reference")})
