"""Tests for restorekit.enhance.white_balance: illuminant estimates, gains in linear light, gamut, shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import support
import torch
from thresholds import ALL_THRESHOLDS

from restorekit.color import correlated_color_temperature, linear_to_srgb, srgb_to_linear, xyz_to_linear_rgb
from restorekit.enhance import white_balance as wb_module
from restorekit.enhance.white_balance import (
    _masked_percentile,
    estimate_illuminant,
    white_balance,
    white_balance_gains,
)
from restorekit.errors import InvalidImageError, InvalidParameterError

THRESHOLDS = ALL_THRESHOLDS["color_enhance"]


def _angle_deg(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Angle between RGB vectors ``[..., 3]`` in degrees (the usual illuminant-estimation error)."""
    a, b = a.double(), b.double()
    cos = (a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1))
    return torch.rad2deg(torch.arccos(cos.clamp(-1.0, 1.0)))


def _planckian_rgb(x: float, y: float) -> torch.Tensor:
    """Linear sRGB of a light of chromaticity (x, y), scaled to max 1: the cast a camera shows without WB."""
    rgb = xyz_to_linear_rgb(torch.tensor([[x / y, 1.0, (1 - x - y) / y]], dtype=torch.float64))[0]
    return rgb / rgb.max()


CAST_4000K = _planckian_rgb(0.3805, 0.3768)  # Planckian 4000 K: (1, 0.653, 0.377)
CAST_10000K = _planckian_rgb(0.2807, 0.2883)  # Planckian 10000 K: bluish


def _grey_world_scenes() -> torch.Tensor:
    """Two CBSD68 crops (256 x 256), made exactly grey-world in linear light, linear, at most 0.98."""
    crops = [img[:, :, :256, :256] for img in support.load_set("CBSD68", names=["101085", "102061"])]
    lin = srgb_to_linear(torch.cat(crops).double())
    lin = lin / lin.mean(dim=(2, 3), keepdim=True) * lin.mean(dim=(1, 2, 3), keepdim=True)
    return lin / lin.amax(dim=(1, 2, 3), keepdim=True) * 0.98


def _cast(lin: torch.Tensor, casts: torch.Tensor, quantize: bool = True) -> torch.Tensor:
    """Linear scene x per-channel cast, encoded to sRGB (rounded to 8 bits) as float32."""
    out = linear_to_srgb(lin * casts.view(-1, 3, 1, 1)).float()
    return (out * 255).round() / 255 if quantize else out


# ---- gray world ---------------------------------------------------------------------------------


def test_gray_world_recovers_a_known_cast_per_image():
    scenes = _grey_world_scenes()
    casts = torch.stack([CAST_4000K, CAST_10000K])
    x = _cast(scenes, casts)
    estimate = estimate_illuminant(x, method="gray_world")
    errors = _angle_deg(estimate, casts)
    # measured 0.022 and 0.019 degrees (8-bit rounding of the cast image)
    assert (errors <= THRESHOLDS["wb_gray_world_angle_deg"]).all(), errors
    cct = correlated_color_temperature(estimate.double())
    assert abs(cct[0] - 4000) <= 50 and abs(cct[1] - 10000) <= 300, cct
    # the two images got their own estimates (a batch estimate would fit neither)
    assert _angle_deg(estimate[0], estimate[1]) > 10


