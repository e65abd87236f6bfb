"""Tests for restorekit.quality.full_reference: MS-SSIM, GMSD, FSIM, VIFp, HaarPSI (against piq)."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest
import support
import torch
from thresholds import ALL_THRESHOLDS

from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.quality import full_reference as FR

THRESHOLDS = ALL_THRESHOLDS.get("full_reference", {})
METRICS = [FR.ms_ssim, FR.gmsd, FR.fsim, FR.vif, FR.haarpsi]
#: What each measure gives for identical images.
PERFECT = {"ms_ssim": 1.0, "gmsd": 0.0, "fsim": 1.0, "vif": 1.0, "haarpsi": 1.0}
CROP = 192  # >= 161 px, MS-SSIM's minimum with 5 scales


def _rand_pair(b=2, c=3, h=48, w=56, seed=0, noise=0.08):
    gen = torch.Generator().manual_seed(seed)
    ref = torch.nn.functional.avg_pool2d(torch.rand(b, c, h + 2, w + 2, generator=gen), 3, 1)
    x = (ref + noise * torch.randn(b, c, h, w, generator=gen)).clamp(0, 1)
    return x, ref


def _call(f, x, ref):
    return f(x, ref, scales=2) if f is FR.ms_ssim else f(x, ref)


# ---- distortions and the 20 pairs ---------------------------------------------------------------


def _dct_matrix(n: int = 8) -> torch.Tensor:
    k = torch.arange(n, dtype=torch.float64).view(-1, 1)
    i = torch.arange(n, dtype=torch.float64).view(1, -1)
    m = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    m[0] /= math.sqrt(2.0)
    return m


def _block_quantise(x: torch.Tensor, step: float) -> torch.Tensor:
    """JPEG-like damage: 8 x 8 block DCT, coefficients rounded to multiples of ``step`` (0-1 units), inverse."""
    b, c, h, w = x.shape
    d = _dct_matrix().to(x.dtype)
    blocks = x.reshape(b, c, h // 8, 8, w // 8, 8).transpose(3, 4)
    coeff = d @ blocks @ d.T
    coeff = torch.round(coeff / step) * step
    out = (d.T @ coeff @ d).transpose(3, 4).reshape(b, c, h, w)
    return out.clamp(0, 1)


def _gaussian_kernel(sigma: float) -> np.ndarray:
    r = int(math.ceil(3 * sigma))
    t = np.arange(-r, r + 1)
    g = np.exp(-0.5 * (t / sigma) ** 2)
    k = np.outer(g, g)
    return k / k.sum()


def _distort(clean: torch.Tensor, kind: int, seed: int) -> torch.Tensor:
    if kind == 0:
        return support.add_noise(clean, 10 + 10 * (seed % 3), seed=seed).clamp(0, 1)
    if kind == 1:
        return support.blur(clean, _gaussian_kernel(0.8 + 0.6 * (seed % 3))).clamp(0, 1)
    return _block_quantise(clean, 0.04 + 0.04 * (seed % 3))


@cache
def _pairs() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """20 (distorted, clean) pairs of 192 x 192 crops: 10 gray (Set12), 10 colour (CBSD68); noise, blur, block quantisation."""
    gray = support.load_set("Set12")[:10]
    colour = [support.load(p) for p in support.image_paths("CBSD68")[:10]]
    out = []
    for n, img in enumerate(gray + colour):
        h, w = img.shape[-2:]
        top, left = (h - CROP) // 2, (w - CROP) // 2
        clean = img[..., top : top + CROP, left : left + CROP].contiguous()
        out.append((_distort(clean, n % 3, seed=n), clean))
    return out


def _piq_values(name: str, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    piq = pytest.importorskip("piq")
    x, ref = x.double(), ref.double()  # the definition, free of float32 rounding of piq's convolutions
    if name == "ms_ssim":
        return piq.multi_scale_ssim(x, ref, data_range=1.0, reduction="none")
    if name == "gmsd":
        return piq.gmsd(x, ref, data_range=1.0, reduction="none")
    if name == "fsim":
        return piq.fsim(x, ref, data_range=1.0, chromatic=x.shape[1] == 3, reduction="none")
    if name == "vif":
        return piq.vif_p(x, ref, data_range=1.0, reduction="none")
    return piq.haarpsi(x, ref, data_range=1.0, reduction="none")


@pytest.mark.quality
@pytest.mark.parametrize("metric", METRICS, ids=lambda f: f.__name__)
def test_matches_piq_on_twenty_pairs(metric):
    pytest.importorskip("piq")
    worst = 0.0
    for x, ref in _pairs():
        ours = metric(x, ref)
        assert ours.dtype == torch.float32
        theirs = _piq_values(metric.__name__, x, ref).float()
        worst = max(worst, (ours - theirs).abs().max().item())
    assert worst <= THRESHOLDS["vs_piq_abs"], f"{metric.__name__}: max |ours - piq| = {worst:.2e}"


@pytest.mark.quality
def test_distortions_lower_the_scores():
    x, ref = _pairs()[10]  # colour, noise
    for f in METRICS:
        score, perfect = f(x, ref).item(), PERFECT[f.__name__]
        assert abs(score - perfect) > 0.02, f.__name__


# ---- properties ------------------------------------------------------------------------------


@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("metric", METRICS, ids=lambda f: f.__name__)
def test_identity_is_perfect(metric, c):
    _, ref = _rand_pair(2, c, 48, 56)
    out = _call(metric, ref, ref)
    assert out.shape == (2,)
    assert torch.allclose(out, torch.full((2,), PERFECT[metric.__name__]), atol=1e-5), out


@pytest.mark.parametrize("metric", METRICS, ids=lambda f: f.__name__)
def test_batch_matches_per_image(metric):
    x, ref = _rand_pair(3, 3, 48, 50, seed=2)
    full = _call(metric, x, ref)
    for i in range(3):
        assert torch.allclose(full[i : i + 1], _call(metric, x[i : i + 1], ref[i : i + 1]), atol=1e-6)


@pytest.mark.parametrize("metric", METRICS, ids=lambda f: f.__name__)
def test_gray_and_rgb(metric):
    x, ref = _rand_pair(1, 3, 48, 48, seed=3)
    rgb = _call(metric, x, ref)
    gray = _call(metric, x[:, :1], ref[:, :1])
    assert torch.isfinite(rgb).all() and torch.isfinite(gray).all()
    # A gray image against an RGB reference is compared on luma, as two gray images are.
    luma = FR._to_luma_yiq(ref)
    assert torch.allclose(_call(metric, x[:, :1], ref), _call(metric, x[:, :1], luma), atol=1e-5)


@pytest.mark.parametrize("metric", METRICS, ids=lambda f: f.__name__)
def test_dtype_device_layout(metric, device):
    x, ref = _rand_pair(2, 3, 48, 52, seed=4)
    base = _call(metric, x, ref)
    out = _call(metric, x.to(device), ref.to(device))
    assert out.device.type == device.type and out.dtype == torch.float32
    assert torch.allclose(out.cpu(), base, atol=1e-5)
    out64 = _call(metric, x.double(), ref.double())
    assert out64.dtype == torch.float64 and torch.allclose(out64.float(), base, atol=1e-4)
    cl = _call(metric, x.to(memory_format=torch.channels_last), ref.transpose(-1, -2).contiguous().transpose(-1, -2))
    assert torch.allclose(cl, base, atol=1e-6)
    assert torch.allclose(_call(metric, x, ref[:1]), _call(metric, x, ref[:1].expand(2, -1, -1, -1)), atol=1e-6)


def test_data_range_scales_inputs():
    x, ref = _rand_pair(1, 3, 48, 48, seed=5)
    for f in METRICS:
        kw = {"scales": 2} if f is FR.ms_ssim else {}
        a = f(x, ref, **kw)
        b = f(x * 255, ref * 255, data_range=255.0, **kw)
        assert torch.allclose(a, b, atol=1e-4), f.__name__


def test_scores_order_with_distortion_strength():
    _, ref = _rand_pair(1, 1, 96, 96, seed=6, noise=0.0)
    gen = torch.Generator().manual_seed(7)
    noise = torch.randn(ref.shape, generator=gen)
    scores = {f.__name__: [_call(f, (ref + s * noise).clamp(0, 1), ref).item() for s in (0.02, 0.08, 0.2)] for f in METRICS}
    for name, values in scores.items():
        if name == "gmsd":
            assert values == sorted(values), (name, values)  # a deviation: grows with the damage
        else:
            assert values == sorted(values, reverse=True), (name, values)


def test_vif_is_not_symmetric_and_rewards_contrast():
    _, ref = _rand_pair(1, 1, 64, 64, seed=8, noise=0.0)
    stretched = ((ref - 0.5) * 1.3 + 0.5).clamp(0, 1)
    assert FR.vif(stretched, ref).item() > 1.0
    assert FR.vif(ref, stretched).item() < 1.0


def test_flat_images_give_finite_values():
    flat = torch.full((1, 3, 48, 48), 0.5)
    for f in METRICS:
        assert _call(f, flat, flat).item() == pytest.approx(PERFECT[f.__name__], abs=1e-6), f.__name__
        assert math.isfinite(_call(f, flat * 0.5, flat).item()), f.__name__


# ---- errors ----------------------------------------------------------------------------------


def test_ms_ssim_small_image_error():
    x, ref = _rand_pair(1, 3, 160, 200)
    with pytest.raises(InvalidImageError, match=r"161 px") as info:
        FR.ms_ssim(x, ref)
    assert "scales=4" in str(info.value) and "SSIM" in str(info.value)
    assert FR.ms_ssim(x, ref, scales=4).shape == (1,)  # 81 px suffice for 4 scales
    assert FR.ms_ssim_min_side(5) == 161 and FR.ms_ssim_min_side(1) == 11
    assert FR.ms_ssim(x[..., :11, :11], ref[..., :11, :11], scales=1).shape == (1,)


def test_ms_ssim_single_scale_is_ssim_without_padding():
    from restorekit.quality.metrics import ssim

    x, ref = _rand_pair(2, 3, 40, 44, seed=9)
    assert torch.allclose(FR.ms_ssim(x, ref, scales=1), ssim(x, ref), atol=1e-5)


@pytest.mark.parametrize("scales", [0, 6, 2.0, True, "5"])
def test_ms_ssim_bad_scales(scales):
    x, ref = _rand_pair(1, 1, 32, 32)
    with pytest.raises(InvalidParameterError, match="scales"):
        FR.ms_ssim(x, ref, scales=scales)


@pytest.mark.parametrize(("metric", "side"), [(FR.vif, 41), (FR.haarpsi, 16), (FR.fsim, 2)])
def test_minimum_sizes(metric, side):
    x, ref = _rand_pair(1, 1, side, side + 3)
    assert torch.isfinite(metric(x, ref)).all()
    with pytest.raises(InvalidImageError, match=f"{side} px"):
        metric(x[..., : side - 1, :], ref[..., : side - 1, :])


def test_gmsd_any_size():
    for hw in [(1, 1), (3, 5), (2, 9)]:
        x, ref = _rand_pair(2, 3, *hw)
        assert torch.isfinite(FR.gmsd(x, ref)).all()


def test_bad_inputs():
    x, ref = _rand_pair(1, 3, 48, 48)
    for f in METRICS:
        with pytest.raises(InvalidImageError, match="reference"):
            f(x, ref[..., :40, :])
        with pytest.raises(InvalidImageError):
            f(torch.full_like(x, float("nan")), ref)
        with pytest.raises(InvalidParameterError, match="data_range"):
            f(x, ref, data_range=0.0)
