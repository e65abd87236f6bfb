"""Tests for restorekit.quality.metrics and the Quality Metrics operation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import support
import torch
from skimage.metrics import peak_signal_noise_ratio as sk_psnr
from skimage.metrics import structural_similarity as sk_ssim
from thresholds import ALL_THRESHOLDS

from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.image import to_numpy
from restorekit.operations.quality.metrics import PSNR_CAP_DB
from restorekit.params import get_operation
from restorekit.quality import metrics as M

THRESHOLDS = ALL_THRESHOLDS["metrics"]

PER_IMAGE = [M.mse, M.psnr, M.ssim]
NO_REF = [M.noise_sigma, M.laplacian_variance, M.rms_contrast, M.mean_luma, M.entropy, M.colorfulness]


def _pair(b=2, c=3, h=32, w=40, seed=0, noise=0.05):
    gen = torch.Generator().manual_seed(seed)
    ref = torch.rand(b, c, h, w, generator=gen)
    x = (ref + noise * torch.randn(b, c, h, w, generator=gen)).clamp(0, 1)
    return x, ref


# ---- shapes, dtype, device, layout ----------------------------------------------------------


@pytest.mark.parametrize("b", [1, 3])
@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("hw", [(1, 1), (3, 5), (7, 9), (11, 11), (33, 20)])
def test_shapes_full_reference(b, c, hw):
    x, ref = _pair(b, c, *hw)
    for f in PER_IMAGE:
        out = f(x, ref)
        assert out.shape == (b,) and torch.isfinite(out).all(), f.__name__
    assert torch.allclose(M.ssim(ref, ref), torch.ones(b), atol=1e-5)


@pytest.mark.parametrize("b", [1, 3])
@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("hw", [(1, 1), (3, 5), (7, 9), (40, 33)])
def test_shapes_no_reference(b, c, hw):
    x, _ = _pair(b, c, *hw)
    for f in NO_REF:
        out = f(x)
        assert out.shape == (b,) and torch.isfinite(out).all(), f.__name__
    dark, bright = M.clipping(x)
    assert dark.shape == bright.shape == (b,)


def test_device_and_dtype(device):
    x, ref = _pair()
    x, ref = x.to(device), ref.to(device)
    for f in PER_IMAGE:
        out = f(x, ref)
        assert out.device.type == device.type and out.dtype == torch.float32
    for f in NO_REF:
        out = f(x)
        assert out.device.type == device.type and out.dtype == torch.float32
    out64 = M.ssim(x.double(), ref.double())
    assert out64.dtype == torch.float64
    assert torch.allclose(out64.float(), M.ssim(x, ref), atol=1e-5)


def test_half_input_is_measured_in_float32():
    x, ref = _pair()
    out = M.psnr(x.half(), ref.half())
    assert out.dtype == torch.float32
    assert torch.allclose(out, M.psnr(x.half().float(), ref.half().float()))


def test_non_contiguous_and_channels_last():
    x, ref = _pair(2, 3, 30, 26)
    xt, rt = x.transpose(-1, -2).contiguous().transpose(-1, -2), ref[..., :, :]
    assert not xt.is_contiguous()
    xc, rc = x.to(memory_format=torch.channels_last), ref.to(memory_format=torch.channels_last)
    for f in PER_IMAGE:
        assert torch.allclose(f(xt, rt), f(x, ref), atol=1e-6)
        assert torch.allclose(f(xc, rc), f(x, ref), atol=1e-6)
    for f in NO_REF:
        assert torch.allclose(f(xt), f(x), rtol=1e-5, atol=1e-5)
        assert torch.allclose(f(xc), f(x), rtol=1e-5, atol=1e-5)


def test_batch_matches_per_image():
    x, ref = _pair(3, 3, 24, 28)
    for f in PER_IMAGE:
        full = f(x, ref)
        for i in range(3):
            assert torch.allclose(full[i : i + 1], f(x[i : i + 1], ref[i : i + 1]), atol=1e-6)
    for f in NO_REF:
        full = f(x)
        for i in range(3):
            assert torch.allclose(full[i : i + 1], f(x[i : i + 1]), rtol=1e-5, atol=1e-6)


def test_reference_batch_of_one_is_broadcast():
    x, ref = _pair(3, 3, 20, 20)
    out = M.psnr(x, ref[:1])
    for i in range(3):
        assert torch.allclose(out[i], M.psnr(x[i : i + 1], ref[:1])[0])


def test_gray_against_rgb_uses_luma():
    x, ref = _pair(1, 1, 24, 24)
    ref_rgb = ref.expand(-1, 3, -1, -1)
    assert torch.allclose(M.psnr(x, ref_rgb), M.psnr(x, ref), atol=1e-4)
    assert torch.allclose(M.ssim(x.expand(-1, 3, -1, -1), ref), M.ssim(x, ref), atol=1e-5)


# ---- errors ----------------------------------------------------------------------------------


def test_reference_of_other_size_is_rejected():
    x, ref = _pair(1, 3, 20, 20)
    with pytest.raises(InvalidImageError, match="reference"):
        M.psnr(x, ref[..., :19, :])
    with pytest.raises(InvalidImageError, match="reference"):
        M.ssim(x, ref[..., :, :18])


def test_reference_batch_mismatch_is_rejected():
    x, ref = _pair(3, 3, 16, 16)
    with pytest.raises(InvalidImageError, match="reference"):
        M.psnr(x, ref[:2])


@pytest.mark.parametrize(
    "bad",
    [
        torch.rand(3, 8, 8),
        torch.rand(1, 2, 8, 8),
        torch.full((1, 1, 8, 8), float("nan")),
        torch.zeros(1, 3, 0, 4),
        torch.randint(0, 255, (1, 3, 8, 8)),
    ],
)
def test_bad_images_rejected(bad):
    ok = torch.rand(1, 3, 8, 8)
    with pytest.raises(InvalidImageError):
        M.psnr(bad, ok)
    with pytest.raises(InvalidImageError):
        M.ssim(ok, bad)
    with pytest.raises(InvalidImageError):
        M.laplacian_variance(bad)
    with pytest.raises(InvalidImageError):
        M.measure(bad)


@pytest.mark.parametrize("data_range", [0.0, -1.0, float("inf"), float("nan"), "1", True])
def test_bad_data_range_rejected(data_range):
    x, ref = _pair(1, 1, 8, 8)
    with pytest.raises(InvalidParameterError, match="data_range"):
        M.psnr(x, ref, data_range=data_range)
    with pytest.raises(InvalidParameterError, match="data_range"):
        M.ssim(x, ref, data_range=data_range)


# ---- values ----------------------------------------------------------------------------------


def test_psnr_of_known_mse():
    ref = torch.full((2, 3, 16, 16), 0.5)
    delta = torch.tensor([0.1, 0.01]).view(2, 1, 1, 1)
    signs = torch.ones(16, 16)
    signs[::2] = -1.0
    x = ref + delta * signs  # MSE = delta^2 exactly
    assert torch.allclose(M.mse(x, ref), delta.flatten() ** 2, rtol=1e-5)
    assert torch.allclose(M.psnr(x, ref), torch.tensor([20.0, 40.0]), atol=1e-4)
    assert torch.allclose(M.psnr(x * 255, ref * 255, data_range=255.0), torch.tensor([20.0, 40.0]), atol=1e-4)


def test_psnr_identical_is_inf():
    x, _ = _pair(2, 3, 8, 8)
    assert torch.isinf(M.psnr(x, x)).all()


def test_ssim_identical_is_one_and_decreases_with_noise():
    _, ref = _pair(1, 1, 64, 64)
    values = [M.ssim((ref + s * torch.randn_like(ref)).clamp(0, 1), ref).item() for s in (0.0, 0.02, 0.1, 0.3)]
    assert values[0] == pytest.approx(1.0, abs=1e-6)
    assert values == sorted(values, reverse=True)


def test_ssim_of_constants_follows_luminance_term():
    a = torch.full((1, 1, 16, 16), 0.2)
    b = torch.full((1, 1, 16, 16), 0.6)
    c1 = (0.01) ** 2
    expected = (2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1)
    assert M.ssim(a, b).item() == pytest.approx(expected, abs=1e-4)  # float32 statistics


def test_ssim_map_size():
    x, ref = _pair(1, 3, 30, 17)
    assert M.ssim_map(x, ref).shape == (1, 3, 20, 7)


def _sk_ssim(x: torch.Tensor, ref: torch.Tensor) -> float:
    a, b = to_numpy(x)[0].astype(np.float64), to_numpy(ref)[0].astype(np.float64)
    kwargs = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
    if a.shape[-1] == 1:
        return float(sk_ssim(a[..., 0], b[..., 0], **kwargs))
    return float(sk_ssim(a, b, channel_axis=-1, **kwargs))


@pytest.mark.parametrize("c", [1, 3])
def test_matches_skimage_on_random_images(c):
    x, ref = _pair(1, c, 37, 52, noise=0.2)
    assert M.ssim(x, ref).item() == pytest.approx(_sk_ssim(x, ref), abs=THRESHOLDS["ssim_vs_skimage_abs"])
    sk = sk_psnr(to_numpy(ref)[0], to_numpy(x)[0], data_range=1.0)
    assert M.psnr(x, ref).item() == pytest.approx(sk, abs=THRESHOLDS["psnr_vs_skimage_db"])


@pytest.mark.quality
@pytest.mark.parametrize("sigma", [5, 25, 50])
def test_matches_skimage_on_set12(sigma):
    clean = support.load_set("Set12", ["02"])[0]  # 256 x 256
    noisy = support.add_noise(clean, sigma, seed=sigma).clamp(0, 1)
    assert M.ssim(noisy, clean).item() == pytest.approx(_sk_ssim(noisy, clean), abs=THRESHOLDS["ssim_vs_skimage_abs"])
    sk = sk_psnr(to_numpy(clean)[0], to_numpy(noisy)[0], data_range=1.0)
    assert M.psnr(noisy, clean).item() == pytest.approx(sk, abs=THRESHOLDS["psnr_vs_skimage_db"])


@pytest.mark.quality
def test_matches_skimage_on_colour():
    clean = support.load(support.image_paths("CBSD68")[0])[..., 100:228, 60:220]
    noisy = support.add_noise(clean, 15, seed=1).clamp(0, 1)
    assert clean.shape[1] == 3
    assert M.ssim(noisy, clean).item() == pytest.approx(_sk_ssim(noisy, clean), abs=THRESHOLDS["ssim_vs_skimage_abs"])


def test_laplacian_variance_matches_opencv():
    cv2 = pytest.importorskip("cv2")
    gen = np.random.default_rng(3)
    for shape in [(1, 7), (6, 1), (2, 3), (33, 40)]:
        g8 = gen.integers(0, 256, shape).astype(np.uint8)
        x = torch.from_numpy(g8.astype(np.float32) / 255)[None, None]
        expected = cv2.Laplacian(g8.astype(np.float64), cv2.CV_64F).var()
        assert M.laplacian_variance(x).item() == pytest.approx(expected, rel=1e-5)


def test_no_reference_values():
    flat = torch.full((1, 3, 16, 16), 0.4)
    assert M.laplacian_variance(flat).item() == pytest.approx(0.0, abs=1e-6)
    assert M.rms_contrast(flat).item() == pytest.approx(0.0, abs=1e-6)
    assert M.entropy(flat).item() == 0.0
    assert M.colorfulness(flat).item() == pytest.approx(0.0, abs=1e-4)
    assert M.mean_luma(flat).item() == pytest.approx(0.4, abs=1e-6)
    half = torch.zeros(1, 1, 4, 4)
    half[..., :2, :] = 1.0  # half black, half white
    assert M.rms_contrast(half).item() == pytest.approx(0.5, abs=1e-6)
    assert M.entropy(half).item() == pytest.approx(1.0, abs=1e-6)
    dark, bright = M.clipping(half)
    assert dark.item() == pytest.approx(50.0) and bright.item() == pytest.approx(50.0)
    edge = torch.tensor([0.5 / 255, 0.6 / 255, 254.4 / 255, 254.5 / 255]).view(1, 1, 2, 2)
    dark, bright = M.clipping(edge)
    assert dark.item() == pytest.approx(25.0) and bright.item() == pytest.approx(25.0)
    red = torch.zeros(1, 3, 4, 4)
    red[:, 0] = 1.0
    # rg = 255, yb = 127.5, no spread: M = 0.3 * sqrt(255^2 + 127.5^2)
    assert M.colorfulness(red).item() == pytest.approx(0.3 * math.hypot(255, 127.5), rel=1e-5)


def test_noise_sigma_in_image_units():
    gen = torch.Generator().manual_seed(0)
    x = 0.5 + 0.04 * torch.randn(1, 1, 128, 128, generator=gen)
    assert M.noise_sigma(x).item() == pytest.approx(0.04, rel=0.05)
    assert M.measure(x)["noise_sigma"].item() == pytest.approx(0.04 * 255, rel=0.05)


def test_measure_keys():
    x, ref = _pair(2, 3, 16, 16)
    no_ref = M.measure(x)
    assert "psnr" not in no_ref and "ssim" not in no_ref
    with_ref = M.measure(x, ref)
    assert set(with_ref) == set(no_ref) | {"psnr", "ssim"} and set(with_ref) <= set(M.UNITS)
    singles = {
        "psnr": M.psnr(x, ref),
        "ssim": M.ssim(x, ref),
        "noise_sigma": M.noise_sigma(x) * 255,
        "sharpness": M.laplacian_variance(x),
        "contrast": M.rms_contrast(x),
        "clip_dark": M.clipping(x)[0],
        "clip_bright": M.clipping(x)[1],
        "mean": M.mean_luma(x),
        "entropy": M.entropy(x),
        "colorfulness": M.colorfulness(x),
    }
    for key, value in singles.items():
        assert torch.allclose(with_ref[key], value), key


# ---- operation -------------------------------------------------------------------------------


def _run(**values):
    op = get_operation("quality_metrics")
    values.setdefault("reference", None)
    with torch.inference_mode():
        return dict(zip([o.name for o in op.outputs], op.call(values), strict=True))


def test_operation_declaration():
    op = get_operation("RK_QualityMetrics")
    assert op.display_name == "Quality Metrics" and op.category == "quality" and op.gpu
    # The first seven outputs are those of shipped workflows: their order never changes.
    assert [o.name for o in op.outputs] == [
        "psnr",
        "ssim",
        "noise_sigma",
        "sharpness",
        "contrast",
        "clipping",
        "report",
        "ms_ssim",
        "gmsd",
        "fsim",
        "vif",
        "haarpsi",
        "blur",
        "entropy",
        "colourfulness",
        "texture_contrast",
        "texture_homogeneity",
        "texture_energy",
        "texture_correlation",
        "niqe",
        "brisque",
        "piqe",
    ]
    assert op.param("reference").optional


@pytest.mark.parametrize("shape", [(3, 3, 64, 64), (1, 1, 64, 64), (1, 3, 1, 1), (2, 1, 3, 5), (1, 3, 7, 9)])
def test_operation_defaults(shape):
    x, ref = _pair(*shape)
    for reference in (None, ref):
        out = _run(image=x, reference=reference)
        for name in ("psnr", "ssim", "noise_sigma", "sharpness", "contrast", "clipping"):
            assert isinstance(out[name], float) and math.isfinite(out[name]), name
        assert isinstance(out["report"], str) and "noise" in out["report"]
        assert len(out["report"].splitlines()) >= shape[0] + 3


def test_operation_without_reference_reports_zero():
    x, _ = _pair(2, 3, 32, 32)
    out = _run(image=x)
    assert out["psnr"] == 0.0 and out["ssim"] == 0.0
    assert "No reference" in out["report"]


def test_operation_identical_images_cap_psnr():
    x, _ = _pair(2, 3, 32, 32)
    out = _run(image=x, reference=x)
    assert out["psnr"] == PSNR_CAP_DB and out["ssim"] == pytest.approx(1.0, abs=1e-6)
    assert "inf" in out["report"]


def test_operation_values_are_batch_means():
    x, ref = _pair(3, 3, 40, 40)
    out = _run(image=x, reference=ref[:1])
    assert out["psnr"] == pytest.approx(M.psnr(x, ref[:1]).mean().item(), rel=1e-6)
    assert out["ssim"] == pytest.approx(M.ssim(x, ref[:1]).mean().item(), rel=1e-6)
    assert out["noise_sigma"] == pytest.approx(255 * M.noise_sigma(x).mean().item(), rel=1e-5)
    dark, bright = M.clipping(x)
    assert out["clipping"] == pytest.approx((dark + bright).mean().item(), rel=1e-5)


def test_operation_rejects_reference_of_other_size():
    x, ref = _pair(1, 3, 32, 32)
    with pytest.raises(InvalidImageError, match="reference"):
        _run(image=x, reference=ref[..., :16, :16])
