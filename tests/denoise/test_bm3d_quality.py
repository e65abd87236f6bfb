"""Quality of our BM3D / CBM3D on real images, against absolute thresholds and against the reference
``bm3d`` package (when installed) on the same noisy inputs (unclipped Gaussian noise, fixed seeds).

Small crops keep the slow reference affordable on a 2-core CPU; the full tables are in
bench/bench_bm3d.py."""

from __future__ import annotations

import numpy as np
import pytest
import support
import torch
from thresholds import ALL_THRESHOLDS

from restorekit.denoise.bm3d import bm3d_denoise

THRESHOLDS = ALL_THRESHOLDS["bm3d"]

GRAY = [("01", 25, 0), ("05", 25, 1), ("08", 50, 2)]


def _reference(z: torch.Tensor, sigma: float) -> torch.Tensor:
    bm3d = pytest.importorskip("bm3d")
    arr = z[0].permute(1, 2, 0).double().numpy()
    if arr.shape[2] == 3:
        out = bm3d.bm3d_rgb(arr, sigma)
        return torch.from_numpy(np.ascontiguousarray(out)).float().permute(2, 0, 1)[None]
    return torch.from_numpy(np.ascontiguousarray(bm3d.bm3d(arr[:, :, 0], sigma))).float()[None, None]


def _gray_cases():
    out = []
    for name, sigma, seed in GRAY:
        x = support.load_set("Set12", [name], gray=True)[0][:, :, 64:192, 64:192]
        out.append((x, support.add_noise(x, sigma, seed=seed), sigma))
    return out


@pytest.mark.quality
def test_gray_quality_and_reference():
    cases = _gray_cases()
    ours = [support.psnr(bm3d_denoise(z, sigma=s / 255), x) for x, z, s in cases]
    assert np.mean(ours[:2]) >= THRESHOLDS["bm3d_set12_crop_sigma25_mean"], ours
    assert ours[2] >= THRESHOLDS["bm3d_set12_crop_sigma50"], ours
    pytest.importorskip("bm3d")
    diffs = [o - support.psnr(_reference(z, s / 255), x) for o, (x, z, s) in zip(ours, cases, strict=True)]
    assert np.mean(diffs) >= THRESHOLDS["bm3d_vs_reference_gray_mean_diff"], diffs


@pytest.mark.quality
def test_colour_cbm3d_quality_and_reference():
    x = support.load(support.image_paths("CBSD68")[0], gray=False)[:, :, 100:196, 100:196]
    z = support.add_noise(x, 25, seed=3)
    ours = support.psnr(bm3d_denoise(z, sigma=25 / 255), x)
    assert ours >= THRESHOLDS["bm3d_cbsd68_crop_sigma25"]
    pytest.importorskip("bm3d")
    ref = support.psnr(_reference(z, 25 / 255), x)
    assert ours - ref >= THRESHOLDS["bm3d_vs_reference_colour_diff"], (ours, ref)
