"""Tests for restorekit.quality.compare and the Compare operation."""

from __future__ import annotations

import pytest
import torch

import restorekit.operations.quality  # noqa: F401  (registers the operations)
from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.params import get_operation
from restorekit.quality.compare import (
    BACKGROUND_LEVEL,
    STRIP_LEVEL,
    auto_label_height,
    compare_grid,
    parse_labels,
    text_mask,
)


def _img(b=1, c=3, h=32, w=48, seed=0):
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed))


def _run(**values):
    op = get_operation("compare")
    defaults = {f"image_{k}": None for k in range(3, 7)}
    defaults.update(labels="", columns=0, label_height=0, gap=4)
    defaults.update(values)
    with torch.inference_mode():
        out = op.call(defaults)
    return out[0]


def test_one_row_shape_and_placement():
    a, b = _img(2, 3, 32, 48, 0), _img(2, 3, 32, 48, 1)
    out = compare_grid([a, b], ["a", "b"], label_height=20, gap=4)
    assert out.shape == (2, 3, 20 + 32, 48 + 4 + 48)
    assert torch.equal(out[:, :, 20:, :48], a)
    assert torch.equal(out[:, :, 20:, 52:], b)
    assert torch.all(out[:, :, :, 48:52] == BACKGROUND_LEVEL)


def test_columns_make_rows():
    imgs = [_img(1, 3, 16, 16, k) for k in range(5)]
    out = compare_grid(imgs, columns=2, label_height=10, gap=2)
    assert out.shape == (1, 3, 3 * 26 + 2 * 2, 2 * 16 + 2)
    # the unused sixth cell stays background
    assert torch.all(out[:, :, 2 * 28 :, 18:] == BACKGROUND_LEVEL)
    assert compare_grid(imgs, columns=9, label_height=10, gap=2).shape[-1] == 5 * 16 + 4 * 2


def test_tiles_scaled_to_first_height_keeping_aspect():
    a = _img(1, 3, 40, 30)
    b = _img(1, 3, 80, 100, 1)  # scaled to 40 x 50
    out = compare_grid([a, b], label_height=0, gap=0)
    assert out.shape == (1, 3, 40, 50 + 50)
    assert torch.all(out[:, :, :, :10] == BACKGROUND_LEVEL)  # a is centred in a 50-px cell
    assert out.min() >= 0 and out.max() <= 1


def test_gray_shown_as_rgb_and_output_rgb():
    g = _img(1, 1, 16, 16)
    out = compare_grid([g, g], label_height=0, gap=0)
    assert out.shape[1] == 3
    assert torch.equal(out[:, 0], out[:, 2])
    assert torch.equal(out[0, 0, :, :16], g[0, 0])


def test_batch_broadcast_and_consistency():
    a = _img(3, 3, 16, 20)
    b = _img(1, 1, 16, 20, 1)
    out = compare_grid([a, b], label_height=12)
    assert out.shape[0] == 3
    for i in range(3):
        assert torch.equal(out[i : i + 1], compare_grid([a[i : i + 1], b], label_height=12))


def test_batch_mismatch_rejected():
    with pytest.raises(InvalidImageError, match="image_2"):
        compare_grid([_img(3), _img(2)])


def test_label_strip_has_text():
    a = _img(1, 3, 64, 96)
    out = compare_grid([a, a], ["noisy", "denoised"], label_height=24, gap=0)
    strip = out[0, :, :24]
    for left in (0, 96):
        cell = strip[:, :, left : left + 96]
        assert (cell > 0.5).float().mean() > 0.02  # light text pixels
        assert (cell == STRIP_LEVEL).float().mean() > 0.5  # on a dark strip
    # different text renders differently
    assert not torch.equal(strip[:, :, :96], strip[:, :, 96:])


