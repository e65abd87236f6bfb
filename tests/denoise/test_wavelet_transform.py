"""The torch wavelet transforms agree with PyWavelets (the reference and the filter source)."""

from __future__ import annotations

import numpy as np
import pytest
import pywt
import torch

from restorekit.denoise import wavelet_transform as wt

WAVELETS = ["haar", "db2", "db4", "sym4", "bior1.3", "coif1"]
MODES = ["symmetric", "reflect", "periodic", "zero", "constant", "periodization"]


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w))


def _close(ours: torch.Tensor, ref: np.ndarray, tol: float) -> None:
    assert tuple(ours.shape) == ref.shape
    assert np.abs(ours.double().numpy() - ref).max() <= tol


@pytest.mark.parametrize("wavelet", WAVELETS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [(17, 13), (16, 24)])
def test_dwt2_and_inverse_match_pywavelets(wavelet: str, mode: str, size: tuple[int, int]) -> None:
    x = _image(*size)
    ref_a, ref_d = pywt.dwt2(x, wavelet, mode=mode)
    a, d = wt.dwt2(torch.from_numpy(x), wavelet, mode=mode)
    _close(a, ref_a, 1e-10)
    for ours, ref in zip(d, ref_d, strict=True):
        _close(ours, ref, 1e-10)
    back = wt.idwt2((a, d), wavelet, mode=mode)
    _close(back, pywt.idwt2((ref_a, ref_d), wavelet, mode=mode), 1e-10)


@pytest.mark.parametrize("wavelet", WAVELETS)
def test_wavedec2_waverec2_match_pywavelets_in_float32(wavelet: str) -> None:
    x = _image(37, 29, seed=1)
    ref = pywt.wavedec2(x, wavelet, level=2, mode="symmetric")
    ours = wt.wavedec2(torch.from_numpy(x).float(), wavelet, level=2, mode="symmetric")
    _close(ours[0], ref[0], 1e-5)
    for det, ref_det in zip(ours[1:], ref[1:], strict=True):
        for o, r in zip(det, ref_det, strict=True):
            _close(o, r, 1e-5)
    _close(wt.waverec2(ours, wavelet, mode="symmetric"), pywt.waverec2(ref, wavelet, mode="symmetric"), 1e-5)


@pytest.mark.parametrize("wavelet", WAVELETS)
@pytest.mark.parametrize("level", [1, 3])
def test_swt2_and_inverse_match_pywavelets(wavelet: str, level: int) -> None:
    x = _image(24, 32, seed=2)
    ref = pywt.swt2(x, wavelet, level=level, trim_approx=True)
    ours = wt.swt2(torch.from_numpy(x), wavelet, level=level)
    _close(ours[0], ref[0], 1e-10)
    for det, ref_det in zip(ours[1:], ref[1:], strict=True):
        for o, r in zip(det, ref_det, strict=True):
            _close(o, r, 1e-10)
    _close(wt.iswt2(ours, wavelet), pywt.iswt2(ref, wavelet), 1e-10)


def test_batched_leading_dimensions_give_the_per_image_result() -> None:
    x = torch.from_numpy(np.stack([_image(16, 16, seed=s) for s in range(3)])).float()[:, None]
    batched = wt.swt2(x, "bior1.3", level=2)
    single = wt.swt2(x[1:2], "bior1.3", level=2)
    assert torch.equal(batched[0][1:2], single[0])


@pytest.mark.parametrize("wavelet", ["haar", "db2", "bior1.3", "coif1"])
def test_swt2_levels_into_buffers_in_place(wavelet: str) -> None:
    """The buffered levels, with the approximation overwriting its input (as the denoiser runs them)."""
    x = torch.from_numpy(np.stack([_image(16, 24, seed=s) for s in range(2)]))
    ref = pywt.swt2(x.numpy(), wavelet, level=3, trim_approx=True, axes=(-2, -1))
    a = x.clone()
    scratch = (torch.empty_like(a), torch.empty_like(a))
    details = [tuple(torch.empty_like(a) for _ in range(3)) for _ in range(3)]
    for j in range(3):
        wt.swt2_level_into(a, wavelet, j, a, details[j], scratch)
    _close(a, ref[0], 1e-10)
    for j in range(3):
        for ours, r in zip(details[j], ref[3 - j], strict=True):
            _close(ours, r, 1e-10)
    for j in reversed(range(3)):
        wt.iswt2_level_into(a, details[j], wavelet, j, a, scratch)
    _close(a, x.numpy(), 1e-10)
