"""Tests for restorekit.sharpen.unsharp and the Unsharp Mask operation."""

from __future__ import annotations

import numpy as np
import pytest
import support
import torch
from skimage.filters import gaussian as sk_gaussian
from skimage.filters import unsharp_mask as sk_unsharp_mask

from restorekit.color import rgb_to_ycbcr
from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.image import to_numpy
from restorekit.operations import sharpen as _sharpen_ops  # noqa: F401  (registers the operation)
from restorekit.params import get_operation
from restorekit.sharpen.unsharp import gaussian_blur, unsharp_mask

# Agreement with skimage.filters.unsharp_mask (float64 there, float32 here), threshold 0, gray Set12 crops:
# measured max |d| 1.8e-7 .. 7.6e-7 over radius 0.3 .. 20 and amount 0.7 .. 5.
THRESHOLDS = {
    "unsharp_vs_skimage_max_abs": 5e-6,
}


def _rand(b=1, c=3, h=32, w=40, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(b, c, h, w, generator=gen, dtype=torch.float64)
    x = torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    return (0.1 + 0.8 * x).to(dtype)


# ---- shapes, dtype, device, layout ----------------------------------------------------------


@pytest.mark.parametrize("b", [1, 3])
@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("hw", [(1, 1), (3, 5), (7, 9), (33, 20)])
@pytest.mark.parametrize("luminance_only", [True, False])
def test_shapes_and_range(b, c, hw, luminance_only):
    x = _rand(b, c, *hw)
    y = unsharp_mask(x, radius=2.0, amount=3.0, luminance_only=luminance_only)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1


@pytest.mark.parametrize("radius", [0.3, 1.0, 30.0])  # 30 px uses the FFT path, wider than the image
def test_tiny_images_large_radius(radius):
    x = _rand(2, 3, 3, 5)
    y = unsharp_mask(x, radius=radius, amount=1.0)
    assert y.shape == x.shape and torch.isfinite(y).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_dtype_kept(dtype):
    x = _rand(1, 3, 24, 24, dtype=dtype)
    y = unsharp_mask(x, radius=1.5, amount=2.0)
    assert y.dtype == dtype
    ref = unsharp_mask(x.double(), radius=1.5, amount=2.0)
    assert (y.double() - ref).abs().max() < (5e-3 if dtype == torch.float16 else 1e-5)


def test_device(device):
    x = _rand(2, 3, 40, 52).to(device)
    for radius in (1.0, 20.0):
        y = unsharp_mask(x, radius=radius, amount=1.5, threshold=2 / 255)
        assert y.device == x.device and y.shape == x.shape
        ref = unsharp_mask(x.cpu(), radius=radius, amount=1.5, threshold=2 / 255)
        assert (y.cpu() - ref).abs().max() < 1e-5


def test_non_contiguous_and_channels_last():
    x = _rand(2, 3, 30, 41)
    ref = unsharp_mask(x, radius=1.2, amount=1.0)
    assert torch.allclose(unsharp_mask(x.contiguous(memory_format=torch.channels_last), radius=1.2), ref, atol=1e-6)
    view = _rand(2, 3, 30, 82)[..., ::2]
    assert not view.is_contiguous()
    assert torch.allclose(unsharp_mask(view, radius=1.2), unsharp_mask(view.clone(), radius=1.2), atol=1e-6)


@pytest.mark.parametrize("luminance_only", [True, False])
def test_batch_consistency(luminance_only):
    x = _rand(3, 3, 45, 38)
    kw = {"radius": 2.0, "amount": 1.5, "threshold": 3 / 255, "luminance_only": luminance_only}
    y = unsharp_mask(x, **kw)
    for i in range(3):
        assert torch.allclose(y[i : i + 1], unsharp_mask(x[i : i + 1], **kw), atol=1e-6)


def test_progress_called():
    calls = []
    unsharp_mask(_rand(2, 1, 16, 16), progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (2, 2)


# ---- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        torch.rand(3, 16, 16),
        torch.rand(1, 4, 16, 16),
        torch.randint(0, 255, (1, 3, 16, 16), dtype=torch.uint8),
        torch.full((1, 1, 8, 8), float("inf")),
        torch.rand(1, 1, 8, 0),
    ],
)
def test_bad_images(bad):
    with pytest.raises(InvalidImageError):
        unsharp_mask(bad)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"radius": 0.0},
        {"radius": -1.0},
        {"radius": float("nan")},
        {"radius": 1e6},
        {"amount": -0.5},
        {"amount": 6.0},
        {"amount": float("inf")},
        {"threshold": -0.1},
        {"threshold": 2.0},
        {"luminance_only": "yes"},
    ],
)
def test_bad_parameters(kwargs):
    with pytest.raises(InvalidParameterError):
        unsharp_mask(_rand(1, 3, 16, 16), **kwargs)


# ---- values ----------------------------------------------------------------------------------


def test_amount_zero_is_identity():
    x = _rand(2, 3, 21, 17)
    assert torch.equal(unsharp_mask(x, amount=0.0, radius=3.0, threshold=0.1), x)


def test_constant_image_unchanged():
    x = torch.full((2, 3, 19, 23), 0.37)
    assert torch.allclose(unsharp_mask(x, radius=4.0, amount=5.0), x, atol=1e-6)