def test_text_mask_truncates_and_handles_tiny_boxes():
    full = text_mask("a label much longer than the box", 60, 20)
    assert full.shape == (20, 60) and full.max() > 0.5
    assert full[:, :2].max() == 0 and full[:, -2:].max() == 0  # kept inside the margins
    assert text_mask("x", 1, 1).shape == (1, 1)
    assert text_mask("abc", 5, 3).max() == 0
    assert text_mask("", 40, 20).max() == 0


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (7, 9), (1, 40)])
def test_tiny_images(shape):
    a = _img(1, 3, *shape)
    b = _img(2, 1, 9, 3, 1)
    out = compare_grid([a, b], ["first", "second"])
    assert out.shape[0] == 2 and out.shape[1] == 3 and out.shape[2] == shape[0] + auto_label_height(shape[0])
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_dtype_device_layout(device):
    a = _img(2, 3, 20, 24).to(device)
    b = _img(2, 3, 20, 24, 1).to(device)
    ref = compare_grid([a, b], ["a", "b"])
    assert ref.device.type == device.type and ref.dtype == torch.float32
    nc = compare_grid([a.transpose(-1, -2).contiguous().transpose(-1, -2), b], ["a", "b"])
    cl = compare_grid([a.to(memory_format=torch.channels_last), b], ["a", "b"])
    assert torch.equal(nc, ref) and torch.equal(cl, ref)
    assert compare_grid([a.double(), b], ["a", "b"]).dtype == torch.float64


def test_bad_parameters():
    a = _img()
    with pytest.raises(InvalidParameterError, match="gap"):
        compare_grid([a, a], gap=-1)
    with pytest.raises(InvalidParameterError, match="columns"):
        compare_grid([a, a], columns=-1)
    with pytest.raises(InvalidParameterError, match="label_height"):
        compare_grid([a, a], label_height=10_000)
    with pytest.raises(InvalidParameterError, match="labels"):
        compare_grid([a, a], ["only one"])
    with pytest.raises(InvalidImageError):
        compare_grid([])
    with pytest.raises(InvalidImageError, match="image_2"):
        compare_grid([a, torch.rand(1, 2, 8, 8)])


def test_parse_labels():
    assert parse_labels("", [1, 2, 4]) == ["1", "2", "4"]
    assert parse_labels("noisy, , nlm", [1, 2, 5]) == ["noisy", "2", "nlm"]
    assert parse_labels("a", [1, 2]) == ["a", "2"]
    assert parse_labels("a,b,c", [1, 2]) == ["a", "b"]


# ---- operation -------------------------------------------------------------------------------


def test_operation_declaration():
    op = get_operation("RK_Compare")
    assert op.display_name == "Compare" and op.category == "quality" and op.combine_inputs
    names = [p.name for p in op.inputs]
    assert names[:6] == [f"image_{k}" for k in range(1, 7)]
    assert not op.param("image_1").optional and not op.param("image_2").optional
    assert all(op.param(f"image_{k}").optional for k in range(3, 7))
    assert op.param("label_height").advanced and op.param("gap").advanced


@pytest.mark.parametrize(
    "shapes",
    [
        [(3, 3, 64, 64), (3, 3, 64, 64)],
        [(1, 1, 64, 64), (1, 1, 64, 64)],
        [(1, 3, 1, 1), (1, 1, 3, 5)],
        [(3, 3, 64, 64), (1, 1, 32, 48), None, (3, 3, 7, 9)],
    ],
)
def test_operation_defaults(shapes):
    images = {f"image_{k}": (_img(*s, seed=k) if s is not None else None) for k, s in enumerate(shapes, start=1)}
    out = _run(**images)
    assert out.shape[0] == shapes[0][0] and out.shape[1] == 3
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_operation_labels_follow_connected_inputs():
    a = _img(1, 3, 40, 40)
    with_gap = _run(image_1=a, image_2=a, image_4=a, labels="x, y")
    direct = compare_grid([a, a, a], ["x", "y", "4"])
    assert torch.equal(with_gap, direct)


# ---- metrics, crops, best pick -----------------------------------------------------------------

from restorekit.params import run  # noqa: E402
from restorekit.quality.compare import best_index, compare_metrics  # noqa: E402
from restorekit.quality.metrics import psnr  # noqa: E402


