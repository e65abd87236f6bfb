"""Tests for restorekit.sharpen.guided (He et al. 2010 guided filter)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from restorekit.errors import InvalidParameterError
from restorekit.sharpen.guided import box_mean, guided_filter


def _brute_force(p: np.ndarray, g: np.ndarray, r: int, eps: float) -> np.ndarray:
    """The definition, pixel by pixel: windows clipped at the border, means over the pixels inside."""
    h, w = p.shape

    def window_mean(t, i, j):
        return t[max(i - r, 0) : i + r + 1, max(j - r, 0) : j + r + 1].mean()

    a = np.zeros_like(p)
    b = np.zeros_like(p)
    for i in range(h):
        for j in range(w):
            mg, mp = window_mean(g, i, j), window_mean(p, i, j)
            var = window_mean(g * g, i, j) - mg * mg
            cov = window_mean(g * p, i, j) - mg * mp
            a[i, j] = cov / (var + eps)
            b[i, j] = mp - a[i, j] * mg
    out = np.zeros_like(p)
    for i in range(h):
        for j in range(w):
            out[i, j] = window_mean(a, i, j) * g[i, j] + window_mean(b, i, j)
    return out


@pytest.mark.parametrize("r,eps", [(1, 1e-3), (2, 1e-2), (4, 0.1)])
@pytest.mark.parametrize("self_guided", [True, False])
def test_matches_brute_force(r, eps, self_guided):
    gen = torch.Generator().manual_seed(1)
    p = torch.rand(1, 1, 9, 11, generator=gen, dtype=torch.float64)
    g = p if self_guided else torch.rand(1, 1, 9, 11, generator=gen, dtype=torch.float64)
    ours = guided_filter(p, None if self_guided else g, radius=r, eps=eps)[0, 0].numpy()
    ref = _brute_force(p[0, 0].numpy(), g[0, 0].numpy(), r, eps)
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_box_mean_clipped_windows():
    x = torch.arange(12.0, dtype=torch.float64).view(1, 1, 3, 4)
    m = box_mean(x, 1)
    assert m[0, 0, 0, 0].item() == pytest.approx(float(x[0, 0, :2, :2].mean()))
    assert m[0, 0, 1, 1].item() == pytest.approx(float(x[0, 0, :3, :3].mean()))
    assert torch.equal(box_mean(x, 0), x)


@pytest.mark.parametrize("lo,hi", [(0.2, 0.8), (0.4, 0.6)])
def test_edge_preserving(lo, hi):
    x = torch.full((1, 1, 32, 32), lo)
    x[..., 16:] = hi
    y = guided_filter(x, radius=4, eps=1e-4)
    assert (y - x).abs().max() < 0.01 * (hi - lo)  # a step stays a step
    blur = torch.nn.functional.avg_pool2d(x, 9, 1, 4, count_include_pad=False)
    assert (blur - x).abs().max() > 0.3 * (hi - lo)  # a box filter of the same size would not keep it


def test_smooths_weak_texture_and_keeps_flat():
    gen = torch.Generator().manual_seed(0)
    x = 0.5 + 0.01 * torch.randn(1, 1, 64, 64, generator=gen)
    y = guided_filter(x, radius=3, eps=1e-2)
    assert y[..., 4:-4, 4:-4].std() < 0.3 * x[..., 4:-4, 4:-4].std()
    flat = torch.full((2, 3, 5, 7), 0.3)
    assert torch.allclose(guided_filter(flat, radius=2, eps=1e-3), flat, atol=1e-6)


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 3, 5), (1, 3, 40, 33)])
def test_shapes_and_guide(shape):
    x = torch.rand(*shape)
    assert guided_filter(x, radius=3).shape == x.shape
    gray = x.mean(1, keepdim=True)
    y = guided_filter(x, gray, radius=2, eps=1e-3)
    assert y.shape == x.shape and torch.isfinite(y).all()


def test_batch_consistency():
    x = torch.rand(3, 3, 20, 24, generator=torch.Generator().manual_seed(2))
    y = guided_filter(x, radius=2)
    for i in range(3):
        assert torch.allclose(y[i : i + 1], guided_filter(x[i : i + 1], radius=2), atol=1e-6)


@pytest.mark.parametrize("kwargs", [{"radius": -1}, {"radius": 1.5}, {"radius": 1000}, {"eps": 0.0},
                                    {"eps": float("nan")}])
def test_bad_parameters(kwargs):
    with pytest.raises(InvalidParameterError):
        guided_filter(torch.rand(1, 1, 8, 8), **kwargs)


def test_bad_guide():
    with pytest.raises(InvalidParameterError):
        guided_filter(torch.rand(1, 3, 8, 8), torch.rand(1, 2, 8, 8))
