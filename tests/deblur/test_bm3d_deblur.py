"""Tests of BM3D deblurring (restorekit.deblur.bm3d_deblur)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import support
import torch
from thresholds import ALL_THRESHOLDS

from restorekit.deblur.bm3d_deblur import bm3d_deblur
from restorekit.deblur.psf import PSF, gaussian_psf, motion_psf
from restorekit.deblur.richardson_lucy import richardson_lucy
from restorekit.deblur.wiener import wiener_deconvolution
from restorekit.denoise.bm3d import reference_available
from restorekit.errors import InvalidImageError, InvalidParameterError, MissingDependencyError

THRESHOLDS = ALL_THRESHOLDS["bm3d_deblur"]

SIGMA = 2.55 / 255


def _scene(c: int = 1, size: int = 24, b: int = 1, seed: int = 0) -> tuple[torch.Tensor, PSF]:
    psf = gaussian_psf(1.0)
    clean = support.smooth_random(b, c, size, size, seed=seed)
    blurred = support.blur(clean, psf.kernel.double().numpy())
    return support.add_noise(blurred, 2.55, seed=seed + 1).clamp(0, 1), psf


@pytest.mark.quality
def test_quality_beats_richardson_lucy_and_wiener():
    clean = torch.cat(support.load_set("Set12", ["01", "07"], gray=True))[..., 64:160, 64:160].contiguous()
    kernels = support.levin_kernels()
    gains_rl, gains_w, scores = [], [], []
    for k in (2, 4):
        psf = PSF.from_array(kernels[k])
        blurred = torch.cat([support.blur_and_noise(clean[i : i + 1], kernels[k], seed=10 * i + k) for i in range(2)])
        ours = bm3d_deblur(blurred, psf)
        rl = richardson_lucy(blurred, psf)
        wi = wiener_deconvolution(blurred, psf)
        for i in range(2):
            p = support.psnr(ours[i], clean[i])
            scores.append(p)
            gains_rl.append(p - support.psnr(rl[i], clean[i]))
            gains_w.append(p - support.psnr(wi[i], clean[i]))
    assert np.mean(gains_rl) > THRESHOLDS["bm3d_deblur_over_rl_mean_db"], gains_rl
    assert min(gains_rl) > THRESHOLDS["bm3d_deblur_over_rl_min_db"], gains_rl
    assert min(gains_w) > THRESHOLDS["bm3d_deblur_over_wiener_min_db"], gains_w
    assert np.mean(scores) > THRESHOLDS["bm3d_deblur_psnr_mean_db"], scores


def test_constant_image_kept():
    x = torch.full((1, 3, 20, 24), 0.4)
    out = bm3d_deblur(x, motion_psf(7, 30.0), sigma=SIGMA)
    assert torch.allclose(out, x, atol=2e-3)


def test_shapes_dtype_layout_and_batch(device):
    x, psf = _scene(3, 16, b=2)
    x = x.to(device)
    out = bm3d_deblur(x, psf)
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    one = bm3d_deblur(x[1:], psf)
    assert torch.allclose(out[1:], one, atol=1e-4)  # per-image (sigma estimated per image)
    cl = x.contiguous(memory_format=torch.channels_last)
    assert torch.allclose(bm3d_deblur(cl, psf), out, atol=1e-5)


def test_gray_float64_noncontiguous_and_tiny():
    x, psf = _scene(1, 20)
    nc = x.double().transpose(-1, -2)
    assert not nc.is_contiguous()
    out = bm3d_deblur(nc, psf, sigma=SIGMA)
    assert out.dtype == torch.float64 and out.shape == nc.shape
    assert torch.allclose(out, bm3d_deblur(nc.contiguous(), psf, sigma=SIGMA))
    for shape in [(1, 1, 1, 1), (2, 3, 3, 5)]:
        t = torch.rand(*shape, generator=torch.Generator().manual_seed(0))
        out = bm3d_deblur(t, psf)
        assert out.shape == t.shape and torch.isfinite(out).all()


@pytest.mark.parametrize("edges", ["replicate", "reflect", "periodic"])
def test_other_edge_modes_run(edges):
    x, psf = _scene(1, 24)
    out = bm3d_deblur(x, psf, sigma=SIGMA, edges=edges, profile="lc")
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_progress_reports_from_inside_every_step():
    """One monotone bar from 0 to 1000 over the whole run, fed from inside the first estimate and
    both BM3D steps (so that a cancel is seen within a fraction of a second)."""
    x, psf = _scene(1, 16)
    calls = []
    bm3d_deblur(x, psf, sigma=SIGMA, progress=lambda d, t: calls.append((d, t)))
    assert {t for _, t in calls} == {1000} and calls[-1] == (1000, 1000)
    done = [d for d, _ in calls]
    assert done == sorted(done) and len(calls) > 10
    assert any(0 < d < 150 for d in done) and any(150 < d < 500 for d in done) and any(500 < d < 1000 for d in done)


def test_bad_inputs():
    x, psf = _scene(1, 16)
    bad = [
        dict(backend="cupy"),
        dict(edges="mirror"),
        dict(profile="fast"),
        dict(color_space="lab"),
        dict(sigma=-1.0),
        dict(sigma=float("nan")),
        dict(sigma=2.55),  # grey levels, not [0, 1] units: the one sigma validator of BM3D
        dict(sigma=torch.ones(3) * SIGMA),
        dict(sigma="2.55"),
        dict(alpha_ri=0.0),
        dict(alpha_rwi=-1.0),
    ]
    for kwargs in bad:
        with pytest.raises(InvalidParameterError):
            bm3d_deblur(x, psf, **kwargs)
    with pytest.raises(InvalidParameterError):
        bm3d_deblur(x, psf.kernel)
    with pytest.raises(InvalidImageError):
        bm3d_deblur(torch.rand(1, 2, 16, 16), psf)


@pytest.mark.skipif(not reference_available(), reason="optional package bm3d not installed")
def test_reference_backend_close_to_ours():
    x, psf = _scene(1, 24, seed=4)
    ref = bm3d_deblur(x, psf, sigma=SIGMA, backend="reference")
    ours = bm3d_deblur(x, psf, sigma=SIGMA)
    assert ref.shape == x.shape and torch.isfinite(ref).all()
    assert (ref - ours).abs().mean() < 0.01


def _crop_scene() -> tuple[torch.Tensor, PSF]:
    psf = gaussian_psf(1.0)
    clean = support.smooth_random(1, 1, 24, 24, seed=4)
    return support.add_noise(support.blur(clean, psf.kernel.double().numpy()), 2.55, seed=5).clamp(0, 1), psf


#: Sum and sum of squares of the output on :func:`_crop_scene`, measured on the CPU before the BM3D
#: backends were brought under one dispatcher (commit 7d40d51; backends "restorekit" and "reference").
BEFORE = {"torch": (283.6083863079548, 142.5948911703972), "reference": (283.7639620900154, 142.33194308511526)}


@pytest.mark.parametrize("backend", ["auto", "torch", "restorekit", "reference"])
def test_backend_keyword_gives_the_results_of_before(backend):
    if backend == "reference" and not reference_available():
        pytest.skip("optional package bm3d not installed")
    x, psf = _crop_scene()
    out = bm3d_deblur(x, psf, sigma=SIGMA, backend=backend).double()
    total, squares = BEFORE["reference" if backend == "reference" else "torch"]
    assert float(out.sum()) == pytest.approx(total, abs=2e-3)
    assert float((out * out).sum()) == pytest.approx(squares, abs=2e-3)
    if backend != "reference":  # auto = torch here: the noise of the inverses is correlated
        assert torch.equal(out.float(), bm3d_deblur(x, psf, sigma=SIGMA))


def test_backend_keyword_errors_up_front(monkeypatch):
    """The backend is checked before any work: fused kernels do not filter correlated noise (every
    step of BM3D deblurring has it), unknown names and a missing reference package are errors."""
    x, psf = _scene(1, 16)
    calls = []
    with pytest.raises(InvalidParameterError, match="white noise only") as err:
        bm3d_deblur(x, psf, sigma=SIGMA, backend="fused", progress=lambda d, t: calls.append(d))
    assert "'auto'" in str(err.value) and calls == []
    with pytest.raises(InvalidParameterError, match="auto, torch, fused, reference"):
        bm3d_deblur(x, psf, sigma=SIGMA, backend="cuda")
    monkeypatch.setitem(sys.modules, "bm3d", None)
    with pytest.raises(MissingDependencyError, match="pip install bm3d"):
        bm3d_deblur(x, psf, sigma=SIGMA, backend="reference", progress=lambda d, t: calls.append(d))
    assert calls == []
