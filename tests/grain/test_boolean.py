"""The Boolean (Newson et al. 2017) grain model: coverage, radius ordering, analytic statistics."""

import pytest
import torch

from restorekit.errors import InvalidParameterError
from restorekit.grain.boolean import boolean_statistics, radius_for_size, render_boolean
from restorekit.grain.spectrum import correlation_length


@pytest.mark.parametrize("u", [0.1, 0.3, 0.5, 0.7, 0.9])
def test_covered_fraction_is_the_intensity(u):
    f = render_boolean(torch.full((1, 1, 128, 128), u), radius=0.8, seed=2)
    assert f.mean().item() == pytest.approx(u, abs=0.015)  # sampling error of the mean ~0.005
    std, _ = boolean_statistics(torch.tensor([u]), 0.8)
    assert f.std().item() == pytest.approx(std.item(), rel=0.08)


def test_larger_radius_longer_correlation_length():
    x = torch.full((1, 1, 128, 128), 0.5)
    lengths = [correlation_length(render_boolean(x, radius=r, seed=1)).item() for r in (0.3, 0.6, 1.2, 2.4)]
    assert all(b > a for a, b in zip(lengths, lengths[1:], strict=False)), lengths
    analytic = [boolean_statistics(torch.tensor([0.5]), r)[1].item() for r in (0.3, 0.6, 1.2, 2.4)]
    assert all(b > a for a, b in zip(analytic, analytic[1:], strict=False))
    assert max(abs(a - m) / a for a, m in zip(analytic, lengths, strict=True)) < 0.1


def test_radius_for_size_inverts_the_length():
    r = radius_for_size(1.0)
    assert boolean_statistics(torch.tensor([0.5]), r)[1].item() == pytest.approx(1.0, rel=0.02)


def test_render_is_seeded_and_per_image():
    u = torch.rand(2, 1, 20, 24)
    a = render_boolean(u, radius=0.7, seeds=[3, 4])
    assert torch.equal(a, render_boolean(u, radius=0.7, seeds=[3, 4]))
    assert torch.equal(a[1:], render_boolean(u[1:], radius=0.7, seeds=[4]))
    assert a.shape == u.shape and 0 <= a.min() and a.max() <= 1


def test_bad_parameters():
    with pytest.raises(InvalidParameterError):
        render_boolean(torch.rand(1, 1, 8, 8), radius=0.0)
    with pytest.raises(InvalidParameterError):
        render_boolean(torch.rand(1, 1, 8, 8), radius=1.0, supersample=3)
