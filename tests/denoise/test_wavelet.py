"""Tests of restorekit.denoise.wavelet (and the threshold rules in wavelet_threshold)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import pywt
import torch
from thresholds import ALL_THRESHOLDS

from restorekit.denoise.wavelet import (
    DISCRETE_WAVELETS,
    TRANSFORMS,
    WaveletInfo,
    auto_levels,
    max_levels,
    subband_noise_gains,
    wavelet_denoise,
)
from restorekit.denoise.wavelet_threshold import (
    bayes_threshold,
    shrink,
    sure_threshold,
    universal_threshold,
)
from restorekit.errors import InvalidImageError, InvalidParameterError

THRESHOLDS = ALL_THRESHOLDS["wavelet"]

SET12_CI = [f"{i:02d}" for i in range(1, 8)]
SIGMA_TEST = 25


def _noisy_image(h: int = 48, w: int = 40, c: int = 1, b: int = 1, sigma255: float = 20.0, seed: int = 0):
    """A smooth synthetic image (gradients + a disc) and its noisy, clipped version."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    base = 0.25 + 0.4 * xx * yy + 0.25 * (((yy - 0.5) ** 2 + (xx - 0.5) ** 2) < 0.08).float()
    clean = torch.stack([base * (0.8 + 0.1 * k) for k in range(c)]).unsqueeze(0).repeat(b, 1, 1, 1)
    gen = torch.Generator().manual_seed(seed)
    noisy = (clean + torch.randn(clean.shape, generator=gen) * sigma255 / 255).clamp(0, 1)
    return clean, noisy


# ---------------------------------------------------------------- shapes, dtype, device, layout, batch


@pytest.mark.parametrize("b", [1, 3])
@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("size", [(1, 1), (1, 40), (2, 2), (3, 5), (7, 9), (33, 47), (64, 64)])
def test_shapes_all_sizes(b, c, size):
    x = torch.rand(b, c, *size, generator=torch.Generator().manual_seed(1))
    for transform in TRANSFORMS:
        out = wavelet_denoise(x, transform=transform, shifts=2)
        assert out.shape == x.shape
        assert torch.isfinite(out).all()
        assert out.min() >= 0 and out.max() <= 1


def test_one_pixel_returns_itself():
    x = torch.tensor([[[[0.3]]], [[[0.7]]]])
    out, infos = wavelet_denoise(x, return_info=True)
    assert torch.equal(out, x)
    assert infos[0].levels == 0


def test_return_info_convention():
    """The image alone by default; ``(image, infos)`` with ``return_info=True``, same image."""
    _, x = _noisy_image(24, 24, c=3)
    out = wavelet_denoise(x)
    assert isinstance(out, torch.Tensor)
    res = wavelet_denoise(x, return_info=True)
    assert isinstance(res, tuple) and len(res) == 2
    assert torch.equal(res[0], out)
    assert isinstance(res[1], list) and len(res[1]) == 1 and isinstance(res[1][0], WaveletInfo)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_dtype_kept(dtype):
    _, noisy = _noisy_image(c=3)
    out = wavelet_denoise(noisy.to(dtype))
    assert out.dtype == dtype
    ref = wavelet_denoise(noisy.to(dtype).float())
    assert torch.allclose(out.float(), ref, atol=1e-2)


def test_device_kept(device):
    _, noisy = _noisy_image(c=3)
    out = wavelet_denoise(noisy.to(device))
    assert out.device.type == device.type
    assert torch.allclose(out.cpu(), wavelet_denoise(noisy), atol=1e-5)


def test_non_contiguous_and_channels_last():
    _, noisy = _noisy_image(h=40, w=48, c=3, b=2)
    ref = wavelet_denoise(noisy)
    cl = noisy.to(memory_format=torch.channels_last)
    assert torch.allclose(wavelet_denoise(cl), ref, atol=1e-6)
    nc = noisy.transpose(-1, -2).contiguous().transpose(-1, -2)  # same values, transposed strides
    assert not nc.is_contiguous()
    assert torch.allclose(wavelet_denoise(nc), ref, atol=1e-6)


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_batch_consistency(transform):
    _, a = _noisy_image(c=3, seed=1)
    _, b = _noisy_image(c=3, sigma255=40, seed=2)
    x = torch.cat([a, b, a.flip(-1)])
    out = wavelet_denoise(x, transform=transform, shifts=2)
    for i in range(x.shape[0]):
        assert torch.allclose(out[i : i + 1], wavelet_denoise(x[i : i + 1], transform=transform, shifts=2), atol=1e-6)


