"""Grain synthesis: determinism, per-frame seeds, time correlation, spectral and mean fidelity, the node."""

import pytest
import torch

from restorekit.errors import InvalidParameterError
from restorekit.grain.model import GrainModel, ScalingFunction
from restorekit.grain.spectrum import correlation_length, radial_power_spectrum
from restorekit.grain.synthesis import add_grain, expected_spectrum, frame_seed, grain_layer, grain_model
from restorekit.params import run
from tests.thresholds import ALL_THRESHOLDS

from .fixtures import AR3_LUMA, ar_coefficients, smooth_content

T = ALL_THRESHOLDS["grain_synthesis"]
FLAT = ScalingFunction.constant(8 / 255)


def _rgb(b=3, h=48, w=40, seed=0):
    return torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(seed)) * 0.6 + 0.2


@pytest.mark.parametrize("synthesis", ["ar", "gaussian", "boolean", "boolean_fast"])
def test_deterministic_and_batch_equals_single_calls(synthesis):
    x = _rgb()
    m = grain_model(8 / 255, 1.0, synthesis, color=True)
    a = add_grain(x, m, seed=5, synthesis=synthesis)
    assert torch.equal(a, add_grain(x, m, seed=5, synthesis=synthesis))
    single = torch.cat([add_grain(x[i:i + 1], m, seed=5, synthesis=synthesis, frame_offset=i) for i in range(3)])
    assert torch.equal(a, single)
    assert not torch.equal(a, add_grain(x, m, seed=6, synthesis=synthesis))
    assert a.shape == x.shape and a.dtype == x.dtype and 0 <= a.min() and a.max() <= 1


def test_frame_seed_mixes():
    seeds = {frame_seed(s, t) for s in range(20) for t in range(20)}
    assert len(seeds) == 400 and all(0 <= v < 2**63 for v in seeds)


@pytest.mark.parametrize("synthesis", ["ar", "gaussian", "boolean_fast"])
def test_consecutive_frames_uncorrelated_or_as_asked(synthesis):
    # 256 x 256 frames of fine grain: the sampling error of a correlation is ~0.007 here.
    x = torch.full((4, 1, 256, 256), 0.5)
    m = grain_model(8 / 255, 0.5, synthesis).replace(scaling_luma=FLAT)
    g = grain_layer(x, m, seed=1).flatten(1)
    c = torch.corrcoef(g)
    assert c[torch.arange(3), torch.arange(1, 4)].abs().max() <= 0.02
    g = grain_layer(x, m, seed=1, frame_correlation=0.6).flatten(1)
    c = torch.corrcoef(g)[torch.arange(3), torch.arange(1, 4)]
    assert (c - 0.6).abs().max() < 0.03


@pytest.mark.parametrize("case", ["ar_fixture", "ar_fit", "gaussian", "white", "boolean_fast"])
def test_spectrum_within_half_db_of_the_requested(case):
    h = w = 128
    x = torch.full((4, 1, h, w), 0.5)
    if case == "ar_fixture":
        m = GrainModel(ar_lag=3, ar_luma=ar_coefficients(AR3_LUMA), scaling_luma=FLAT)
    elif case == "ar_fit":
        m = grain_model(8 / 255, 1.2, "ar").replace(scaling_luma=FLAT)
    elif case == "gaussian":
        m = grain_model(8 / 255, 1.5, "gaussian").replace(scaling_luma=FLAT)
    elif case == "white":
        m = grain_model(8 / 255, 0.0, "gaussian").replace(scaling_luma=FLAT)
    else:
        m = grain_model(8 / 255, 1.0, "boolean").replace(scaling_luma=FLAT)
    syn = "boolean_fast" if case == "boolean_fast" else None
    g = grain_layer(x, m, seed=2, synthesis=syn)
    measured = radial_power_spectrum(g.double(), bins=16).mean(dim=(0, 1))
    wanted = expected_spectrum(m, h, w, bins=16, synthesis=syn)
    err_db = (10 * torch.log10(measured / wanted)).abs().max().item()
    assert err_db <= T["spectrum_db"], err_db


def test_gaussian_grain_size_is_measured_back():
    x = torch.full((2, 1, 128, 128), 0.5)
    for size in (0.7, 1.5, 2.5):
        g = grain_layer(x, grain_model(8 / 255, size, "gaussian"), seed=4)
        assert (correlation_length(g) - size).abs().max() < 0.08 * size + 0.05


