"""Tests for restorekit.denoise.nlm (pixelwise non-local means) and its operation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import support
import torch
from thresholds import ALL_THRESHOLDS

from restorekit.denoise.nlm import NlmSettings, auto_settings, nlm_denoise
from restorekit.errors import InvalidImageError, InvalidParameterError

THRESHOLDS = ALL_THRESHOLDS["nlm"]


def _noisy(shape, sigma255=25.0, seed=0):
    gen = torch.Generator().manual_seed(seed)
    base = torch.linspace(0.2, 0.8, shape[-1]).expand(shape).clone()
    return (base + torch.randn(shape, generator=gen) * sigma255 / 255).clamp(0, 1)


def _naive(img, sigma, h, patch, radius, center, guide=None):
    """Direct per-pixel NLM of one [C, H, W] float64 image with mirror extension (the definition).

    Weights from the patches of ``guide`` ([G, H, W], default the image itself), applied to ``img``.
    """
    guide = img if guide is None else guide
    _, hh, ww = img.shape
    pr = patch // 2

    def mirror(i, n):
        if n == 1:
            return 0
        period = 2 * (n - 1)
        i %= period
        return period - i if i >= n else i

    def patch_at(y, x):
        ys = [mirror(y + k, hh) for k in range(-pr, pr + 1)]
        xs = [mirror(x + k, ww) for k in range(-pr, pr + 1)]
        return guide[:, ys][:, :, xs]

    ry, rx = min(radius, hh - 1), min(radius, ww - 1)
    out = np.zeros_like(img)
    for y in range(hh):
        for x in range(ww):
            ref = patch_at(y, x)
            weights, values = [], []
            for dy in range(-ry, ry + 1):
                for dx in range(-rx, rx + 1):
                    if center == "max" and dy == 0 and dx == 0:
                        continue
                    d2 = np.mean((ref - patch_at(y + dy, x + dx)) ** 2)
                    weights.append(math.exp(-max(d2 - 2 * sigma**2, 0.0) / h**2))
                    values.append(img[:, mirror(y + dy, hh), mirror(x + dx, ww)])
            weights, values = np.array(weights), np.array(values)
            num, den = (weights[:, None] * values).sum(0), weights.sum()
            if center == "max":
                num, den = num + weights.max() * img[:, y, x], den + weights.max()
            out[:, y, x] = num / den
    return out


# ---- values ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, patch, radius, center",
    [
        ((1, 9, 11), 3, 2, "one"),
        ((1, 9, 11), 5, 3, "max"),
        ((3, 7, 6), 3, 2, "one"),
        ((3, 7, 6), 5, 3, "max"),
        ((1, 4, 13), 3, 4, "one"),  # search radius larger than the height
    ],
)
def test_matches_direct_definition(shape, patch, radius, center):
    x = torch.rand(2, *shape, generator=torch.Generator().manual_seed(1))
    out = nlm_denoise(x, sigma=0.08, h=0.1, patch_size=patch, search_radius=radius, center_weight=center)
    for i in range(2):
        ref = _naive(x[i].double().numpy(), 0.08, 0.1, patch, radius, center)
        np.testing.assert_allclose(out[i].numpy(), ref, atol=2e-6)


def test_luma_mode_uses_luma_distances():
    x = torch.rand(2, 3, 8, 9, generator=torch.Generator().manual_seed(2))
    out = nlm_denoise(x, sigma=0.05, h=0.07, patch_size=3, search_radius=2, color_mode="luma")
    luma = (x.double() * torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64).view(1, 3, 1, 1)).sum(1)
    for i in range(2):
        # The luma carries 0.669 x the per-channel noise sigma; h applies to luma distances.
        ref = _naive(x[i].double().numpy(), 0.05 * 0.66855, 0.07, 3, 2, "one", guide=luma[i : i + 1].numpy())
        np.testing.assert_allclose(out[i].numpy(), ref, atol=2e-5)
    assert not torch.allclose(out, nlm_denoise(x, sigma=0.05, h=0.07, patch_size=3, search_radius=2))


def test_constant_image_unchanged():
    x = torch.full((2, 3, 20, 17), 0.4)
    torch.testing.assert_close(nlm_denoise(x), x)


def test_one_pixel_and_zero_radius_return_input():
    x = torch.rand(2, 3, 1, 1)
    torch.testing.assert_close(nlm_denoise(x), x, atol=0, rtol=0)
    y = torch.rand(1, 1, 12, 12)
    torch.testing.assert_close(nlm_denoise(y, search_radius=0), y, atol=0, rtol=0)


def test_denoises_and_stronger_is_smoother():
    clean = torch.linspace(0.2, 0.8, 48).expand(1, 1, 48, 48).contiguous()
    noisy = _noisy((1, 1, 48, 48), 25)
    err = lambda t: float((t - clean).square().mean())  # noqa: E731
    out = nlm_denoise(noisy)
    assert err(out) < 0.25 * err(noisy)
    weak, strong = nlm_denoise(noisy, strength=0.3), nlm_denoise(noisy, strength=3.0)
    assert float(strong.diff(dim=-1).abs().mean()) < float(weak.diff(dim=-1).abs().mean())


def test_auto_settings_table():
    for mode in ("gray", "joint", "luma"):
        for s in (0.0, 5, 15, 25, 50, 75, 200):
            patch, radius, factor = auto_settings(s, mode=mode)
            assert patch % 2 == 1 and radius >= 1 and 0.3 <= factor <= 1.5
    _, settings = nlm_denoise(_noisy((1, 1, 32, 32), 25), sigma=25 / 255, return_info=True)
    patch, radius, factor = auto_settings(25, mode="gray")
    assert settings[0].patch_size == patch and settings[0].search_radius == radius
    assert settings[0].h == pytest.approx(factor * 25 / 255)


# ---- checklist: shapes, dtype, device, layout, batch, range ------------------------------------


@pytest.mark.parametrize(
    "shape", [(1, 1, 16, 16), (3, 3, 16, 16), (1, 3, 7, 9), (3, 1, 3, 5), (2, 3, 1, 6), (1, 1, 1, 1)]
)
def test_shapes_kept(shape, device):
    x = torch.rand(*shape, device=device)
    out = nlm_denoise(x)
    assert out.shape == x.shape and out.device == x.device and out.dtype == x.dtype
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_dtype_kept(dtype, device):
    x = torch.rand(1, 3, 12, 10, device=device).to(dtype)
    out = nlm_denoise(x, sigma=0.05)
    assert out.dtype == dtype and out.device == x.device


def test_cuda_matches_cpu(device):
    x = _noisy((2, 3, 33, 27), 20)
    ref = nlm_denoise(x, center_weight="max")
    out = nlm_denoise(x.to(device), center_weight="max").cpu()
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def test_non_contiguous_and_channels_last(device):
    x = _noisy((2, 3, 20, 24), 20).to(device)
    ref = nlm_denoise(x)
    torch.testing.assert_close(nlm_denoise(x.to(memory_format=torch.channels_last)), ref, atol=1e-6, rtol=0)
    wide = _noisy((2, 3, 20, 48), 20).to(device)[..., ::2]
    assert not wide.is_contiguous()
    torch.testing.assert_close(nlm_denoise(wide), nlm_denoise(wide.contiguous()), atol=1e-6, rtol=0)


def test_batch_consistency(device):
    # Different noise levels: different automatic sigma, h and (for the noisiest) patch size.
    x = torch.cat([_noisy((1, 1, 24, 20), s, seed=i) for i, s in enumerate((5, 25, 60))]).to(device)
    out, settings = nlm_denoise(x, return_info=True)
    assert len({s.patch_size for s in settings}) > 1
    for i in range(x.shape[0]):
        torch.testing.assert_close(out[i : i + 1], nlm_denoise(x[i : i + 1]), atol=1e-5, rtol=0)


def test_range_kept():
    x = torch.rand(2, 3, 19, 23)
    out = nlm_denoise(x, sigma=0.3)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_small_memory_budget_same_result():
    x = _noisy((2, 3, 30, 26), 25)
    ref = nlm_denoise(x)
    # A budget below one row of offsets forces chunks of a few offsets within a row.
    torch.testing.assert_close(nlm_denoise(x, memory_budget=200_000), ref, atol=1e-5, rtol=0)


def test_row_bands_are_exact():
    # A tiny budget splits the image into bands of rows (with margins); the result is unchanged.
    x = _noisy((2, 1, 70, 21), 25)
    calls = []
    out = nlm_denoise(x, patch_size=5, search_radius=4, memory_budget=20_000, progress=lambda d, t: calls.append(t))
    assert calls[-1] > 81  # several bands of 81 offsets each
    ref = nlm_denoise(x, patch_size=5, search_radius=4)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def test_progress_reported():
    calls = []
    nlm_denoise(
        _noisy((2, 1, 40, 40)), search_radius=4, memory_budget=100_000, progress=lambda d, t: calls.append((d, t))
    )
    assert len(calls) > 2
    assert calls[-1][0] == calls[-1][1] and calls[-1][1] % 81 == 0
    assert all(b[0] >= a[0] for a, b in zip(calls, calls[1:], strict=False))


def test_per_image_sigma_and_h():
    x = torch.cat([_noisy((1, 1, 16, 16), 10), _noisy((1, 1, 16, 16), 30)])
    out, settings = nlm_denoise(x, sigma=[10 / 255, 30 / 255], h=torch.tensor([0.03, 0.1]), return_info=True)
    assert [s.h for s in settings] == pytest.approx([0.03, 0.1])
    torch.testing.assert_close(out[1:], nlm_denoise(x[1:], sigma=30 / 255, h=0.1), atol=1e-6, rtol=0)


def test_return_info_convention():
    """The image alone by default; ``(image, settings)`` with ``return_info=True``, same image."""
    x = _noisy((1, 3, 24, 24), 25)
    out = nlm_denoise(x, sigma=25 / 255)
    assert isinstance(out, torch.Tensor)
    res = nlm_denoise(x, sigma=25 / 255, return_info=True)
    assert isinstance(res, tuple) and len(res) == 2
    assert torch.equal(res[0], out)
    assert isinstance(res[1], list) and len(res[1]) == 1 and isinstance(res[1][0], NlmSettings)


# ---- bad inputs and parameters -----------------------------------------------------------------


@pytest.mark.parametrize(
    "x",
    [torch.rand(1, 4, 8, 8), torch.rand(3, 8, 8), torch.zeros(1, 1, 8, 8, dtype=torch.int64), torch.zeros(1, 1, 0, 8)],
)
def test_bad_images_rejected(x):
    with pytest.raises(InvalidImageError):
        nlm_denoise(x)


def test_nan_rejected():
    x = torch.rand(1, 1, 8, 8)
    x[0, 0, 2, 2] = float("nan")
    with pytest.raises(InvalidImageError):
        nlm_denoise(x)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"patch_size": 4},
        {"patch_size": 0},
        {"patch_size": 37},
        {"patch_size": 3.0},
        {"search_radius": -1},
        {"search_radius": 51},
        {"h": 0.0},
        {"h": -0.1},
        {"h": float("nan")},
        {"sigma": -0.01},
        {"sigma": [0.1, 0.2, 0.3]},
        {"sigma": "auto"},
        {"strength": 0.0},
        {"strength": float("inf")},
        {"color_mode": "rgb"},
        {"center_weight": "zero"},
        {"memory_budget": 0},
    ],
)
def test_bad_parameters_rejected(kwargs):
    with pytest.raises(InvalidParameterError):
        nlm_denoise(torch.rand(2, 1, 8, 8), **kwargs)


# ---- operation -----------------------------------------------------------------------------------


def _op():
    import restorekit.operations.denoise.nlm  # noqa: F401  (registers the operation)
    from restorekit.params import OPERATIONS

    return OPERATIONS["nlm_denoise"]


def _defaults(op):
    return {p.name: p.to_core(p.default) for p in op.inputs if not p.is_data}


def test_operation_declaration():
    op = _op()
    assert op.node_id == "RK_NonLocalMeans"
    assert op.display_name == "Non-Local Means" and op.category == "denoise" and op.gpu
    assert [o.name for o in op.outputs] == ["image", "report"]
    op.check_signature()
    assert op.param("sigma").to_core(25.5) == pytest.approx(0.1)
    assert op.param("h").to_core(0.0) is None and op.param("patch_size").to_core(0) is None
    with pytest.raises(InvalidParameterError):
        op.param("search_radius").to_core(51)


@pytest.mark.parametrize("shape", [(3, 3, 64, 64), (1, 1, 64, 64), (1, 3, 1, 1), (2, 1, 3, 5), (1, 3, 7, 9)])
def test_operation_defaults(shape):
    op = _op()
    x = torch.rand(*shape)
    with torch.inference_mode():
        image, report = op.call(dict(_defaults(op), image=x))
    assert image.shape == x.shape and torch.isfinite(image).all()
    assert float(image.min()) >= 0 and float(image.max()) <= 1
    assert "sigma" in report and "h " in report and "patch" in report and "window" in report


def test_operation_manual_values_and_report():
    op = _op()
    x = _noisy((2, 3, 32, 32), 20)
    values = dict(_defaults(op), image=x)
    for name, user in (("sigma", 20.0), ("h", 15.0), ("patch_size", 5), ("search_radius", 4)):
        values[name] = op.param(name).to_core(user)
    image, report = op.call(values)
    torch.testing.assert_close(
        image, nlm_denoise(x, sigma=20 / 255, h=15 / 255, patch_size=5, search_radius=4), atol=0, rtol=0
    )
    assert "sigma 20.00 (given)" in report and "h 15.00 (given)" in report
    assert "patch 5x5" in report and "window 9x9" in report


# ---- quality ---------------------------------------------------------------------------------------

_SET12_256 = ["01", "02", "03", "04"]


def _skimage_nlm(noisy: torch.Tensor, *, sigma=None, h_factor=0.8, patch=5, distance=6) -> tuple[torch.Tensor, float]:
    """scikit-image's fast NLM with its documented settings; sigma from its estimate_sigma."""
    from skimage.restoration import denoise_nl_means, estimate_sigma

    from restorekit.image import from_numpy, to_numpy

    arr = to_numpy(noisy)[0].astype(np.float64)
    color = arr.shape[-1] == 3
    img = arr if color else arr[..., 0]
    axis = -1 if color else None
    s = float(estimate_sigma(img, channel_axis=axis, average_sigmas=True)) if sigma is None else sigma
    res = denoise_nl_means(
        img, h=h_factor * s, sigma=s, patch_size=patch, patch_distance=distance, fast_mode=True, channel_axis=axis
    )
    res = res if color else res[..., None]
    return from_numpy(res[None], noisy), s


