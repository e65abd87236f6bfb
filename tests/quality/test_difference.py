"""Tests for restorekit.quality.difference and the Difference operation."""

from __future__ import annotations

import math

import pytest
import torch
from support import load_set

import restorekit.operations.quality.difference  # noqa: F401  (registers the operation)
from restorekit.color import rgb_to_oklab
from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.params import get_operation, run
from restorekit.quality.difference import COLORMAPS, LUT_SIZE, colormap, difference


def _img(b=1, c=3, h=24, w=20, seed=0):
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed))


def _noisy(x, sigma, seed=0):
    g = torch.Generator().manual_seed(seed)
    return x + sigma * torch.randn(x.shape, generator=g)


def test_signed_with_given_gain_is_the_formula():
    a, b = _img(seed=1), _img(seed=2)
    r = difference(a, b, gain=3.0, scale_bar=False)
    assert torch.allclose(r.signed, (0.5 + 3.0 * (a - b)).clamp(0, 1), atol=1e-6)
    assert torch.allclose(r.full_scale, torch.tensor([0.5 / 3.0]))
    luma = difference(a, b, gain=2.0, channels="luma", scale_bar=False).signed
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    assert luma.shape == (1, 1, 24, 20)
    assert torch.allclose(luma, (0.5 + 2.0 * ((a - b) * weights).sum(1, keepdim=True)).clamp(0, 1), atol=1e-5)


def test_auto_gain_maps_the_99th_percentile_to_full_scale():
    a = _img(2, 3, 40, 50)
    d = torch.zeros_like(a)
    d[0] = 0.01 * torch.randn(a[0].shape, generator=torch.Generator().manual_seed(3))
    d[1, :, :2, :] = 0.2  # 2 rows of 40: 5 % of the pixels differ, by 0.2
    r = difference((a + d).clamp(0, 1), a, scale_bar=False)
    m = ((a + d).clamp(0, 1) - a).abs().amax(1).flatten(1)
    expected = m.sort(dim=1).values[:, math.ceil(0.99 * m.shape[1]) - 1]
    assert torch.allclose(r.full_scale, expected)
    assert torch.allclose(r.gain, 0.5 / expected)
    # about 1 % of the pixels reach the top of the heat map; most stay below
    at_top = (r.heat[0] - colormap(torch.ones(1, 1, 1, 1))[0]).abs().amax(0) < 1e-6
    assert 0.005 < at_top.float().mean() < 0.02


def test_sparse_and_zero_differences():
    a = _img(1, 1, 30, 30)
    b = a.clone()
    b[0, 0, 3, 4] = 1 - a[0, 0, 3, 4]  # one pixel: the 99th percentile is 0, the maximum is used
    r = difference(a, b, scale_bar=False)
    assert torch.allclose(r.full_scale, (a - b).abs().amax().view(1))
    same = difference(a, a, scale_bar=False)
    assert same.gain.item() == 1.0 and torch.all(same.signed == 0.5) and math.isinf(same.psnr.item())
    assert same.mean_abs.item() == 0 and same.max_abs.item() == 0


def test_colormaps_are_perceptually_ordered():
    ramp = torch.linspace(0, 1, LUT_SIZE).view(1, 1, 1, -1)
    for name in ("fire", "aurora"):
        rgb = colormap(ramp, name)
        assert rgb.shape == (1, 3, 1, LUT_SIZE) and rgb.min() >= 0 and rgb.max() <= 1
        lab = rgb_to_oklab(rgb.double())[0, :, 0]
        steps = lab[0].diff()
        assert steps.min() > 0, name  # lightness rises everywhere
        assert steps.max() < 2 * steps.mean()  # and evenly
        assert 0.15 < lab[0, 0] < 0.18 and 0.94 < lab[0, -1] < 0.97
        assert lab[1:].norm(dim=0).max() > 0.1  # a colour map, not a grey ramp
    gray = colormap(ramp, "gray")
    assert gray.shape == (1, 1, 1, LUT_SIZE) and gray.diff(dim=-1).min() > 0
    with pytest.raises(InvalidParameterError, match="colour map"):
        colormap(ramp, "jet")


def test_heat_map_brightness_follows_the_difference():
    a = torch.zeros(1, 3, 8, 64)
    b = torch.linspace(0, 0.3, 64).view(1, 1, 1, -1).expand(1, 3, 8, 64).contiguous()
    r = difference(b, a, gain=0.5 / 0.3, scale_bar=False)
    lightness = rgb_to_oklab(r.heat)[0, 0, 4]
    assert lightness.diff().min() > 0