def test_mean_shift_and_luma_dependence_on_smooth_content():
    clean = smooth_content(128, 128, channels=3, seed=1, lo=0.15, hi=0.85).float().expand(3, -1, -1, -1)
    for syn in ("ar", "gaussian", "boolean_fast", "boolean"):
        m = grain_model(6 / 255, 1.0, syn, color=True)
        out = add_grain(clean, m, seed=3)
        assert (out - clean).mean().abs() <= T["mean_shift"], syn
    # luma dependence: grain std follows the scaling function (film curve: strongest at mid-grey)
    ramp = torch.linspace(0.05, 0.95, 128).view(1, 1, 1, 128).expand(2, 1, 128, 128)
    g = grain_layer(ramp, grain_model(8 / 255, 1.0, "gaussian"), seed=0)
    std_mid, std_dark = g[..., 56:72].std().item(), g[..., :8].std().item()
    assert std_mid == pytest.approx(8 / 255, rel=0.1) and std_dark < 0.6 * std_mid


def test_gray_is_luma_only_and_colour_grain_correlation():
    gray = torch.full((1, 1, 64, 64), 0.5)
    assert grain_layer(gray, grain_model(8 / 255, 1, "ar", color=True), seed=0).shape == gray.shape
    x = torch.full((1, 3, 128, 128), 0.5)
    mono = grain_layer(x, grain_model(8 / 255, 1, "gaussian"), seed=0)
    assert torch.equal(mono[:, 0], mono[:, 1])
    col = grain_layer(x, grain_model(8 / 255, 1, "gaussian", color=True, channel_correlation=0.5), seed=0)
    c = torch.corrcoef(col[0].flatten(1))
    assert (c[0, 1] + c[0, 2] + c[1, 2]).item() / 3 == pytest.approx(0.5, abs=0.05)


def test_float64_and_tiny_images():
    m = grain_model(8 / 255, 1, "ar", color=True)
    for shape in ((1, 3, 1, 1), (2, 3, 3, 5), (1, 1, 5, 3)):
        x = torch.rand(*shape, dtype=torch.float64)
        for syn in ("ar", "gaussian", "boolean", "boolean_fast"):
            y = add_grain(x, m, synthesis=syn)
            assert y.shape == x.shape and y.dtype == torch.float64 and torch.isfinite(y).all()


def test_bad_parameters():
    x = torch.rand(1, 1, 8, 8)
    m = grain_model(8 / 255, 1)
    with pytest.raises(InvalidParameterError):
        add_grain(x, m, synthesis="poisson")
    with pytest.raises(InvalidParameterError):
        add_grain(x, m, frame_correlation=1.0)
    with pytest.raises(InvalidParameterError):
        add_grain(x, m, strength=-1)
    with pytest.raises(InvalidParameterError):
        add_grain(x, "grain")
    with pytest.raises(InvalidParameterError):
        grain_model(-1, 1)


def test_node_without_and_with_a_model():
    x = _rgb(2, 40, 48)
    out = run("grain_add", image=x, intensity=10.0, size=1.0, synthesis="gaussian", color=True, seed=3)
    assert out["image"].shape == x.shape and isinstance(out["grain"], GrainModel)
    assert "gaussian" in out["report"] and "grey levels" in out["report"]
    again = run("grain_add", image=x, grain=out["grain"], seed=3)
    assert torch.equal(again["image"], out["image"])
    gray = run("grain_add", image=x[:, :1], synthesis="boolean", seed=1)
    assert gray["image"].shape == (2, 1, 40, 48)


def test_fast_scalings_match_scaling_function():
    """The shared-segment evaluation used by Grain Add equals ScalingFunction.__call__ (even and uneven knots)."""
    import torch as _torch

    from restorekit.grain.model import ScalingFunction as _SF
    from restorekit.grain.synthesis import _scalings, film_curve

    t = _torch.rand(2, 1, 17, 23, generator=_torch.Generator().manual_seed(3)) * 1.2 - 0.1
    fns = [film_curve(8 / 255), _SF(((0.1, 0.02), (0.35, 0.05), (0.9, 0.01))), _SF.constant(0.03), _SF()]
    for fn, got in zip(fns, _scalings(fns, t), strict=True):
        assert _torch.allclose(got, fn(t), atol=1e-7, rtol=0)
