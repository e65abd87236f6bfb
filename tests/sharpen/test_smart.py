"""Tests for restorekit.sharpen.smart and the Smart Sharpen operation."""

from __future__ import annotations

import pytest
import support
import torch
from thresholds import ALL_THRESHOLDS

from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.operations import sharpen as _sharpen_ops  # noqa: F401  (registers the operation)
from restorekit.params import get_operation
from restorekit.sharpen.smart import measure_blur, smart_sharpen
from restorekit.sharpen.unsharp import gaussian_blur

T = ALL_THRESHOLDS["sharpen"]
STEPS = [(0.2, 0.8), (0.4, 0.6)]


def step(lo, hi, blur=0.0, c=1, n=64):
    x = torch.full((1, c, n, n), lo)
    x[..., n // 2 :] = hi
    return gaussian_blur(x, blur) if blur else x


def flat_noise(v, c=1, n=128, s=0.02, seed=0):
    return v + s * torch.randn(1, c, n, n, generator=torch.Generator().manual_seed(seed))


def rise(y, lo, hi):
    """10-90 % rise distance (px) of the middle row (channel mean), linear interpolation."""
    p = y[0].mean(0)[y.shape[2] // 2].double().tolist()

    def cross(t):
        for i in range(len(p) - 1):
            if (p[i] - t) * (p[i + 1] - t) <= 0 and p[i + 1] != p[i]:
                return i + (t - p[i]) / (p[i + 1] - p[i])
        raise AssertionError("no crossing")

    return cross(lo + 0.9 * (hi - lo)) - cross(lo + 0.1 * (hi - lo))


def overshoot(y, lo, hi):
    return max(float(y.max()) - hi, lo - float(y.min()), 0.0) / (hi - lo)


def noise_gain(f, c):
    gains = []
    for v in (0.2, 0.5, 0.8):
        x = flat_noise(v, c)
        gains.append(float(f(x)[..., 8:-8, 8:-8].std() / x[..., 8:-8, 8:-8].std()))
    return gains


def _rand(b=1, c=3, h=32, w=40, seed=0, dtype=torch.float32):
    x = torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (0.1 + 0.8 * torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)).to(dtype)


# ---- quality at defaults ---------------------------------------------------------------------


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("lo,hi", STEPS)
def test_defaults_sharpen_blurred_step_without_overshoot(lo, hi, c):
    x = step(lo, hi, 1.5, c)
    y = smart_sharpen(x)
    assert rise(y, lo, hi) <= (1 - T["smart_rise_reduction_min"]) * rise(x, lo, hi)
    assert overshoot(y, lo, hi) <= T["smart_overshoot_max"]


@pytest.mark.parametrize("c", [1, 3])
def test_defaults_leave_flat_noise_alone(c):
    assert max(noise_gain(smart_sharpen, c)) <= T["smart_noise_gain_max"]


def test_sharp_step_gets_no_overshoot():
    for lo, hi in STEPS:
        assert overshoot(smart_sharpen(step(lo, hi)), lo, hi) <= T["smart_overshoot_max"]


def test_measure_blur_of_gaussian_edges():
    for s in (1.0, 1.5, 2.0, 3.0):
        assert measure_blur(step(0.2, 0.8, s), torch.zeros(1)).item() == pytest.approx(s, abs=0.15)


@pytest.mark.quality
def test_natural_images_sharper_and_noise_not_amplified():
    # Set5: the mean gradient grows on the clean images; with noise sigma 10 the estimated noise grows little.
    for x in support.load_set("Set5", names=["baby_GT", "butterfly_GT", "woman_GT"]):
        x = x[..., :256, :256]
        y, info = smart_sharpen(x, return_info=True)
        grad = lambda t: (t[..., 1:, :] - t[..., :-1, :]).abs().mean() + (t[..., 1:] - t[..., :-1]).abs().mean()  # noqa: E731
        assert grad(y) > 1.08 * grad(x)
        noisy = (x + 10 / 255 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
        _, info = smart_sharpen(noisy, return_info=True)
        assert info["noise_gain"].item() < 1.25


# ---- contract --------------------------------------------------------------------------------


@pytest.mark.parametrize("b", [1, 3])
@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("hw", [(1, 1), (3, 5), (33, 20)])
def test_shapes_and_range(b, c, hw):
    x = _rand(b, c, *hw)
    y = smart_sharpen(x)
    assert y.shape == x.shape and y.dtype == x.dtype and torch.isfinite(y).all() and 0 <= y.min() and y.max() <= 1


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64])
def test_dtype_kept(dtype):
    x = _rand(1, 3, 24, 24, dtype=dtype)
    assert smart_sharpen(x).dtype == dtype


def test_device(device):
    x = _rand(2, 3, 40, 52).to(device)
    y = smart_sharpen(x)
    assert y.device == x.device
    assert (y.cpu() - smart_sharpen(x.cpu())).abs().max() < 1e-4


def test_batch_consistency():
    x = torch.cat([step(0.2, 0.8, 1.5, 3), step(0.4, 0.6, 2.5, 3), _rand(1, 3, 64, 64)])
    y = smart_sharpen(x)
    for i in range(3):
        assert torch.allclose(y[i : i + 1], smart_sharpen(x[i : i + 1]), atol=1e-6)


def test_amount_zero_and_luminance_only():
    x = _rand(2, 3, 30, 30)
    assert torch.allclose(smart_sharpen(x, amount=0.0), x, atol=1e-6)
    y = smart_sharpen(step(0.2, 0.8, 1.5, 3) * torch.tensor([1.0, 0.8, 0.6]).view(1, 3, 1, 1))
    d = y - step(0.2, 0.8, 1.5, 3) * torch.tensor([1.0, 0.8, 0.6]).view(1, 3, 1, 1)
    assert d.abs().max() > 0.01 and torch.allclose(d[:, 0], d[:, 1], atol=1e-6)  # same change on R, G, B


@pytest.mark.parametrize("kwargs", [{"amount": -1.0}, {"amount": 9.0}, {"radius": 0.0}, {"sigma": 2.0},
                                    {"noise_gate": -1.0}, {"halo_limit": 2.0}, {"luminance_only": 1}])
def test_bad_parameters(kwargs):
    with pytest.raises(InvalidParameterError):
        smart_sharpen(_rand(), **kwargs)


def test_bad_image():
    with pytest.raises(InvalidImageError):
        smart_sharpen(torch.rand(1, 2, 8, 8))


def test_operation_report():
    op = get_operation("RK_SmartSharpen")
    assert op.display_name == "Smart Sharpen" and op.category == "sharpen"
    values = {p.name: p.to_core(p.default) for p in op.inputs if not p.is_data}
    assert values["amount"] is None and values["radius"] is None and values["halo_limit"] == pytest.approx(0.01)
    image, report = op.call({"image": step(0.2, 0.8, 1.5, 3), **values})
    assert torch.allclose(image, smart_sharpen(step(0.2, 0.8, 1.5, 3)))
    assert "amount" in report and "1.5" in report and "noise" in report and "overshoot" in report
