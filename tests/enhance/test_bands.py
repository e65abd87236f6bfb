"""Tests for restorekit.enhance.bands and the Frequency Bands operation."""

from __future__ import annotations

import pytest
import support
import torch
from thresholds import ALL_THRESHOLDS

import restorekit.params as params
from restorekit.enhance.bands import (
    METHODS,
    band_preview,
    fft_band_masks,
    frequency_bands,
    interpolate_gains,
    octave_cutoffs,
    parse_gains,
    split_bands,
)
from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.operations.enhance.frequency_bands import band_gains
from restorekit.sharpen.unsharp import gaussian_blur

THRESHOLDS = ALL_THRESHOLDS["frequency_bands"]
SIZES = [(37, 53), (3, 5), (1, 1), (64, 64), (2, 9)]


def _rand(b=2, c=3, h=37, w=53, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(b, c, h, w, generator=gen, dtype=torch.float64)
    if min(h, w) >= 3:
        x = torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    return x.to(dtype)


def _hf_energy(x: torch.Tensor) -> float:
    """Mean square of what a Gaussian blur of 1 px removes: the image's fine-detail energy."""
    return (x - gaussian_blur(x, 1.0)).square().mean().item()


# ---- exact reconstruction ---------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("hw", SIZES)
@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("n", [2, 5, 8])
def test_unit_gains_reconstruct(method, hw, c, n):
    x = _rand(2, c, *hw)
    y = frequency_bands(x, gains=[1.0] * n, method=method)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert (y - x).abs().max() <= 1e-6


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("hw", SIZES)
def test_split_bands_add_up(method, hw):
    x = _rand(2, 3, *hw)
    for n in (2, 4, 8):
        parts = split_bands(x, n, method=method)
        assert len(parts) == n and all(p.shape == x.shape for p in parts)
        assert (sum(parts) - x).abs().max() <= 1e-6


@pytest.mark.parametrize("method", METHODS)
def test_unit_gains_through_the_node_path(method):
    # restorekit.run converts as the nodes and the CLI do ([0, 1] IMAGE in, clamped out).
    x = _rand(2, 3, 37, 53)
    out = params.run("frequency_bands", image=x, method=method, bands=6, fine_gain=1.0, coarse_gain=1.0)
    assert (out["image"] - x).abs().max() <= 1e-6
    out = params.run("frequency_bands", image=x, method=method, gains="1, 1, 1", fine_gain=2.0)
    assert (out["image"] - x).abs().max() <= 1e-6
    gray = _rand(1, 1, 3, 5)
    assert (params.run("frequency_bands", image=gray, method=method, fine_gain=1.0)["image"] - gray).abs().max() <= 1e-6


@pytest.mark.parametrize("method", METHODS)
def test_unit_gains_through_the_comfy_node(method):
    from pack import v1_classes

    cls = v1_classes()["RK_FrequencyBands"]
    node = cls()
    image = _rand(2, 3, 37, 53).permute(0, 2, 3, 1).contiguous()  # ComfyUI IMAGE [B, H, W, C]
    spec = cls.INPUT_TYPES()["required"]
    values = {name: opts.get("default", kind[0] if isinstance(kind, list) else None) for name, (kind, opts) in spec.items()}
    values.update(image=image, method=method, fine_gain=1.0, coarse_gain=1.0)
    with torch.inference_mode():
        out, preview = getattr(node, cls.FUNCTION)(**values)
    assert out.shape == image.shape and (out - image).abs().max() <= 1e-6
    assert preview.shape[0] == 2 and preview.shape[1] == 37 and preview.shape[-1] == 3


# ---- masks ------------------------------------------------------------------------------------


def test_masks_partition_of_unity_and_cached():
    masks = fft_band_masks(37, 53, octave_cutoffs(6))
    assert masks.shape == (6, 74, 54)
    assert masks.min() >= 0 and masks.max() <= 1
    assert (masks.sum(0) - 1).abs().max() < 1e-6
    assert masks[-1, 0, 0] == 1 and masks[0, 37, 0] == 1  # DC in the residual, Nyquist in the finest band
    assert fft_band_masks(37, 53, octave_cutoffs(6)) is masks  # built once per shape
    with pytest.raises(InvalidParameterError):
        fft_band_masks(8, 8, [0.1, 0.2])


def test_fft_bands_follow_the_octaves():
    # A cosine of period 3 px lies in band 0, one of period 24 px (0.042 cycles/px) in band 3 (1/16-1/32 c/px).
    xx = torch.arange(96.0).view(1, 1, 1, 96).expand(1, 1, 32, 96)
    for period, band in ((3.0, 0), (24.0, 3)):
        x = 0.5 + 0.2 * torch.cos(2 * torch.pi * xx / period)
        energy = [p[..., 8:-8].square().mean().item() for p in split_bands(x, 6, method="fft")[:-1]]
        assert max(range(5), key=energy.__getitem__) == band
        assert energy[band] > 0.9 * sum(energy)


# ---- effect -----------------------------------------------------------------------------------


@pytest.mark.quality
@pytest.mark.parametrize("method", METHODS)
def test_fine_gain_changes_high_frequency_energy_on_set12(method):
    images = support.load_set("Set12", names=["01", "05", "08"], gray=True)
    for x in images:
        base = _hf_energy(x)
        up = _hf_energy(frequency_bands(x, gains=[2.0, 1.0, 1.0, 1.0], method=method)) / base
        down = _hf_energy(frequency_bands(x, gains=[0.5, 1.0, 1.0, 1.0], method=method)) / base
        assert up >= THRESHOLDS[f"{method}_fine_gain2_hf_ratio_min"]
        assert down <= THRESHOLDS[f"{method}_fine_gain05_hf_ratio_max"]


@pytest.mark.parametrize("method", METHODS)
def test_residual_gain_keeps_the_mean(method):
    x = _rand(2, 3, 37, 53)
    y = frequency_bands(x, gains=[1.3, 1.0, 0.2], method=method, clamp=False)
    assert torch.allclose(y.mean(dim=(-2, -1)), x.mean(dim=(-2, -1)), atol=1e-6)
    assert (y - x).abs().mean() > 1e-3


@pytest.mark.parametrize("method", METHODS)
def test_zero_gains_leave_the_mean(method):
    x = _rand(1, 1, 40, 40)
    y = frequency_bands(x, gains=[0.0] * 4, method=method, clamp=False)
    assert torch.allclose(y, x.mean().expand_as(y), atol=1e-5)


@pytest.mark.parametrize("method", METHODS)
def test_batch_consistency(method):
    x = _rand(3, 3, 29, 34)
    y = frequency_bands(x, gains=[1.8, 0.7, 1.2, 1.1], method=method)
    for i in range(3):
        assert torch.allclose(y[i : i + 1], frequency_bands(x[i : i + 1], gains=[1.8, 0.7, 1.2, 1.1], method=method),
                              atol=1e-6, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64])
