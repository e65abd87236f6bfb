"""Tests of Noise2Void (restorekit.learned.n2v) and its operation (node RK_Noise2Void)."""

from __future__ import annotations

import math

import pytest
import support
import torch
from thresholds import ALL_THRESHOLDS

import restorekit.operations.learned.n2v  # noqa: F401  (registers the operation)
from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.learned.n2v import _blind_spot_input, _Sampler, noise2void
from restorekit.params import OPERATIONS

THRESHOLDS = ALL_THRESHOLDS["n2v"]

#: A small, fast configuration for the CPU quality tests (a high learning rate makes few steps enough).
QUICK = dict(steps=300, patch_size=32, patches_per_step=8, mask_ratio=0.06, learning_rate=4e-3, width=16, depth=2)
#: A tiny configuration for the functional tests (not meant to denoise well).
TINY = dict(steps=4, patch_size=16, patches_per_step=4, width=4, depth=1)


def _smooth(b=1, c=1, h=24, w=20, seed=0):
    return support.smooth_random(b, c, h, w, seed=seed)


@pytest.fixture(scope="module")
def gray_pair():
    imgs = support.load_set("Set12", ["01", "02"], gray=True)
    clean = torch.cat([im[..., 64:160, 64:160] for im in imgs])
    return clean, support.add_noise(clean, 25, seed=0).clamp(0, 1)


# ---- quality, under inference mode -------------------------------------------------------------


@pytest.mark.quality
def test_gray_trains_under_inference_mode(gray_pair, device):
    clean, noisy = gray_pair
    with torch.inference_mode():
        noisy_inf = noisy.to(device).clone()  # an inference tensor, as ComfyUI hands them over
        assert noisy_inf.is_inference()
        out, info = noise2void(noisy_inf, seed=0, **QUICK, return_info=True)
    assert out.shape == noisy.shape and out.dtype == noisy.dtype and out.device == noisy_inf.device
    assert info["steps"] == QUICK["steps"]
    assert info["final_loss"] < 0.6 * info["initial_loss"], info
    gain = support.psnr(out, clean) - support.psnr(noisy, clean)
    key = "n2v_gray_gain_db_cuda" if device.type == "cuda" else "n2v_gray_gain_db"
    assert gain >= THRESHOLDS[key], f"PSNR gain {gain:.2f} dB"


@pytest.mark.quality
def test_rgb_trains_under_inference_mode():
    clean = support.load_set("CBSD68", ["101085"], gray=False)[0][..., 100:164, 100:164]
    noisy = support.add_noise(clean, 25, seed=1).clamp(0, 1)
    with torch.inference_mode():
        out, info = noise2void(noisy.clone(), seed=0, **QUICK, return_info=True)
    assert out.shape == clean.shape
    assert info["final_loss"] < info["initial_loss"]
    gain = support.psnr(out, clean) - support.psnr(noisy, clean)
    assert gain >= THRESHOLDS["n2v_rgb_gain_db"], f"PSNR gain {gain:.2f} dB"


# ---- determinism, batch, shapes ------------------------------------------------------------------


def test_same_seed_same_result_bitwise():
    x = _smooth(2, 1, 32, 28, seed=1)
    x = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    a, ia = noise2void(x, seed=7, **TINY, return_info=True)
    b, ib = noise2void(x, seed=7, **TINY, return_info=True)
    c = noise2void(x, seed=8, **TINY)
    assert torch.equal(a, b)
    assert ia["final_loss"] == ib["final_loss"]
    assert not torch.equal(a, c)


def test_return_info_convention():
    """The image alone by default; ``(image, report)`` with ``return_info=True``, same image."""
    x = _smooth(1, 1, 24, 24, seed=3)
    kw = {**TINY, "steps": 2}
    out = noise2void(x, **kw)
    assert isinstance(out, torch.Tensor)
    res = noise2void(x, **kw, return_info=True)
    assert isinstance(res, tuple) and len(res) == 2
    assert torch.equal(res[0], out)
    assert isinstance(res[1], dict) and res[1]["steps"] == 2


@pytest.mark.parametrize("shape", [(3, 3, 40, 48), (1, 1, 40, 48), (2, 1, 1, 1), (1, 3, 3, 5), (1, 1, 7, 9),
                                   (1, 1, 2, 64)])
def test_shapes_and_range(shape):
    x = support.smooth_random(*shape, seed=3)
    with torch.inference_mode():
        out, info = noise2void(x, **TINY, return_info=True)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert info["patch_size"] == (min(16, shape[2]), min(16, shape[3]))
    assert math.isfinite(info["initial_loss"]) and math.isfinite(info["final_loss"])


