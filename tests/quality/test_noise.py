"""Tests for restorekit.quality.noise (the blind wavelet-MAD noise estimator)."""

from __future__ import annotations

import numpy as np
import pytest
import support
import torch
from thresholds import ALL_THRESHOLDS

from restorekit.image import to_numpy
from restorekit.quality.noise import estimate_sigma, estimate_sigma_luma

THRESHOLDS = ALL_THRESHOLDS["noise_estimate"]


@pytest.mark.parametrize("b", [1, 3])
@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("hw", [(1, 1), (3, 5), (7, 9), (64, 48)])
def test_shapes(b, c, hw):
    x = torch.rand(b, c, *hw, generator=torch.Generator().manual_seed(0))
    out = estimate_sigma(x)
    assert out.shape == (b, c) and torch.isfinite(out).all() and (out >= 0).all()
    assert estimate_sigma_luma(x).shape == (b,)


def test_device_and_layout(device):
    x = torch.rand(2, 3, 40, 36, generator=torch.Generator().manual_seed(1)).to(device)
    out = estimate_sigma(x)
    assert out.device.type == device.type
    assert torch.allclose(estimate_sigma(x.to(memory_format=torch.channels_last)), out)
    assert torch.allclose(estimate_sigma(x.transpose(-1, -2).contiguous().transpose(-1, -2)), out)


def test_batch_consistency():
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    out = estimate_sigma(x)
    for i in range(3):
        assert torch.allclose(out[i : i + 1], estimate_sigma(x[i : i + 1]))


def test_pure_noise():
    x = 0.5 + 0.1 * torch.randn(1, 1, 256, 256, generator=torch.Generator().manual_seed(3))
    assert estimate_sigma(x).item() == pytest.approx(0.1, rel=0.03)


@pytest.mark.quality
@pytest.mark.parametrize("sigma", [5, 15, 25, 50])
def test_accuracy_on_set12_vs_truth_and_skimage(sigma):
    pytest.importorskip("pywt")  # scikit-image's estimate_sigma needs PyWavelets
    from skimage.restoration import estimate_sigma as sk_estimate_sigma

    images = support.load_set("Set12", ["01", "02", "03", "04", "05", "06", "07"])
    batch = torch.cat([support.add_noise(x, sigma, seed=100 * sigma + i) for i, x in enumerate(images)])
    ours = estimate_sigma(batch)[:, 0].numpy() * 255
    ref = np.array([sk_estimate_sigma(a[..., 0].astype(np.float64)) * 255 for a in to_numpy(batch)])
    assert np.abs(ours - sigma).max() <= THRESHOLDS["noise_estimate_abs_err_per_image"][sigma]
    assert abs(ours.mean() - sigma) <= THRESHOLDS["noise_estimate_abs_err_mean"][sigma]
    assert np.abs(ours - ref).max() <= THRESHOLDS["noise_estimate_vs_skimage_abs"]
