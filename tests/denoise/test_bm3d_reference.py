"""Tests of the optional reference BM3D backend (wrapper of the `bm3d` package)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import support
import torch

from restorekit.denoise.bm3d import bm3d_denoise
from restorekit.denoise.bm3d import reference as R
from restorekit.denoise.bm3d.reference import bm3d_denoise_reference
from restorekit.errors import InvalidImageError, InvalidParameterError, MissingDependencyError

needs_bm3d = pytest.mark.skipif(not R.reference_available(), reason="optional package bm3d not installed")

SIGMA = 25 / 255


def _noisy(c: int = 1, size: int = 32, b: int = 1, seed: int = 0) -> torch.Tensor:
    clean = support.smooth_random(b, c, size, size, seed=seed)
    return support.add_noise(clean, 25, seed=seed + 1).clamp(0, 1)


def test_missing_package_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "bm3d", None)
    with pytest.raises(MissingDependencyError) as err:
        bm3d_denoise_reference(torch.rand(1, 1, 16, 16), sigma=0.1)
    text = str(err.value)
    assert "pip install bm3d" in text and "non-commercial" in text and '"restorekit"' in text
    assert '"auto"' in text and '"torch"' in text  # the backends that need no extra package
    assert not R.reference_available()
    with pytest.raises(MissingDependencyError, match="pip install bm3d"):  # the same through the dispatcher
        bm3d_denoise(torch.rand(1, 1, 16, 16), sigma=0.1, backend="reference")


def test_missing_package_error_from_deblur(monkeypatch):
    from restorekit.deblur.bm3d_deblur import bm3d_deblur
    from restorekit.deblur.psf import gaussian_psf

    monkeypatch.setitem(sys.modules, "bm3d", None)
    with pytest.raises(MissingDependencyError, match="pip install bm3d"):
        bm3d_deblur(torch.rand(1, 1, 16, 16), gaussian_psf(1.0), sigma=0.01, backend="reference")


@needs_bm3d
def test_reference_backend_of_bm3d_denoise_is_the_wrapper():
    """bm3d_denoise(backend="reference") runs the wrapper with the same arguments (the package
    itself varies in the last float32 bits from run to run)."""
    x = _noisy(3, 24, b=2)
    p = _pilot(x)
    for kwargs in ({"sigma": SIGMA}, {"sigma": torch.tensor([SIGMA, 0.05]), "pilot": p, "color_space": "ycbcr"}):
        torch.testing.assert_close(
            bm3d_denoise(x, backend="reference", **kwargs), bm3d_denoise_reference(x, **kwargs), atol=1e-6, rtol=0
        )


@needs_bm3d
def test_numpy2_view_is_local():
    _, bm4d = R.load_reference()
    assert hasattr(bm4d.np, "trapz")
    assert bm4d.np.ndarray is np.ndarray
    assert not isinstance(np.trapezoid, R._NumpyWithTrapz)


@needs_bm3d
def test_gray_matches_package():
    import bm3d

    x = _noisy(1, 40)
    ours = bm3d_denoise_reference(x, sigma=SIGMA)
    ref = np.clip(bm3d.bm3d(x[0, 0].double().numpy(), SIGMA), 0, 1)
    assert torch.allclose(ours[0, 0], torch.from_numpy(np.asarray(ref)).float(), atol=1e-5)


@needs_bm3d
def test_rgb_matches_package_bm3d_rgb():
    import bm3d

    x = _noisy(3, 24)
    ours = bm3d_denoise_reference(x, sigma=SIGMA, color_space="ycbcr")
    ref = np.clip(bm3d.bm3d_rgb(x[0].permute(1, 2, 0).double().numpy(), SIGMA, colorspace="YCbCr"), 0, 1)
    # the package's inverse YCbCr matrix is rounded to 4 decimals, ours is the exact inverse
    assert torch.allclose(ours[0].permute(1, 2, 0), torch.from_numpy(ref).float(), atol=2e-3)


def _pilot(x: torch.Tensor) -> torch.Tensor:
    """A cheap basic estimate (3x3 mean): lets the tests run the (fast) Wiener stage only."""
    return torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)


@needs_bm3d
def test_pilot_is_the_package_stage_arg():
    import bm3d

    x = _noisy(1, 32)
    basic = _pilot(x)
    ours = bm3d_denoise_reference(x, sigma=SIGMA, pilot=basic)
    ref = np.clip(bm3d.bm3d(x[0, 0].double().numpy(), SIGMA, stage_arg=basic[0, 0].double().numpy()), 0, 1)
    assert torch.allclose(ours[0, 0], torch.from_numpy(np.asarray(ref)).float(), atol=1e-5)
    rgb = _noisy(3, 24)
    out = bm3d_denoise_reference(rgb, sigma=SIGMA, pilot=_pilot(rgb))
    assert out.shape == rgb.shape and torch.isfinite(out).all()
    assert (out - rgb).abs().mean() > 0.01  # it did denoise


@needs_bm3d
def test_flat_psd_equals_sigma_and_psd_convention():
    x = _noisy(1, 32)
    white = bm3d_denoise_reference(x, sigma=SIGMA, pilot=_pilot(x))
    flat = bm3d_denoise_reference(x, noise_psd=torch.full((32, 32), SIGMA**2), pilot=_pilot(x))
    assert torch.allclose(white, flat, atol=1e-5)

    # coloured noise of known PSD, Wiener stage with the clean image as pilot (an oracle Wiener filter):
    # the PSD as given (our convention) beats a PSD 4x too small or too large
    clean = support.load_set("Set12", ["05"], gray=True)[0][..., 64:128, 64:128]
    gen = torch.Generator().manual_seed(3)
    fy = torch.fft.fftfreq(64)[:, None]
    fx = torch.fft.fftfreq(64)[None, :]
    shaping = 1.0 / (0.05 + fy**2 + fx**2)  # low-pass noise
    shaping = shaping / shaping.mean() * 0.04**2  # noise std 0.04
    noise = torch.fft.ifft2(torch.fft.fft2(torch.randn(64, 64, generator=gen)) * shaping.sqrt()).real
    psd = shaping  # E|FFT(n)|^2 / N = |filter|^2 for unit white noise
    noisy = clean + noise
    scores = {
        s: support.psnr(bm3d_denoise_reference(noisy, noise_psd=psd * s, pilot=clean), clean) for s in (0.25, 1, 4)
    }
    assert scores[1] > scores[0.25] + 0.3 and scores[1] > scores[4] + 0.3, scores


@needs_bm3d
def test_batch_dtype_layout_and_tiny_sizes():
    x = _noisy(1, 24, b=2)
    p = _pilot(x)
    both = bm3d_denoise_reference(x, sigma=torch.tensor([SIGMA, 0.05]), pilot=p)
    assert torch.allclose(both[1:], bm3d_denoise_reference(x[1:], sigma=0.05, pilot=p[1:]), atol=1e-6)
    assert torch.allclose(both[:1], bm3d_denoise_reference(x[:1], sigma=SIGMA, pilot=p[:1]), atol=1e-6)
    d = bm3d_denoise_reference(x[:1].double(), sigma=SIGMA, pilot=p[:1].double())
    assert d.dtype == torch.float64 and torch.allclose(d.float(), both[:1], atol=1e-6)
    nc = x[:1].transpose(-1, -2)
    assert not nc.is_contiguous()
    assert torch.allclose(
        bm3d_denoise_reference(nc, sigma=SIGMA, pilot=_pilot(nc)),
        bm3d_denoise_reference(nc.contiguous(), sigma=SIGMA, pilot=_pilot(nc.contiguous())),
    )
    t = torch.rand(1, 1, 1, 1, generator=torch.Generator().manual_seed(1))
    out = bm3d_denoise_reference(t, sigma=0.1, stage="hard")  # padded to the block size
    assert out.shape == t.shape and torch.isfinite(out).all()
    for shape in [(1, 3, 3, 5), (1, 1, 7, 9)]:
        t = torch.rand(*shape, generator=torch.Generator().manual_seed(1))
        out = bm3d_denoise_reference(t, noise_psd=torch.full(shape[-2:], 0.01), pilot=t.clamp(0.3, 0.7))
        assert out.shape == t.shape and torch.isfinite(out).all()


@needs_bm3d
def test_zero_noise_returns_input():
    x = _noisy(3, 16)
    assert torch.equal(bm3d_denoise_reference(x, sigma=0.0), x)
    assert torch.equal(bm3d_denoise_reference(x, noise_psd=torch.zeros(16, 16)), x)
    const = torch.full((1, 1, 16, 16), 0.3)
    assert torch.allclose(bm3d_denoise_reference(const), const, atol=1e-5)  # estimated sigma (about) 0


@needs_bm3d
def test_bad_inputs():
    x = torch.rand(1, 1, 16, 16)
    with pytest.raises(InvalidParameterError):
        bm3d_denoise_reference(x, sigma=0.1, profile="fast")
    with pytest.raises(InvalidParameterError):
        bm3d_denoise_reference(x, sigma=0.1, stage="wiener")
    with pytest.raises(InvalidParameterError):
        bm3d_denoise_reference(x, sigma=0.1, color_space="lab")
    with pytest.raises(InvalidParameterError):
        bm3d_denoise_reference(x, sigma=-0.1)
    with pytest.raises(InvalidParameterError):
        bm3d_denoise_reference(x, sigma=torch.ones(2, 2, 2))
    with pytest.raises(InvalidParameterError):  # the one sigma validator: [0, 1] units, as the other backends
        bm3d_denoise_reference(x, sigma=25.0)
    with pytest.raises(InvalidParameterError):
        bm3d_denoise_reference(x, noise_psd=torch.ones(8, 8))
    with pytest.raises(InvalidParameterError):
        bm3d_denoise_reference(x, noise_psd=-torch.ones(16, 16))
    with pytest.raises(InvalidParameterError):
        bm3d_denoise_reference(x, sigma=0.1, pilot=torch.rand(1, 1, 8, 8))
    with pytest.raises(InvalidImageError):
        bm3d_denoise_reference(torch.rand(1, 2, 16, 16), sigma=0.1)
    with pytest.raises(InvalidImageError):
        bm3d_denoise_reference(torch.full((1, 1, 16, 16), float("nan")), sigma=0.1)