@pytest.fixture(scope="module")
def set12_256():
    return support.load_set("Set12", _SET12_256, gray=True)


@pytest.mark.quality
@pytest.mark.parametrize("sigma", [15, 25])
def test_quality_set12_beats_skimage(set12_256, sigma):
    ours, ref = [], []
    for i, clean in enumerate(set12_256):
        noisy = support.add_noise(clean, sigma, seed=i).clamp(0, 1)
        ours.append(support.psnr(nlm_denoise(noisy), clean))
        ref.append(support.psnr(_skimage_nlm(noisy)[0], clean))
    p_ours, p_ref = float(np.mean(ours)), float(np.mean(ref))
    assert p_ours >= THRESHOLDS[f"nlm_set12_256_sigma{sigma}_psnr"], (p_ours, p_ref)
    assert p_ours - p_ref >= THRESHOLDS[f"nlm_set12_256_sigma{sigma}_min_gain"], (p_ours, p_ref)


@pytest.mark.quality
def test_quality_color_beats_skimage():
    ours, ref = [], []
    for i, clean in enumerate(support.load_set("CBSD68", gray=False)[:2]):
        h, w = clean.shape[-2:]
        clean = clean[..., h // 2 - 64 : h // 2 + 64, w // 2 - 64 : w // 2 + 64]
        noisy = support.add_noise(clean, 25, seed=i).clamp(0, 1)
        ours.append(support.psnr(nlm_denoise(noisy), clean))
        ref.append(support.psnr(_skimage_nlm(noisy)[0], clean))
    p_ours, p_ref = float(np.mean(ours)), float(np.mean(ref))
    assert p_ours >= THRESHOLDS["nlm_cbsd68_crop_sigma25_psnr"], (p_ours, p_ref)
    assert p_ours - p_ref >= THRESHOLDS["nlm_cbsd68_crop_sigma25_min_gain"], (p_ours, p_ref)


@pytest.mark.quality
def test_quality_equal_settings_match_skimage(set12_256):
    """At scikit-image's settings (h = 0.8 sigma, sigma, patch 5, search radius 6) we compute the same filter.

    Not to the last bit: scikit-image's fast mode sums squared differences over a 4x4 window
    (``s - 1`` pixels, off-centre by half a pixel) and divides by ``s^2 = 25``, so its effective h is
    ``5/4`` of the nominal one; it gives the pixel itself weight 2, cuts weights below ``e^-5`` and
    treats the last rows and columns differently. So we compare on the interior (8-pixel margin):
    PSNR within a small margin, and the two results differ by a small fraction of what both
    remove from the noisy image; with h matched (ours at 1.25 x h) the PSNR agrees closely.
    """
    inner = (..., slice(8, -8), slice(8, -8))
    stats = {"nominal": ([], []), "matched": ([], [])}
    for i, clean in enumerate(set12_256[:3]):
        clean = clean[..., 64:192, 64:192]
        noisy = support.add_noise(clean, 25, seed=i).clamp(0, 1)
        sigma = 25 / 255
        ref, _ = _skimage_nlm(noisy, sigma=sigma)
        for key, factor in (("nominal", 0.8), ("matched", 1.0)):
            ours = nlm_denoise(noisy, sigma=sigma, h=factor * sigma, patch_size=5, search_radius=6)
            stats[key][0].append(support.psnr(ours[inner], clean[inner]) - support.psnr(ref[inner], clean[inner]))
            stats[key][1].append(
                float((ours[inner] - ref[inner]).abs().mean() / (noisy[inner] - ref[inner]).abs().mean())
            )
    for key, name in (("nominal", "equal_settings"), ("matched", "matched_h")):
        diffs, rel = stats[key]
        assert abs(float(np.mean(diffs))) <= THRESHOLDS[f"nlm_{name}_max_abs_psnr_diff"], (key, diffs)
        assert float(np.mean(rel)) <= THRESHOLDS[f"nlm_{name}_max_rel_diff"], (key, rel)
