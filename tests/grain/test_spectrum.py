"""Radial power spectrum, autocorrelation and correlation length on noise of known statistics."""

import math

import pytest
import torch

from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.grain.spectrum import autocorrelation, correlation_length, radial_power_spectrum

from .fixtures import gaussian_pattern


def test_white_noise_spectrum_is_its_variance():
    g = torch.Generator().manual_seed(0)
    n = 0.03 * torch.randn(4, 2, 128, 128, generator=g)
    sp = radial_power_spectrum(n, bins=16)
    assert sp.shape == (4, 2, 16)
    assert torch.allclose(sp.mean(dim=(0, 1)), torch.full((16,), 0.03**2), rtol=0.08)


def test_gaussian_spectrum_shape_falls_with_frequency():
    p = gaussian_pattern(128, 128, 1.5, batch=2, seed=1)
    sp = radial_power_spectrum(p, bins=16).mean(dim=(0, 1))
    assert sp[0] > 10 * sp[8] > 0
    assert bool((sp[1:] <= sp[:-1] * 1.05).all())


@pytest.mark.parametrize("sigma_b", [0.0, 0.4, 0.8, 1.5, 3.0])
def test_correlation_length_recovers_the_filter(sigma_b):
    p = gaussian_pattern(192, 192, sigma_b, batch=2, seed=3)
    est = correlation_length(p)
    assert est.shape == (2, 1)
    assert (est - sigma_b).abs().max() < 0.06 + 0.04 * sigma_b


def test_autocorrelation_centred_and_normalised():
    p = gaussian_pattern(64, 48, 1.0, batch=1, seed=2).float()
    r = autocorrelation(p)
    assert r.shape == p.shape
    assert r[0, 0, 32, 24] == pytest.approx(1.0, abs=1e-6)
    assert r[0, 0, 32, 25] == pytest.approx(math.exp(-1 / 4), abs=0.08)
    assert float(r.abs().max()) <= 1.0 + 1e-5


def test_tiny_and_constant_inputs():
    assert radial_power_spectrum(torch.rand(2, 3, 1, 1), bins=4).abs().max() == 0
    assert torch.isfinite(radial_power_spectrum(torch.rand(1, 1, 3, 5), bins=8)).all()
    assert torch.isfinite(correlation_length(torch.rand(1, 1, 3, 5))).all()
    assert correlation_length(torch.ones(1, 1, 16, 16)).item() == 0.0


def test_bad_inputs():
    with pytest.raises(InvalidImageError):
        radial_power_spectrum(torch.rand(4, 4))
    with pytest.raises(InvalidParameterError):
        radial_power_spectrum(torch.rand(1, 1, 8, 8), bins=0)
