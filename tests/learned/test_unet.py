"""Tests of the compact U-Net used by Noise2Void."""

from __future__ import annotations

import pytest
import torch

from restorekit.learned.unet import UNet, pad_to_multiple


def _net(channels=1, width=4, depth=2, seed=0):
    return UNet(channels, width=width, depth=depth, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("size", [(1, 1), (3, 5), (7, 9), (16, 16), (33, 20)])
@pytest.mark.parametrize("channels", [1, 3])
def test_any_size(depth, size, channels):
    net = _net(channels, depth=depth)
    x = torch.rand(2, channels, *size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.isfinite(y).all()


def test_residual_starts_near_identity():
    net = _net(width=8)
    x = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        y = net(x)
    assert (y - x).abs().mean() < 0.1
    plain = UNet(1, width=8, depth=2, residual=False, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(plain(x), y - x, atol=1e-6)


def test_same_seed_same_weights():
    a, b, c = _net(seed=3), _net(seed=3), _net(seed=4)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters(), strict=True))


def test_gradients_reach_every_parameter():
    net = _net(3, width=4, depth=2)
    x = torch.rand(2, 3, 20, 12, generator=torch.Generator().manual_seed(5))
    net(x).square().mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_layouts_agree():
    net = _net(3, width=4)
    x = torch.rand(1, 3, 24, 40, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        ref = net(x)
        cl = net(x.contiguous(memory_format=torch.channels_last))
        nc = net(x.transpose(-1, -2).contiguous().transpose(-1, -2))
    torch.testing.assert_close(cl, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(nc, ref, atol=1e-5, rtol=1e-5)


def test_padding_helper():
    x = torch.arange(15.0).reshape(1, 1, 3, 5)
    y, (h, w) = pad_to_multiple(x, 4)
    assert y.shape[-2:] == (4, 8) and (h, w) == (3, 5)
    assert torch.equal(y[..., :3, :5], x)
    same, _ = pad_to_multiple(torch.zeros(1, 1, 8, 4), 4)
    assert same.shape[-2:] == (8, 4)
    tiny, _ = pad_to_multiple(torch.ones(1, 1, 1, 1), 8)
    assert tiny.shape[-2:] == (8, 8) and torch.equal(tiny, torch.ones(1, 1, 8, 8))


@pytest.mark.parametrize("depth", [0, 6])
def test_bad_depth(depth):
    with pytest.raises(ValueError):
        UNet(1, depth=depth)


def test_runs_on_device(device):
    net = _net(1, width=4).to(device)
    x = torch.rand(1, 1, 17, 19, device=device)
    with torch.no_grad():
        assert net(x).shape == x.shape
