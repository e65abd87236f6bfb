"""Tests for the Estimate Noise operation (the estimator itself is tested in test_noise.py)."""

from __future__ import annotations

import math

import pytest
import support
import torch
from thresholds import ALL_THRESHOLDS

import restorekit.operations.quality  # noqa: F401  (registers the operations)
from restorekit.params import get_operation
from restorekit.quality.noise import estimate_sigma

THRESHOLDS = ALL_THRESHOLDS["estimate_noise_op"]


def _run(image):
    op = get_operation("estimate_noise")
    with torch.inference_mode():
        return dict(zip([o.name for o in op.outputs], op.call({"image": image}), strict=True))


def test_declaration():
    op = get_operation("RK_EstimateNoise")
    assert op.display_name == "Estimate Noise" and op.gpu
    assert [o.name for o in op.outputs] == ["sigma", "sigma_red", "sigma_green", "sigma_blue", "report"]


@pytest.mark.parametrize("shape", [(3, 3, 64, 64), (1, 1, 64, 64), (1, 3, 1, 1), (2, 1, 3, 5), (1, 3, 7, 9)])
def test_defaults(shape):
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(0))
    out = _run(x)
    for name in ("sigma", "sigma_red", "sigma_green", "sigma_blue"):
        assert isinstance(out[name], float) and math.isfinite(out[name]) and out[name] >= 0
    assert "Estimator" in out["report"]
    assert len(out["report"].splitlines()) >= shape[0] + 3


def test_values_are_means_in_255_units():
    gen = torch.Generator().manual_seed(1)
    scale = torch.tensor([0.02, 0.04, 0.08]).view(1, 3, 1, 1)
    x = 0.5 + scale * torch.randn(2, 3, 96, 96, generator=gen)
    out = _run(x)
    per = estimate_sigma(x) * 255
    assert out["sigma"] == pytest.approx(per.mean().item(), rel=1e-5)
    assert out["sigma_red"] == pytest.approx(per[:, 0].mean().item(), rel=1e-5)
    assert out["sigma_blue"] == pytest.approx(per[:, 2].mean().item(), rel=1e-5)
    assert out["sigma_red"] < out["sigma_green"] < out["sigma_blue"]
    assert out["sigma_green"] == pytest.approx(0.04 * 255, rel=0.06)
    assert f"{per[1, 2].item():.2f}" in out["report"]


def test_gray_gives_equal_channels():
    x = (0.5 + 0.05 * torch.randn(1, 1, 64, 64, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    out = _run(x)
    assert out["sigma"] == out["sigma_red"] == out["sigma_green"] == out["sigma_blue"]
    assert "gray" in out["report"]


def test_flat_image_is_zero():
    out = _run(torch.full((1, 3, 32, 32), 0.3))
    assert out["sigma"] == pytest.approx(0.0, abs=1e-3)  # float rounding of the wavelet filter only


@pytest.mark.quality
def test_close_to_true_sigma_on_set12():
    images = support.load_set("Set12", ["01", "02", "03", "04", "05", "06", "07"])
    batch = torch.cat([support.add_noise(x, 25, seed=i).clamp(0, 1) for i, x in enumerate(images)])
    out = _run(batch)
    per_image = estimate_sigma(batch)[:, 0] * 255
    assert (per_image - 25).abs().max().item() <= THRESHOLDS["estimate_noise_sigma25_abs_err_per_image"]
    assert abs(out["sigma"] - 25) <= THRESHOLDS["estimate_noise_sigma25_abs_err_mean"]
