"""Tests for restorekit.enhance.retinex and the Retinex operation."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
import support
import torch
from scipy import ndimage
from thresholds import ALL_THRESHOLDS

from restorekit.enhance.retinex import METHODS, retinex, retinex_scales
from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.operations import enhance as _enhance_ops  # noqa: F401  (registers the operation)
from restorekit.params import get_operation, run
from restorekit.quality.lightness_order import lightness_order_error

THRESHOLDS = ALL_THRESHOLDS["retinex"]

# Four CBSD68 images, cropped to 160 x 192 so the reference (plain scipy) stays fast.
NAMES = ["101085", "102061", "105025", "108005"]
CROP = (slice(40, 200), slice(60, 252))


def _rand(b=1, c=3, h=32, w=40, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(b, c, h, w, generator=gen, dtype=torch.float64)
    if min(h, w) >= 5:  # smooth a little; tiny images stay raw so their pixels differ
        x = torch.nn.functional.avg_pool2d(x, 5, 1, 2, count_include_pad=False)
    x = (x - x.amin()) / (x.amax() - x.amin()).clamp(min=1e-6)
    return x.to(dtype)


@cache
def _crops() -> tuple[np.ndarray, ...]:
    """8-bit RGB crops ``[H, W, 3]`` uint8."""
    images = support.load_set("CBSD68", names=NAMES)
    out = []
    for img in images:
        crop = img[0, :, CROP[0], CROP[1]]
        out.append(np.rint(crop.permute(1, 2, 0).numpy() * 255.0).astype(np.uint8))
    return tuple(out)


# ---- independent reference: the IPOL algorithm written out in numpy / scipy ----------------------


def _ref_msr(v: np.ndarray, sigmas) -> np.ndarray:
    """MSR of a 2-D array of values >= 1: mean over scales of log v - log(gaussian * v)."""
    acc = np.zeros_like(v)
    for s in sigmas:
        # scipy's "reflect" is the half-sample mirror the DCT implies; a long truncate makes the
        # kernel effectively the untruncated Gaussian.
        acc += np.log(v) - np.log(ndimage.gaussian_filter(v, s, mode="reflect", truncate=8.0))
    return acc / len(sigmas)


def _ref_balance(r: np.ndarray, s1: float, s2: float) -> np.ndarray:
    """Simplest colour balance to [0, 255] with IPOL's order statistics (range assumed non-zero)."""
    ordered = np.sort(r.ravel())
    n = ordered.size
    lo = ordered[int(s1 * n / 100)]
    hi = ordered[n - 1 - int(s2 * n / 100)]
    return np.clip((r - lo) / (hi - lo), 0.0, 1.0) * 255.0


def _ref_retinex(img8: np.ndarray, method: str, sigmas, s1=1.0, s2=1.0) -> np.ndarray:
    """IPOL Multiscale Retinex of an 8-bit RGB image ``[H, W, 3]``; result ``[H, W, 3]`` in [0, 1]."""
    v = img8.astype(np.float64) + 1.0
    if method == "msrcp":
        intensity = v.mean(axis=2)
        int2 = _ref_balance(_ref_msr(intensity, sigmas), s1, s2)
        amp = np.minimum(int2 / intensity, 255.0 / v.max(axis=2))
        out = amp[..., None] * v
    else:
        out = np.empty_like(v)
        total = v.sum(axis=2)
        for c in range(3):
            r = _ref_msr(v[..., c], sigmas)
            if method == "msrcr":
                r = r * 46.0 * (np.log(125.0 * v[..., c]) - np.log(total))
            out[..., c] = _ref_balance(r, s1, s2)
    return np.clip(out / 255.0, 0.0, 1.0)


def _ours(img8: np.ndarray, method: str, **kw) -> torch.Tensor:
    x = torch.from_numpy(img8).permute(2, 0, 1)[None].float() / 255.0
    return retinex(x, method=method, **kw)


@cache
def _results(method: str) -> tuple[list[float], list[float]]:
    """(mean |ours - reference| in grey levels, LOE of ours) per crop; relative default scales."""
    mads, loes = [], []
    for img8 in _crops():
        h, w = img8.shape[:2]
        sigmas = retinex_scales((15.0, 80.0, 250.0), "relative", h, w)
        ours = _ours(img8, method, scale_unit="relative")
        ref = _ref_retinex(img8, method, sigmas)
        mads.append(float(np.abs(ours[0].permute(1, 2, 0).double().numpy() - ref).mean() * 255.0))
        x = torch.from_numpy(img8).permute(2, 0, 1)[None].float() / 255.0
        loes.append(float(lightness_order_error(ours, x)[0]))
    return mads, loes