def test_dtype_kept(dtype):
    x = _rand(1, 3, 20, 24, dtype=dtype)
    y = frequency_bands(x)
    assert y.dtype == dtype
    assert (y.double() - frequency_bands(x.double())).abs().max() < (2e-3 if dtype == torch.float16 else 1e-12)


def test_device(device):
    x = _rand(2, 3, 37, 53).to(device)
    for method in METHODS:
        y = frequency_bands(x, method=method)
        assert y.device == x.device
        assert torch.allclose(y.cpu(), frequency_bands(x.cpu(), method=method), atol=1e-5)


def test_non_contiguous_input():
    wide = _rand(1, 3, 30, 82)
    view = wide[..., ::2]
    for method in METHODS:
        assert torch.allclose(frequency_bands(view, method=method), frequency_bands(view.clone(), method=method),
                              atol=1e-6)


def test_progress():
    calls = []
    frequency_bands(_rand(1, 1, 8, 8), progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (1, 1)


# ---- gains from the node's inputs ----------------------------------------------------------------


def test_gain_text_and_interpolation():
    assert parse_gains("1.5, 1.2 ,1", 5) == [1.5, 1.2, 1.0, 1.0, 1.0]
    assert parse_gains("2 0.5", 2) == [2.0, 0.5]
    assert interpolate_gains(3, 1.6, 1.0) == pytest.approx([1.6, 1.3, 1.0])
    assert band_gains(4, 2.0, 1.0, "  ") == pytest.approx([2.0, 5 / 3, 4 / 3, 1.0])
    assert band_gains(4, 2.0, 1.0, "0.5") == [0.5] * 4


@pytest.mark.parametrize("text", ["", "a, b", "1, 2, 3, 4, 5", "1, -1", "1, nan", "20"])
def test_bad_gain_text(text):
    with pytest.raises(InvalidParameterError):
        parse_gains(text, 4)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"gains": [1.0]},
        {"gains": [1.0] * 9},
        {"gains": [1.0, -0.5]},
        {"gains": [1.0, float("inf")]},
        {"gains": [1.0, 11.0]},
        {"gains": [1.0, True]},
        {"gains": "1, 2"},
        {"method": "wavelet"},
    ],
)
def test_bad_parameters(kwargs):
    with pytest.raises(InvalidParameterError):
        frequency_bands(_rand(1, 3, 16, 16), **kwargs)


def test_bad_parameters_elsewhere():
    x = _rand(1, 3, 16, 16)
    with pytest.raises(InvalidParameterError):
        split_bands(x, 1)
    with pytest.raises(InvalidParameterError):
        split_bands(x, 9)
    with pytest.raises(InvalidParameterError):
        band_preview(x, 4, contrast=0)
    with pytest.raises(InvalidParameterError):
        band_preview(x, 4, tile=-1)
    with pytest.raises(InvalidParameterError):
        interpolate_gains(4, -1.0, 1.0)
    with pytest.raises(InvalidParameterError):
        params.run("frequency_bands", image=x, gains="1, 2, 3, 4, 5", bands=4)
    with pytest.raises(InvalidImageError):
        frequency_bands(torch.rand(1, 2, 8, 8))
    with pytest.raises(InvalidImageError):
        frequency_bands(torch.full((1, 1, 8, 8), float("nan")))


# ---- previews ---------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_preview_layout_and_values(method):
    x = torch.full((2, 3, 20, 30), 0.3)
    p = band_preview(x, 4, method=method, tile=0, gap=2)
    assert p.shape == (2, 3, 20, 4 * 30 + 3 * 2)
    for k in range(3):
        assert torch.allclose(p[..., k * 32 : k * 32 + 30], torch.tensor(0.5), atol=1e-5)  # no detail: mid grey
        assert torch.equal(p[..., k * 32 + 30 : k * 32 + 32], torch.zeros(2, 3, 20, 2))  # black gap
    assert torch.allclose(p[..., 96:], torch.tensor(0.3), atol=1e-5)  # the residual as it is


def test_preview_scaled_down_and_batch_kept():
    x = _rand(3, 1, 60, 90)
    p = band_preview(x, 3, tile=45)
    assert p.shape == (3, 1, 30, 3 * 45 + 2 * 2)
    assert p.min() >= 0 and p.max() <= 1
    out = params.run("frequency_bands", image=_rand(3, 3, 24, 24), bands=3)
    assert out["band_previews"].shape == (3, 3, 24, 3 * 24 + 4)
