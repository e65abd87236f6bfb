"""Tests for restorekit.quality.lightness_order (LOE, Wang et al. 2013)."""

from __future__ import annotations

import pytest
import support
import torch

from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.quality.lightness_order import lightness_order_error


def _rand(b=1, c=3, h=20, w=24, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(b, c, h, w, generator=gen, dtype=torch.float64).to(dtype)


def _brute_force(enhanced: torch.Tensor, original: torch.Tensor) -> float:
    """The paper's double loop, on full-size lightness (no resampling)."""
    lo = original[0].amax(dim=0).flatten().tolist()
    le = enhanced[0].amax(dim=0).flatten().tolist()
    m = len(lo)
    total = 0
    for p in range(m):
        for q in range(m):
            total += (lo[p] >= lo[q]) != (le[p] >= le[q])
    return total / m


def test_matches_brute_force_loop():
    x = _rand(1, 3, 6, 7, seed=1)
    y = (x + 0.3 * _rand(1, 3, 6, 7, seed=2)).clamp(0, 1)
    y[..., 0, :3] = y[..., 0, 3:6]  # some ties in the result
    assert float(lightness_order_error(y, x)[0]) == pytest.approx(_brute_force(y, x), rel=1e-6)
    g = torch.round(_rand(1, 1, 5, 9, seed=3) * 8) / 8  # gray, many ties in the input
    h = torch.round(_rand(1, 1, 5, 9, seed=4) * 4) / 4
    assert float(lightness_order_error(h, g)[0]) == pytest.approx(_brute_force(h, g), rel=1e-6)


def test_zero_for_identical_and_increasing_tone_curves():
    img = support.load_set("CBSD68", names=["101085"])[0]
    levels = (img * 255).round().long()
    t = torch.linspace(0, 1, 256, dtype=torch.float64)
    # Curves as look-up tables over the 8-bit levels: an element-wise pow or sigmoid may round the same
    # value differently in vectorised and scalar code paths (1 ulp), which would be a real tie broken.
    for curve in (t, t.sqrt(), t**2.2, 0.2 + 0.5 * t, torch.sigmoid(8 * (t - 0.5))):
        y = curve.float()[levels]
        assert float(lightness_order_error(y, img)[0]) == 0.0


def test_positive_for_order_reversing_change():
    img = support.load_set("CBSD68", names=["101085"])[0]
    inverted = 1.0 - img
    loe = float(lightness_order_error(inverted, img)[0])
    assert loe > 100
    # Reversing part of the image flips fewer pairs than reversing it all (on the same grey values).
    gray = img.amax(dim=1, keepdim=True)
    half = gray.clone()
    half[..., : gray.shape[-1] // 2] = 1.0 - half[..., : gray.shape[-1] // 2]
    assert 0 < float(lightness_order_error(half, gray)[0]) < float(lightness_order_error(1 - gray, gray)[0])


def test_full_reversal_of_distinct_values_is_maximal():
    # m distinct values, all orders reversed: every other pixel flips, LOE = m - 1.
    x = torch.randperm(30, generator=torch.Generator().manual_seed(0)).double().view(1, 1, 5, 6) / 30
    assert float(lightness_order_error(1 - x, x)[0]) == pytest.approx(29.0)


def test_downsampling_grid_and_batch():
    x = _rand(3, 3, 120, 160, seed=5)
    y = (x + 0.2 * _rand(3, 3, 120, 160, seed=6)).clamp(0, 1)
    loe = lightness_order_error(y, x, size=30)
    assert loe.shape == (3,) and loe.dtype == torch.float32
    assert (loe > 0).all() and (loe < 30 * 40).all()  # a 30 x 40 grid: at most m - 1
    for i in range(3):
        assert torch.equal(loe[i : i + 1], lightness_order_error(y[i : i + 1], x[i : i + 1], size=30))
    # The default grid (50 px on the smaller side) sees more pairs.
    assert (lightness_order_error(y, x) > loe).all()


def test_gray_against_rgb_and_dtypes():
    x = _rand(1, 3, 10, 12, seed=7)
    gray = x.amax(dim=1, keepdim=True)
    assert float(lightness_order_error(gray, x)[0]) == 0.0  # the lightness is max(R, G, B)
    assert lightness_order_error(x.double(), x.double()).dtype == torch.float64


def test_device(device):
    x = _rand(2, 3, 40, 52, seed=8).to(device)
    y = x.flip(-1)
    loe = lightness_order_error(y, x)
    assert loe.device == x.device
    assert torch.allclose(loe.cpu(), lightness_order_error(y.cpu(), x.cpu()))


def test_bad_inputs_rejected():
    x = _rand()
    with pytest.raises(InvalidImageError):
        lightness_order_error(x[..., :10], x)
    with pytest.raises(InvalidImageError):
        lightness_order_error(x, torch.cat([x, x]))
    with pytest.raises(InvalidImageError):
        lightness_order_error(x[:, :2], x[:, :2])
    for size in (0, 1, 1000, 2.5, True):
        with pytest.raises(InvalidParameterError):
            lightness_order_error(x, x, size=size)
