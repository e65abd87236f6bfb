"""Tests for restorekit.color: Oklab against published values, OkLCh, colour temperature, gamut mapping.

Also holds the ColorChecker table the colour-enhancement tests use (``from test_color import colorchecker``).
"""

from __future__ import annotations

import math

import pytest
import torch

from restorekit.color import (
    correlated_color_temperature,
    delta_e_ok,
    gamut_map_oklab,
    linear_rgb_to_oklab,
    linear_to_srgb,
    oklab_to_linear_rgb,
    oklab_to_oklch,
    oklab_to_rgb,
    oklch_to_oklab,
    rgb_to_oklab,
    srgb_to_linear,
    xyz_to_linear_rgb,
)
from restorekit.errors import InvalidParameterError

# The 24 patches of the X-Rite ColorChecker Classic as 8-bit sRGB (D65). Source: BabelColor,
# "ColorChecker RGB and spectra" (average of 30 charts made after November 2009, sRGB computed by
# BabelColor), as listed in the sRGB column of Wikipedia's "ColorChecker" article.
COLORCHECKER_SRGB8 = {
    "dark skin": (115, 82, 68),
    "light skin": (194, 150, 130),
    "blue sky": (98, 122, 157),
    "foliage": (87, 108, 67),
    "blue flower": (133, 128, 177),
    "bluish green": (103, 189, 170),
    "orange": (214, 126, 44),
    "purplish blue": (80, 91, 166),
    "moderate red": (193, 90, 99),
    "purple": (94, 60, 108),
    "yellow green": (157, 188, 64),
    "orange yellow": (224, 163, 46),
    "blue": (56, 61, 150),
    "green": (70, 148, 73),
    "red": (175, 54, 60),
    "yellow": (231, 199, 31),
    "magenta": (187, 86, 149),
    "cyan": (8, 133, 161),
    "white 9.5": (243, 243, 242),
    "neutral 8": (200, 200, 200),
    "neutral 6.5": (160, 160, 160),
    "neutral 5": (122, 122, 121),
    "neutral 3.5": (85, 85, 85),
    "black 2": (52, 52, 52),
}
PATCH_NAMES = list(COLORCHECKER_SRGB8)