def test_inference_mode():
    _, noisy = _noisy_image(c=3, b=2)
    with torch.inference_mode():
        out = wavelet_denoise(noisy)
    assert out.shape == noisy.shape


def test_progress_reports_every_step():
    """Per shift (cycle spinning), per level of each of the three stages (stationary), 3 steps (decimated)."""
    _, noisy = _noisy_image(c=3, b=2)
    calls = []
    wavelet_denoise(noisy, transform="cycle_spin", shifts=2, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(i, 4) for i in range(1, 5)]
    calls.clear()
    _, infos = wavelet_denoise(noisy, progress=lambda d, t: calls.append((d, t)), return_info=True)
    steps = 3 * infos[0].levels
    assert calls == [(i, steps) for i in range(1, steps + 1)]
    calls.clear()
    wavelet_denoise(noisy, transform="decimated", progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 3), (2, 3), (3, 3)]


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "bad",
    [
        torch.rand(3, 8, 8),  # 3-D
        torch.rand(1, 2, 8, 8),  # 2 channels
        torch.randint(0, 255, (1, 1, 8, 8)),  # integer
        torch.full((1, 1, 8, 8), float("nan")),
        torch.rand(1, 1, 0, 8),  # empty
    ],
)
def test_bad_images_rejected(bad):
    with pytest.raises(InvalidImageError):
        wavelet_denoise(bad)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "neigh"},
        {"mode": "semisoft"},
        {"wavelet": "morl"},  # continuous wavelet
        {"wavelet": "db99"},
        {"wavelet": 4},
        {"levels": -1},
        {"levels": 11},
        {"levels": 1.5},
        {"levels": True},
        {"transform": "dtcwt"},
        {"shifts": 0},
        {"shifts": 17},
        {"color": "lab"},
        {"sigma": -0.1},
        {"sigma": 0.0},
        {"sigma": 2.0},
        {"sigma": float("nan")},
        {"sigma": "25"},
        {"method": "manual"},  # no threshold
        {"method": "manual", "threshold": -0.1},
        {"method": "manual", "threshold": float("inf")},
        {"sure_hybrid": 1},
    ],
)
def test_bad_parameters_rejected(kwargs):
    with pytest.raises(InvalidParameterError):
        wavelet_denoise(torch.rand(1, 1, 16, 16), **kwargs)


# ---------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("mode", "t", "expected"),
    [
        # 2x2 Haar: mean 0.5, row-difference coefficient -0.4, column-difference -0.2, diagonal 0.
        ("hard", 1.0, [[0.5, 0.5], [0.5, 0.5]]),
        ("hard", 0.3, [[0.3, 0.3], [0.7, 0.7]]),
        ("soft", 0.1, [[0.3, 0.4], [0.6, 0.7]]),
        ("garrote", 0.1, [[0.2375, 0.3875], [0.6125, 0.7625]]),
    ],
)
def test_golden_haar_2x2(mode, t, expected):
    x = torch.tensor([[[[0.2, 0.4], [0.6, 0.8]]]])
    for transform in ("decimated", "cycle_spin"):
        out = wavelet_denoise(
            x, method="manual", threshold=t, mode=mode, wavelet="db1", levels=1, transform=transform, shifts=1
        )
        assert torch.allclose(out, torch.tensor([[expected]]), atol=1e-6), (transform, out)


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("wavelet", ["db1", "sym8", "bior1.3", "rbio2.2", "coif3"])
def test_zero_threshold_reconstructs(transform, wavelet):
    x = torch.rand(1, 3, 37, 50, generator=torch.Generator().manual_seed(3)) * 0.8 + 0.1
    out = wavelet_denoise(x, method="manual", threshold=0.0, wavelet=wavelet, transform=transform, shifts=2)
    assert torch.allclose(out, x, atol=2e-5)


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_constant_image_unchanged(transform):
    x = torch.full((2, 3, 20, 30), 0.4)
    assert torch.allclose(wavelet_denoise(x, transform=transform, shifts=2), x, atol=1e-5)
    assert torch.allclose(wavelet_denoise(x, sigma=0.1, method="bayes", transform=transform, shifts=2), x, atol=1e-5)


