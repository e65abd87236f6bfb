"""Tests for restorekit.quality.noise_analysis (blind noise characterisation)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import support
import torch
from thresholds import ALL_THRESHOLDS

from restorekit.errors import InvalidImageError
from restorekit.quality.noise_analysis import NoiseAnalysis, analyse_noise, estimate_noise_psd
from restorekit.sharpen.unsharp import gaussian_blur

THRESHOLDS = ALL_THRESHOLDS["noise_analysis"]
NAMES = ["01", "02", "04", "05", "07"]


def _q8(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0, 1) * 255).round() / 255


def _jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    arr = (x[0, 0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    ok, buf = cv2.imencode(".jpg", arr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return torch.from_numpy(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255)[None, None]


@pytest.fixture(scope="module")
def clean() -> torch.Tensor:
    return torch.cat(support.load_set("Set12", NAMES, gray=True))


def _noise(shape, seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


# ---- shapes, types, errors -------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 3, 64, 64), (1, 1, 40, 33), (2, 1, 1, 1), (1, 3, 3, 5), (1, 1, 7, 9), (1, 1, 16, 200)])
def test_shapes_and_fields(shape) -> None:
    x = support.smooth_random(*shape[:2], *shape[2:], seed=1)
    res = analyse_noise(x)
    assert len(res) == shape[0]
    for r in res:
        assert isinstance(r, NoiseAnalysis)
        for v in (r.sigma, r.sigma_fit, r.noise_gain, r.noise_floor, r.signal_dependence, r.correlation,
                  r.scale_ratio, r.sigma_total, r.blockiness, r.block_step):
            assert math.isfinite(v)
        assert len(r.sigma_channels) == shape[1]
        assert r.kind in ("clean", "gaussian", "poisson_gaussian", "correlated", "jpeg")
        assert "Noise level" in r.summary and "Verdict" in r.summary or "too small" in r.summary


def test_batch_consistency_and_layouts() -> None:
    x = (support.smooth_random(3, 3, 48, 40, seed=2) + 0.05 * _noise((3, 3, 48, 40), 3)).clamp(0, 1)
    batch = analyse_noise(x)
    for i in range(3):
        single = analyse_noise(x[i : i + 1])[0]
        assert single.sigma == pytest.approx(batch[i].sigma, rel=1e-5)
        assert single.correlation == pytest.approx(batch[i].correlation, abs=1e-5)
        assert single.kind == batch[i].kind
    cl = analyse_noise(x.contiguous(memory_format=torch.channels_last))
    nc = analyse_noise(x.transpose(2, 3).contiguous().transpose(2, 3))
    assert [r.sigma for r in cl] == pytest.approx([r.sigma for r in batch], rel=1e-5)
    assert [r.sigma for r in nc] == pytest.approx([r.sigma for r in batch], rel=1e-5)
    with torch.inference_mode():
        assert analyse_noise(x.double())[0].kind == batch[0].kind


def test_bad_inputs() -> None:
    with pytest.raises(InvalidImageError):
        analyse_noise(torch.rand(2, 32, 32))
    with pytest.raises(InvalidImageError):
        analyse_noise(torch.full((1, 1, 8, 8), float("nan")))
    with pytest.raises(InvalidImageError):
        analyse_noise(torch.rand(1, 2, 8, 8))


def test_flat_white_noise_exact_behaviour() -> None:
    """On a flat grey image with white noise the correlation excess is ~0 and the fit is flat."""
    x = 0.5 + 0.06 * _noise((1, 1, 128, 128), 7)
    r = analyse_noise(x)[0]
    assert abs(r.correlation) < 0.03
    assert r.sigma * 255 == pytest.approx(0.06 * 255, rel=0.08)
    assert r.sigma_total * 255 == pytest.approx(0.06 * 255, rel=0.15)
    assert r.kind == "gaussian" and not r.blocky


# ---- quality on Set12 ------------------------------------------------------------------------


@pytest.mark.quality
@pytest.mark.parametrize("sigma255", [15, 25])
def test_white_gaussian_level(clean, sigma255) -> None:
    noisy = _q8(clean + _noise(clean.shape, sigma255) * sigma255 / 255)
    for r in analyse_noise(noisy):
        assert abs(r.sigma255 - sigma255) <= THRESHOLDS["white_sigma_abs_err255"][sigma255]
        assert abs(r.sigma_fit * 255 - sigma255) <= THRESHOLDS["white_sigma_fit_abs_err255"][sigma255]
        assert not r.signal_dependent and not r.correlated and not r.blocky
        assert r.kind == "gaussian"


@pytest.mark.quality
def test_poisson_gaussian_flagged(clean) -> None:
    gain = (20 / 255) ** 2 / 0.5  # std 20 grey levels at mid grey
    n = _noise(clean.shape, 11)
    noisy = _q8(clean + n * torch.sqrt(gain * clean + (3 / 255) ** 2))
    white = _q8(clean + n * 20 / 255)
    for r in analyse_noise(noisy):
        assert r.signal_dependent and r.kind == "poisson_gaussian"
        assert r.noise_gain == pytest.approx(gain, rel=0.5)
    assert not any(r.signal_dependent for r in analyse_noise(white))


@pytest.mark.quality
def test_correlated_flagged(clean) -> None:
    n = _noise(clean.shape, 12)
    filtered = gaussian_blur(n, 1.0)
    filtered = filtered / filtered.std()
    corr = analyse_noise(_q8(clean + filtered * 20 / 255))
    white = analyse_noise(_q8(clean + n * 20 / 255))
    assert all(r.correlated and r.kind == "correlated" for r in corr)
    assert all(r.sigma_total * 255 > 12 for r in corr)  # the fine-scale estimate alone reads ~3-4
    assert not any(r.correlated for r in white)


@pytest.mark.quality
def test_jpeg_blocking_flagged(clean) -> None:
    compressed = torch.cat([_jpeg(clean[i : i + 1], 20) for i in range(clean.shape[0])])
    for r in analyse_noise(compressed):
        assert r.blocky and r.kind == "jpeg"
    for r in analyse_noise(clean):
        assert not r.blocky
    # shifted crop (grid not at the origin) is still found
    assert all(r.blocky for r in analyse_noise(compressed[..., 3:, 5:]))


def test_noise_psd_white_and_correlated() -> None:
    white = 0.5 + 0.05 * _noise((1, 1, 128, 128), 20)
    psd = estimate_noise_psd(white)
    assert psd.shape == (1, 1, 16, 16)
    assert float(psd.mean()) ** 0.5 == pytest.approx(0.05, rel=0.15)  # flattest quarter reads a little low
    assert float(psd.std() / psd.mean()) < 0.3  # flat spectrum
    filtered = gaussian_blur(_noise((1, 1, 128, 128), 21), 1.0)
    corr = 0.5 + 0.05 * filtered / filtered.std()
    p = estimate_noise_psd(corr, total_sigma=torch.tensor([0.05]))[0, 0]
    assert float(p.mean()) == pytest.approx(0.05**2, rel=1e-4)
    assert float(p[:2, :2].mean()) > 10 * float(p[6:10, 6:10].mean())  # low-pass noise: energy at low frequencies
    for shape in ((1, 3, 3, 5), (2, 1, 9, 12)):
        q = estimate_noise_psd(support.smooth_random(*shape, seed=3))
        assert q.shape[:2] == (shape[0], 1) and torch.isfinite(q).all() and (q >= 0).all()
