"""Tests for restorekit.enhance.color_enhance and the Colour Enhance operation."""

from __future__ import annotations

import math

import pytest
import support
import torch
from test_color import PATCH_NAMES, colorchecker, patch_means
from thresholds import ALL_THRESHOLDS

from restorekit.color import correlated_color_temperature, linear_to_srgb, oklab_to_oklch, rgb_to_oklab, srgb_to_linear
from restorekit.enhance.color_enhance import chroma_gain, color_enhance, skin_weight
from restorekit.enhance.white_balance import estimate_illuminant
from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.operations import enhance as _enhance_ops  # noqa: F401  (registers the operation)
from restorekit.params import run

THRESHOLDS = ALL_THRESHOLDS["color_enhance"]
PATCH = 6  # pixels per ColorChecker patch side


def _lch(image: torch.Tensor) -> torch.Tensor:
    """OkLCh of each chart patch, ``[24, 3]`` (hue in degrees)."""
    lch = oklab_to_oklch(rgb_to_oklab(patch_means(image, PATCH).T.reshape(1, 3, 24, 1)))[0, :, :, 0].T
    return torch.cat([lch[:, :2], torch.rad2deg(lch[:, 2:])], dim=1)


def _rand(b=1, c=3, h=16, w=20, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(b, c, h, w, generator=gen, dtype=torch.float64)
    return torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False).to(dtype)


def _photo(names=("101085", "102061")) -> torch.Tensor:
    return torch.cat([img[:, :, :160, :160] for img in support.load_set("CBSD68", names=list(names))])


# ---- ColorChecker: vibrance, skin protection, gamut ---------------------------------------------------


def test_vibrance_protects_skin_and_boosts_muted_colours():
    chart = colorchecker(PATCH)
    raw = color_enhance(chart, vibrance=0.5, clamp=False)
    # no pixel left the gamut: the unclamped result is in [0, 1] (gamut mapping did its job)
    assert raw.min() >= -THRESHOLDS["gamut_tolerance"] and raw.max() <= 1 + THRESHOLDS["gamut_tolerance"]
    lab_in = rgb_to_oklab(patch_means(chart, PATCH).T.reshape(1, 3, 24, 1))[0, :, :, 0].T
    lab_out = rgb_to_oklab(patch_means(raw, PATCH).T.reshape(1, 3, 24, 1))[0, :, :, 0].T
    delta_e = (lab_out - lab_in).norm(dim=1)
    lch_in, lch_out = _lch(chart), _lch(raw)
    gain = lch_out[:, 1] / lch_in[:, 1] - 1
    for name in ("dark skin", "light skin"):  # measured dE_OK 0.0042 and 0.0044
        assert delta_e[PATCH_NAMES.index(name)] <= THRESHOLDS["skin_delta_e_ok_max"], (name, delta_e)
    for name in ("blue sky", "foliage", "bluish green", "blue flower"):  # measured +32.7, +31.3, +26.1, +29.7 %
        assert gain[PATCH_NAMES.index(name)] >= THRESHOLDS["muted_chroma_gain_min"], (name, gain)
    # vibrance favours muted colours: the muted blue sky gains more than the saturated blue and yellow
    assert gain[PATCH_NAMES.index("blue sky")] > gain[PATCH_NAMES.index("blue")] + 0.1
    assert gain[PATCH_NAMES.index("yellow")] < 0.1
    # lightness and hue are kept for every coloured patch (chroma only)
    coloured = lch_in[:, 1] > 0.02
    assert (lch_out[:, 0] - lch_in[:, 0]).abs().max() <= 2e-4
    dh = torch.remainder(lch_out[coloured, 2] - lch_in[coloured, 2] + 180, 360) - 180
    assert dh.abs().max() <= 0.3


def test_skin_protection_is_what_keeps_skin():
    chart = colorchecker(PATCH)
    lab_in = rgb_to_oklab(chart)
    moved = {}
    for protection in (0.0, 0.8, 1.0):
        out = color_enhance(chart, vibrance=0.5, skin_protection=protection)
        d = (rgb_to_oklab(out) - lab_in).norm(dim=1, keepdim=True)
        moved[protection] = patch_means(d, PATCH)[:2, 0]  # the two skin patches
    assert (moved[0.0] >= 3 * moved[0.8]).all() and (moved[1.0] <= moved[0.8]).all()
    assert (moved[0.0] > 0.015).all()  # unprotected, skin would move about as much as the sky
    # protection limits boosts only: desaturation applies to skin too
    gray = color_enhance(chart, vibrance=0.0, saturation=-1.0, skin_protection=1.0)
    assert _lch(gray)[:2, 1].max() <= 1e-3