def test_channel_masks_for_colour():
    x = _smooth(2, 3, 32, 32, seed=9)
    out, info = noise2void(x, mask_mode="channel", mask_ratio=0.02, **TINY, return_info=True)
    assert out.shape == x.shape and torch.isfinite(out).all()
    assert info["mask_mode"] == "channel" and info["masked_per_patch"] == 3 * 9  # cells of 7 px: 3 x 3 in 16 px
    pixel = noise2void(x, mask_mode="pixel", mask_ratio=0.02, **TINY)
    assert not torch.equal(out, pixel)


def test_dtype_and_layouts_kept():
    x = _smooth(2, 3, 24, 20, seed=4)
    ref = noise2void(x, **TINY)
    out64 = noise2void(x.double(), **TINY)
    assert out64.dtype == torch.float64
    torch.testing.assert_close(out64.float(), ref, atol=2e-6, rtol=0)
    cl = noise2void(x.contiguous(memory_format=torch.channels_last), **TINY)
    nc = noise2void(x.transpose(-1, -2).contiguous().transpose(-1, -2), **TINY)
    torch.testing.assert_close(cl, ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(nc, ref, atol=1e-5, rtol=0)


def test_one_network_for_the_batch():
    """One network is trained on patches from every image, then applied to each image separately."""
    a = _smooth(1, 3, 32, 32, seed=5)
    b = _smooth(1, 3, 32, 32, seed=6)
    out, info = noise2void(torch.cat([a, b, a]), **TINY, return_info=True)
    assert out.shape == (3, 3, 32, 32)
    assert torch.equal(out[0], out[2])  # same image, same network -> same output
    assert not torch.equal(out[0], out[1])
    # the network depends on the whole batch (patches come from every image)
    alone = noise2void(a, **TINY)
    assert not torch.equal(alone[0], out[0])


def test_tiled_inference_close_to_untiled():
    x = _smooth(1, 1, 64, 80, seed=6)
    whole, info = noise2void(x, tile=0, **TINY, return_info=True)
    assert info["tile"] == 0
    tiled, info_t = noise2void(x, tile=32, **TINY, return_info=True)
    assert info_t["tile"] == 32
    assert (tiled - whole).abs().mean() < 2e-3
    assert (tiled - whole).abs().max() < 3e-2


# ---- blind-spot sampling -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["pixel", "channel"])
def test_masks_never_use_the_pixel_itself(mode):
    b, c, h, w = 2, 3, 20, 30
    x = torch.arange(b * c * h * w, dtype=torch.float32).reshape(b, c, h, w)
    gen = torch.Generator().manual_seed(0)
    s = _Sampler(x.permute(0, 2, 3, 1).contiguous(), patch=8, count=64, mask_ratio=0.06, mask_mode=mode, generator=gen)
    patches = s.patches()
    assert patches.shape == (64, c, 8, 8)
    # every patch is a flipped / transposed crop of one image: its values are distinct image values
    assert all(len(torch.unique(p)) == c * 64 for p in patches)
    masked, neighbours = s.masks()
    assert masked.shape == neighbours.shape == (64, c if mode == "channel" else 1, s.masked_per_patch)
    assert not (masked == neighbours).any()
    dy = (masked // 8 - neighbours // 8).abs()
    dx = (masked % 8 - neighbours % 8).abs()
    assert dy.max() <= 2 and dx.max() <= 2
    inp, idx = _blind_spot_input(patches, masked, neighbours)
    changed = inp.reshape(64, c, -1) != patches.reshape(64, c, -1)
    expected = torch.zeros_like(changed).scatter_(2, idx, True)
    assert torch.equal(changed, expected)  # every masked value replaced, nothing else touched
    sorted_idx = idx.sort(-1).values
    assert not (sorted_idx[..., 1:] == sorted_idx[..., :-1]).any()  # distinct masked pixels (stratified)


@pytest.mark.parametrize("ratio", [0.01, 0.02, 0.05, 0.1, 0.25])
def test_mask_ratio_is_respected(ratio):
    x = torch.rand(1, 120, 120, 1)
    s = _Sampler(x, patch=120, count=2, mask_ratio=ratio, mask_mode="pixel", generator=torch.Generator())
    assert abs(s.effective_ratio / ratio - 1) < 0.15


# ---- parameters, progress, interruption ---------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"steps": 0}, {"steps": 2.5}, {"patch_size": 2}, {"patches_per_step": 0}, {"mask_ratio": 0.0},
        {"mask_ratio": 0.5}, {"mask_ratio": float("nan")}, {"learning_rate": 0.0}, {"learning_rate": -1.0},
        {"width": 0}, {"depth": 0}, {"depth": 9}, {"mask_mode": "voxel"}, {"tile": -1}, {"tile": 1},
        {"seed": -1}, {"steps": True},
    ],
)
def test_bad_parameters_rejected(kwargs):
    x = _smooth()
    with pytest.raises(InvalidParameterError):
        noise2void(x, **{**TINY, **kwargs})


