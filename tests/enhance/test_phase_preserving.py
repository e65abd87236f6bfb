"""Tests for restorekit.enhance.phase_preserving and the Phase-Preserving Enhance operation."""

from __future__ import annotations

import pytest
import support
import torch
import torch.nn.functional as F
from thresholds import ALL_THRESHOLDS

from restorekit.color import luma, rgb_to_ycbcr
from restorekit.enhance.phase_preserving import METHODS, phase_preserving_enhance
from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.operations import enhance as _enhance_ops  # noqa: F401  (registers the operation)
from restorekit.params import run
from restorekit.sharpen.unsharp import gaussian_blur

T = ALL_THRESHOLDS["frequency_enhance"]


def _rand(b=1, c=3, h=32, w=40, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(b, c, h, w, generator=gen, dtype=torch.float64)
    x = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    return x.to(dtype)


def gradients() -> tuple[torch.Tensor, torch.Tensor]:
    """Four synthetic gradients (ramps, radial, product), gray ``[4, 1, 64, 96]`` and RGB ``[4, 3, 64, 96]``."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 64, dtype=torch.float64), torch.linspace(0, 1, 96, dtype=torch.float64),
                            indexing="ij")
    g = [xx, yy, ((xx - 0.5) ** 2 + (yy - 0.5) ** 2).sqrt() / 0.71, 0.05 + 0.9 * xx * yy]
    gray = torch.stack(g).unsqueeze(1).float()
    rgb = torch.stack([torch.stack([a, a.flip(-1), 0.5 * a + 0.25]) for a in g]).float()
    return gray, rgb


def _high_energy(x: torch.Tensor) -> float:
    return float((x - gaussian_blur(x, 2.0)).square().mean())


@pytest.mark.parametrize("b", [1, 3])
@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("hw", [(1, 1), (3, 5), (7, 9), (33, 20)])
def test_shapes_and_range(b, c, hw):
    x = _rand(b, c, *hw)
    for method in METHODS:
        y = phase_preserving_enhance(x, method=method)
        assert y.shape == x.shape and y.dtype == x.dtype
        assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1


def test_one_pixel_unchanged():
    x = _rand(2, 3, 1, 1)
    assert torch.allclose(phase_preserving_enhance(x), x, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_dtype_kept(dtype):
    x = _rand(1, 3, 24, 30, dtype=dtype)
    y = phase_preserving_enhance(x)
    assert y.dtype == dtype
    assert (y.double() - phase_preserving_enhance(x.double())).abs().max() < (2e-3 if dtype == torch.float16 else 1e-4)


def test_device(device):
    x = _rand(2, 3, 40, 52).to(device)
    y = phase_preserving_enhance(x)
    assert y.device == x.device
    # cuFFT and pocketfft round differently; the amplitude gains (up to max_gain) amplify that to
    # 4e-4 (0.1 grey level) at most on an H100, measured.
    assert (y.cpu() - phase_preserving_enhance(x.cpu())).abs().max() < 1e-3


def test_batch_consistency_and_layout():
    x = _rand(3, 3, 30, 41)
    y = phase_preserving_enhance(x)
    for i in range(3):
        assert torch.allclose(y[i : i + 1], phase_preserving_enhance(x[i : i + 1]), atol=1e-5)
    assert torch.allclose(phase_preserving_enhance(x.contiguous(memory_format=torch.channels_last)), y, atol=1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_neutral_settings_are_identity(method):
    x = _rand(2, 3, 37, 45)
    assert (phase_preserving_enhance(x, flatten=0.0, detail_gain=1.0, method=method) - x).abs().max() < 1e-5


@pytest.mark.parametrize("method", METHODS)
def test_phase_kept(method):
    """The output's spectrum is g X with g real and positive: every phase is the input's."""
    for x in support.load_set("Set12", names=["01", "05", "09"]):
        x = x.double()
        y = phase_preserving_enhance(x, method=method, border="periodic", clamp=False)
        fx, fy = torch.fft.rfft2(x), torch.fft.rfft2(y)
        significant = fx.abs() > 1e-6 * fx.abs().max()
        error = torch.angle(fy * fx.conj())[significant].abs().max()
        assert error <= T["phase_error_max_rad"]
        assert (fy.abs() - fx.abs()).abs().max() > 1e-3 * fx.abs().max()  # the amplitudes did change
        assert (y.mean() - x.mean()).abs() < 1e-12  # DC gain 1


def test_phase_kept_rgb_luma_and_chroma():
    x = support.load_set("CBSD68", names=["101085"])[0][..., :128, :160].double()
    y = phase_preserving_enhance(x, border="periodic", clamp=False)
    # Cb and Cr untouched; Y filtered with phases kept.
    assert (rgb_to_ycbcr(y)[:, 1:] - rgb_to_ycbcr(x)[:, 1:]).abs().max() < 1e-6  # float32 matrix
    fx, fy = torch.fft.rfft2(luma(x)), torch.fft.rfft2(luma(y))
    significant = fx.abs() > 1e-6 * fx.abs().max()
    assert torch.angle(fy * fx.conj())[significant].abs().max() <= T["phase_error_max_rad"]


def test_enhances_detail():
    for x in support.load_set("Set12", names=["02", "08"]):
        y = phase_preserving_enhance(x)
        assert _high_energy(y) > 1.5 * _high_energy(x)
        softer = phase_preserving_enhance(x, flatten=0.0, detail_gain=0.5)
        assert _high_energy(softer) < 0.5 * _high_energy(x)


@pytest.mark.parametrize("kwargs", [{}, {"flatten": 0.5, "max_gain": 6.0}, {"method": "alpha_root"},
                                    {"luminance_only": False}])
def test_mean_brightness_kept_set12(kwargs):
    for x in support.load_set("Set12"):
        y = phase_preserving_enhance(x, **kwargs)
        assert (y.double().mean() - x.double().mean()).abs() * 255 < T["drift_max_grey"]


def test_mean_brightness_kept_gradients():
    gray, rgb = gradients()
    for x in (gray, rgb):
        for kwargs in ({}, {"flatten": 0.5, "max_gain": 6.0}):
            y = phase_preserving_enhance(x, **kwargs)
            drift = (luma(y.double()).mean(dim=(1, 2, 3)) - luma(x.double()).mean(dim=(1, 2, 3))).abs() * 255
            assert (drift < T["drift_max_grey"]).all()


def test_resolution_independent():
    values = []
    for x in support.load_set("Set12"):
        xb = gaussian_blur(x, 1.0)
        small = phase_preserving_enhance(F.interpolate(xb, scale_factor=0.5, mode="area"))
        values.append(support.psnr(small, F.interpolate(phase_preserving_enhance(xb), scale_factor=0.5, mode="area")))
    assert min(values) >= T["phase_preserving_half_size_psnr_min_db"]


def test_high_cutoff_limits_band():
    x = support.load_set("Set12", names=["08"])[0]
    full = phase_preserving_enhance(x)
    limited = phase_preserving_enhance(x, high_cutoff=32.0)
    assert _high_energy(x) < _high_energy(limited) < _high_energy(full)


@pytest.mark.parametrize(
    "kwargs",
    [{"flatten": 1.5}, {"detail_gain": -1.0}, {"low_cutoff": 0.0}, {"high_cutoff": 4.0}, {"max_gain": 0.5},
     {"method": "x"}, {"border": "zero"}, {"luminance_only": "yes"}, {"strength": -0.1}],
)
def test_bad_parameters(kwargs):
    with pytest.raises(InvalidParameterError):
        phase_preserving_enhance(_rand(), **kwargs)


def test_bad_images():
    with pytest.raises(InvalidImageError):
        phase_preserving_enhance(torch.rand(1, 4, 8, 8))


def test_operation_report():
    x = _rand(2, 3, 40, 48)
    out = run("phase_preserving_enhance", image=x)
    assert out["image"].shape == x.shape
    report = out["report"]
    assert "flatten 0.2" in report and "drift" in report and "max gain" in report
    assert len(report.splitlines()) == 4
