"""Tests for restorekit.enhance.clahe and the CLAHE operation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import support
import torch
from thresholds import ALL_THRESHOLDS

from restorekit.color import rgb_to_lab, rgb_to_oklab
from restorekit.enhance.clahe import COLOR_SPACES, clahe, clahe_channel
from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.image import to_numpy
from restorekit.operations import enhance as _enhance_ops  # noqa: F401  (registers the operation)
from restorekit.params import get_operation

THRESHOLDS = ALL_THRESHOLDS["clahe"]


def _rand(b=1, c=3, h=32, w=40, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(b, c, h, w, generator=gen, dtype=torch.float64)
    # Smooth a little so tiles have structured histograms, then stretch into [0, 1].
    x = torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    x = (x - x.amin()) / (x.amax() - x.amin()).clamp(min=1e-6)
    return x.to(dtype)


# ---- shapes, dtype, device, layout ----------------------------------------------------------


@pytest.mark.parametrize("b", [1, 3])
@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("hw", [(1, 1), (3, 5), (7, 9), (33, 20), (64, 64)])
def test_shapes_and_range(b, c, hw):
    x = _rand(b, c, *hw)
    y = clahe(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1


@pytest.mark.parametrize("color_space", COLOR_SPACES)
def test_color_spaces(color_space):
    x = _rand(2, 3, 37, 45)
    y = clahe(x, color_space=color_space)
    assert y.shape == x.shape and torch.isfinite(y).all() and 0 <= y.min() and y.max() <= 1
    assert (y - x).abs().mean() > 1e-3  # it did something


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_dtype_kept(dtype):
    x = _rand(1, 3, 24, 24, dtype=dtype)
    y = clahe(x)
    assert y.dtype == dtype
    ref = clahe(x.double())
    assert (y.double() - ref).abs().max() < (1e-2 if dtype == torch.float16 else 1e-5)


def test_device(device):
    x = _rand(2, 3, 40, 52).to(device)
    y = clahe(x, color_space="oklab")
    assert y.device == x.device and y.shape == x.shape
    ref = clahe(x.cpu(), color_space="oklab")
    assert (y.cpu() - ref).abs().max() < 1e-4


@pytest.mark.parametrize("c", [1, 3])
def test_non_contiguous_and_channels_last(c):
    # Gray is exact; for RGB the colour conversion may round differently by ~1e-7 per layout.
    tol = 0.0 if c == 1 else 1e-5
    x = _rand(2, c, 30, 41)
    ref = clahe(x)
    assert torch.allclose(clahe(x.contiguous(memory_format=torch.channels_last)), ref, rtol=0, atol=tol)
    wide = _rand(2, c, 30, 82)
    view = wide[..., ::2]
    assert not view.is_contiguous()
    assert torch.allclose(clahe(view), clahe(view.clone()), rtol=0, atol=tol)


@pytest.mark.parametrize("c", [1, 3])
def test_batch_consistency(c):
    tol = 0.0 if c == 1 else 1e-5
    x = _rand(3, c, 45, 38)
    y = clahe(x, clip_limit=3.0, tiles=(3, 5))
    for i in range(3):
        assert torch.allclose(y[i : i + 1], clahe(x[i : i + 1], clip_limit=3.0, tiles=(3, 5)), rtol=0, atol=tol)


def test_chunking_does_not_change_results(monkeypatch):
    import restorekit.enhance.clahe as module

    x = _rand(3, 3, 40, 52)
    ref = clahe(x, tiles=(3, 4), bins=64)
    monkeypatch.setattr(module, "_CHUNK_PIXELS", 100)  # one image per chunk
    monkeypatch.setattr(module, "_TABLE_ELEMENTS", 300)  # row blocks of one row
    calls = []
    out = clahe(x, tiles=(3, 4), bins=64, progress=lambda d, t: calls.append((d, t)))
    assert torch.allclose(out, ref, rtol=0, atol=1e-6)
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]


def test_progress_called():
    calls = []
    clahe(_rand(2, 1, 16, 16), progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (2, 2)


# ---- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        torch.rand(3, 16, 16),  # 3-D
        torch.rand(1, 2, 16, 16),  # 2 channels
        torch.randint(0, 255, (1, 1, 16, 16), dtype=torch.uint8),  # not float
        torch.full((1, 1, 8, 8), float("nan")),
        torch.rand(1, 3, 0, 8),  # empty
    ],
)
def test_bad_images(bad):
    with pytest.raises(InvalidImageError):
        clahe(bad)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"clip_limit": -1.0},
        {"clip_limit": float("inf")},
        {"clip_limit": float("nan")},
        {"tiles": 0},
        {"tiles": (8,)},
        {"tiles": (8, 0)},
        {"tiles": 1000},
        {"tiles": 2.5},
        {"bins": 1},
        {"bins": 256.0},
        {"strength": 1.5},
        {"strength": -0.1},
        {"color_space": "rgb"},
    ],
)
def test_bad_parameters(kwargs):
    with pytest.raises(InvalidParameterError):
        clahe(_rand(1, 3, 16, 16), **kwargs)


# ---- values ----------------------------------------------------------------------------------


def test_strength_zero_is_identity():
    x = _rand(2, 3, 21, 17)
    assert torch.equal(clahe(x, strength=0.0), x)


def test_strength_blends_linearly():
    x = _rand(1, 1, 32, 32)
    full = clahe(x)
    half = clahe(x, strength=0.5)
    assert torch.allclose(half, 0.5 * (x + full), atol=1e-6)


@pytest.mark.parametrize("value", [0.0, 0.2, 0.5, 1.0])
@pytest.mark.parametrize("hw", [(64, 64), (50, 37)])
def test_constant_image(value, hw):
    # A flat image has no contrast to enhance: with clipping the mapping stays close to the identity.
    # (Small tiles: the clip limit is at least one whole count, which lifts the level by ~2 / tile pixels.)
    x = torch.full((1, 3, *hw), value)
    y = clahe(x, clip_limit=2.0)
    assert torch.isfinite(y).all()
    assert (y - x).abs().max() < 0.08
    big = torch.full((1, 1, 256, 256), value)
    assert (clahe(big, clip_limit=2.0) - big).abs().max() < 0.015  # measured 0.0117 (3 grey levels)
    assert y.std() < 1e-3  # still flat


def test_global_equalisation_matches_cdf():
    # One tile and no clipping is plain histogram equalisation: output = CDF(input level).
    gen = torch.Generator().manual_seed(3)
    levels = torch.randint(0, 256, (1, 1, 20, 30), generator=gen)
    x = levels.double() / 255
    y = clahe(x, tiles=1, clip_limit=0.0)
    counts = np.bincount(levels.flatten().numpy(), minlength=256)
    cdf = np.cumsum(counts) / counts.sum()
    np.testing.assert_allclose(y.flatten().numpy(), cdf[levels.flatten().numpy()], atol=1e-12)


def test_clip_redistribution_keeps_mass():
    # With clipping, the mapping of the brightest level of every tile is exactly 1.
    x = _rand(1, 1, 64, 64).double()
    x[..., 0, 0] = 1.0
    y = clahe_channel(x, clip_limit=1.5, tiles=1)
    assert y[..., 0, 0].item() == pytest.approx(1.0, abs=1e-12)


def test_flip_equivariance():
    # Tile centres sit at the centres of the tiles, so mirroring the image mirrors the result.
    x = _rand(1, 1, 48, 64)
    y = clahe(x, tiles=(4, 8))
    assert torch.allclose(clahe(x.flip(-1), tiles=(4, 8)).flip(-1), y, atol=1e-6)
    assert torch.allclose(clahe(x.flip(-2), tiles=(4, 8)).flip(-2), y, atol=1e-6)


def test_more_clip_more_contrast():
    x = 0.4 + 0.2 * _rand(1, 1, 128, 128)  # a low-contrast image
    stds = [clahe(x, clip_limit=c, tiles=4).std().item() for c in (1.0, 2.0, 4.0)]
    assert x.std().item() < stds[0] < stds[1] < stds[2]


def test_lightness_only_keeps_colour():
    x = 0.2 + 0.6 * _rand(1, 3, 40, 40)
    lab_in = rgb_to_lab(x)
    lab_out = rgb_to_lab(clahe(x, color_space="lab", clip_limit=1.5))
    # a*, b* move only where the new lightness pushes a colour out of gamut (clamped); here little.
    assert (lab_out[:, 1:] - lab_in[:, 1:]).abs().median() < 0.5
    ok_in, ok_out = rgb_to_oklab(x), rgb_to_oklab(clahe(x, color_space="oklab", clip_limit=1.5))
    assert (ok_out[:, 1:] - ok_in[:, 1:]).abs().median() < 2e-3


def test_gray_rgb_agree_on_gray_content():
    g = _rand(1, 1, 32, 32)
    rgb = g.expand(1, 3, 32, 32)
    out = clahe(rgb, color_space="ycbcr")
    assert torch.allclose(out, clahe(g).expand(1, 3, 32, 32), atol=1e-5)


# ---- reference: OpenCV -----------------------------------------------------------------------


@pytest.mark.quality
def test_matches_opencv_on_set12():
    paths = support.image_paths("Set12")
    diffs = []
    for path in (paths[0], paths[4], paths[8]):  # two 256x256 images, one 512x512
        x = support.load(path, gray=True)
        u8 = np.rint(to_numpy(x)[0, :, :, 0] * 255).astype(np.uint8)
        ref = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8)).apply(u8).astype(np.float64)
        ours = np.rint(to_numpy(clahe(x, clip_limit=2.0, tiles=8, bins=256))[0, :, :, 0].astype(np.float64) * 255)
        diffs.append(np.abs(ours - ref))
    for d in diffs:
        assert d.mean() < THRESHOLDS["clahe_vs_opencv_mean_grey"]
        assert d.max() <= THRESHOLDS["clahe_vs_opencv_max_grey"]


def test_matches_opencv_grid_and_padding():
    # Non-square grid, size not a multiple of the grid (reflect-101 extension), other clip limit.
    x = _rand(1, 1, 75, 98, seed=5)
    u8 = np.rint(to_numpy(x)[0, :, :, 0] * 255).astype(np.uint8)
    x8 = torch.from_numpy(u8.astype(np.float32) / 255)[None, None]
    ref = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(6, 3)).apply(u8).astype(np.float64)  # (cols, rows)
    ours = np.rint(to_numpy(clahe(x8, clip_limit=3.0, tiles=(3, 6)))[0, :, :, 0].astype(np.float64) * 255)
    d = np.abs(ours - ref)
    assert d.mean() < 0.6 and d.max() <= 4


# ---- operation -------------------------------------------------------------------------------


def _defaults(op):
    return {p.name: p.to_core(p.default) for p in op.inputs if not p.is_data}


@pytest.mark.parametrize("shape", [(3, 3, 64, 64), (1, 1, 64, 64), (1, 3, 1, 1), (2, 1, 3, 5), (1, 3, 7, 9)])
def test_operation_defaults(shape):
    op = get_operation("clahe")
    assert op.node_id == "RK_CLAHE" and op.display_name == "CLAHE" and op.category == "enhance" and op.gpu
    x = _rand(*shape)
    with torch.inference_mode():
        (out,) = op.call({"image": x, **_defaults(op)})
    assert out.shape == x.shape and torch.isfinite(out).all() and 0 <= out.min() and out.max() <= 1


def test_operation_matches_core():
    op = get_operation("RK_CLAHE")
    x = _rand(2, 3, 40, 40)
    values = {"image": x, **_defaults(op), "clip_limit": 3.0, "tiles": 4, "color_space": "oklab", "strength": 0.7}
    (out,) = op.call(values)
    assert torch.equal(out, clahe(x, clip_limit=3.0, tiles=4, color_space="oklab", strength=0.7))


# ---- high-precision (16-bit / float) mapping ---------------------------------------------------


def _ramp16():
    return (torch.arange(65536, dtype=torch.float32) / 65535).view(1, 1, 256, 256)  # 65536 levels


def test_16bit_ramp_keeps_levels():
    r = _ramp16()
    levels = {m: torch.unique(torch.round(clahe(r, mapping=m) * 65535)).numel() for m in ("auto", "lookup", "linear")}
    assert levels["auto"] == levels["linear"] > THRESHOLDS["clahe_16bit_ramp_min_levels"]  # measured 37305
    assert levels["lookup"] <= 256  # measured 242: at most about one level per bin
    one_tile = clahe(r, tiles=1, mapping="linear")
    assert torch.unique(torch.round(one_tile * 65535)).numel() > 60000  # measured 65536
    assert (one_tile.flatten().diff() >= 0).all()  # monotone on a ramp


@pytest.mark.parametrize("c", [1, 3])
def test_auto_mapping_rule(c):
    x8 = torch.round(_rand(2, c, 30, 41) * 255) / 255
    assert torch.equal(clahe(x8), clahe(x8, mapping="lookup"))
    assert torch.equal(clahe(x8 * 257 / 257), clahe(x8, mapping="lookup"))  # 8-bit content stored as 16-bit
    x16 = torch.round(_rand(2, c, 30, 41, seed=1) * 65535) / 65535
    assert torch.equal(clahe(x16), clahe(x16, mapping="linear"))
    assert not torch.equal(clahe(x16), clahe(x16, mapping="lookup"))
    # A batch mixing both: each image as it would be alone.
    # (Gray is exact; the colour conversion of a batch may round differently by ~1e-7.)
    tol = 0.0 if c == 1 else 1e-5
    mixed = clahe(torch.cat([x8[:1], x16[:1]]))
    assert torch.allclose(mixed[:1], clahe(x8[:1]), rtol=0, atol=tol)
    assert torch.allclose(mixed[1:], clahe(x16[:1]), rtol=0, atol=tol)


def test_linear_mapping_is_the_interpolated_cdf():
    # One tile, no clipping: output = CDF before the bin + in-bin position x the bin's share.
    gen = torch.Generator().manual_seed(4)
    x = torch.rand(1, 1, 20, 30, generator=gen, dtype=torch.float64)
    bins = 16
    y = clahe(x, tiles=1, clip_limit=0.0, bins=bins, mapping="linear")
    idx = (x * bins).floor().clamp(max=bins - 1).long().flatten()
    share = torch.bincount(idx, minlength=bins).double() / idx.numel()
    before = torch.cat([torch.zeros(1, dtype=torch.float64), share.cumsum(0)])[idx]
    expected = before + (x.flatten() * bins - idx) * share[idx]
    torch.testing.assert_close(y.flatten(), expected, rtol=0, atol=1e-12)


def test_linear_close_to_lookup_on_8bit():
    # On 8-bit input the linear reading lies below the lookup one by part of a bin's share
    # (Set12 03: mean 1.02, max 2.99 grey levels), which is why auto keeps lookup for 8-bit images.
    x = support.load(support.image_paths("Set12")[2], gray=True)
    d = (clahe(x, mapping="lookup") - clahe(x, mapping="linear")) * 255
    assert d.min() > -1e-3 and d.max() < 4 and d.mean() < 1.5


def test_bad_mapping():
    with pytest.raises(InvalidParameterError):
        clahe(_rand(1, 1, 8, 8), mapping="cubic")
