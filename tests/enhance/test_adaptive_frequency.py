"""Tests for restorekit.enhance.adaptive_frequency and the Adaptive Frequency Filter operation."""

from __future__ import annotations

import pytest
import support
import torch
import torch.nn.functional as F
from thresholds import ALL_THRESHOLDS

from restorekit.enhance.adaptive_frequency import _window, adaptive_frequency_filter
from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.operations import enhance as _enhance_ops  # noqa: F401  (registers the operation)
from restorekit.params import run
from restorekit.sharpen.unsharp import gaussian_blur

T = ALL_THRESHOLDS["frequency_enhance"]
TC = ALL_THRESHOLDS["frequency_enhance_color"]


def _rand(b=1, c=3, h=32, w=40, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(b, c, h, w, generator=gen, dtype=torch.float64)
    x = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    return x.to(dtype)


@pytest.mark.parametrize("b", [1, 3])
@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("hw", [(1, 1), (3, 5), (7, 9), (33, 20)])
def test_shapes_and_range(b, c, hw):
    x = _rand(b, c, *hw)
    y = adaptive_frequency_filter(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1


def test_one_pixel_unchanged():
    x = _rand(2, 3, 1, 1)
    assert torch.allclose(adaptive_frequency_filter(x, sigma=0.1), x, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_dtype_kept(dtype):
    x = _rand(1, 3, 24, 30, dtype=dtype)
    y = adaptive_frequency_filter(x, sigma=0.05)
    assert y.dtype == dtype
    ref = adaptive_frequency_filter(x.double(), sigma=0.05)
    assert (y.double() - ref).abs().max() < (2e-3 if dtype == torch.float16 else 1e-4)


def test_device(device):
    x = _rand(2, 3, 40, 52).to(device)
    y = adaptive_frequency_filter(x, sigma=0.05)
    assert y.device == x.device
    assert (y.cpu() - adaptive_frequency_filter(x.cpu(), sigma=0.05)).abs().max() < 1e-4


def test_batch_consistency_and_layout():
    x = _rand(3, 3, 30, 41)
    y = adaptive_frequency_filter(x)
    for i in range(3):
        assert torch.allclose(y[i : i + 1], adaptive_frequency_filter(x[i : i + 1]), atol=1e-5)
    assert torch.allclose(adaptive_frequency_filter(x.contiguous(memory_format=torch.channels_last)), y, atol=1e-5)


@pytest.mark.parametrize("block", [4, 8, 16, 24, 64])
def test_window_is_a_tight_frame(block):
    w = _window(block, torch.device("cpu"), torch.float64)
    hop = block // 2
    total = w[:hop, :hop] ** 2 + w[hop:, :hop] ** 2 + w[:hop, hop:] ** 2 + w[hop:, hop:] ** 2
    assert torch.allclose(total, torch.ones_like(total), atol=1e-12)


@pytest.mark.parametrize("block", [8, 16, 32, 64])
@pytest.mark.parametrize("hw", [(256, 256), (37, 53), (5, 3)])
def test_unit_gain_reconstructs(block, hw):
    x = support.load_set("Set12", names=["05"])[0][..., : hw[0], : hw[1]]
    y = adaptive_frequency_filter(x, sigma=0.0, block=block)
    assert (y - x).abs().max() <= T["adaptive_frequency_unit_gain_max_err"]
    assert (adaptive_frequency_filter(x, sigma=0.0, passes=1, block=block) - x).abs().max() <= 1e-5


def test_denoises_set12_sigma15():
    gains = []
    drifts = []
    for i, x in enumerate(support.load_set("Set12")):
        noisy = support.add_noise(x, 15, seed=i).clamp(0, 1)
        y = adaptive_frequency_filter(noisy)
        gains.append(support.psnr(y, x) - support.psnr(noisy, x))
        drifts.append(float((y.double().mean() - noisy.double().mean()).abs() * 255))
    assert sum(gains) / len(gains) >= T["adaptive_frequency_sigma15_gain_mean_db"]
    assert min(gains) >= T["adaptive_frequency_sigma15_gain_min_db"]
    assert max(drifts) < T["drift_max_grey"]


def test_denoises_cbsd68_colour_sigma15():
    gains = []
    for i, x in enumerate(support.load_set("CBSD68")[:5]):
        noisy = support.add_noise(x, 15, seed=i).clamp(0, 1)
        y = adaptive_frequency_filter(noisy)
        gains.append(support.psnr(y, x) - support.psnr(noisy, x))
        assert (y.double().mean(dim=(2, 3)) - noisy.double().mean(dim=(2, 3))).abs().max() * 255 < T["drift_max_grey"]
    assert sum(gains) / len(gains) >= TC["adaptive_frequency_cbsd68_sigma15_gain_mean_db"]
    assert min(gains) >= TC["adaptive_frequency_cbsd68_sigma15_gain_min_db"]


def test_one_pass_and_given_sigma_also_denoise():
    clean = support.load_set("CBSD68", names=["101085"])[0][..., :128, :160]
    noisy = support.add_noise(clean, 15, seed=3).clamp(0, 1)
    base = support.psnr(noisy, clean)
    assert support.psnr(adaptive_frequency_filter(noisy), clean) > base + 3.0
    assert support.psnr(adaptive_frequency_filter(noisy, passes=1), clean) > base + 3.0
    assert support.psnr(adaptive_frequency_filter(noisy, sigma=15 / 255), clean) > base + 3.0


def test_strength_and_detail_gain():
    x = support.load_set("Set12", names=["08"])[0][..., :128, :128]
    noisy = support.add_noise(x, 10, seed=1).clamp(0, 1)

    def high(t):
        return float((t - gaussian_blur(t, 2.0)).square().mean())

    mild = adaptive_frequency_filter(noisy, strength=0.5)
    strong = adaptive_frequency_filter(noisy, strength=2.0)
    assert high(strong) < high(mild) < high(noisy)
    boosted = adaptive_frequency_filter(x, sigma=2 / 255, detail_gain=2.0)
    assert high(boosted) > 1.5 * high(x)
    assert (boosted.double().mean() - x.double().mean()).abs() * 255 < T["drift_max_grey"]


@pytest.mark.parametrize(
    "kwargs",
    [{"sigma": -0.1}, {"sigma": 2.0}, {"block": 7}, {"block": 256}, {"block": 16.0}, {"strength": 5.0},
     {"detail_gain": 0.5}, {"passes": 3}, {"oversubtract": -1.0}],
)
def test_bad_parameters(kwargs):
    with pytest.raises(InvalidParameterError):
        adaptive_frequency_filter(_rand(), **kwargs)


def test_bad_images():
    with pytest.raises(InvalidImageError):
        adaptive_frequency_filter(torch.rand(1, 3, 0, 8))


def test_operation_report():
    x = _rand(2, 3, 40, 48)
    out = run("adaptive_frequency_filter", image=x, sigma=10.0)
    assert out["image"].shape == x.shape
    report = out["report"]
    assert "10.00 (given)" in report and "drift" in report
    assert len(report.splitlines()) == 4
    assert "(estimated)" in run("adaptive_frequency_filter", image=x)["report"]