def test_shrink_functions():
    d = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0], dtype=np.float32)
    assert np.allclose(shrink(d, 1.0, "soft"), [-2, 0, 0, 0, 0, 0, 1])
    assert np.allclose(shrink(d, 1.0, "hard"), [-3, 0, 0, 0, 0, 0, 2])
    assert np.allclose(shrink(d, 1.0, "garrote"), [-3 + 1 / 3, 0, 0, 0, 0, 0, 1.5])
    assert shrink(d, 1.0, "garrote").dtype == np.float32
    assert np.array_equal(shrink(d, 0.0, "soft"), d)


def test_bayes_and_universal_thresholds():
    rng = np.random.default_rng(0)
    d = rng.normal(0, 3.0, 200_000)  # signal std 3 (Gaussian) ...
    noisy = d + rng.normal(0, 1.0, d.size)  # ... plus unit noise: sigma_x = 3, T = 1/3
    assert bayes_threshold(noisy, 1.0) == pytest.approx(1 / 3, rel=0.01)
    pure = rng.normal(0, 1.0, 1000)
    assert bayes_threshold(pure * 0.9, 1.0) == pytest.approx(np.abs(pure * 0.9).max())  # no signal: kill all
    assert universal_threshold(2.0, 65536) == pytest.approx(2.0 * math.sqrt(2 * math.log(65536)))
    assert universal_threshold(2.0, 1) == 0.0


def _sure_brute_force(d, s, mode):
    x = np.abs(d.ravel()) / s
    n = x.size
    tu = math.sqrt(2 * math.log(n))
    best_r, best_t = n, 0.0
    for t in np.concatenate([np.sort(x[x <= tu]), [tu]]):
        small = x <= t
        if mode == "garrote":
            r = n - 2 * small.sum() + np.sum(x[small] ** 2) + np.sum((t**4 + 2 * t**2) / x[~small] ** 2)
        else:
            r = n - 2 * small.sum() + np.sum(np.minimum(x, t) ** 2)
        if r < best_r - 1e-9:
            best_r, best_t = r, t
    return best_t * s


@pytest.mark.parametrize("mode", ["soft", "garrote"])
def test_sure_threshold_is_exact_minimiser(mode):
    rng = np.random.default_rng(5)
    for _ in range(8):
        n = int(rng.integers(5, 300))
        s = float(rng.uniform(0.2, 2.0))
        d = rng.normal(0, s, n) + (rng.random(n) < 0.15) * rng.normal(0, 6 * s, n)
        d[: int(rng.integers(0, 3))] = 0.0  # exact zeros must not break the garrote's 1/a^2 sums
        assert sure_threshold(d, s, mode, hybrid=False) == pytest.approx(_sure_brute_force(d, s, mode), rel=1e-9)


def test_sure_hybrid_and_limits():
    rng = np.random.default_rng(1)
    pure = rng.normal(0, 0.5, 4096)
    assert sure_threshold(pure, 0.5, hybrid=True) == pytest.approx(universal_threshold(0.5, 4096))
    assert sure_threshold(pure, 0.5, hybrid=False) <= universal_threshold(0.5, 4096) + 1e-12
    dense = rng.normal(0, 20.0, 4096)  # all signal: keep everything
    assert sure_threshold(dense, 0.5, hybrid=True) < 0.5
    assert sure_threshold(np.zeros(0), 1.0) == 0.0


@pytest.mark.parametrize("wavelet", ["db4", "sym8", "bior1.3", "bior4.4", "rbio2.2"])
def test_subband_noise_gains(wavelet):
    gains = subband_noise_gains(wavelet, 3)
    if pywt.Wavelet(wavelet).orthogonal:
        assert np.allclose(gains, 1.0, atol=1e-6)
    rng = np.random.default_rng(2)
    noise = rng.normal(0, 1.0, (256, 256))
    coeffs = pywt.swt2(noise, wavelet, level=3, trim_approx=True)
    for j, (g_hv, g_d) in enumerate(gains):
        bands = coeffs[len(coeffs) - 1 - j]
        assert np.std(bands[0]) == pytest.approx(g_hv, rel=0.05)
        assert np.std(bands[2]) == pytest.approx(g_d, rel=0.05)


