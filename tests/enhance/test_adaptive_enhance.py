"""Tests for restorekit.enhance.assessment and restorekit.enhance.adaptive (Adaptive Enhance)."""

from __future__ import annotations

import pytest
import support
import torch
from thresholds import ALL_THRESHOLDS

from restorekit.enhance.adaptive import adaptive_enhance
from restorekit.enhance.assessment import assess
from restorekit.errors import InvalidParameterError
from restorekit.params import run
from restorekit.quality.metrics import psnr
from restorekit.sharpen.unsharp import gaussian_blur

THRESHOLDS = ALL_THRESHOLDS["adaptive_enhance"]
NAMES = ["01", "02", "05", "07"]


def _set12() -> list[torch.Tensor]:
    return [x[..., :192, :192] for x in support.load_set("Set12", names=NAMES)]


def _noise(x: torch.Tensor, sigma255: float, seed: int) -> torch.Tensor:
    return x + sigma255 / 255 * torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))


def test_blur_measure_grows_with_blur():
    for x in _set12():
        measured = [assess(gaussian_blur(x, s) if s else x)[0].blur for s in (0.0, 1.0, 2.0, 3.0)]
        assert all(b > a for a, b in zip(measured, measured[1:], strict=False)), measured


def test_noise_only_is_denoised_only():
    gains = []
    for i, clean in enumerate(_set12()):
        noisy = _noise(clean, 15, i)
        out, (decision,) = adaptive_enhance(noisy.clamp(0, 1), contrast=False, return_info=True)
        assert decision.steps and decision.steps[0].startswith("adaptive frequency filter")
        gains.append(float(psnr(out, clean) - psnr(noisy.clamp(0, 1), clean)))
    assert min(gains) >= THRESHOLDS["denoise_sigma15_min_gain_db"], gains


def test_blurred_image_is_sharpened_and_closer_to_the_original():
    gains = []
    for clean in _set12():
        soft = gaussian_blur(clean, 1.5)
        out, (decision,) = adaptive_enhance(soft, contrast=False, return_info=True)
        assert any(s.startswith("Smart Sharpen") for s in decision.steps), decision.reasons
        assert not any(s.startswith("adaptive frequency") for s in decision.steps), decision.reasons
        gains.append(float(psnr(out, clean) - psnr(soft, clean)))
    assert min(gains) >= THRESHOLDS["sharpen_blur1.5_min_gain_db"], gains


def test_low_contrast_gets_contrast_and_a_good_image_is_left_alone():
    for clean in _set12():
        flat = 0.35 + 0.3 * clean
        out, (decision,) = adaptive_enhance(flat, return_info=True)
        assert any(s.startswith("CLAHE") for s in decision.steps)
        assert assess(out)[0].spread > decision.before.spread + THRESHOLDS["contrast_min_spread_gain"]
    # Clean, sharp, well-exposed photographs: no step is taken.
    for clean in support.load_set("Set12"):
        out, (decision,) = adaptive_enhance(clean, return_info=True)
        assert decision.steps == [] and torch.equal(out, clean), decision.reasons


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (1, 3, 3, 5), (2, 3, 40, 48), (3, 1, 33, 21)])
def test_shapes_range_and_batch(shape):
    x = torch.rand(shape, generator=torch.Generator().manual_seed(0))
    y = adaptive_enhance(x)
    assert y.shape == x.shape and y.dtype == x.dtype and 0 <= y.min() and y.max() <= 1
    if shape[0] > 1:
        assert torch.allclose(y[1:2], adaptive_enhance(x[1:2]), atol=1e-6)
    assert torch.equal(adaptive_enhance(x, strength=0.0), x)


def test_bad_parameters():
    with pytest.raises(InvalidParameterError):
        adaptive_enhance(torch.rand(1, 3, 8, 8), strength=3.0)
    with pytest.raises(InvalidParameterError):
        adaptive_enhance(torch.rand(1, 3, 8, 8), denoise="yes")


def test_report_says_what_and_why():
    clean = support.load_set("Set12", names=["01"])[0][..., :128, :128]
    noisy = _noise(clean, 20, 0).clamp(0, 1)
    report = run("adaptive_enhance", image=noisy)["report"]
    assert "noise" in report and "denoise: noise" in report and "sharpen:" in report and "contrast:" in report
