"""Tests of restorekit.tiling: seamless tiled application, tile-size choice, OOM back-off."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from restorekit.errors import AlgorithmError, InvalidParameterError
from restorekit.tiling import (
    auto_tile_size,
    blend_weights_1d,
    pad_to_multiple,
    run_with_oom_backoff,
    seam_visibility,
    tile_layout,
    tile_starts,
    tiled_apply,
)


def conv_net(layers: int, channels: int = 3, seed: int = 0) -> nn.Module:
    """A random conv net with 3x3 convolutions: receptive radius = ``layers``."""
    torch.manual_seed(seed)
    mods: list[nn.Module] = [nn.Conv2d(channels, 8, 3, padding=1), nn.ReLU()]
    for _ in range(layers - 2):
        mods += [nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()]
    mods.append(nn.Conv2d(8, channels, 3, padding=1))
    return nn.Sequential(*mods).eval()


class Unet2(nn.Module):
    """A tiny U-Net with two down-samplings (needs sizes divisible by 4), receptive radius ~ 10."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.d1 = nn.Conv2d(8, 8, 2, stride=2)
        self.d2 = nn.Conv2d(8, 8, 2, stride=2)
        self.m = nn.Conv2d(8, 8, 3, padding=1)
        self.u2 = nn.ConvTranspose2d(8, 8, 2, stride=2)
        self.u1 = nn.ConvTranspose2d(8, 8, 2, stride=2)
        self.b = nn.Conv2d(8, 3, 3, padding=1)

    def forward(self, x):
        a = torch.relu(self.a(x))
        d1 = torch.relu(self.d1(a))
        d2 = torch.relu(self.m(torch.relu(self.d2(d1))))
        u = torch.relu(self.u2(d2)) + d1
        u = torch.relu(self.u1(u)) + a
        return self.b(u)


@pytest.mark.parametrize("shape", [(1, 3, 100, 130), (2, 1, 67, 45), (3, 3, 33, 200)])
def test_identity_is_exact(shape):
    x = torch.rand(shape)
    y = tiled_apply(lambda t: t, x, tile=32, overlap=8)
    assert torch.equal(y, x) or (y - x).abs().max() < 1e-6


def test_partition_of_unity_and_borders():
    starts = tile_starts(200, 64, 16)
    ws = blend_weights_1d(starts, 64)
    total = torch.zeros(200, dtype=torch.float64)
    for s, w in zip(starts, ws, strict=True):
        total[s : s + 64] += w
        assert w.min() >= 0 and w.max() <= 1
    assert torch.allclose(total, torch.ones(200, dtype=torch.float64), atol=1e-12)
    assert ws[0][0] == 1 and ws[-1][-1] == 1  # borders not attenuated
    # smooth: the ramp has no step larger than a raised-cosine sample step
    assert max((w[1:] - w[:-1]).abs().max().item() for w in ws) < 0.25


def test_tile_starts_cover_and_overlap():
    for size, tile, ov, m in [(100, 32, 8, 1), (1000, 256, 32, 8), (96, 64, 16, 16), (17, 8, 3, 1), (64, 64, 8, 1)]:
        s = tile_starts(size, tile, ov, m)
        assert s[0] == 0 and s[-1] == max(0, size - tile)
        assert all(v % m == 0 for v in s)
        assert all(b - a <= tile - ov for a, b in zip(s, s[1:], strict=False))


@torch.inference_mode()
def test_conv_net_tiled_equals_untiled():
    net = conv_net(layers=6)  # receptive radius 6 <= overlap / 4
    x = torch.rand(2, 3, 150, 171)
    ref = net(x)
    y = tiled_apply(net, x, tile=64, overlap=24)
    assert (y - ref).abs().max().item() < 1e-4


