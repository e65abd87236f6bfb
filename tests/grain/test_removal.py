"""Tests for restorekit.grain.removal (remove_grain) and the Grain Remove operation."""

from __future__ import annotations

import pytest
import torch

from restorekit.denoise.bm3d import bm3d_denoise
from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.grain.analysis import analyze_grain
from restorekit.grain.model import GrainModel
from restorekit.grain.removal import remove_grain
from restorekit.grain.synthesis import add_grain, grain_model
from restorekit.params import run
from tests import support
from tests.thresholds import ALL_THRESHOLDS

from .fixtures import AR3_LUMA, apply_luma_grain, ar_coefficients, ar_pattern, film_scaling, luma_of, smooth_content

T = ALL_THRESHOLDS["grain_removal"]
NAMES = ("103070", "123074", "143090")


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / (a.double() - b.double()).square().mean()))


def _grainy(name: str, k: int, size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """A CBSD68 crop and the same with film-like luma AR grain of std 8 grey levels over the image."""
    clean = support.load_set("CBSD68", names=[name])[0][:, :, :size, :size].double()
    pattern = ar_pattern(size, size, ar_coefficients(AR3_LUMA), seed=k)
    unit = float(film_scaling(1.0, floor=0.35)(luma_of(clean)).square().mean().sqrt())
    noisy = apply_luma_grain(clean, pattern, film_scaling(8 / 255 / unit, floor=0.35))
    return clean.float(), noisy.float()


def _synthetic(b: int = 1, c: int = 3, size: int = 48, seed: int = 0) -> tuple[torch.Tensor, GrainModel]:
    clean = torch.cat([smooth_content(size, size, channels=c, seed=seed + i) for i in range(b)]).float()
    model = grain_model(8 / 255, 1.0)
    return add_grain(clean, model, seed=seed), model


@pytest.mark.slow
@pytest.mark.parametrize("k,name", list(enumerate(NAMES)))
def test_bm3d_beats_white_cbm3d(k: int, name: str) -> None:
    clean, noisy = _grainy(name, k)
    model = analyze_grain(noisy, reference=clean)[0]
    ours, layer = remove_grain(noisy, model=model, method="bm3d")
    white = bm3d_denoise(noisy, sigma=float((noisy - clean).std()))
    p_ours, p_white = _psnr(ours, clean), _psnr(white, clean)
    assert p_ours >= p_white + T["gain_over_white_cbm3d_db"], (p_ours, p_white)
    assert p_ours >= T["min_psnr_db"][name]
    assert (ours + layer - noisy).abs().max() <= 1e-6


def test_white_noise_methods_improve_psnr() -> None:
    clean, noisy = _grainy(NAMES[2], 2, size=96)
    model = analyze_grain(noisy, reference=clean)[0]
    before = _psnr(noisy, clean)
    for method, key in (("wavelet", "wavelet_min_gain_db"), ("nlm", "nlm_min_gain_db")):
        out, _ = remove_grain(noisy, model=model, method=method)
        assert _psnr(out, clean) >= before + T[key], method


@pytest.mark.parametrize("method", ["wavelet", "nlm", "bm3d"])
def test_layer_reconstructs_input(method: str) -> None:
    x, model = _synthetic(size=32)
    removed, layer = remove_grain(x, model=model, method=method)
    assert removed.shape == x.shape and removed.dtype == x.dtype
    assert (removed + layer - x).abs().max() <= 1e-6
    assert 0 <= float(removed.min()) and float(removed.max()) <= 1
    assert float(layer.std()) > 1 / 255  # it did remove something


def test_preservation() -> None:
    x, model = _synthetic(size=40)
    removed0, layer0 = remove_grain(x, model=model, method="nlm")
    kept, zero = remove_grain(x, model=model, method="nlm", preservation=1.0)
    assert torch.equal(kept, x) and torch.count_nonzero(zero) == 0
    half, layer_half = remove_grain(x, model=model, method="nlm", preservation=0.5)
    torch.testing.assert_close(layer_half, 0.5 * layer0, atol=1e-6, rtol=0)
    torch.testing.assert_close(half, removed0 + 0.5 * layer0, atol=1e-6, rtol=0)
    assert (half + layer_half - x).abs().max() <= 1e-6


@pytest.mark.parametrize("c", [1, 3])
def test_batch_equals_per_image(c: int) -> None:
    x, _ = _synthetic(b=2, c=c, size=40, seed=3)
    models = [grain_model(8 / 255, 1.0), grain_model(5 / 255, 0.5, "gaussian")]
    out, layer = remove_grain(x, model=models, method="nlm")
    for i in range(2):
        one, lay = remove_grain(x[i: i + 1], model=models[i], method="nlm")
        torch.testing.assert_close(out[i: i + 1], one, atol=1e-5, rtol=0)
        torch.testing.assert_close(layer[i: i + 1], lay, atol=1e-5, rtol=0)


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (1, 3, 3, 5), (2, 1, 17, 9), (1, 3, 20, 24)])
def test_shapes_dtype_and_blind(shape: tuple[int, ...]) -> None:
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(1))
    for dtype in (torch.float32, torch.float64):
        removed, layer = remove_grain(x.to(dtype), method="wavelet")
        assert removed.shape == x.shape and removed.dtype == dtype and layer.dtype == dtype
        assert torch.isfinite(removed).all() and 0 <= float(removed.min()) <= float(removed.max()) <= 1
        assert (removed + layer - x.to(dtype)).abs().max() <= 1e-6


def test_clean_model_leaves_image_unchanged() -> None:
    x, _ = _synthetic(size=24)
    removed, layer = remove_grain(x, model=GrainModel(), method="bm3d")
    assert torch.equal(removed, x) and torch.count_nonzero(layer) == 0


def test_chroma_grain_is_filtered() -> None:
    clean = smooth_content(48, 48, channels=3, seed=4).float()
    model = grain_model(8 / 255, 1.0, color=True)
    noisy = add_grain(clean, model, seed=4)
    out, _ = remove_grain(noisy, model=model, method="nlm")
    assert _psnr(out, clean) > _psnr(noisy, clean) + 1.0


def test_bad_inputs() -> None:
    x, model = _synthetic(b=2, size=16)
    with pytest.raises(InvalidParameterError):
        remove_grain(x, model=model, method="median")
    with pytest.raises(InvalidParameterError):
        remove_grain(x, model=model, preservation=1.5)
    with pytest.raises(InvalidParameterError):
        remove_grain(x, model=[model, model, model])
    with pytest.raises(InvalidParameterError):
        remove_grain(x, model=model, method="model")
    with pytest.raises(InvalidImageError):
        remove_grain(torch.full((1, 3, 8, 8), float("nan")), model=model)


def test_operation_outputs() -> None:
    x, model = _synthetic(size=32)
    out = run("grain_remove", image=x, grain=model, method="nlm", preservation=0.25)
    removed, layer = remove_grain(x, model=model, method="nlm", preservation=0.25)
    torch.testing.assert_close(out["image"], removed)
    torch.testing.assert_close(out["grain_layer"], (0.5 + layer).clamp(0, 1))
    assert out["grain"] is model
    assert "nlm" in out["report"] and "residual" in out["report"]