def test_skin_weight_and_gain_shape():
    hues = torch.deg2rad(torch.tensor([50.0, 30.0, 70.0, 140.0, -130.0], dtype=torch.float64))
    lab = torch.stack([torch.full_like(hues, 0.6), 0.06 * hues.cos(), 0.06 * hues.sin()]).view(1, 3, 5, 1)
    w = skin_weight(lab).flatten()
    assert w[0] == pytest.approx(1.0) and 0.5 < w[1] < 0.7 and 0.5 < w[2] < 0.7 and w[3:].max() < 1e-3
    saturated = lab.clone()
    saturated[:, 1:] *= 3.5  # chroma 0.21: not skin however its hue
    assert skin_weight(saturated).max() == 0
    gain = chroma_gain(lab, vibrance=1.0, saturation=0.0, skin_protection=0.0).flatten()
    assert torch.allclose(gain, torch.tensor(1 + (1 - 0.06 / 0.32) ** 2, dtype=torch.float64))


def test_gamut_mapping_instead_of_clipping():
    x = _photo()
    raw, info = color_enhance(x, vibrance=1.0, saturation=1.0, clamp=False, return_info=True)
    tol = THRESHOLDS["gamut_tolerance"]
    assert raw.min() >= -tol and raw.max() <= 1 + tol
    assert (info.gamut_mapped > 100).all()  # doubling chroma pushes many colours out of sRGB
    # hue is kept where the mapping cut chroma; plain clipping of the same boost would shift it
    lab_in, lab_out = rgb_to_oklab(x.double()), rgb_to_oklab(raw.double().clamp(0, 1))
    hue_in = torch.atan2(lab_in[:, 2], lab_in[:, 1])
    hue_out = torch.atan2(lab_out[:, 2], lab_out[:, 1])
    colourful = torch.hypot(lab_in[:, 1], lab_in[:, 2]) > 0.05
    dh = (torch.remainder(hue_out - hue_in + math.pi, 2 * math.pi) - math.pi).abs()[colourful]
    assert torch.rad2deg(dh).max() <= 1.0
    assert (lab_out[:, 0] - lab_in[:, 0]).abs().max() <= 1e-3  # lightness kept


def test_real_images_report_figures():
    x = _photo()
    out, info = color_enhance(x, return_info=True)
    # defaults (vibrance 0.3): a moderate change; measured dE_OK 0.0051 / 0.0021, equal to the chroma change
    # (lightness and hue are kept). Half of the second crop is blown-out sky (a channel at 1): those colours
    # cannot gain chroma at their lightness, so the gamut mapping holds them (measured 3036 / 20398 px).
    assert ((info.delta_e > 0.001) & (info.delta_e < 0.03)).all()
    assert torch.allclose(info.chroma_change, info.delta_e, atol=2e-4)
    assert info.gamut_mapped[1] > 0.5 * 160 * 160 > info.gamut_mapped[0] > 0
    assert info.illuminant is None and not info.gray and info.pixels == 160 * 160
    lab_in, lab_out = rgb_to_oklab(x), rgb_to_oklab(out)
    assert torch.allclose(info.delta_e, (lab_out - lab_in).norm(dim=1).mean(dim=(1, 2)), atol=1e-6)


def test_white_balance_inside_colour_enhance():
    x = _photo()
    cast = torch.tensor([1.0, 0.75, 0.5]).view(1, 3, 1, 1)
    tinted = linear_to_srgb(srgb_to_linear(x) * cast)
    out, info = color_enhance(tinted, vibrance=0.0, white_balance="gray_world", return_info=True)
    assert torch.allclose(info.illuminant, estimate_illuminant(tinted), atol=1e-6)
    assert info.gains.shape == (2, 3) and torch.allclose(info.cct, correlated_color_temperature(info.illuminant))
    mean = srgb_to_linear(out.double()).mean(dim=(2, 3))
    cos = (mean * torch.ones(3)).sum(1) / (mean.norm(dim=1) * math.sqrt(3))
    angle = torch.rad2deg(torch.arccos(cos.clamp(max=1)))
    # grey world after the correction: measured 0.00001 and 1.35 degrees; the second crop's blown-out sky
    # is pushed out of sRGB by the gains and brought back at constant lightness, which moves its mean a little
    assert angle[0] <= 0.1 and angle[1] <= 2.0
    assert (info.chroma_change < 0).all()  # removing a cast removes chroma


