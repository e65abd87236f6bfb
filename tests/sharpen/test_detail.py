"""Tests for restorekit.sharpen.detail and the Detail Sharpen operation."""

from __future__ import annotations

import pytest
import torch

from restorekit.errors import InvalidParameterError
from restorekit.operations import sharpen as _sharpen_ops  # noqa: F401  (registers the operation)
from restorekit.params import get_operation
from restorekit.sharpen.detail import METHODS, detail_sharpen
from restorekit.sharpen.unsharp import gaussian_blur, unsharp_mask


def step(lo, hi, blur=0.0, c=1, n=64):
    x = torch.full((1, c, n, n), lo)
    x[..., n // 2 :] = hi
    return gaussian_blur(x, blur) if blur else x


def rise(y, lo, hi):
    p = y[0].mean(0)[y.shape[2] // 2].double().tolist()

    def cross(t):
        for i in range(len(p) - 1):
            if (p[i] - t) * (p[i + 1] - t) <= 0 and p[i + 1] != p[i]:
                return i + (t - p[i]) / (p[i + 1] - p[i])
        raise AssertionError("no crossing")

    return cross(lo + 0.9 * (hi - lo)) - cross(lo + 0.1 * (hi - lo))


def _rand(b=1, c=3, h=32, w=40, seed=0):
    x = torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed))
    return 0.1 + 0.8 * torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("lo,hi", [(0.2, 0.8), (0.4, 0.6)])
def test_sharpens_blurred_step(method, c, lo, hi):
    # Measured rise 3.99 px -> guided 3.62 / 2.75, high_pass 3.17, pyramid 2.18, cas 3.66 / 3.45, deconvolution 2.8.
    x = step(lo, hi, 1.5, c)
    assert rise(detail_sharpen(x, method=method), lo, hi) < 0.95 * rise(x, lo, hi)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (1, 3, 3, 5), (3, 3, 20, 17), (2, 1, 7, 9)])
def test_shapes_range_amount_zero(method, shape):
    x = _rand(*[shape[0], shape[1], shape[2], shape[3]])
    y = detail_sharpen(x, method=method, amount=2.0)
    assert y.shape == x.shape and y.dtype == x.dtype and torch.isfinite(y).all() and 0 <= y.min() and y.max() <= 1
    assert (detail_sharpen(x, method=method, amount=0.0) - x).abs().max() <= 1e-6


@pytest.mark.parametrize("method", METHODS)
def test_batch_consistency(method):
    x = _rand(3, 3, 24, 28)
    y = detail_sharpen(x, method=method)
    for i in range(3):
        assert torch.allclose(y[i : i + 1], detail_sharpen(x[i : i + 1], method=method), atol=1e-5)


def test_high_pass_is_signed_unsharp_mask():
    x = _rand(2, 3, 30, 30)
    assert torch.allclose(detail_sharpen(x, method="high_pass", amount=1.5, radius=2.0),
                          unsharp_mask(x, radius=2.0, amount=1.5), atol=1e-6)
    # negative detail is kept: the dark side of an edge gets darker
    y = detail_sharpen(step(0.4, 0.6, 1.5), method="high_pass", amount=2.0)
    assert y.min() < 0.4 - 1e-3


def test_guided_boosts_faint_edges_more_than_strong_ones():
    strong = detail_sharpen(step(0.2, 0.8, 1.5), method="guided", amount=2.0) - step(0.2, 0.8, 1.5)
    faint = detail_sharpen(step(0.45, 0.55, 1.5), method="guided", amount=2.0) - step(0.45, 0.55, 1.5)
    assert faint.abs().max() / 0.1 > 2 * strong.abs().max() / 0.6


def test_pyramid_levels_and_deconvolution_solvers():
    x = step(0.3, 0.7, 2.0)
    one = detail_sharpen(x, method="laplacian_pyramid", levels=1)
    three = detail_sharpen(x, method="laplacian_pyramid", levels=3)
    assert (three - x).abs().sum() > (one - x).abs().sum() > 0
    rl = detail_sharpen(x, method="deconvolution", solver="richardson_lucy", iterations=10, radius=2.0)
    assert rise(rl, 0.3, 0.7) < 0.9 * rise(x, 0.3, 0.7)


def test_luminance_only_keeps_colour():
    x = step(0.2, 0.8, 1.5, 3) * torch.tensor([1.0, 0.8, 0.6]).view(1, 3, 1, 1)
    for method in METHODS:
        d = detail_sharpen(x, method=method, amount=0.5) - x
        if method != "cas":  # cas with linear space adds the change in linear light
            assert torch.allclose(d[:, 0], d[:, 2], atol=1e-6), method


@pytest.mark.parametrize("kwargs", [{"method": "magic"}, {"amount": -1.0}, {"amount": 6.0}, {"radius": 0.0},
                                    {"levels": 0}, {"edge_contrast": 0.0}, {"sharpness": 2.0}, {"space": "lab"},
                                    {"solver": "x"}, {"iterations": 0}, {"luminance_only": "no"}])
def test_bad_parameters(kwargs):
    with pytest.raises(InvalidParameterError):
        detail_sharpen(_rand(), **kwargs)


def test_operation():
    op = get_operation("RK_DetailSharpen")
    assert op.display_name == "Detail Sharpen" and op.category == "sharpen"
    assert op.param("edge_contrast").to_core(25.5) == pytest.approx(0.1)
    values = {p.name: p.to_core(p.default) for p in op.inputs if not p.is_data}
    x = _rand(2, 3, 20, 20)
    (out,) = op.call({"image": x, **values})
    assert torch.allclose(out, detail_sharpen(x))
