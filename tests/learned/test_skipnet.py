"""Tests of the Deep Image Prior skip encoder-decoder (restorekit.learned.skipnet)."""

from __future__ import annotations

import pytest
import torch

from restorekit.learned.skipnet import SkipNet, padded_size


def _net(**kw) -> SkipNet:
    torch.manual_seed(0)
    args = {"in_channels": 4, "out_channels": 3, "channels": [8, 8, 8], "skip_channels": 2}
    args.update(kw)
    return SkipNet(**args)


@pytest.mark.parametrize(
    "size,depth,expected", [(1, 1, 4), (3, 2, 8), (9, 2, 12), (64, 5, 64), (65, 5, 96), (100, 3, 104), (7, 5, 64)]
)
def test_padded_size(size, depth, expected):
    assert padded_size(size, depth) == expected
    assert padded_size(size, depth) % 2**depth == 0 and padded_size(size, depth) >= max(size, 2 ** (depth + 1))


@pytest.mark.parametrize("depth", [1, 2, 3, 5])
@pytest.mark.parametrize("out_channels", [1, 3])
def test_shapes_and_range(depth, out_channels):
    net = _net(channels=[6] * depth, out_channels=out_channels)
    h, w = padded_size(13, depth), padded_size(21, depth)
    z = torch.rand(2, 4, h, w)
    y = net(z)
    assert y.shape == (2, out_channels, h, w)
    assert y.dtype == torch.float32
    assert ((y > 0) & (y < 1)).all()


def test_unequal_channels_and_no_skip():
    net = _net(channels=[8, 6, 4], skip_channels=[0, 2, 3])
    y = net(torch.rand(1, 4, 16, 24))
    assert y.shape == (1, 3, 16, 24)
    assert net.body.skip is None and net.body.inner.skip is not None


def test_zero_padding():
    net = _net(padding="zeros")
    convs = [m for m in net.body.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.padding_mode == "zeros" for c in convs)
    assert net(torch.rand(1, 4, 16, 16)).shape == (1, 3, 16, 16)


def test_no_norm():
    net = _net(norm="none")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert net(torch.rand(1, 4, 16, 16)).shape == (1, 3, 16, 16)


def test_reflection_padding_and_leaky_relu():
    net = _net()
    convs = [m for m in net.body.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.padding_mode == "reflect" for c in convs if c.kernel_size != (1, 1))
    assert any(isinstance(m, torch.nn.LeakyReLU) and m.negative_slope == 0.2 for m in net.modules())


def test_gradients_reach_every_parameter():
    net = _net()
    loss = (net(torch.rand(1, 4, 16, 16)) - 0.5).square().mean()
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_channels_last_same_result():
    net = _net()
    z = torch.rand(1, 4, 16, 16)
    ref = net(z)
    out = net.to(memory_format=torch.channels_last)(z.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


def test_head_float32_under_autocast():
    """The sigmoid output stays float32 under bfloat16 autocast (no 1/256 quantisation of the result)."""
    net = _net()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = net(torch.rand(1, 4, 16, 16))
    assert y.dtype == torch.float32
    # values not restricted to the bfloat16 grid
    assert not torch.equal(y, y.to(torch.bfloat16).float())


@pytest.mark.parametrize(
    "kw",
    [
        {"channels": []},
        {"channels": [0, 4]},
        {"skip_channels": -1},
        {"skip_channels": [1, 2]},
        {"norm": "layer"},
        {"padding": "circular"},
    ],
)
def test_bad_configuration(kw):
    with pytest.raises(ValueError):
        _net(**kw)


@pytest.mark.parametrize("shape", [(1, 5, 2, 2), (2, 4, 7, 9), (1, 3, 16, 8)])
def test_channels_last_reflect_pad_matches_f_pad(shape):
    from torch.nn import functional as F

    from restorekit.learned.skipnet import _ReflectPad1

    x = torch.randn(*shape, dtype=torch.float64).contiguous(memory_format=torch.channels_last).requires_grad_()
    a, b = _ReflectPad1.apply(x), F.pad(x, (1, 1, 1, 1), mode="reflect")
    assert torch.equal(a, b) and a.is_contiguous(memory_format=torch.channels_last)
    g = torch.randn_like(a)
    torch.testing.assert_close(torch.autograd.grad(a, x, g)[0], torch.autograd.grad(b, x, g)[0])


def test_channels_last_net_matches_contiguous():
    net = _net(channels=[8, 8, 8])
    z = torch.rand(1, 4, 32, 32)
    ref = net(z)
    out = net.to(memory_format=torch.channels_last)(z.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