def test_gray_world_correction_is_neutral_and_keeps_exposure():
    scenes = _grey_world_scenes()[:1]
    x = _cast(scenes, CAST_4000K.unsqueeze(0))
    out, illuminant, gains = white_balance(x, method="gray_world", return_info=True)
    assert out.shape == x.shape and out.dtype == x.dtype
    mean = srgb_to_linear(out.double()).mean(dim=(2, 3))
    assert _angle_deg(mean, torch.ones(1, 3)) <= 0.5  # the corrected scene averages to grey
    lum = torch.tensor([0.2126729, 0.7151522, 0.0721750], dtype=torch.float64)
    mean_in = srgb_to_linear(x.double()).mean(dim=(2, 3))
    assert (mean * lum).sum() == pytest.approx(float((mean_in * lum).sum()), rel=0.02)  # exposure kept
    # gains undo the cast: gains * cast is neutral
    assert _angle_deg(gains.double() * CAST_4000K, torch.ones(3)) <= 0.1
    # close to the scene before the cast, in sRGB, up to the brightness normalisation
    ref = linear_to_srgb(scenes * (mean_in * lum).sum() / (scenes.mean(dim=(2, 3)) * lum).sum())
    assert (out.double() - ref).abs().mean() <= 0.01


def test_unchanged_when_already_balanced():
    scenes = _grey_world_scenes()[:1]
    x = _cast(scenes, torch.ones(1, 3, dtype=torch.float64), quantize=False)
    out, _, gains = white_balance(x, method="gray_world", return_info=True)
    assert torch.allclose(gains, torch.ones(1, 3), atol=1e-5)
    assert (out - x).abs().max() <= 1e-4


# ---- white patch --------------------------------------------------------------------------------