def test_levels_rules():
    assert auto_levels(256, 256, "bior1.3", "stationary") == 4
    assert auto_levels(512, 768, "db4", "decimated") == 5
    assert auto_levels(256, 256, "db4", "decimated", "visu") == 2
    assert auto_levels(1, 100, "db4") == 0
    assert max_levels(3, 5, "sym8", "decimated") == 1
    assert max_levels(64, 64, "db1", "stationary") == 6
    _, infos = wavelet_denoise(torch.rand(1, 1, 20, 24), levels=10, wavelet="db2", transform="decimated", return_info=True)
    assert infos[0].levels == max_levels(20, 24, "db2", "decimated")


def test_info_sigma_and_thresholds():
    _, noisy = _noisy_image(h=64, w=64, c=3)
    s = 20 / 255
    _, infos = wavelet_denoise(
        noisy, sigma=s, method="visu", mode="hard", wavelet="db4", transform="decimated", return_info=True
    )
    info = infos[0]
    assert info.channels == ("Y", "Cb", "Cr") and not info.sigma_estimated
    row_norms = np.linalg.norm(
        [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], axis=1
    )
    assert np.allclose(info.sigma, s * row_norms, rtol=1e-3)
    for ch, per_level in enumerate(info.thresholds):
        assert np.allclose(per_level, info.sigma[ch] * math.sqrt(2 * math.log(64 * 64)))
    _, infos = wavelet_denoise(noisy, color="per_channel", return_info=True)
    assert infos[0].channels == ("R", "G", "B") and infos[0].sigma_estimated
    assert all(abs(v * 255 - 20) < 4 for v in infos[0].sigma)
    assert len(DISCRETE_WAVELETS) == len(pywt.wavelist(kind="discrete"))


@pytest.mark.parametrize("method", ["bayes", "visu", "sure"])
@pytest.mark.parametrize("mode", ["soft", "hard", "garrote"])
def test_denoises_synthetic(method, mode):
    clean, noisy = _noisy_image(h=64, w=64, c=3, sigma255=25)
    out = wavelet_denoise(noisy, method=method, mode=mode)
    err_in = torch.mean((noisy - clean) ** 2)
    assert torch.mean((out - clean) ** 2) < 0.5 * err_in


# ---------------------------------------------------------------- quality (Set12, scikit-image reference)


@pytest.fixture(scope="module")
def set12_results():
    import support
    from skimage.restoration import denoise_wavelet

    cleans = support.load_set("Set12", SET12_CI)
    rows: dict[str, list[float]] = {}
    noisies = [support.add_noise(c, SIGMA_TEST, seed=i).clamp(0, 1) for i, c in enumerate(cleans)]
    rows["noisy"] = [support.psnr(n, c) for n, c in zip(noisies, cleans, strict=True)]
    sk = []
    for n, c in zip(noisies, cleans, strict=True):
        r = denoise_wavelet(n[0, 0].numpy(), wavelet="db4", method="BayesShrink", mode="soft", rescale_sigma=True)
        sk.append(support.psnr(torch.from_numpy(np.asarray(r, dtype=np.float32))[None, None], c))
    rows["skimage_bayes_db4"] = sk
    configs = {
        "bayes_dec_db4": dict(method="bayes", mode="soft", transform="decimated", wavelet="db4"),
        "default": {},
        "bayes_stationary": dict(method="bayes", mode="soft"),
        "bayes_cycle_spin": dict(method="bayes", mode="soft", transform="cycle_spin"),
        "visu_soft_decimated": dict(method="visu", mode="soft", transform="decimated", wavelet="db4"),
        "visu_hard_stationary": dict(method="visu", mode="hard"),
        "sure_soft_decimated": dict(method="sure", mode="soft", transform="decimated", wavelet="db4"),
        "sure_soft_stationary": dict(method="sure", mode="soft"),
    }
    for name, kw in configs.items():
        rows[name] = [support.psnr(wavelet_denoise(n, **kw), c) for n, c in zip(noisies, cleans, strict=True)]
    return {k: np.asarray(v) for k, v in rows.items()}


@pytest.mark.quality
def test_bayes_matches_or_beats_skimage(set12_results):
    r = set12_results
    diff = r["bayes_dec_db4"] - r["skimage_bayes_db4"]
    assert diff.mean() >= THRESHOLDS["wavelet/bayes_dec_db4_minus_skimage_mean"], diff
    assert diff.min() >= THRESHOLDS["wavelet/bayes_dec_db4_minus_skimage_min_image"], diff


