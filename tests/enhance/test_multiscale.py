"""Tests for restorekit.enhance.multiscale and the Multiscale Detail operation."""

from __future__ import annotations

import pytest
import support
import torch
from thresholds import ALL_THRESHOLDS

import restorekit.params as params
from restorekit.color import luma, rgb_to_oklab
from restorekit.enhance.multiscale import COLOR_MODES, METHODS, band_sizes, multiscale_detail
from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.sharpen.unsharp import gaussian_blur

THRESHOLDS = ALL_THRESHOLDS["multiscale_detail"]
UNIT = {"fine_gain": 1.0, "medium_gain": 1.0, "coarse_gain": 1.0, "base_gain": 1.0}


def _rand(b=2, c=3, h=37, w=53, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(b, c, h, w, generator=gen, dtype=torch.float64)
    if min(h, w) >= 3:
        x = torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    return (0.1 + 0.8 * x).to(dtype)


def _hf_energy(x: torch.Tensor) -> float:
    """Mean square of what a 1 px Gaussian blur removes from the luma: fine-detail energy."""
    y = luma(x)
    return (y - gaussian_blur(y, 1.0)).square().mean().item()


# ---- exact reconstruction ---------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("color", COLOR_MODES)
@pytest.mark.parametrize("hw", [(37, 53), (3, 5), (1, 1), (64, 64)])
@pytest.mark.parametrize("c", [1, 3])
def test_unit_gains_reconstruct(method, color, hw, c):
    x = _rand(2, c, *hw)
    y = multiscale_detail(x, **UNIT, method=method, color=color, halo_limit=0.1)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert (y - x).abs().max() <= 1e-6


@pytest.mark.parametrize("method", METHODS)
def test_unit_gains_through_the_node_path(method):
    x = _rand(2, 3, 37, 53)
    out = params.run("multiscale_detail", image=x, method=method, **UNIT)
    assert (out["image"] - x).abs().max() <= 1e-6
    assert "gain 1" in out["report"]


@pytest.mark.parametrize("shape", [(3, 3, 48, 40), (1, 1, 1, 1), (2, 1, 3, 5), (1, 3, 7, 9)])
def test_defaults_shapes_and_range(shape):
    x = _rand(*shape)
    for method in METHODS:
        y = multiscale_detail(x, method=method)
        assert y.shape == x.shape and torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1


# ---- effect -----------------------------------------------------------------------------------


@pytest.mark.quality
@pytest.mark.parametrize("method", METHODS)
def test_fine_gain_changes_high_frequency_energy_on_set12(method):
    for x in support.load_set("Set12", names=["01", "05", "08"], gray=True):
        base = _hf_energy(x)
        up = _hf_energy(multiscale_detail(x, fine_gain=2.0, medium_gain=1.0, method=method)) / base
        down = _hf_energy(multiscale_detail(x, fine_gain=0.5, medium_gain=1.0, method=method)) / base
        assert up >= THRESHOLDS[f"{method}_fine_gain2_hf_ratio_min"]
        assert down <= THRESHOLDS[f"{method}_fine_gain05_hf_ratio_max"]


@pytest.mark.quality
@pytest.mark.parametrize("method", METHODS)
def test_colour_kept_and_detail_boosted_on_cbsd68(method):
    names = ["101085", "101087", "102061"]
    for x in support.load_set("CBSD68", names=names):
        x = x[..., :256, :256]
        y = multiscale_detail(x, fine_gain=2.0, medium_gain=1.0, method=method, color="oklab")
        assert _hf_energy(y) / _hf_energy(x) >= THRESHOLDS[f"{method}_color_fine_gain2_hf_ratio_min"]
        chroma = (rgb_to_oklab(y)[:, 1:] - rgb_to_oklab(x)[:, 1:]).abs().median().item()
        assert chroma <= THRESHOLDS["oklab_chroma_median_abs_change_max"]


def test_luma_mode_changes_rgb_alike():
    x = _rand(1, 3, 40, 40)
    y = multiscale_detail(x, color="luma", fine_gain=2.0, clamp=False)
    d = y - x
    assert (d - d[:, :1]).abs().max() < 1e-6 and d.abs().mean() > 1e-3


def test_rgb_mode_gray_content_matches_gray():
    g = _rand(1, 1, 40, 40)
    rgb = multiscale_detail(g.expand(1, 3, 40, 40), color="rgb", fine_gain=2.0)
    assert torch.allclose(rgb, multiscale_detail(g, fine_gain=2.0).expand(1, 3, 40, 40), atol=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_base_gain_keeps_the_mean(method):
    ramp = torch.linspace(0.2, 0.8, 64).view(1, 1, 1, 64)
    x = 0.5 * _rand(2, 1, 64, 64) + 0.5 * ramp  # lighting that varies over the whole image
    y = multiscale_detail(x, **{**UNIT, "base_gain": 0.3}, method=method, clamp=False)
    assert torch.allclose(y.mean(dim=(-2, -1)), x.mean(dim=(-2, -1)), atol=1e-6)
    assert (y - x).abs().mean() > 1e-3


@pytest.mark.parametrize("method", METHODS)
def test_halo_limit_reduces_overshoot_at_a_step(method):
    x = torch.full((1, 1, 32, 64), 0.3)
    x[..., 32:] = 0.7
    free = multiscale_detail(x, fine_gain=3.0, medium_gain=2.5, method=method, clamp=False)
    limited = multiscale_detail(x, fine_gain=3.0, medium_gain=2.5, method=method, halo_limit=0.05, clamp=False)
    over_free = (free.amax() - 0.7).item()
    over_limited = (limited.amax() - 0.7).item()
    assert over_free > 0.05 and over_limited < 0.5 * over_free
    # Weak texture is still boosted by the full gain.
    gen = torch.Generator().manual_seed(1)
    tex = 0.5 + 0.01 * torch.randn(1, 1, 64, 64, generator=gen)
    a = multiscale_detail(tex, fine_gain=2.0, medium_gain=1.0, method=method)
    b = multiscale_detail(tex, fine_gain=2.0, medium_gain=1.0, method=method, halo_limit=0.2)
    assert (a - b).abs().max() < 0.05 * (a - tex).abs().max()


def test_methods_agree_roughly():
    x = support.load_set("Set12", names=["05"], gray=True)[0][..., :128, :128]
    a = multiscale_detail(x, fine_gain=1.6, medium_gain=1.3, method="laplacian")
    b = multiscale_detail(x, fine_gain=1.6, medium_gain=1.3, method="fft")
    # Different filters (octave pyramid levels vs exact band edges), the same kind of change.
    da, db = (a - x).flatten(), (b - x).flatten()
    assert torch.corrcoef(torch.stack([da, db]))[0, 1] > 0.8


# ---- band sizes ---------------------------------------------------------------------------------


def test_band_sizes_relative_and_pixels():
    assert band_sizes(1080, 1920, 0.5, "percent", 4.0) == ((9.6, 38.4, 153.6), False)
    assert band_sizes(2160, 3840, 0.5, "percent", 4.0)[0] == pytest.approx((19.2, 76.8, 307.2))
    assert band_sizes(256, 256, 0.5, "percent", 4.0) == ((4.0, 16.0, 64.0), True)
    assert band_sizes(2160, 3840, 6.0, "pixels", 2.0) == ((6.0, 12.0, 24.0), False)


def test_report():
    out = params.run("multiscale_detail", image=_rand(1, 3, 48, 64), fine_gain=1.7, band_size=8, size_units="pixels")
    report = out["report"]
    assert "gain 1.7" in report and "8.0 px" in report and "32.0-128.0 px" in report
    assert "clipped" in report and "pyramid" in report and "Oklab" in report


def test_clipped_fraction_reported():
    x = _rand(2, 1, 48, 48)
    _, info = multiscale_detail(x, fine_gain=4.0, medium_gain=4.0, return_info=True)
    raw = multiscale_detail(x, fine_gain=4.0, medium_gain=4.0, clamp=False)
    expected = ((raw < 0) | (raw > 1)).float().mean(dim=(1, 2, 3))
    assert len(info.clipped) == 2 and info.clipped == pytest.approx(expected.tolist())
    assert info.clipped[0] > 0
    excess = (raw - 1).clamp(min=0) + (-raw).clamp(min=0)
    assert info.clipped_by[0] == pytest.approx((excess[0].sum() / (excess[0] > 0).sum()).item(), rel=1e-5)
    _, none = multiscale_detail(x, **UNIT, return_info=True)
    assert none.clipped == (0.0, 0.0) and none.clipped_by == (0.0, 0.0)


# ---- batches, dtypes, devices -------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_batch_consistency(method):
    x = _rand(3, 3, 29, 34)
    kw = {"fine_gain": 1.8, "medium_gain": 0.7, "coarse_gain": 1.2, "base_gain": 0.9, "method": method,
          "halo_limit": 0.1}
    y = multiscale_detail(x, **kw)
    for i in range(3):
        assert torch.allclose(y[i : i + 1], multiscale_detail(x[i : i + 1], **kw), atol=1e-6, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64])
def test_dtype_kept(dtype):
    x = _rand(1, 3, 20, 24, dtype=dtype)
    y = multiscale_detail(x)
    assert y.dtype == dtype
    assert (y.double() - multiscale_detail(x.double())).abs().max() < (2e-3 if dtype == torch.float16 else 1e-12)


def test_device(device):
    x = _rand(2, 3, 37, 53).to(device)
    for method in METHODS:
        y = multiscale_detail(x, method=method)
        assert y.device == x.device
        assert torch.allclose(y.cpu(), multiscale_detail(x.cpu(), method=method), atol=1e-5)


def test_inference_mode_and_channels_last():
    x = _rand(1, 3, 30, 41).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        y = multiscale_detail(x, method="fft")
    assert torch.allclose(y, multiscale_detail(x.contiguous(), method="fft"), atol=1e-6)


# ---- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fine_gain": -0.1},
        {"medium_gain": 5.0},
        {"coarse_gain": float("nan")},
        {"base_gain": True},
        {"fine_gain": "2"},
        {"method": "wavelet"},
        {"size_units": "inches"},
        {"band_size": 0.0},
        {"band_size": 30.0},
        {"band_size": 5000.0, "size_units": "pixels"},
        {"band_ratio": 1.5},
        {"color": "hsv"},
        {"halo_limit": -1.0},
    ],
)
def test_bad_parameters(kwargs):
    with pytest.raises(InvalidParameterError):
        multiscale_detail(_rand(1, 3, 16, 16), **kwargs)


def test_bad_images():
    with pytest.raises(InvalidImageError):
        multiscale_detail(torch.rand(1, 4, 8, 8))
    with pytest.raises(InvalidImageError):
        multiscale_detail(torch.rand(1, 3, 0, 8))