@pytest.mark.parametrize("method", METHODS)
def test_matches_independent_ipol_reference(method):
    mads, _ = _results(method)
    assert max(mads) <= THRESHOLDS["reference_mad_grey_levels_max"], mads


def test_matches_reference_at_pixel_scales_and_other_clipping():
    img8 = _crops()[1][:96, :128]
    ours = _ours(img8, "msrcp", low_clip=0.5, high_clip=3.0)  # 15, 80, 250 px on a 96 x 128 crop
    ref = _ref_retinex(img8, "msrcp", (15.0, 80.0, 250.0), 0.5, 3.0)
    mad = np.abs(ours[0].permute(1, 2, 0).double().numpy() - ref).mean() * 255.0
    assert mad <= THRESHOLDS["reference_mad_grey_levels_max"]


def test_lightness_order_error_msrcp_vs_msrcr():
    # Measured LOE (relative scales, these crops): MSRCP 332.8 / 526.9 / 637.0 / 383.4 (mean 470.0),
    # MSRCR 268.3 / 753.6 / 548.2 / 442.9 (mean 503.3). MSRCP is lower on average here but NOT on every
    # image (crops 1 and 3 are lower with MSRCR; on the first 10 full CBSD68 images at 15/80/250 px
    # MSRCP is lower on 5 of 10), so the per-image order is not asserted: it is not a property of the
    # algorithm. The average over this set and regression bounds are.
    _, loe_cp = _results("msrcp")
    _, loe_cr = _results("msrcr")
    assert np.mean(loe_cp) <= np.mean(loe_cr), (loe_cp, loe_cr)
    assert np.mean(loe_cp) <= THRESHOLDS["msrcp_loe_mean_max"]
    assert np.mean(loe_cr) <= THRESHOLDS["msrcr_loe_mean_max"]


def test_msrcp_keeps_chromaticity():
    img8 = _crops()[0]
    x = torch.from_numpy(img8).permute(2, 0, 1)[None].double() / 255.0
    y = retinex(x, method="msrcp")
    v, out = x * 255 + 1, y * 255
    ok = (out.amax(dim=1) < 254.5) & (out.amax(dim=1) > 1)  # not clipped
    ratio_in = v / v.sum(dim=1, keepdim=True)
    ratio_out = out / out.sum(dim=1, keepdim=True)
    assert (ratio_in - ratio_out).abs().amax(dim=1)[ok].max() < 1e-9


# ---- never black, never flat, constant stays constant -------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("c", [1, 3])
def test_dark_image_is_brightened_not_black(method, c):
    x = _rand(2, c, 48, 56, seed=1) * 0.1
    y = retinex(x, method=method)
    assert y.shape == x.shape and torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1
    for i in range(2):
        assert y[i].mean() > 0.25 and y[i].std() > 0.1
        assert y[i].max() > 0.9  # the balance stretches to the full range


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("value", [(0.0, 0.0, 0.0), (0.5, 0.5, 0.5), (1.0, 1.0, 1.0), (0.8, 0.3, 0.05)])
def test_constant_image_stays_constant(method, value):
    x = torch.tensor(value).view(1, 3, 1, 1).expand(2, 3, 33, 47).contiguous()
    y, info = retinex(x, method=method, return_info=True)
    assert (y - x).abs().max() <= 1 / 255
    assert bool(info.unchanged.all())
    gray = x[:, :1]
    assert (retinex(gray, method=method) - gray).abs().max() <= 1 / 255


@pytest.mark.parametrize("method", METHODS)
def test_one_constant_channel_is_kept(method):
    x = _rand(1, 3, 40, 40, seed=2)
    x[:, 2] = 0.0  # no blue at all: nothing to stretch in that channel
    y = retinex(x, method=method)
    assert torch.isfinite(y).all()
    if method != "msrcp":
        assert torch.equal(y[:, 2], x[:, 2])
    assert y[:, 0].std() > 0.1


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("hw", [(1, 1), (3, 5), (2, 1), (17, 9)])
def test_tiny_sizes(method, c, hw):
    x = _rand(2, c, *hw, seed=3)
    y = retinex(x, method=method)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1
    if hw == (1, 1):
        assert torch.equal(y, x)  # one pixel: nothing to stretch, returned as it was
    elif hw != (2, 1) or c == 1:
        assert (y.flatten(1).amax(1) - y.flatten(1).amin(1) > 0.5).all()  # stretched, not flat


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("c", [1, 3])
def test_batch_consistent(method, c):
    x = _rand(3, c, 37, 29, seed=4)
    y = retinex(x, method=method)
    for i in range(3):
        assert torch.allclose(y[i : i + 1], retinex(x[i : i + 1], method=method), atol=1e-5, rtol=0)