@pytest.mark.quality
@pytest.mark.parametrize("config", ["default", "bayes_stationary", "bayes_cycle_spin"])
def test_best_configurations_clearly_better(set12_results, config):
    r = set12_results
    gain = r[config] - r["skimage_bayes_db4"]
    assert gain.mean() >= THRESHOLDS[f"wavelet/{config}_minus_skimage_mean"], gain
    assert gain.min() > 0, gain


@pytest.mark.quality
@pytest.mark.parametrize(
    "config", ["visu_soft_decimated", "visu_hard_stationary", "sure_soft_decimated", "sure_soft_stationary"]
)
def test_visu_and_sure_raise_psnr(set12_results, config):
    r = set12_results
    gain = r[config] - r["noisy"]
    assert gain.mean() >= THRESHOLDS[f"wavelet/{config}_gain_mean"], gain
    assert gain.min() >= THRESHOLDS["wavelet/any_gain_min_image"], gain


@pytest.mark.quality
def test_colour_ycbcr_better_than_per_channel():
    import support

    cleans = support.load_set("Set3C")
    noisies = [support.add_noise(c, SIGMA_TEST, seed=i).clamp(0, 1) for i, c in enumerate(cleans)]
    ycc = np.array([support.psnr(wavelet_denoise(n), c) for n, c in zip(noisies, cleans, strict=True)])
    rgb = np.array(
        [support.psnr(wavelet_denoise(n, color="per_channel"), c) for n, c in zip(noisies, cleans, strict=True)]
    )
    assert (ycc - rgb).mean() >= THRESHOLDS["wavelet/set3c_ycbcr_minus_per_channel_mean"], (ycc, rgb)
    assert ycc.mean() >= THRESHOLDS["wavelet/set3c_default_psnr_mean"], ycc


# ---------------------------------------------------------------- same results as the PyWavelets path
#
# A private copy of the previous implementation (PyWavelets on numpy, one image and channel at a
# time, sort-based SURE), kept as the reference the torch path must reproduce. It runs in float64.


def _ref_shrink_details(coeffs, gains, sigma, method, mode, n_pixels, manual, hybrid):
    levels = len(coeffs) - 1
    used = []
    for j in range(levels):
        k = levels - j
        g_hv, g_d = gains[j]
        level_out, level_t = [], []
        for band, gain in zip(coeffs[k], (g_hv, g_hv, g_d), strict=True):
            noise = sigma * gain
            if method == "bayes":
                t = bayes_threshold(band, noise)
            elif method == "visu":
                t = universal_threshold(noise, n_pixels)
            elif method == "sure":
                t = sure_threshold(band, noise, mode=mode, hybrid=hybrid)
            else:
                t = manual * gain
            level_out.append(shrink(band, t, mode))
            level_t.append(t)
        coeffs[k] = tuple(level_out)
        used.append(tuple(level_t))
    return used


def _ref_decimated(img, wavelet, levels, *args):
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Level value of", category=UserWarning)
        coeffs = pywt.wavedec2(img, wavelet, mode="symmetric", level=levels)
    used = _ref_shrink_details(coeffs, subband_noise_gains(wavelet, levels), *args)
    rec = pywt.waverec2(coeffs, wavelet, mode="symmetric")
    return rec[: img.shape[0], : img.shape[1]], used