@torch.inference_mode()
def test_unet_multiple_of_tiled_equals_untiled():
    net = Unet2().eval()
    x = torch.rand(1, 3, 97, 130)  # not divisible by 4
    ref = net(pad_to_multiple(x, 4))[:, :, :97, :130]
    calls = []

    def fn(t):
        calls.append(tuple(t.shape))
        assert t.shape[-1] % 4 == 0 and t.shape[-2] % 4 == 0
        return net(t)

    y = tiled_apply(fn, x, tile=62, overlap=48, multiple_of=4)
    assert len(calls) > 1
    assert y.shape == x.shape
    assert (y - ref).abs().max().item() < 1e-4


def up2(t):
    return torch.nn.functional.interpolate(t, scale_factor=2, mode="nearest")


@pytest.mark.parametrize("shape", [(1, 3, 50, 70), (2, 1, 9, 13)])
def test_scale_two(shape):
    x = torch.rand(shape)
    y = tiled_apply(up2, x, tile=16, overlap=4, scale=2)
    assert y.shape == (shape[0], shape[1], shape[2] * 2, shape[3] * 2)
    assert (y - up2(x)).abs().max().item() < 1e-6


def test_scale_with_conv_exact():
    net = conv_net(layers=3)

    def fn(t):
        return net(up2(t))

    x = torch.rand(1, 3, 70, 90)
    with torch.inference_mode():
        y = tiled_apply(fn, x, tile=32, overlap=16, scale=2)
        ref = fn(x)
    assert (y - ref).abs().max().item() < 1e-4


@pytest.mark.parametrize("hw", [(1, 1), (3, 5), (7, 9), (31, 33)])
@pytest.mark.parametrize("multiple_of", [1, 8])
def test_odd_and_tiny_sizes(hw, multiple_of):
    x = torch.rand(2, 3, *hw)

    def fn(t):
        assert t.shape[-1] % multiple_of == 0 and t.shape[-2] % multiple_of == 0
        return t * 0.5

    y = tiled_apply(fn, x, tile=16, overlap=4, multiple_of=multiple_of)
    assert y.shape == x.shape
    assert torch.allclose(y, x * 0.5, atol=1e-6)


def test_pad_to_multiple_reflects():
    x = torch.arange(5.0).view(1, 1, 1, 5)
    p = pad_to_multiple(x, 8)
    assert p.shape[-1] == 8 and p.shape[-2] == 8
    assert p[0, 0, 0].tolist() == [0, 1, 2, 3, 4, 3, 2, 1]


