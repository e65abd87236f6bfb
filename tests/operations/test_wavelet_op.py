"""Tests of the wavelet_denoise operation declaration (node RK_WaveletDenoise)."""

from __future__ import annotations

import pytest
import pywt
import torch

import restorekit.operations.denoise.wavelet  # noqa: F401  (registers the operation)
from restorekit.errors import InvalidParameterError
from restorekit.params import OPERATIONS


@pytest.fixture(scope="module")
def op():
    return OPERATIONS["wavelet_denoise"]


def _defaults(op, **overrides):
    values = {p.name: p.to_core(overrides.get(p.name, p.default)) for p in op.inputs if not p.is_data}
    return values


def test_declaration(op):
    assert op.node_id == "RK_WaveletDenoise"
    assert op.full_category == "restorekit/denoise"
    assert op.gpu is True
    op.check_signature()
    assert [o.name for o in op.outputs] == ["image", "report"]
    assert all(p.help for p in op.inputs)
    assert set(op.param("wavelet").choices) == set(pywt.wavelist(kind="discrete"))
    for name in ("wavelet", "levels", "shifts", "mode", "sure_hybrid"):
        assert op.param(name).advanced
    for name in ("sigma", "method", "transform", "color"):
        assert not op.param(name).advanced


def test_units_conversion(op):
    assert op.param("sigma").to_core(0) is None
    assert op.param("sigma").to_core(25.5) == pytest.approx(0.1)
    assert op.param("threshold").to_core(51) == pytest.approx(0.2)
    with pytest.raises(InvalidParameterError):
        op.param("levels").to_core(11)
    with pytest.raises(InvalidParameterError):
        op.param("wavelet").to_core("morl")


@pytest.mark.parametrize("shape", [(3, 3, 64, 64), (1, 1, 64, 64), (1, 3, 3, 5), (2, 1, 1, 1), (1, 1, 7, 9)])
def test_defaults_run(op, shape):
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        image, report = op.call({"image": x, **_defaults(op)})
    assert image.shape == x.shape
    assert torch.isfinite(image).all() and image.min() >= 0 and image.max() <= 1
    assert isinstance(report, str) and report.startswith("Wavelet denoise:")
    assert report.count("image ") >= shape[0]


def test_report_contents(op):
    x = torch.rand(2, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    _, report = op.call(
        {
            "image": x,
            **_defaults(op, sigma=25.0, method="visu", mode="hard", wavelet="db4", transform="decimated", levels=3),
        }
    )
    assert "VisuShrink" in report and "hard" in report and "db4" in report
    assert "3 levels (as requested)" in report and "decimated" in report
    assert "sigma (given) gray 25.00" in report
    universal = 25.0 * (2 * torch.log(torch.tensor(64.0 * 64.0))).sqrt().item()
    assert f"L1 {universal:.2f}/{universal:.2f}/{universal:.2f}" in report

    _, report = op.call({"image": torch.rand(1, 3, 40, 40), **_defaults(op, transform="cycle_spin", shifts=2)})
    assert "SureShrink" in report and "2x2 shifts" in report and "Y " in report and "Cb " in report
    assert "sigma (estimated)" in report

    _, report = op.call({"image": torch.rand(1, 1, 1, 30), **_defaults(op)})
    assert "too small" in report

    _, report = op.call({"image": torch.rand(1, 1, 20, 20), **_defaults(op, levels=9, transform="decimated")})
    assert "clamped from 9" in report


def test_manual_threshold(op):
    x = torch.tensor([[[[0.2, 0.4], [0.6, 0.8]]]])
    image, report = op.call(
        {
            "image": x,
            **_defaults(
                op, method="manual", threshold=255.0, mode="hard", wavelet="db1", levels=1, transform="decimated"
            ),
        }
    )
    assert torch.allclose(image, torch.full_like(x, 0.5), atol=1e-6)
    assert "manual threshold" in report and "L1 255.00/255.00/255.00" in report