def _ref_stationary(img, wavelet, levels, *args):
    h, w = img.shape
    block = 2**levels
    my, mx = min(16, h), min(16, w)
    ph, pw = -(h + 2 * my) % block, -(w + 2 * mx) % block
    top, left = my + ph // 2, mx + pw // 2
    padded = np.pad(img, ((top, my + ph - ph // 2), (left, mx + pw - pw // 2)), mode="symmetric")
    coeffs = pywt.swt2(padded, wavelet, level=levels, trim_approx=True)
    used = _ref_shrink_details(coeffs, subband_noise_gains(wavelet, levels), *args)
    rec = pywt.iswt2(coeffs, wavelet)
    return rec[top : top + h, left : left + w], used


def _ref_cycle_spin(img, wavelet, levels, shifts, *args):
    h, w = img.shape
    sy, sx = min(shifts, h), min(shifts, w)
    py, px = sy - 1, sx - 1
    padded = np.pad(img, ((py, py), (px, px)), mode="symmetric") if (py or px) else img
    acc = np.zeros((h, w))
    used_sum = 0
    for dy in range(sy):
        for dx in range(sx):
            rec, used = _ref_decimated(padded[dy : dy + h + py, dx : dx + w + px], wavelet, levels, *args)
            acc += rec[py - dy : py - dy + h, px - dx : px - dx + w]
            used_sum = used_sum + np.asarray(used)
    return acc / (sy * sx), used_sum / (sy * sx)


def _reference(x, sigma=None, method="sure", mode="garrote", wavelet="bior1.3", levels=0, transform="stationary",
               shifts=4, color="ycbcr", threshold=None, sure_hybrid=True):
    """The previous PyWavelets implementation of wavelet_denoise, in float64: (image, thresholds [B, C, L, 3])."""
    from restorekit.color import rgb_to_ycbcr, ycbcr_to_rgb
    from restorekit.denoise.wavelet import _YCBCR_NOISE_GAIN
    from restorekit.quality.noise import estimate_sigma

    b, c, h, w = x.shape
    work = x.double()
    use_ycbcr = c == 3 and color == "ycbcr"
    if use_ycbcr:
        work = rgb_to_ycbcr(work)
    gain = _YCBCR_NOISE_GAIN if use_ycbcr else (1.0,) * c
    sig = estimate_sigma(work).double().numpy() if sigma is None else np.tile([sigma * g for g in gain], (b, 1))
    lev = levels if levels > 0 else auto_levels(h, w, wavelet, transform, method)
    lev = min(lev, max_levels(h, w, wavelet, transform))
    arr = work.numpy()
    out = np.empty_like(arr)
    used_all = np.zeros((b, c, lev, 3))
    for i in range(b):
        for ch in range(c):
            img, s = arr[i, ch], float(sig[i, ch])
            if lev == 0 or (s <= 0 and method != "manual"):
                out[i, ch] = img
                continue
            manual = float(threshold) * gain[ch] if method == "manual" else None
            args = (s, method, mode, h * w, manual, sure_hybrid)
            if transform == "decimated":
                rec, used = _ref_decimated(img, wavelet, lev, *args)
            elif transform == "stationary":
                rec, used = _ref_stationary(img, wavelet, lev, *args)
            else:
                rec, used = _ref_cycle_spin(img, wavelet, lev, shifts, *args)
            out[i, ch] = rec
            used_all[i, ch] = np.asarray(used)
    result = torch.from_numpy(out)
    if use_ycbcr:
        result = ycbcr_to_rgb(result)
    return result.clamp(0, 1), used_all


_CASES = [(m, md) for m in ("bayes", "visu", "sure", "manual") for md in ("soft", "hard", "garrote")]


@pytest.mark.parametrize("wavelet", ["haar", "db2", "sym4", "bior1.3", "coif1"])
@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("size", [(37, 45), (40, 48)])
def test_matches_pywavelets_path_float64(wavelet, transform, size):
    """Every method and shrink mode, odd and even sizes: image within 1e-5 and thresholds within 1e-9 (float64)."""
    _, noisy = _noisy_image(*size, c=3, b=2, sigma255=25, seed=7)
    noisy = noisy.double()
    for method, mode in _CASES:
        for sure_hybrid in ((True, False) if method == "sure" else (True,)):
            kw = dict(method=method, mode=mode, wavelet=wavelet, transform=transform, shifts=2, sure_hybrid=sure_hybrid,
                      threshold=0.08 if method == "manual" else None, color="ycbcr" if mode != "hard" else "per_channel")
            ours, infos = wavelet_denoise(noisy, return_info=True, **kw)
            ref, ref_t = _reference(noisy, **kw)
            assert ours.dtype == torch.float64
            err = (ours - ref).abs().max().item()
            assert err <= 1e-5, (method, mode, sure_hybrid, err)
            t = np.asarray([info.thresholds for info in infos])
            assert np.allclose(t, ref_t, rtol=1e-9, atol=1e-12), (method, mode, sure_hybrid)


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_matches_pywavelets_path_float32_given_sigma(transform):
    """float32 input (computed in float32) against the float64 reference: within 1e-4; a given sigma."""
    _, noisy = _noisy_image(64, 56, c=3, b=2, sigma255=30, seed=3)
    for method, mode in [("sure", "garrote"), ("sure", "soft"), ("bayes", "soft"), ("visu", "hard")]:
        kw = dict(method=method, mode=mode, transform=transform, shifts=2, sigma=30 / 255)
        ours = wavelet_denoise(noisy, **kw)
        ref, _ = _reference(noisy.double(), **kw)
        assert ours.dtype == torch.float32
        assert (ours.double() - ref).abs().max().item() <= 1e-4, (method, mode)


def test_matches_pywavelets_path_on_real_images():
    """Defaults (SureShrink, garrote, stationary, bior1.3) on Set12 and BSD68 crops: within 1e-5 (float64)."""
    import support

    cleans = support.load_set("Set12", ["01", "05"]) + support.load_set("BSD68", ["test001", "test017"])
    for i, clean in enumerate(cleans):
        crop = clean[..., :96, :128]
        noisy = support.add_noise(crop, 25, seed=i).clamp(0, 1).double()
        for kw in ({}, dict(method="sure", mode="soft", transform="decimated", wavelet="db4")):
            ours = wavelet_denoise(noisy, **kw)
            ref, _ = _reference(noisy, **kw)
            assert (ours - ref).abs().max().item() <= 1e-5, (i, kw)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
@pytest.mark.parametrize("transform", TRANSFORMS)
def test_cuda_matches_cpu(transform):
    """The CUDA path gives the CPU result within 1e-4 (float32), for every method; tensors stay on the GPU."""
    _, noisy = _noisy_image(96, 80, c=3, b=2, sigma255=25, seed=5)
    for method, mode in [("sure", "garrote"), ("sure", "soft"), ("bayes", "soft"), ("visu", "hard")]:
        kw = dict(method=method, mode=mode, transform=transform, shifts=2)
        cpu = wavelet_denoise(noisy, **kw)
        gpu = wavelet_denoise(noisy.cuda(), **kw)
        assert gpu.is_cuda
        assert (gpu.cpu() - cpu).abs().max().item() <= 1e-4, (method, mode)


def test_sure_thresholds_match_sort_based_rule(monkeypatch):
    """The batched, sort-free SURE gives the sort-based thresholds exactly: many groups and sizes, zeros,
    ties, both risks, hybrid on and off; also with the GPU's deferred picking (one sync)."""
    from restorekit.denoise import wavelet_threshold as wth

    rng = np.random.default_rng(0)
    groups, noises = [], []
    for n in (2, 3, 7, 50, 300, 5000, 40000, 150000):
        r = int(rng.integers(1, 4))
        s = rng.uniform(0.2, 2, r)
        d = rng.normal(0, 1, (r, n)) * s[:, None] + (rng.random((r, n)) < 0.2) * rng.normal(0, 6, (r, n)) * s[:, None]
        if n > 100:
            d[:, : n // 10] = 0.0  # exact zeros
            d[0] = np.round(d[0] * 4) / 4  # many ties
        groups.append(torch.from_numpy(d.astype(np.float32)))
        noises.append(torch.from_numpy(s))
    for defer in (False, True):
        monkeypatch.setattr(wth, "_DEFER_PICKING", defer)
        for mode in ("soft", "garrote"):
            for hybrid in (False, True):
                ours = wth.sure_thresholds(groups, noises, mode, hybrid)
                for d, s, t in zip(groups, noises, ours, strict=True):
                    ref = [sure_threshold(d[i].numpy(), float(s[i]), mode, hybrid) for i in range(d.shape[0])]
                    assert np.allclose(t.numpy(), ref, rtol=1e-12, atol=0), (mode, hybrid, d.shape)


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("wavelet", ["haar", "sym4", "bior1.3"])
def test_gpu_code_path_matches_reference(monkeypatch, transform, wavelet):
    """What GPUs run (torch decimated transform, all levels' thresholds together, SURE's deferred picking),
    run on the CPU: the reference result."""
    import restorekit.denoise.wavelet as wmod
    from restorekit.denoise import wavelet_threshold as wth

    monkeypatch.setattr(wmod, "_GPU_PATH_ON_CPU", True)
    monkeypatch.setattr(wth, "_DEFER_PICKING", True)
    _, noisy = _noisy_image(37, 44, c=3, b=2, sigma255=25, seed=11)
    noisy = noisy.double()
    for method, mode in [("sure", "garrote"), ("bayes", "soft"), ("visu", "hard")]:
        kw = dict(method=method, mode=mode, wavelet=wavelet, transform=transform, shifts=2)
        assert (wavelet_denoise(noisy, **kw) - _reference(noisy, **kw)[0]).abs().max().item() <= 1e-5, (method, mode)