def test_progress_counts_and_batching():
    x = torch.rand(3, 3, 100, 100)
    seen, sizes = [], []

    def fn(t):
        sizes.append(t.shape[0])
        return t

    tiled_apply(fn, x, tile=48, overlap=8, progress=lambda d, n: seen.append((d, n)))
    n_tiles = len(tile_starts(100, 48, 8)) ** 2
    assert seen[-1] == (3 * n_tiles, 3 * n_tiles)
    assert len(seen) == n_tiles and sizes == [3] * n_tiles  # one position for the whole batch per call
    seen.clear(), sizes.clear()
    y = tiled_apply(fn, x, tile=48, overlap=8, max_batch=4, progress=lambda d, n: seen.append((d, n)))
    assert max(sizes) == 4 and [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert seen[-1][0] == 3 * n_tiles and (y - x).abs().max() < 1e-6


def test_untiled_is_one_call():
    x = torch.rand(2, 3, 40, 50)
    calls = []
    tiled_apply(lambda t: calls.append(t.shape) or t, x, tile=0, overlap=8)
    tiled_apply(lambda t: calls.append(t.shape) or t, x, tile=64, overlap=8)
    assert calls == [torch.Size([2, 3, 40, 50])] * 2


def test_channel_change_dtype_and_noncontiguous():
    x = torch.rand(1, 3, 60, 40).to(memory_format=torch.channels_last)
    y = tiled_apply(lambda t: t.mean(1, keepdim=True).half(), x, tile=32, overlap=8)
    assert y.shape == (1, 1, 60, 40) and y.dtype == torch.float32
    assert (y - x.mean(1, keepdim=True)).abs().max() < 2e-3
    xt = torch.rand(1, 3, 40, 60).transpose(-1, -2)
    assert torch.allclose(tiled_apply(lambda t: t, xt, tile=16, overlap=4), xt)


def test_device(device):
    x = torch.rand(1, 3, 40, 50, device=device)
    y = tiled_apply(lambda t: t * 2, x, tile=16, overlap=4)
    assert y.device == x.device and torch.allclose(y, x * 2)


def test_bad_parameters():
    x = torch.rand(1, 3, 40, 40)
    with pytest.raises(InvalidParameterError):
        tiled_apply(lambda t: t, x, tile=16, overlap=16)
    with pytest.raises(InvalidParameterError):
        tiled_apply(lambda t: t, x, tile=16, overlap=-1)
    with pytest.raises(InvalidParameterError):
        tiled_apply(lambda t: t, x, tile=16, overlap=4, scale=0)
    with pytest.raises(InvalidParameterError):
        tiled_apply(lambda t: t, x[0], tile=16, overlap=4)
    with pytest.raises(AlgorithmError):
        tiled_apply(lambda t: t, x, tile=16, overlap=4, scale=2)  # fn does not upscale


def test_auto_tile_size():
    assert auto_tile_size(2**30, 1000.0) == 802  # sqrt(0.6 * 2^30 / 1000)
    assert auto_tile_size(2**30, 1000.0, multiple_of=8) == 800
    assert auto_tile_size(2**30, 1000.0, batch=4, multiple_of=8) == 400
    assert auto_tile_size(1, 1000.0, minimum=64, multiple_of=48) == 96
    assert auto_tile_size(2**50, 1.0, maximum=2048) == 2048
    with pytest.raises(InvalidParameterError):
        auto_tile_size(2**30, 0.0)


class FakeOOM(torch.cuda.OutOfMemoryError):
    pass


def test_oom_backoff_halves(caplog):
    tried = []

    def run(tile):
        tried.append(tile)
        if tile <= 0 or tile > 100:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return tile

    with caplog.at_level(logging.WARNING, logger="restorekit.tiling"):
        assert run_with_oom_backoff(run, 512, minimum=32) == 64
    assert tried == [512, 256, 128, 64]
    assert sum("out of GPU memory" in r.message for r in caplog.records) == 3
    tried.clear()
    assert run_with_oom_backoff(run, 0, full_size=300, minimum=32) == 75
    assert tried == [0, 150, 75]


def test_oom_backoff_gives_up_and_passes_other_errors():
    def always(tile):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(AlgorithmError, match="out of GPU memory"):
        run_with_oom_backoff(always, 256, minimum=64)

    def other(tile):
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_with_oom_backoff(other, 256)


def test_seam_visibility_detects_a_hard_cut():
    torch.manual_seed(0)
    ref = torch.rand(1, 3, 64, 64)
    smooth = ref + torch.linspace(0, 0.05, 64).view(1, 1, 1, 64)  # a gentle ramp: no seam
    cut = ref.clone()
    cut[..., 32:] += 0.05  # a step at column 32
    assert seam_visibility(ref, ref) == 0.0
    assert seam_visibility(smooth, ref) < 0.01
    assert seam_visibility(cut, ref) > 0.1


@pytest.mark.parametrize(("h", "w", "tile", "overlap", "m"), [(50, 70, 32, 8, 1), (33, 17, 16, 4, 8), (20, 20, 0, 4, 4)])
def test_tile_layout_is_the_grid_tiled_apply_uses(h, w, tile, overlap, m):
    ys, xs, th, tw = tile_layout(h, w, tile=tile, overlap=overlap, multiple_of=m)
    seen = []
    tiled_apply(lambda t: t, torch.rand(2, 1, h, w), tile=tile, overlap=overlap, multiple_of=m, max_batch=1,
                progress=lambda d, n: seen.append(n))
    assert seen[-1] == 2 * len(ys) * len(xs)
    assert th % m == 0 and tw % m == 0 and ys[-1] + th >= h and xs[-1] + tw >= w