@pytest.mark.parametrize("bad", ["nan", "channels", "dims", "int"])
def test_bad_images_rejected(bad):
    x = _smooth(1, 1, 8, 8)
    if bad == "nan":
        x[0, 0, 0, 0] = float("nan")
    elif bad == "channels":
        x = torch.rand(1, 4, 8, 8)
    elif bad == "dims":
        x = torch.rand(8, 8)
    else:
        x = torch.zeros(1, 1, 8, 8, dtype=torch.uint8)
    with pytest.raises(InvalidImageError):
        noise2void(x, **TINY)


def test_progress_reports_steps_then_images():
    calls = []
    noise2void(_smooth(2, 1, 24, 24), progress=lambda d, t: calls.append((d, t)), **TINY)
    steps = TINY["steps"]
    assert calls[:steps] == [(i + 1, steps + 2) for i in range(steps)]
    assert calls[-1] == (steps + 2, steps + 2)
    assert all(b[0] >= a[0] for a, b in zip(calls, calls[1:], strict=False))


class Interrupted(Exception):
    pass


def test_interruption_propagates():
    seen = []

    def progress(done, total):
        seen.append(done)
        if done == 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        noise2void(_smooth(1, 1, 24, 24), progress=progress, **{**TINY, "steps": 50})
    assert seen == [1, 2, 3]


def test_runs_on_device(device):
    x = _smooth(2, 3, 40, 36, seed=7).to(device)
    with torch.inference_mode():
        out, info = noise2void(x, **TINY, return_info=True)
    assert out.device == x.device and out.shape == x.shape and out.dtype == x.dtype
    assert torch.isfinite(out).all()
    if device.type == "cuda":
        assert "autocast" in info["precision"]
    else:
        assert info["precision"] == "float32"
    with torch.inference_mode():
        again = noise2void(x, **TINY)
    assert torch.equal(out, again), "the same seed must give the same result on the same device"


# ---- the operation -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def op():
    return OPERATIONS["noise2void"]


def test_declaration(op):
    assert op.node_id == "RK_Noise2Void"
    assert op.full_category == "restorekit/denoise"
    assert op.gpu is True
    op.check_signature()
    assert [p.name for p in op.inputs] == [
        "image", "steps", "patch_size", "patches_per_step", "mask_ratio", "learning_rate", "width", "depth", "seed",
        "tile", "self_ensemble",
    ]
    assert [o.name for o in op.outputs] == ["image", "report"]
    assert op.param("depth").advanced and op.param("tile").advanced and op.param("self_ensemble").advanced
    assert all(p.help for p in op.inputs)


def test_operation_runs_on_batch(op):
    x = _smooth(3, 3, 40, 36, seed=8)
    values = {p.name: p.to_core(p.default) for p in op.inputs if not p.is_data}
    values.update(steps=3, patches_per_step=2, width=4)
    calls = []
    with torch.inference_mode():
        image, report = op.call({"image": x, **values}, progress=lambda d, t: calls.append((d, t)))
    assert image.shape == x.shape and torch.isfinite(image).all()
    assert report.startswith("Noise2Void: 3 steps of 2 patches 40x36 from 3 image(s)")
    assert "grey levels" in report and "float32" in report
    assert calls[-1] == (6, 6)


def test_operation_rejects_out_of_range(op):
    with pytest.raises(InvalidParameterError):
        op.param("mask_ratio").to_core(0.5)
    with pytest.raises(InvalidParameterError):
        op.param("steps").to_core(-1)


def test_operation_automatic_budget_follows_the_device(op):
    from restorekit.operations.learned.n2v import automatic_budget

    assert op.param("steps").default == op.param("width").default == op.param("patches_per_step").default == 0
    cpu, gpu = automatic_budget(torch.device("cpu")), automatic_budget(torch.device("cuda"))
    assert cpu["steps"] < gpu["steps"] and cpu["width"] < gpu["width"]
    assert gpu == {"steps": 2000, "patches_per_step": 64, "width": 32}
