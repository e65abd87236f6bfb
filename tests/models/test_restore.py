"""Tests of restorekit.models.restore.restore_with_model (stub models; real architectures at the end)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from thresholds import ALL_THRESHOLDS
from torch import nn

import restorekit.models.restore as restore_mod
from restorekit.errors import AlgorithmError, InvalidImageError, InvalidParameterError
from restorekit.models.restore import RestoreInfo, restore_with_model
from restorekit.tiling import seam_visibility

THRESHOLDS = ALL_THRESHOLDS["restore_with_model"]


class StubModel:
    """Implements the RestorationModel interface around a small module (see INTERFACES.md)."""

    def __init__(self, net=None, *, cin=3, cout=None, scale=1, multiple=1, noise_conditional=False,
                 half=True, bf16=True, tiling="supported", name="stub", fn=None):
        self.name = name
        self.architecture = "Stub"
        self.purpose = "sr" if scale > 1 else "denoise"
        self.scale = scale
        self.input_channels = cin
        self.output_channels = cout or cin
        self.supports_half = half
        self.supports_bfloat16 = bf16
        self.noise_conditional = noise_conditional
        self.size_multiple = multiple
        self.tiling = tiling
        self.net = net
        self.fn = fn
        self.calls = []
        self.devices = []

    def to(self, device):
        self.devices.append(torch.device(device))
        if self.net is not None:
            self.net.to(device)
        return self

    def forward(self, x, noise_level=None):
        self.calls.append((tuple(x.shape), None if noise_level is None else tuple(noise_level.shape)))
        assert x.shape[-1] % self.size_multiple == 0 and x.shape[-2] % self.size_multiple == 0
        if self.fn is not None:
            return self.fn(x, noise_level)
        return self.net(x)


def conv_net(cin=3, cout=3, layers=4, seed=0):
    torch.manual_seed(seed)
    mods = [nn.Conv2d(cin, 8, 3, padding=1), nn.ReLU()]
    for _ in range(layers - 2):
        mods += [nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()]
    mods.append(nn.Conv2d(8, cout, 3, padding=1))
    net = nn.Sequential(*mods).eval()

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = net

        def forward(self, x):
            return x + 0.1 * self.body(x)

    return Residual().eval()


def blur_by_sigma(x, level):
    """Noise-conditional stub: blend towards a 3x3 box blur by 10*sigma (default 15/255)."""
    if level is None:
        level = torch.full_like(x[:, :1], 15 / 255)
    k = torch.ones(x.shape[1], 1, 3, 3, dtype=x.dtype, device=x.device) / 9
    blurred = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k, groups=x.shape[1])
    a = (level * 10).clamp(0, 1)
    return x + (blurred - x) * a


def sr2(x, level=None):
    return F.interpolate(x, scale_factor=2, mode="nearest")


def identity(x, level=None):
    return x


@pytest.fixture
def img():
    torch.manual_seed(0)
    return torch.rand(3, 3, 40, 52)


# ---- shapes, dtype, device, batch ---------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 3, 40, 52), (3, 3, 33, 17), (1, 1, 64, 64), (2, 1, 7, 9), (1, 3, 1, 1),
                                   (1, 3, 3, 5)])
def test_shapes_and_range(shape):
    x = torch.rand(shape)
    model = StubModel(conv_net(cin=shape[1], cout=shape[1]), cin=shape[1], multiple=4)
    y = restore_with_model(model, x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1


def test_batch_consistency_and_noncontiguous(img):
    model = StubModel(conv_net())
    y = restore_with_model(model, img)
    for i in range(img.shape[0]):
        assert torch.allclose(y[i : i + 1], restore_with_model(model, img[i : i + 1]), atol=1e-6)
    cl = img.to(memory_format=torch.channels_last)
    assert torch.allclose(restore_with_model(model, cl), y, atol=1e-6)
    nc = img.transpose(-1, -2)
    assert torch.allclose(restore_with_model(model, nc), restore_with_model(model, nc.contiguous()), atol=1e-6)


def test_device(device):
    x = torch.rand(2, 3, 24, 24, device=device)
    model = StubModel(conv_net())
    y = restore_with_model(model, x, precision="fp32")
    assert y.device == x.device and model.devices[-1].type == device.type


def test_return_info_convention():
    """The image alone by default; ``(image, RestoreInfo)`` with ``return_info=True``, same image."""
    x = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(1))
    model = StubModel(conv_net())
    out = restore_with_model(model, x)
    assert isinstance(out, torch.Tensor)
    res = restore_with_model(model, x, return_info=True)
    assert isinstance(res, tuple) and len(res) == 2
    assert torch.equal(res[0], out)
    assert isinstance(res[1], RestoreInfo)


# ---- tiling -------------------------------------------------------------------------------------------


def test_tiled_equals_untiled(img):
    model = StubModel(conv_net(layers=4), multiple=4)
    ref, info0 = restore_with_model(model, img, tile=0, return_info=True)
    assert info0.tile == 0
    y, info = restore_with_model(model, img, tile=32, overlap=16, return_info=True)
    assert info.tile == 32 and info.tiles > img.shape[0]
    assert (y - ref).abs().max().item() < 1e-4


def test_auto_tiles_when_memory_is_short(monkeypatch):
    img = torch.rand(2, 3, 100, 130)
    model = StubModel(conv_net(layers=4))
    ref, info = restore_with_model(model, img, return_info=True)
    assert info.tile == 0
    monkeypatch.setattr(restore_mod, "free_memory_bytes", lambda device: 4 * 8000 * 64 * 64)  # CPU budget 1/4
    y, info = restore_with_model(model, img, overlap=0, return_info=True)
    # tiles of at most 64 px spread evenly; the overlap raised from 0 to 4x the measured receptive radius (4 px)
    assert 32 <= info.tile <= 64 and info.tiles > 2 * img.shape[0] and info.overlap == 16
    assert (y - ref).abs().max().item() < 1e-5


def test_oom_backoff(caplog):
    img = torch.rand(2, 3, 40, 100)

    def fn(x, level):
        if x.shape[-1] > 60:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 1 GiB")
        return x

    model = StubModel(fn=fn)
    y, info = restore_with_model(model, img, tile=0, overlap=4, return_info=True)
    assert info.oom_retries == 1 and info.tile == 50
    assert torch.allclose(y, img, atol=1e-6)
    assert any("out of GPU memory" in r.message for r in caplog.records)

    def never(x, level):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(AlgorithmError, match="out of GPU memory"):
        restore_with_model(StubModel(fn=never), img)


def test_internal_tiling_model_runs_whole(img):
    model = StubModel(fn=identity, tiling="internal")
    y, info = restore_with_model(model, img, tile=16, return_info=True)
    assert all(c[0][-2:] == (40, 52) for c in model.calls) and info.tile == 0
    assert torch.allclose(y, img)


def test_progress(img):
    seen = []
    restore_with_model(StubModel(fn=identity), img, tile=16, overlap=4, progress=lambda d, n: seen.append((d, n)))
    assert seen and seen[-1][0] == seen[-1][1] and seen[-1][1] >= 3 * 4


def test_interruption_propagates(img):
    class Interrupted(Exception):
        pass

    def stop(done, total):
        raise Interrupted()

    with pytest.raises(Interrupted):
        restore_with_model(StubModel(fn=identity), img, tile=16, overlap=4, progress=stop)


class _Sleepy(nn.Module):
    def forward(self, x):
        import time

        time.sleep(0.02)
        return x


def test_progress_comes_during_one_long_forward(img, monkeypatch):
    """The network's modules report progress (the interruption check) during a single forward pass, at most
    every CHECK_EVERY_S, without moving the bar; the hooks are gone afterwards, also after an interruption."""
    monkeypatch.setattr(restore_mod, "CHECK_EVERY_S", 0.05)
    net = nn.Sequential(*[_Sleepy() for _ in range(20)])  # 0.4 s per call
    model = StubModel(net)
    model.module = net
    seen = []
    y = restore_with_model(model, img[:1], progress=lambda d, n: seen.append((d, n)))
    assert torch.equal(y, img[:1])
    inside = [s for s in seen if s == (0, 1)]
    assert len(inside) >= 4 and seen[-1] == (1, 1)
    assert all(len(m._forward_pre_hooks) == 0 for m in net.modules())

    class Interrupted(Exception):
        pass

    def stop(done, total):
        raise Interrupted

    with pytest.raises(Interrupted):
        restore_with_model(model, img[:1], progress=stop)
    assert all(len(m._forward_pre_hooks) == 0 for m in net.modules())


@pytest.mark.parametrize("layers", [3, 6])
def test_receptive_radius(layers):
    net = conv_net(layers=layers)
    x = torch.rand(1, 3, 16, 16)
    assert restore_mod.receptive_radius(net, x, 3) == layers

    def global_mean(t):
        return t + t.mean(dim=(2, 3), keepdim=True)

    assert restore_mod.receptive_radius(global_mean, x, 3) is None


def test_cpu_one_image_per_call_and_tiles_for_large_images(monkeypatch):
    """Off CUDA: one image per network call; images over CPU_TILE_PIXELS are tiled with the overlap raised to
    4x the receptive radius, which reproduces the untiled result."""
    torch.manual_seed(2)
    x = torch.rand(3, 3, 48, 56)
    model = StubModel(conv_net(layers=6))
    ref = model.net(x)
    y, info = restore_with_model(model, x, return_info=True)
    assert info.tile == 0 and [c[0][0] for c in model.calls] == [1, 1, 1]
    assert (y - ref.clamp(0, 1)).abs().max() < 1e-5
    monkeypatch.setattr(restore_mod, "CPU_TILE_PIXELS", 48 * 48)
    model.calls.clear()
    y, info = restore_with_model(model, x, overlap=8, return_info=True)
    assert info.overlap == 24 and 0 < info.tile <= 48 and info.tiles >= 2 * 3
    assert all(c[0][0] == 1 for c in model.calls[1:])  # after the radius probe: one crop per call
    assert (y - ref.clamp(0, 1)).abs().max() < 1e-5


# ---- noise level -----------------------------------------------------------------------------------


def test_noise_level_sources(img):
    model = StubModel(fn=blur_by_sigma, noise_conditional=True)
    default, info = restore_with_model(model, img, return_info=True)
    assert info.noise == "model default" and model.calls[-1][1] is None
    given = restore_with_model(model, img, noise_level=15 / 255)
    assert torch.allclose(default, given, atol=1e-6)
    as_map = restore_with_model(model, img, noise_map=torch.full((1, 1, 40, 52), 15 / 255))
    assert torch.allclose(as_map, given, atol=1e-6)
    # monotonic: more noise level -> further from the input
    d = [(restore_with_model(model, img, noise_level=s / 255) - img).abs().mean().item() for s in (0, 5, 15, 25)]
    assert d == sorted(d) and d[0] < 1e-7


def test_noise_map_per_pixel_and_tiled(img):
    model = StubModel(fn=blur_by_sigma, noise_conditional=True)
    nm = torch.zeros(3, 1, 40, 52)
    nm[:, :, :, 26:] = 0.1
    y = restore_with_model(model, img, noise_map=nm)
    assert torch.allclose(y[..., :25], img[..., :25], atol=1e-6)  # zero level -> untouched
    assert not torch.allclose(y[..., 27:], img[..., 27:])
    yt = restore_with_model(model, img, noise_map=nm, tile=16, overlap=8)
    assert (yt - y).abs().max() < 1e-5


def test_estimated_noise_level():
    torch.manual_seed(1)
    clean = torch.full((2, 3, 64, 64), 0.5)
    x = (clean + torch.randn_like(clean) * torch.tensor([10.0, 30.0]).view(2, 1, 1, 1) / 255).clamp(0, 1)
    model = StubModel(fn=blur_by_sigma, noise_conditional=True)
    _, info = restore_with_model(model, x, estimate_noise=True, return_info=True)
    assert info.noise == "estimated"
    assert abs(info.noise_levels[0] * 255 - 10) < 2 and abs(info.noise_levels[1] * 255 - 30) < 4


def test_noise_ignored_for_plain_models(img):
    model = StubModel(conv_net())
    _, info = restore_with_model(model, img, noise_level=0.1, return_info=True)
    assert any("not noise-conditional" in n for n in info.notes)


# ---- channels ------------------------------------------------------------------------------------------


def test_gray_model_on_colour(img):
    model = StubModel(fn=identity, cin=1)
    y_luma = restore_with_model(model, img, gray_mode="luma")
    assert y_luma.shape == img.shape and (y_luma - img).abs().max() < 1e-5
    net = conv_net(cin=1, cout=1)
    model = StubModel(net, cin=1)
    y = restore_with_model(model, img, gray_mode="per_channel")
    for ch in range(3):
        assert torch.allclose(y[:, ch : ch + 1], net(img[:, ch : ch + 1]).clamp(0, 1), atol=1e-6)
    yl = restore_with_model(model, img, gray_mode="luma")
    assert not torch.allclose(yl, y)


def test_luma_noise_level_is_scaled(img):
    model = StubModel(fn=blur_by_sigma, cin=1, noise_conditional=True)
    _, info = restore_with_model(model, img, noise_level=25 / 255, gray_mode="luma", return_info=True)
    assert abs(info.noise_levels[0] * 255 - 25 * 0.6686) < 0.01
    _, info = restore_with_model(model, img, noise_level=25 / 255, gray_mode="per_channel", return_info=True)
    assert abs(info.noise_levels[0] * 255 - 25) < 1e-3


def test_colour_model_on_gray():
    x = torch.rand(2, 1, 20, 30)
    model = StubModel(fn=identity, cin=3)
    y = restore_with_model(model, x)
    assert y.shape == x.shape and torch.allclose(y, x, atol=1e-6)
    assert model.calls[-1][0][1] == 3


# ---- scale, strength ---------------------------------------------------------------------------------


def test_super_resolution_scale(img):
    model = StubModel(fn=sr2, scale=2, multiple=4)
    y = restore_with_model(model, img)
    assert y.shape == (3, 3, 80, 104)
    assert torch.allclose(y, sr2(img))
    yt = restore_with_model(model, img, tile=16, overlap=8)
    assert torch.allclose(yt, y, atol=1e-6)
    half = restore_with_model(model, img, strength=0.0)
    bicubic = F.interpolate(img, scale_factor=2, mode="bicubic", align_corners=False).clamp(0, 1)
    assert torch.allclose(half, bicubic, atol=1e-6)
    gray = restore_with_model(StubModel(fn=sr2, scale=2, cin=1), img, gray_mode="luma")
    assert gray.shape == (3, 3, 80, 104)


def test_strength_blend(img):
    model = StubModel(fn=blur_by_sigma, noise_conditional=True)
    full = restore_with_model(model, img, noise_level=0.1)
    none = restore_with_model(model, img, noise_level=0.1, strength=0.0)
    mid = restore_with_model(model, img, noise_level=0.1, strength=0.25)
    assert torch.allclose(none, img) and torch.allclose(mid, 0.25 * full + 0.75 * img, atol=1e-6)


# ---- precision -------------------------------------------------------------------------------------------


def test_precision_choices(img):
    model = StubModel(conv_net())
    ref, info = restore_with_model(model, img, return_info=True)
    assert info.precision == "fp32"  # auto on CPU
    y, info = restore_with_model(model, img, precision="bf16", return_info=True)
    assert info.precision == "bf16" and (y - ref).abs().max() < 0.02
    with pytest.raises(InvalidParameterError):
        restore_with_model(StubModel(conv_net(), half=False), img, precision="fp16")


def test_half_overflow_reruns_in_fp32(img, caplog):
    def fn(x, level):
        if torch.is_autocast_enabled(x.device.type):
            return torch.full_like(x, float("inf"))
        return x

    y, info = restore_with_model(StubModel(fn=fn), img, precision="bf16", tile=32, overlap=8, return_info=True)
    assert info.fp32_reruns == 2 and torch.allclose(y, img)  # then the remaining tiles run in fp32 directly
    assert any("switched from bf16 to fp32" in n for n in info.notes)
    assert any("rerunning it in fp32" in r.message for r in caplog.records)


def test_nan_output_raises(img):
    with pytest.raises(AlgorithmError):
        restore_with_model(StubModel(fn=lambda x, lv: x * float("nan")), img)


# ---- errors ---------------------------------------------------------------------------------------------


def test_bad_inputs(img):
    model = StubModel(conv_net())
    with pytest.raises(InvalidParameterError):
        restore_with_model(model, img, precision="fp8")
    with pytest.raises(InvalidParameterError):
        restore_with_model(model, img, gray_mode="rgb")
    with pytest.raises(InvalidParameterError):
        restore_with_model(model, img, strength=1.5)
    with pytest.raises(InvalidParameterError):
        restore_with_model(model, img, tile=-1)
    with pytest.raises(InvalidParameterError):
        restore_with_model(model, img, noise_level=2.0)
    with pytest.raises(InvalidParameterError):
        restore_with_model(StubModel(fn=identity, cin=4), img)
    with pytest.raises(InvalidParameterError):
        restore_with_model("not a model", img)
    with pytest.raises(InvalidImageError):
        restore_with_model(model, img, noise_map=torch.zeros(3, 1, 10, 10))
    with pytest.raises(InvalidImageError):
        restore_with_model(model, img, noise_map=torch.zeros(2, 1, 40, 52))
    with pytest.raises(InvalidImageError):
        restore_with_model(model, img * float("nan"))
    with pytest.raises(AlgorithmError):
        restore_with_model(StubModel(fn=identity, scale=2), img)  # claims x2 but returns x1


# ---- real architectures (random weights, helper F's factory and loader) -----------------------------------

sys.path.insert(0, str(Path(__file__).resolve().parent))
model_factory = pytest.importorskip("model_factory")


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    from restorekit.models import load_model

    folder = tmp_path_factory.mktemp("weights")
    cache = {}

    def get(name):
        case = model_factory.CASES[name]
        if case.extra and not model_factory.extra_arches_available():
            pytest.skip("spandrel_extra_arches not installed")
        if name not in cache:
            cache[name] = load_model(model_factory.make_file(name, folder))
        return cache[name]

    return get


@pytest.fixture(scope="module")
def photo():
    torch.manual_seed(3)
    base = torch.rand(1, 3, 12, 16)
    smooth = F.interpolate(base, size=(96, 128), mode="bicubic", align_corners=False)
    return (smooth + 0.05 * torch.randn(1, 3, 96, 128)).clamp(0, 1)


@pytest.mark.parametrize("name", ["DnCNN-BR", "FFDNet", "DRUNet", "SwinIR-x2", "NAFNet"])
def test_real_untiled_equals_forward(real, photo, name):
    model = real(name)
    x = photo if model.input_channels == 3 else photo[:, :1]
    y = restore_with_model(model, x, tile=0)
    ref = model.forward(x, None)
    assert y.shape == ref.shape
    assert (y - ref).abs().max() < 1e-5


@pytest.mark.parametrize("name", ["DnCNN-BR", "FFDNet"])
def test_real_conv_tiled_equals_untiled(real, photo, name):
    model = real(name)
    u = restore_with_model(model, photo, tile=0)
    t, info = restore_with_model(model, photo, tile=64, overlap=48, return_info=True)
    assert info.tile == 64 and info.tiles >= 4
    assert (t - u).abs().max().item() < 1e-4


def test_real_unet_tiled_close_to_untiled(real, photo):
    model = real("DRUNet")  # receptive field larger than the overlap: close, not equal, and seamless
    u = restore_with_model(model, photo, tile=0)
    t = restore_with_model(model, photo, tile=64, overlap=48)
    assert (t - u).abs().max().item() < 3e-3 and seam_visibility(t, u) < THRESHOLDS["seam_visibility"]


@pytest.mark.parametrize("name", ["Restormer", "SwinIR"])
def test_real_transformer_no_visible_seam(real, photo, name):
    model = real(name)
    photo = photo[..., :64, :96]
    u = restore_with_model(model, photo, tile=0)
    t, info = restore_with_model(model, photo, tile=48, overlap=24, return_info=True)
    assert info.tile == 48
    assert seam_visibility(t, u) < THRESHOLDS["seam_visibility"]


@pytest.mark.parametrize("name", ["FFDNet", "DRUNet", "FDnCNN"])
def test_real_noise_steering_monotonic(real, photo, name):
    model = real(name)
    assert model.noise_conditional
    photo = photo[..., :48, :64]
    base = restore_with_model(model, photo, noise_level=0.0)
    dist = [(restore_with_model(model, photo, noise_level=s / 255) - base).abs().mean().item() for s in (5, 20, 50)]
    assert dist == sorted(dist) and dist[0] > 0


def test_real_gray_model_on_colour_and_sr(real, photo):
    gray = real("FFDNet-gray")
    y = restore_with_model(gray, photo, noise_level=25 / 255, gray_mode="luma")
    assert y.shape == photo.shape
    sr = real("RealESRGAN-x4")
    y = restore_with_model(sr, photo[:, :, :24, :32], tile=16, overlap=8, strength=0.5)
    assert y.shape == (1, 3, 96, 128)


def test_real_on_device_auto_precision(real, photo, device):
    model = real("DRUNet")
    ref = restore_with_model(model, photo, noise_level=25 / 255, precision="fp32")
    x = photo.to(device)
    noise_map = torch.full((1, 1, 96, 128), 25 / 255)  # on the CPU: moved to the image's device
    y, info = restore_with_model(model, x, noise_map=noise_map, return_info=True)
    assert y.device == x.device and y.dtype == x.dtype and y.shape == x.shape
    assert info.precision == ("bf16" if device.type == "cuda" else "fp32")
    assert (y.cpu() - ref).abs().max() < (0.05 if device.type == "cuda" else 1e-5)
    yt = restore_with_model(model, x, noise_map=noise_map, tile=64, overlap=32)
    assert (yt.cpu() - ref).abs().max() < (0.05 if device.type == "cuda" else 3e-3)
    model.to("cpu")