# ---- contract -------------------------------------------------------------------------------------


@pytest.mark.parametrize("b", [1, 3])
@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("hw", [(1, 1), (3, 5), (17, 23)])
def test_shapes_and_range(b, c, hw):
    x = _rand(b, c, *hw, seed=b + c)
    y = color_enhance(x, vibrance=0.8, saturation=0.5, white_balance="white_patch")
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1
    if c == 1:
        assert torch.equal(y, x)  # colour operations do not apply to gray images


def test_strength():
    x = _rand(2, 3, 12, 14)
    assert torch.equal(color_enhance(x, strength=0.0, white_balance="gray_world"), x)
    full = color_enhance(x, vibrance=0.6, clamp=False)
    half = color_enhance(x, vibrance=0.6, strength=0.5, clamp=False)
    assert torch.allclose(half, (x + full) / 2, atol=1e-6)
    assert torch.allclose(color_enhance(x, vibrance=0.0, saturation=0.0), x, atol=2e-5)  # round trip only


def test_batch_consistency_per_image_white_balance():
    x = _rand(3, 3, 20, 18, seed=4) * torch.tensor([1.0, 0.8, 0.6]).view(1, 3, 1, 1)
    x[1] = x[1].flip(0)  # another cast for the second image
    y = color_enhance(x, white_balance="gray_world", vibrance=0.5)
    single = torch.cat([color_enhance(x[i : i + 1], white_balance="gray_world", vibrance=0.5) for i in range(3)])
    assert (y - single).abs().max() <= 1e-5  # float32 rounding (see test_white_balance.test_shapes_range_and_gamut)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64])
def test_dtype_kept(dtype):
    x = _rand(1, 3, 16, 16)
    y = color_enhance(x.to(dtype), vibrance=0.5, white_balance="gray_world")
    ref = color_enhance(x.double(), vibrance=0.5, white_balance="gray_world")
    assert y.dtype == dtype
    assert (y.double() - ref).abs().max() <= (2e-3 if dtype == torch.float16 else 1e-12)
    assert (color_enhance(x, vibrance=0.5, white_balance="gray_world").double() - ref).abs().max() <= 2e-5


def test_layouts_and_progress():
    x = _rand(2, 3, 16, 16)
    ref = color_enhance(x)
    assert torch.allclose(color_enhance(x.to(memory_format=torch.channels_last)), ref, atol=1e-5)
    wide = _rand(2, 3, 16, 32)
    assert torch.allclose(color_enhance(wide[..., ::2]), color_enhance(wide[..., ::2].contiguous()), atol=1e-5)
    calls = []
    color_enhance(x, progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, 1) and calls[-1] == (1, 1)


def test_errors():
    x = _rand()
    for name, value in [("vibrance", 1.5), ("vibrance", math.nan), ("saturation", -2.0), ("skin_protection", 2.0),
                        ("strength", -0.1), ("vibrance", True), ("white_percentile", 10.0)]:
        with pytest.raises(InvalidParameterError, match=name):
            color_enhance(x, **{name: value})
    with pytest.raises(InvalidParameterError, match="white_balance"):
        color_enhance(x, white_balance="max_rgb")
    with pytest.raises(InvalidImageError):
        color_enhance(torch.rand(1, 4, 8, 8))
    with pytest.raises(InvalidImageError):
        color_enhance(torch.full((1, 3, 2, 2), math.inf))


# ---- operation ------------------------------------------------------------------------------------


def test_operation_report():
    x = _photo()
    tinted = linear_to_srgb(srgb_to_linear(x) * torch.tensor([1.0, 0.8, 0.6]).view(1, 3, 1, 1))
    result = run("color_enhance", image=tinted, white_balance="gray_world", vibrance=0.4)
    report = result["report"]
    assert result["image"].shape == x.shape
    assert "illuminant" in report and " K" in report and "gamut-mapped" in report and "dE_OK" in report
    assert "linear light" in report
    assert len([line for line in report.splitlines() if line.strip().startswith(("0 ", "1 "))]) == 2
    gray = run("color_enhance", image=x[:, :1])
    assert torch.equal(gray["image"], x[:, :1]) and "do not apply" in gray["report"]
    none = run("color_enhance", image=x)["report"]
    assert "CCT" not in none and "gamut-mapped" in none