def _white_patch_scene(h: int = 96, w: int = 96, seed: int = 0) -> torch.Tensor:
    """Linear scene: smooth random colours up to 0.55, a white card (0.9) on 4 % of it, nothing neutral else."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 3, h // 8, w // 8, generator=gen, dtype=torch.float64) * 0.55
    scene = torch.nn.functional.interpolate(base, size=(h, w), mode="bilinear", align_corners=False)
    scene[:, :, : h // 5, : w // 5] = 0.9
    return scene


def test_white_patch_recovers_cast_and_ignores_clipped_highlights():
    scene = _white_patch_scene()
    cast = CAST_4000K
    x = _cast(scene, cast.unsqueeze(0))
    # a few specular highlights clipped to sRGB white (0.3 % of the pixels) would fool plain max-RGB
    x[:, :, 60:63, 60:63] = 1.0
    x[:, :, 80:82, 10:13] = 1.0
    estimate = estimate_illuminant(x, method="white_patch", percentile=99.0)
    error = _angle_deg(estimate[0], cast)
    assert error <= THRESHOLDS["wb_white_patch_angle_deg"], error  # measured 0.23 degrees (max-RGB: 20.6)
    max_rgb = srgb_to_linear(x.double()).amax(dim=(2, 3))[0]
    assert _angle_deg(max_rgb, cast) > 5  # what the clipped pixels do to an unguarded estimate
    # percentile 100 = the brightest unclipped pixel: still the card
    assert _angle_deg(estimate_illuminant(x, method="white_patch", percentile=100.0)[0], cast) <= 1.0
    out = white_balance(x, method="white_patch")
    card = srgb_to_linear(out.double())[0, :, 2:15, 2:15].mean(dim=(1, 2))
    assert _angle_deg(card, torch.ones(3)) <= 1.0  # the card is white again


def test_white_patch_on_a_reduced_copy(monkeypatch):
    # Large images are estimated on an area-averaged copy; force that path on a small image.
    scene = _white_patch_scene(128, 128, seed=1)
    x = _cast(scene, CAST_10000K.unsqueeze(0))
    full = estimate_illuminant(x, method="white_patch")
    monkeypatch.setattr(wb_module, "_STAT_PIXELS", 128 * 128 // 9)  # 3 x 3 blocks
    reduced = estimate_illuminant(x, method="white_patch")
    assert _angle_deg(reduced[0], CAST_10000K) <= 1.0 and _angle_deg(full[0], CAST_10000K) <= 1.0


def test_all_clipped_image_uses_every_pixel():
    x = torch.ones(1, 3, 8, 8)
    x[:, 2] = 0.5
    estimate = estimate_illuminant(x, method="white_patch")
    assert torch.isfinite(estimate).all() and estimate[0, 0] == pytest.approx(1.0)


def test_masked_percentile_matches_numpy():
    gen = torch.Generator().manual_seed(3)
    values = torch.rand(4, 200, generator=gen, dtype=torch.float64)
    valid = torch.rand(4, 200, generator=gen) > 0.3
    for q in (50.0, 90.0, 99.0, 100.0):
        ours = _masked_percentile(values, valid, q)
        ref = [np.percentile(values[i][valid[i]].numpy(), q) for i in range(4)]
        assert np.allclose(ours.numpy(), ref, atol=1e-12)


def test_gains():
    gains = white_balance_gains(torch.tensor([[1.0, 0.5, 0.25], [0.0, 0.0, 0.0], [1.0, 1.0, 1e-6]]))
    lum = 0.2126729 + 0.5 * 0.7151522 + 0.25 * 0.0721750
    assert torch.allclose(gains[0], torch.tensor([lum, 2 * lum, 4 * lum]), atol=1e-6)
    assert torch.equal(gains[1], torch.ones(3))  # black: nothing to balance
    assert gains[2, 2] == pytest.approx(4.0)  # limited


# ---- contract -------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["gray_world", "white_patch"])
@pytest.mark.parametrize("hw", [(1, 1), (3, 5), (17, 23)])
@pytest.mark.parametrize("b", [1, 3])
def test_shapes_range_and_gamut(method, hw, b):
    gen = torch.Generator().manual_seed(b * 100 + hw[0])
    x = torch.rand(b, 3, *hw, generator=gen) ** torch.tensor([0.5, 1.0, 3.0]).view(1, 3, 1, 1)  # strong casts
    raw = white_balance(x, method=method, clamp=False)
    assert raw.shape == x.shape and raw.dtype == x.dtype
    assert raw.min() >= -1e-6 and raw.max() <= 1 + 1e-6  # gamut-mapped, not clipped
    out = white_balance(x, method=method)
    assert out.min() >= 0 and out.max() <= 1
    if b == 3:  # per-image estimates; equal up to float32 rounding (torch's CPU pow is not batch-invariant
        # to the last bit, and the sRGB curve multiplies linear errors by 12.92 near black)
        single = torch.cat([white_balance(x[i : i + 1], method=method) for i in range(b)])
        assert (single - out).abs().max() <= 1e-5


def test_gray_and_none_unchanged_and_dtypes():
    gray = torch.rand(2, 1, 9, 7, generator=torch.Generator().manual_seed(0))
    assert torch.equal(white_balance(gray), gray)
    x = torch.rand(2, 3, 9, 7, generator=torch.Generator().manual_seed(1))
    assert torch.equal(white_balance(x, method="none"), x)
    for dtype in (torch.float16, torch.float64):
        y = white_balance(x.to(dtype))
        assert y.dtype == dtype and (y.float() - white_balance(x)).abs().max() <= (2e-3 if dtype == torch.float16 else 1e-5)
    cl = white_balance(x.to(memory_format=torch.channels_last))
    assert torch.allclose(cl, white_balance(x), atol=1e-5)


def test_errors():
    x = torch.rand(1, 3, 4, 4)
    with pytest.raises(InvalidParameterError, match="white_balance"):
        white_balance(x, method="retinex")
    with pytest.raises(InvalidParameterError, match="white_percentile"):
        white_balance(x, method="white_patch", percentile=101)
    with pytest.raises(InvalidParameterError, match="white_percentile"):
        estimate_illuminant(x, method="white_patch", percentile=math.nan)
    with pytest.raises(InvalidParameterError):
        estimate_illuminant(torch.rand(1, 1, 4, 4))
    with pytest.raises(InvalidImageError):
        white_balance(torch.rand(1, 4, 4, 4))
    with pytest.raises(InvalidImageError):
        white_balance(torch.full((1, 3, 2, 2), math.nan))