def colorchecker(patch: int = 1, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The chart as an image ``[1, 3, 4 * patch, 6 * patch]``: 4 rows of 6 patches in chart order."""
    rgb = torch.tensor(list(COLORCHECKER_SRGB8.values()), dtype=torch.float64) / 255.0  # [24, 3]
    chart = rgb.T.reshape(3, 4, 6)
    return chart.repeat_interleave(patch, 1).repeat_interleave(patch, 2).unsqueeze(0).to(dtype)


def patch_means(image: torch.Tensor, patch: int = 1) -> torch.Tensor:
    """The mean of each of the 24 patches of a chart image ``[1, C, 4p, 6p]``, as ``[24, C]`` float64."""
    means = torch.nn.functional.avg_pool2d(image.double(), patch)  # [1, C, 4, 6]
    return means[0].reshape(image.shape[1], 24).T


def _column(values, dtype=torch.float64) -> torch.Tensor:
    """Rows of 3 values as a ``[1, 3, N, 1]`` image."""
    return torch.tensor(values, dtype=dtype).T.reshape(1, 3, -1, 1)


# ---- Oklab ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_grey_has_zero_chroma(dtype):
    levels = [0.0, 1e-4, 0.01, 0.04045, 0.18, 0.5, 0.9, 1.0]
    lab = rgb_to_oklab(_column([[v, v, v] for v in levels], dtype))
    assert lab[:, 1:].abs().max() <= 1e-6
    assert (lab[0, 0, 1:, 0].diff() > 0).all()  # lightness increases with the grey level


def test_srgb_white_is_one_zero_zero():
    lab = rgb_to_oklab(torch.ones(1, 3, 1, 1, dtype=torch.float64)).flatten()
    assert torch.allclose(lab, torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64), atol=1e-6)
    assert rgb_to_oklab(torch.zeros(1, 3, 1, 1)).abs().max() == 0


def test_published_xyz_to_oklab_values():
    # Björn Ottosson, "A perceptual color space for image processing" (2020), table of XYZ (D65) -> Oklab,
    # given to 3 decimals. Our path: XYZ -> linear sRGB (IEC 61966-2-1 matrix) -> Oklab.
    table = [
        ((0.950, 1.000, 1.089), (1.000, 0.000, 0.000)),
        ((1.000, 0.000, 0.000), (0.450, 1.236, -0.019)),
        ((0.000, 1.000, 0.000), (0.922, -0.671, 0.263)),
        ((0.000, 0.000, 1.000), (0.153, -1.415, -0.449)),
    ]
    xyz = _column([t[0] for t in table])
    lab = linear_rgb_to_oklab(xyz_to_linear_rgb(xyz))[0, :, :, 0].T
    expected = torch.tensor([t[1] for t in table], dtype=torch.float64)
    assert (lab - expected).abs().max() <= 1e-3


def test_oklab_of_linear_matches_srgb_path():
    x = torch.rand(2, 3, 5, 7, generator=torch.Generator().manual_seed(1))
    assert torch.equal(rgb_to_oklab(x), linear_rgb_to_oklab(srgb_to_linear(x)))
    lab = rgb_to_oklab(x)
    assert torch.equal(oklab_to_rgb(lab), linear_to_srgb(oklab_to_linear_rgb(lab)))


# float64: 1e-5 as asked (measured 3.4e-14). float32: measured 1.5e-5 at worst, on colours with one channel
# near 0 next to bright ones (e.g. (0.007, 0.987, 0.817)): float32 rounding of the ~1 cone responses
# cancels to about 1e-6 in linear red, and the sRGB curve multiplies that by 12.92 near 0.
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float32, 2e-5), (torch.float64, 1e-5)])
def test_round_trip_random_colours(dtype, tol):
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64).to(dtype)
    corners = _column([[r, g, b] for r in (0, 1) for g in (0, 1) for b in (0, 1)], dtype).reshape(1, 3, 2, 4)
    for image in (x, corners):
        back = oklab_to_rgb(rgb_to_oklab(image))
        assert back.dtype == dtype
        assert (back - image).abs().max() <= tol
    mean_error = (oklab_to_rgb(rgb_to_oklab(x)) - x).abs().mean()
    assert mean_error <= (1e-6 if dtype == torch.float32 else 1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_round_trip_colorchecker(dtype):
    chart = colorchecker(dtype=dtype)
    assert (oklab_to_rgb(rgb_to_oklab(chart)) - chart).abs().max() <= 1e-5


def test_colorchecker_skin_hues():
    # The two skin patches lie at OkLCh hue 44-46 degrees with chroma 0.05-0.06 (inside our skin band).
    lch = oklab_to_oklch(rgb_to_oklab(colorchecker(dtype=torch.float64)))[0, :, :, :].reshape(3, 24).T
    for name in ("dark skin", "light skin"):
        _, chroma, hue = lch[PATCH_NAMES.index(name)].tolist()
        assert 43.0 <= math.degrees(hue) <= 47.0 and 0.045 <= chroma <= 0.065


# ---- OkLCh, ΔE -------------------------------------------------------------------------------------


def test_oklch_round_trip_and_hues():
    lab = rgb_to_oklab(torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64))
    lch = oklab_to_oklch(lab)
    assert (lch[:, 1] >= 0).all() and (lch[:, 2].abs() <= math.pi).all()
    assert torch.allclose(oklch_to_oklab(lch), lab, atol=1e-12)
    # Published OkLCh hues of the sRGB primaries (CSS Color 4 examples): red 29.23, green 142.50, blue 264.05
    # (= -95.95) degrees.
    primaries = oklab_to_oklch(rgb_to_oklab(_column([[1, 0, 0], [0, 1, 0], [0, 0, 1]])))[0, 2, :, 0]
    assert torch.allclose(torch.rad2deg(primaries), torch.tensor([29.23, 142.50, -95.95], dtype=torch.float64),
                          atol=0.02)


def test_delta_e_ok():
    a = _column([[0.5, 0.1, -0.1]])
    b = _column([[0.5, 0.1 + 0.03, -0.1 - 0.04]])
    assert delta_e_ok(a, b).item() == pytest.approx(0.05, abs=1e-12)
    assert delta_e_ok(a, a).item() == 0


# ---- correlated colour temperature ---------------------------------------------------------------


def _rgb_of_chromaticity(x: float, y: float) -> torch.Tensor:
    return xyz_to_linear_rgb(torch.tensor([[x / y, 1.0, (1 - x - y) / y]], dtype=torch.float64))


@pytest.mark.parametrize(
    ("xy", "kelvin", "tol"),
    [
        ((0.31271, 0.32902), 6504.0, 5.0),  # D65
        ((0.44757, 0.40745), 2856.0, 5.0),  # CIE illuminant A
        ((0.34567, 0.35850), 5003.0, 10.0),  # D50
        ((0.3805, 0.3768), 4000.0, 15.0),  # Planckian 4000 K
    ],
)
def test_cct_mccamy(xy, kelvin, tol):
    assert correlated_color_temperature(_rgb_of_chromaticity(*xy)).item() == pytest.approx(kelvin, abs=tol)


def test_cct_of_srgb_white_and_scale_invariance():
    white = torch.ones(2, 3, dtype=torch.float64) * torch.tensor([[1.0], [0.25]], dtype=torch.float64)
    assert torch.allclose(correlated_color_temperature(white), torch.tensor(6503.5, dtype=torch.float64), atol=1)
    warm = torch.tensor([[1.0, 0.7, 0.4]])
    assert correlated_color_temperature(warm) < 4500 < 6500 < correlated_color_temperature(warm.flip(1))


# ---- gamut mapping --------------------------------------------------------------------------------


def _random_oklab(seed: int, dtype: torch.dtype, n: int = 64) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    lab = torch.rand(2, 3, n, n, generator=gen, dtype=torch.float64)
    lab = lab * torch.tensor([1.2, 0.8, 0.8], dtype=torch.float64).view(1, 3, 1, 1)
    return (lab - torch.tensor([0.1, 0.4, 0.4], dtype=torch.float64).view(1, 3, 1, 1)).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gamut_map_fits_keeps_lightness_and_hue(dtype):
    lab = _random_oklab(3, dtype)
    linear, scale = gamut_map_oklab(lab)
    assert linear.dtype == dtype and linear.shape == lab.shape and scale.shape == (2, 1, 64, 64)
    srgb = linear_to_srgb(linear)
    assert srgb.min() >= -1e-6 and srgb.max() <= 1 + 1e-6
    assert 0.3 < (scale < 1).float().mean() < 1  # the test colours include many outside sRGB
    assert (scale >= 0).all() and (scale <= 1).all()
    mapped = torch.cat([lab[:, :1].clamp(0, 1), lab[:, 1:] * scale], dim=1)
    assert (oklab_to_linear_rgb(mapped) - linear).abs().max() <= 1e-5  # same colours, other evaluation order
    back = linear_rgb_to_oklab(linear.double())
    cut = (scale < 0.9) & (lab[:, :1] > 0.05) & (lab[:, :1] < 0.95)
    assert (back[:, :1] - lab[:, :1].double().clamp(0, 1)).abs().max() <= 2e-4  # lightness kept
    hue_in = torch.atan2(lab[:, 2:3], lab[:, 1:2]).double()
    hue_out = torch.atan2(back[:, 2:3], back[:, 1:2])
    dh = torch.remainder(hue_out - hue_in + math.pi, 2 * math.pi) - math.pi
    assert dh[cut & (scale > 0.05)].abs().max() <= 2e-3  # hue kept (radians) where chroma remains


def test_gamut_map_is_tight_and_leaves_in_gamut_colours_alone():
    lab = _random_oklab(4, torch.float64)
    linear, scale = gamut_map_oklab(lab)
    # A little more chroma than kept leaves the gamut: the mapping does not cut more than it must.
    cut = scale < 0.99
    over = oklab_to_linear_rgb(torch.cat([lab[:, :1].clamp(0, 1), lab[:, 1:] * (scale + 2**-11)], dim=1))
    outside = (over.amin(1, keepdim=True) < -1e-9) | (over.amax(1, keepdim=True) > 1 + 1e-9)
    assert outside[cut].all()
    # Colours of real sRGB images are in gamut: nothing changes, the scale is 1.
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    linear, scale = gamut_map_oklab(rgb_to_oklab(x))
    assert (scale == 1).all() and (linear_to_srgb(linear) - x).abs().max() <= 1e-9
    # Mapping twice changes nothing more.
    again, scale2 = gamut_map_oklab(linear_rgb_to_oklab(gamut_map_oklab(lab)[0]))
    assert (scale2 > 1 - 1e-3).all()


def test_gamut_map_lightness_outside_range_and_steps():
    lab = _column([[1.3, 0.2, 0.0], [-0.2, 0.0, 0.1], [0.7, 0.5, 0.5]])
    linear, scale = gamut_map_oklab(lab)
    assert torch.allclose(linear[0, :, 0, 0], torch.ones(3, dtype=torch.float64), atol=1e-6)  # too light -> white
    assert linear[0, :, 1, 0].abs().max() <= 1e-7  # too dark -> black
    assert 0 < scale[0, 0, 2, 0] < 0.5
    with pytest.raises(InvalidParameterError, match="steps"):
        gamut_map_oklab(lab, steps=0)