def test_scale_bar_is_drawn_at_the_bottom_only():
    a, b = _img(2, 3, 96, 80, 1), _img(2, 3, 96, 80, 2)
    plain = difference(a, b, scale_bar=False).heat
    bar = difference(a, b, scale_bar=True).heat
    changed = (plain != bar).any(dim=1).any(dim=0).any(dim=1)  # per row
    rows = changed.nonzero().squeeze(1)
    assert rows.numel() > 0 and rows.min() >= 96 - 4 - 10 and rows.max() == 95
    ramp = bar[0, :, -1, :]
    assert torch.allclose(ramp[:, 0], colormap(torch.zeros(1, 1, 1, 1))[0, :, 0, 0], atol=1e-6)
    assert torch.allclose(ramp[:, -1], colormap(torch.ones(1, 1, 1, 1))[0, :, 0, 0], atol=1e-6)
    small = _img(1, 3, 10, 10)
    assert torch.equal(difference(small, small * 0.5).heat, difference(small, small * 0.5, scale_bar=False).heat)


def test_per_image_batch_broadcast_and_gray_vs_rgb():
    a, b = _img(3, 3, 20, 18, 1), _img(1, 3, 20, 18, 2)
    r = difference(a, b)
    for i in range(3):
        one = difference(a[i : i + 1], b)
        assert torch.allclose(r.signed[i], one.signed[0]) and torch.allclose(r.heat[i], one.heat[0])
        assert torch.allclose(r.psnr[i], one.psnr[0])
    gray = difference(_img(1, 1, 20, 18), b)
    assert gray.signed.shape == (1, 3, 20, 18)


@pytest.mark.parametrize("shape", [(1, 3, 1, 1), (2, 1, 3, 5), (1, 3, 5, 3)])
def test_tiny_images_and_dtypes(shape):
    a, b = torch.rand(shape, dtype=torch.float64), torch.rand(shape, dtype=torch.float64)
    r = difference(a, b)
    assert r.signed.dtype == torch.float64 and r.signed.shape[-2:] == shape[-2:]
    assert r.heat.shape == (shape[0], 3, *shape[-2:])
    assert torch.isfinite(r.heat).all() and r.heat.min() >= 0 and r.heat.max() <= 1


def test_bad_inputs():
    a = _img()
    with pytest.raises(InvalidImageError, match="image_b"):
        difference(a, _img(1, 3, 10, 10))
    with pytest.raises(InvalidImageError, match="main input"):
        difference(_img(2), _img(3))
    for bad in (0.0, -1.0, float("nan"), 1e9, True):
        with pytest.raises(InvalidParameterError, match="gain"):
            difference(a, a, gain=bad)
    with pytest.raises(InvalidParameterError, match="channels"):
        difference(a, a, channels="rgb")
    with pytest.raises(InvalidParameterError, match="colour map"):
        difference(a, a, colormap_name="jet")


def test_real_image_noise_figures():
    """Gaussian noise of sigma 10 grey levels: mean |d| = sigma sqrt(2/pi), PSNR = 20 log10(255 / sigma)."""
    (clean,) = load_set("Set12", names=["01"])
    clean = clean[:, :, :192, :192]
    sigma = 10 / 255
    noisy = _noisy(clean, sigma, seed=12)
    inside = ((noisy >= 0) & (noisy <= 1)).float().mean()
    assert inside > 0.95  # clipping barely changes the figures
    r = difference(noisy.clamp(0, 1), clean, scale_bar=False)
    assert abs(r.mean_abs.item() * 255 - 10 * math.sqrt(2 / math.pi)) < 0.4
    assert abs(r.psnr.item() - 20 * math.log10(255 / 10)) < 0.4
    # the 99th percentile of |N(0, sigma)| is 2.576 sigma
    assert abs(r.full_scale.item() * 255 - 2.576 * 10) < 1.0


# ---- operation -------------------------------------------------------------------------------


def test_operation_outputs_and_report():
    a = _img(2, 3, 64, 48, 1)
    b = (a + 0.02 * torch.randn(a.shape, generator=torch.Generator().manual_seed(5))).clamp(0, 1)
    out = run("difference", image_a=a, image_b=b)
    assert set(out) == {"signed", "heat_map", "report"}
    assert out["signed"].shape == a.shape and out["heat_map"].shape == a.shape
    text = out["report"]
    assert "automatic" in text and "PSNR" in text and "grey levels" in text
    r = difference(a, b)
    row = f"{r.full_scale[0] * 255:.3g}  {r.gain[0]:.3g}  {r.mean_abs[0] * 255:.3f}  {r.max_abs[0] * 255:.2f}"
    assert row in " ".join(text.split("\n")[-2].split()).replace(" ", "  ") and f"{r.psnr[0]:.2f}" in text
    fixed = run("difference", image_a=a, image_b=b, gain=10.0)["report"]
    assert "12.8 grey levels" in fixed and "given" in fixed
    assert "inf" in run("difference", image_a=a, image_b=a)["report"]


def test_operation_declaration():
    op = get_operation("RK_Difference")
    assert op.display_name == "Difference" and op.category == "quality"
    assert [o.name for o in op.outputs] == ["signed", "heat_map", "report"]
    assert op.param("gain").zero_is_auto and op.param("colormap").choices == COLORMAPS
    assert all(p.help for p in op.inputs)