def test_luminance_only_keeps_chroma():
    x = _rand(2, 3, 40, 40)
    y = unsharp_mask(x, radius=1.5, amount=3.0, luminance_only=True, clamp=False)
    ycc_in, ycc_out = rgb_to_ycbcr(x.double()), rgb_to_ycbcr(y.double())
    assert (ycc_out[:, 1:] - ycc_in[:, 1:]).abs().max() < 1e-5
    assert (ycc_out[:, :1] - ycc_in[:, :1]).abs().max() > 1e-2  # luma was sharpened


def test_gray_matches_per_channel():
    g = _rand(1, 1, 30, 30)
    rgb = g.expand(1, 3, 30, 30)
    for lum in (True, False):
        assert torch.allclose(unsharp_mask(rgb, luminance_only=lum), unsharp_mask(g).expand(1, 3, 30, 30), atol=1e-6)


def test_blur_matches_skimage_gaussian():
    x = _rand(1, 1, 23, 31).double()
    for sigma in (0.7, 2.0, 12.0, 40.0):  # 12 and 40 px use the FFT path; 40 px reaches beyond the image
        ours = gaussian_blur(x, sigma)[0, 0].numpy()
        ref = sk_gaussian(x[0, 0].numpy(), sigma=sigma, mode="reflect", preserve_range=True)
        np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_threshold_soft():
    # Detail below the threshold is left alone; above twice the threshold it gets the full amount;
    # in between the response grows continuously (no jump at the threshold).
    flat = torch.full((1, 1, 41, 41), 0.5, dtype=torch.float64)
    detail = torch.zeros_like(flat)
    detail[..., 20, 20] = 1.0
    t = 0.02
    blur_gain = 1 - gaussian_blur(detail, 1.0)[..., 20, 20].item()  # |x - blur| at the spike per unit height
    responses = []
    for h in np.linspace(0.2, 3.0, 57) * t / blur_gain:
        x = flat + h * detail
        y = unsharp_mask(x, radius=1.0, amount=1.0, threshold=t, clamp=False)
        responses.append((y - x)[..., 20, 20].item() / (h * blur_gain))
    responses = np.array(responses)
    heights = np.linspace(0.2, 3.0, 57)
    assert np.all(responses[heights < 1] == 0)
    assert np.allclose(responses[heights > 2.0], 1.0, atol=1e-9)
    assert np.all(np.diff(responses) >= -1e-12) and np.max(np.diff(responses)) < 0.2


# ---- reference: scikit-image -----------------------------------------------------------------


@pytest.mark.quality
@pytest.mark.parametrize("radius,amount", [(1.0, 1.0), (2.5, 2.0), (0.6, 5.0), (15.0, 0.7)])
def test_matches_skimage_on_set12(radius, amount):
    x = support.load(support.image_paths("Set12")[0], gray=True)[..., 64:192, 64:192]
    ref = sk_unsharp_mask(to_numpy(x)[0, :, :, 0].astype(np.float64), radius=radius, amount=amount)
    ours = to_numpy(unsharp_mask(x, radius=radius, amount=amount, threshold=0.0))[0, :, :, 0]
    assert np.abs(ours - ref).max() < THRESHOLDS["unsharp_vs_skimage_max_abs"]


def test_matches_skimage_per_channel_rgb():
    x = _rand(1, 3, 33, 29, seed=4)
    ref = sk_unsharp_mask(to_numpy(x)[0].astype(np.float64), radius=1.7, amount=2.0, channel_axis=2)
    # (channel_axis=-1 is mishandled by scikit-image 0.26 unsharp_mask: it slices the first axis.)
    ours = to_numpy(unsharp_mask(x, radius=1.7, amount=2.0, luminance_only=False))[0]
    assert np.abs(ours - ref).max() < 5e-6


# ---- operation -------------------------------------------------------------------------------


def _defaults(op):
    return {p.name: p.to_core(p.default) for p in op.inputs if not p.is_data}


@pytest.mark.parametrize("shape", [(3, 3, 64, 64), (1, 1, 64, 64), (1, 3, 1, 1), (2, 1, 3, 5), (1, 3, 7, 9)])
def test_operation_defaults(shape):
    op = get_operation("unsharp_mask")
    assert op.node_id == "RK_UnsharpMask" and op.display_name == "Unsharp Mask" and op.category == "sharpen"
    assert op.gpu
    x = _rand(*shape)
    with torch.inference_mode():
        (out,) = op.call({"image": x, **_defaults(op)})
    assert out.shape == x.shape and torch.isfinite(out).all() and 0 <= out.min() and out.max() <= 1


def test_operation_threshold_units():
    op = get_operation("RK_UnsharpMask")
    assert op.param("threshold").to_core(255.0) == pytest.approx(1.0)
    x = _rand(1, 3, 32, 32)
    values = {
        "image": x,
        "radius": 2.0,
        "amount": 1.5,
        "threshold": op.param("threshold").to_core(5.0),
        "luminance_only": False,
    }
    (out,) = op.call(values)
    assert torch.equal(out, unsharp_mask(x, radius=2.0, amount=1.5, threshold=5 / 255, luminance_only=False))