def _noisy_set():
    ref = _img(2, 3, 40, 48, 7)
    g = torch.Generator().manual_seed(8)
    worse = (ref + 0.08 * torch.randn(ref.shape, generator=g)).clamp(0, 1)
    better = (ref + 0.02 * torch.randn(ref.shape, generator=g)).clamp(0, 1)
    return ref, worse, better


def test_metrics_and_best_pick():
    ref, worse, better = _noisy_set()
    values = compare_metrics([worse, better, _img(1, 3, 10, 10)], ref)
    assert torch.allclose(values["psnr"][1], psnr(better, ref))
    assert values["psnr"][2].isnan().all() and best_index(values["psnr"]) == 1
    assert best_index(values["ssim"]) == 1 and best_index(torch.full((2, 1), float("nan"))) is None
    out = run("compare", image_1=worse, image_2=better, reference=ref)
    assert out["best_index"] == 2 and torch.equal(out["best_image"], better)
    assert "Best by PSNR: image 2" in out["report"] and f"{psnr(better, ref).mean():.2f}" in out["report"]
    # reference tile appended, a caption strip added
    strip = auto_label_height(40)
    assert out["image"].shape == (2, 3, 2 * strip + 40, 3 * 48 + 2 * 4)
    plain = run("compare", image_1=worse, image_2=better)
    assert plain["best_index"] == 1 and "no reference" in plain["report"]
    assert plain["image"].shape == (2, 3, strip + 40, 2 * 48 + 4)


def test_best_tile_is_highlighted():
    ref, worse, better = _noisy_set()
    grid = compare_grid([worse, better], label_height=20, gap=0, highlight=1)
    assert torch.all(grid[:, :, 0, :3] == STRIP_LEVEL)
    assert grid[0, 1, 0, 50] > grid[0, 0, 0, 50]  # green strip over tile 2


def test_zoomed_crops_inset_and_row():
    a = _img(1, 3, 64, 64, 1)
    b = _img(1, 3, 64, 64, 2)
    plain = compare_grid([a, b], label_height=0, gap=0)
    inset = compare_grid([a, b], label_height=0, gap=0, crop=(0.25, 0.25, 0.25), crop_layout="inset")
    assert inset.shape == plain.shape
    side = round(0.42 * 64)
    corner = inset[:, :, 64 - side + 2 : 62, 64 - side + 2 : 62]  # bottom right, opposite the region
    zoom = torch.nn.functional.interpolate(a[:, :, 8:24, 8:24], size=(side, side), mode="nearest-exact")
    assert torch.equal(corner, zoom[:, :, 2:-2, 2:-2])
    assert not torch.equal(inset[:, :, 8:10, 8:24], plain[:, :, 8:10, 8:24])  # region (8..24 px) outlined
    row = compare_grid([a, b], label_height=0, gap=2, crop=(0.5, 0.5, 0.5), crop_layout="row")
    assert row.shape == (1, 3, 64 + 2 + 64, 2 * 64 + 2)
    zoom = torch.nn.functional.interpolate(a[:, :, 16:48, 16:48], size=(64, 64), mode="nearest-exact")
    assert torch.equal(row[:, :, 66 + 2 : 128, 2:62], zoom[:, :, 2:-2, 2:-2])
    with pytest.raises(InvalidParameterError, match="crop_size"):
        compare_grid([a], crop=(0.5, 0.5, 0.0))
    with pytest.raises(InvalidParameterError, match="crop_layout"):
        compare_grid([a], crop=(0.5, 0.5, 0.5), crop_layout="side")


def test_operation_keeps_old_inputs_first_and_adds_outputs():
    op = get_operation("compare")
    names = [p.name for p in op.inputs]
    assert names[:10] == [*(f"image_{k}" for k in range(1, 7)), "labels", "columns", "label_height", "gap"]
    assert [o.name for o in op.outputs] == ["image", "best_image", "best_index", "report"]
    assert op.param("reference").optional