def test_gray_is_msr_of_the_channel_for_every_method():
    x = _rand(2, 1, 40, 44, seed=5)
    ref = retinex(x, method="msr")
    assert ref.std() > 0.1
    for method in ("msrcr", "msrcp"):
        assert torch.allclose(retinex(x, method=method), ref, atol=1e-5, rtol=0)


def test_relative_scales_are_resolution_independent():
    assert retinex_scales((15.0, 80.0, 250.0), "relative", 2160, 3840) == pytest.approx((57.6, 307.2, 960.0))
    assert retinex_scales((15.0, 80.0, 250.0), "pixels", 2160, 3840) == (15.0, 80.0, 250.0)
    # The same scene at half the size: relative scales give (nearly) the same result, pixel scales do not.
    # Measured mean |difference| 0.0126 relative, 0.0238 pixels.
    full = torch.from_numpy(_crops()[2]).permute(2, 0, 1)[None].float() / 255.0
    half = torch.nn.functional.avg_pool2d(full, 2)
    diffs = {}
    for unit in ("relative", "pixels"):
        down = torch.nn.functional.avg_pool2d(retinex(full, scale_unit=unit), 2)
        diffs[unit] = float((down - retinex(half, scale_unit=unit)).abs().mean())
    assert diffs["relative"] < 0.02 and diffs["relative"] < 0.7 * diffs["pixels"], diffs


def test_max_gain_limits_amplification():
    x = _rand(1, 3, 40, 40, seed=7) * 0.1
    y = retinex(x, method="msrcp", max_gain=3.0)
    assert (y * 255 <= 3.0 * (x * 255 + 1) + 1e-4).all()
    assert y.mean() < retinex(x, method="msrcp").mean()


def test_strength_blend():
    x = _rand(2, 3, 30, 30, seed=8)
    full = retinex(x)
    assert torch.equal(retinex(x, strength=0.0), x)
    assert torch.allclose(retinex(x, strength=0.4), x + 0.4 * (full - x), atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_dtype_kept(dtype):
    x = _rand(1, 3, 24, 30, seed=9, dtype=dtype)
    y = retinex(x)
    assert y.dtype == dtype
    assert (y.double() - retinex(x.double())).abs().max() < (2e-3 if dtype == torch.float16 else 1e-4)


def test_device(device):
    x = _rand(2, 3, 40, 52, seed=10).to(device)
    for method in METHODS:
        y = retinex(x, method=method)
        assert y.device == x.device
        assert (y.cpu() - retinex(x.cpu(), method=method)).abs().max() < 1e-4


def test_non_contiguous_and_channels_last():
    x = _rand(2, 3, 30, 41, seed=11)
    ref = retinex(x)
    assert torch.allclose(retinex(x.contiguous(memory_format=torch.channels_last)), ref, atol=1e-6, rtol=0)
    view = _rand(2, 3, 30, 82, seed=12)[..., ::2]
    assert torch.allclose(retinex(view), retinex(view.clone()), atol=1e-6, rtol=0)


def test_bad_inputs_rejected():
    x = _rand()
    with pytest.raises(InvalidImageError):
        retinex(x[:, :2])
    with pytest.raises(InvalidImageError):
        retinex(torch.full((1, 3, 4, 4), float("nan")))
    bad = [
        {"method": "ssr"},
        {"scales": ()},
        {"scales": (15.0, -1.0)},
        {"scales": "15,80"},
        {"scale_unit": "percent"},
        {"low_clip": -1.0},
        {"high_clip": 50.0},
        {"max_gain": 0.5},
        {"strength": 1.5},
    ]
    for kw in bad:
        with pytest.raises(InvalidParameterError):
            retinex(x, **kw)


# ---- the operation -------------------------------------------------------------------------------


def test_operation_runs_and_reports():
    op = get_operation("retinex")
    assert op.node_id == "RK_Retinex" and op.category == "enhance"
    x = torch.from_numpy(_crops()[2]).permute(2, 0, 1)[None].float() / 255.0
    out = run("retinex", image=torch.cat([x, x.flip(-1)]), scale_unit="relative")
    assert out["image"].shape == (2, 3, *x.shape[-2:])
    text = out["report"]
    assert "MSRCP" in text and "1%" in text and "LOE" in text
    direct = retinex(x, scale_unit="relative")
    assert torch.allclose(out["image"][:1], direct, atol=1e-6)


def test_operation_scales_zero_means_unused():
    x = _rand(1, 3, 32, 32, seed=13)
    out = run("retinex", image=x, scale_small=20.0, scale_medium=0.0, scale_large=0.0, method="msr")
    assert torch.allclose(out["image"], retinex(x, method="msr", scales=(20.0,)), atol=1e-6)
    assert "20 px" in out["report"]
    with pytest.raises(InvalidParameterError):
        run("retinex", image=x, scale_small=0.0, scale_medium=0.0, scale_large=0.0)
