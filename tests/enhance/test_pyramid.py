"""Tests for restorekit.enhance.pyramid (Laplacian pyramid)."""

from __future__ import annotations

import pytest
import torch

from restorekit.enhance.pyramid import (
    collapse_laplacian_pyramid,
    expand_to,
    laplacian_pyramid,
    max_levels,
    pyramid_down,
    pyramid_up,
)
from restorekit.errors import InvalidParameterError

SIZES = [(37, 53), (3, 5), (1, 1), (2, 2), (1, 7), (6, 1), (64, 64), (33, 20)]


def _rand(b=2, c=3, h=37, w=53, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(b, c, h, w, generator=gen, dtype=torch.float64).to(dtype)


@pytest.mark.parametrize("hw", SIZES)
@pytest.mark.parametrize("levels", [0, 1, 3, 100])
def test_exact_reconstruction_float32(hw, levels):
    x = _rand(2, 3, *hw)
    pyr = laplacian_pyramid(x, levels)
    assert len(pyr) == min(levels, max_levels(*hw)) + 1
    assert all(p.dtype == torch.float32 for p in pyr)
    assert (collapse_laplacian_pyramid(pyr) - x).abs().max() <= 1e-6


@pytest.mark.parametrize("hw", [(37, 53), (3, 5), (1, 1)])
def test_exact_reconstruction_float64(hw):
    x = _rand(1, 1, *hw, dtype=torch.float64)
    pyr = laplacian_pyramid(x, 10)
    assert all(p.dtype == torch.float64 for p in pyr)
    assert (collapse_laplacian_pyramid(pyr) - x).abs().max() <= 1e-13


def test_level_sizes_and_cap():
    pyr = laplacian_pyramid(_rand(1, 1, 37, 53), 100)
    sizes = [tuple(p.shape[-2:]) for p in pyr]
    assert sizes == [(37, 53), (19, 27), (10, 14), (5, 7), (3, 4), (2, 2), (1, 1)]
    assert max_levels(37, 53) == 6 and max_levels(1, 1) == 0 and max_levels(2, 1) == 1 and max_levels(1, 1024) == 10
    assert len(laplacian_pyramid(_rand(1, 1, 1, 1), 5)) == 1


def test_flat_image_has_empty_bands():
    x = torch.full((1, 3, 37, 53), 0.3)
    pyr = laplacian_pyramid(x, 5)
    for band in pyr[:-1]:
        assert band.abs().max() < 1e-6
    assert (pyr[-1] - 0.3).abs().max() < 1e-6


def test_linear_ramp_kept_inside():
    # The binomial kernel keeps linear functions: a ramp is decimated to the ramp at even samples and
    # expanded back exactly, away from the mirrored borders.
    ramp = torch.arange(40, dtype=torch.float64).view(1, 1, 1, 40).expand(1, 1, 9, 40) / 40
    down = pyramid_down(ramp)
    assert torch.allclose(down[..., 2:-2], ramp[..., ::2, ::2][..., 2:-2], atol=1e-12)
    up = pyramid_up(down, (9, 40))
    assert torch.allclose(up[..., 4:-4], ramp[..., 4:-4], atol=1e-12)
    assert laplacian_pyramid(ramp, 1)[0][..., 4:-4].abs().max() < 1e-12


def test_bands_are_band_pass():
    # Fine texture lands in band 0, a slow wave in the coarse levels.
    y, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    fine = (0.5 + 0.2 * torch.cos(torch.pi * 0.75 * xx)).view(1, 1, 64, 64)  # period 2.67 px
    slow = (0.5 + 0.2 * torch.cos(2 * torch.pi * y / 32)).view(1, 1, 64, 64)  # period 32 px
    f = [b.square().mean().item() for b in laplacian_pyramid(fine, 4)[:-1]]
    s = [b.square().mean().item() for b in laplacian_pyramid(slow, 4)[:-1]]
    assert f[0] > 10 * sum(f[1:])
    assert s[0] < 1e-2 * max(s) and max(s) in (s[2], s[3])


def test_expanded_levels_add_up():
    x = _rand(2, 1, 37, 53)
    pyr = laplacian_pyramid(x, 4)
    total = sum(expand_to(level, (37, 53)) for level in pyr)
    assert (total - x).abs().max() <= 1e-6
    with pytest.raises(InvalidParameterError):
        expand_to(pyr[1], (10, 10))


def test_batch_consistency():
    x = _rand(3, 3, 29, 31)
    pyr = laplacian_pyramid(x, 3)
    for i in range(3):
        single = laplacian_pyramid(x[i : i + 1], 3)
        for a, b in zip(pyr, single, strict=True):
            assert torch.allclose(a[i : i + 1], b, atol=1e-6, rtol=0)


def test_non_contiguous_and_channels_last():
    wide = _rand(2, 3, 30, 82)
    view = wide[..., ::2]
    ref = laplacian_pyramid(view.clone(), 3)
    for a, b in zip(laplacian_pyramid(view, 3), ref, strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    last = view.contiguous(memory_format=torch.channels_last)
    assert (collapse_laplacian_pyramid(laplacian_pyramid(last, 3)) - view).abs().max() <= 1e-6


def test_half_precision_input():
    x = _rand(1, 3, 17, 18).half()
    pyr = laplacian_pyramid(x, 2)
    assert all(p.dtype == torch.float16 for p in pyr)
    assert (collapse_laplacian_pyramid(pyr).float() - x.float()).abs().max() < 2e-3


def test_device(device):
    x = _rand(2, 3, 37, 53).to(device)
    pyr = laplacian_pyramid(x, 4)
    assert all(p.device == x.device for p in pyr)
    ref = laplacian_pyramid(x.cpu(), 4)
    for a, b in zip(pyr, ref, strict=True):
        assert torch.allclose(a.cpu(), b, atol=1e-5)
    assert (collapse_laplacian_pyramid(pyr) - x).abs().max() <= 1e-6


@pytest.mark.parametrize("levels", [-1, 1.5, True, "3", None])
def test_bad_levels(levels):
    with pytest.raises(InvalidParameterError):
        laplacian_pyramid(_rand(1, 1, 8, 8), levels)


def test_bad_inputs():
    with pytest.raises(InvalidParameterError):
        laplacian_pyramid(torch.rand(8, 8), 2)
    with pytest.raises(InvalidParameterError):
        collapse_laplacian_pyramid([])
    with pytest.raises(InvalidParameterError):
        pyramid_up(torch.rand(1, 1, 4, 4), (10, 8))
