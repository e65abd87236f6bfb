"""Tests for restorekit.deblur.richardson_lucy and the Richardson–Lucy operation."""

from __future__ import annotations

import pytest
import support
import torch
from skimage import restoration as sk_restoration
from thresholds import ALL_THRESHOLDS

from restorekit.deblur.psf import PSF, gaussian_psf, motion_psf
from restorekit.deblur.richardson_lucy import iterate_richardson_lucy, richardson_lucy
from restorekit.deblur.wiener import wiener_deconvolution
from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.operations import deblur as _deblur_ops  # noqa: F401  (registers the operations)
from restorekit.params import get_operation

THRESHOLDS = ALL_THRESHOLDS["richardson_lucy"]

QUALITY_IMAGES = ("01", "05")
QUALITY_KERNELS = (0, 3, 6)
SKIMAGE_ITERATIONS = (1, 2, 5, 10, 20, 30, 50, 100)


def _noisy(x: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (x + sigma * torch.randn(x.shape, generator=gen)).clamp(0, 1)


# ---- shapes, dtype, device, layout ----------------------------------------------------------


@pytest.mark.parametrize("b", [1, 3])
@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("hw", [(1, 1), (3, 5), (7, 9), (33, 20)])
@pytest.mark.parametrize("edges", ["unseen", "replicate", "periodic"])
def test_shapes(b, c, hw, edges):
    x = support.smooth_random(b, c, *hw)
    y = richardson_lucy(x, gaussian_psf(1.5), iterations=4, edges=edges)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.isfinite(y).all() and y.min() >= 0


def test_device_dtype_layout(device):
    x = support.smooth_random(2, 3, 40, 36).to(device)
    psf = motion_psf(9, 20)
    y = richardson_lucy(x, psf, iterations=10)
    assert y.device.type == device.type and y.shape == x.shape
    for dtype in (torch.float16, torch.float64):
        xd = x.to(dtype)
        yd = richardson_lucy(xd, psf, iterations=10)
        assert yd.dtype == dtype
        assert (yd.float() - richardson_lucy(xd.float(), psf, iterations=10)).abs().max() < 2e-3
    cl = richardson_lucy(x.contiguous(memory_format=torch.channels_last), psf, iterations=10)
    assert torch.allclose(cl, y, atol=1e-5)
    nc = x.transpose(-1, -2)
    assert torch.allclose(
        richardson_lucy(nc, psf, iterations=10), richardson_lucy(nc.contiguous(), psf, iterations=10), atol=1e-5
    )
    if device.type == "cuda":
        assert (y.cpu() - richardson_lucy(x.cpu(), psf, iterations=10)).abs().max() < 1e-3


def test_batch_consistency():
    x = support.smooth_random(3, 3, 30, 34)
    x[2] = _noisy(x[2], 0.03, seed=2)
    psf = motion_psf(7, 45)
    y = richardson_lucy(x, psf, iterations=15)
    for i in range(3):
        assert torch.allclose(y[i : i + 1], richardson_lucy(x[i : i + 1], psf, iterations=15), atol=1e-5)


# ---- values -----------------------------------------------------------------------------------


def test_zero_iterations_and_iterator():
    x = support.smooth_random(1, 1, 24, 24)
    psf = gaussian_psf(1.0)
    assert torch.equal(richardson_lucy(x, psf, iterations=0, init="observed"), x)
    start = richardson_lucy(x, psf, iterations=0)
    assert torch.allclose(start, wiener_deconvolution(x, psf).clamp(0.5 / 255, 1), atol=1e-6)
    steps = iterate_richardson_lucy(x, psf, init="observed")
    assert torch.equal(next(steps), x)
    first = next(steps).clone()
    assert torch.allclose(first, richardson_lucy(x, psf, iterations=1, init="observed"), atol=1e-6)


def test_converges_on_noise_free_periodic_blur():
    x = support.smooth_random(1, 1, 40, 48, seed=1)
    psf = gaussian_psf(1.2)
    y = support.blur(x, psf.kernel.double().numpy(), "wrap")
    errs = []
    for n, est in enumerate(
        iterate_richardson_lucy(y, psf, tv_weight=0, edges="periodic", init="observed", acceleration=False)
    ):
        if n in (0, 10, 50, 200):
            errs.append(float((est - x).abs().mean()))
        if n == 200:
            break
    assert errs[0] > errs[1] > errs[2] > errs[3]
    assert errs[3] < 0.65 * errs[0]


def test_acceleration_converges_faster():
    x = support.smooth_random(1, 1, 40, 48, seed=1)
    psf = motion_psf(9, 30)
    y = support.blur(x, psf.kernel.double().numpy(), "wrap")
    kw = {"iterations": 30, "tv_weight": 0, "edges": "periodic", "init": "observed"}
    plain = float((richardson_lucy(y, psf, acceleration=False, **kw) - x).abs().mean())
    fast = float((richardson_lucy(y, psf, acceleration=True, **kw) - x).abs().mean())
    assert fast < 0.8 * plain


@pytest.mark.parametrize("edges", ["unseen", "replicate", "reflect", "periodic"])
@pytest.mark.parametrize("init", ["wiener", "observed"])
def test_flat_image_unchanged(edges, init):
    psf = motion_psf(11, 30)
    for level in (0.3, 1.0):
        x = torch.full((1, 3, 21, 26), level)
        y = richardson_lucy(x, psf, iterations=10, edges=edges, init=init)
        assert (y - level).abs().max() < THRESHOLDS["rl_flat_mean_abs"]
    # black stays black (a Wiener start is floored at half a grey level, kept only by unupdated corner pixels)
    y = richardson_lucy(torch.zeros(1, 1, 21, 26), psf, iterations=10, edges=edges, init=init)
    assert y.max() <= 0.5 / 255 + 1e-7


def test_brightness_kept():
    clean = support.smooth_random(1, 1, 64, 64, seed=3)
    psf = motion_psf(9, 10)
    # periodic data, periodic plain RL: total flux is conserved exactly by every step (also accelerated)
    y = _noisy(support.blur(clean, psf.kernel.double().numpy(), "wrap"), 0.01)
    out = richardson_lucy(y, psf, iterations=50, tv_weight=0, edges="periodic", init="observed")
    assert abs(float(out.mean() - y.mean())) < 1e-5
    # TV moves values locally, not the mean
    out = richardson_lucy(y, psf, iterations=50, edges="periodic", init="observed")
    assert abs(float(out.mean() - y.mean())) < 5e-4
    # non-circular data, unseen edges: the mean stays within a fraction of a grey level
    y = _noisy(support.blur(clean, psf.kernel.double().numpy(), "reflect"), 0.01)
    out = richardson_lucy(y, psf)
    assert abs(float(out.mean() - y.mean())) < 1e-3


def test_tv_sign_reduces_noise():
    # A flat image with noise, lightly blurred: plain RL amplifies the noise, TV must reduce it.
    flat = torch.full((1, 1, 64, 64), 0.5)
    psf = gaussian_psf(1.0)
    y = _noisy(support.blur(flat, psf.kernel.double().numpy(), "wrap"), 0.02)
    kw = {"iterations": 40, "edges": "periodic", "init": "observed", "acceleration": False}
    plain = float(richardson_lucy(y, psf, tv_weight=0, **kw).std())
    weak = float(richardson_lucy(y, psf, tv_weight=0.01, **kw).std())
    strong = float(richardson_lucy(y, psf, tv_weight=0.05, **kw).std())
    assert strong < weak < plain
    assert strong < float(y.std())
    # with a Dirac PSF RL leaves the data alone, so only TV acts: it pulls an isolated speck down
    speck = torch.full((1, 1, 15, 15), 0.4)
    speck[0, 0, 7, 7] = 0.9
    dirac = PSF(torch.ones(1, 1))
    out = richardson_lucy(speck, dirac, iterations=20, tv_weight=0.05, init="observed", acceleration=False)
    assert float(out[0, 0, 7, 7]) < 0.85
    assert abs(float(out.mean() - speck.mean())) < 0.01


def test_tv_reduces_ringing():
    step = torch.zeros(1, 1, 48, 48)
    step[..., :, 24:] = 0.8
    step += 0.1
    psf = motion_psf(9, 0)
    y = _noisy(support.blur(step, psf.kernel.double().numpy(), "nearest"), 0.01)
    kw = {"iterations": 80, "init": "observed"}
    flat_part = (slice(None), slice(None), slice(8, 40), slice(4, 18))  # flat area left of the edge
    plain = float(richardson_lucy(y, psf, tv_weight=0, **kw)[flat_part].std())
    tv = float(richardson_lucy(y, psf, tv_weight=0.01, **kw)[flat_part].std())
    assert tv < 0.7 * plain


def test_damping_limits_noise_amplification():
    flat = torch.full((1, 1, 64, 64), 0.5)
    psf = gaussian_psf(1.0)
    y = _noisy(support.blur(flat, psf.kernel.double().numpy(), "wrap"), 0.02)
    kw = {"iterations": 60, "tv_weight": 0, "edges": "periodic", "init": "observed", "acceleration": False}
    plain = float(richardson_lucy(y, psf, **kw).std())
    damped = float(richardson_lucy(y, psf, damping=3.0, sigma=0.02, **kw).std())
    auto = float(richardson_lucy(y, psf, damping=3.0, **kw).std())
    assert damped < 0.8 * plain and auto < 0.8 * plain


def test_unseen_edges_beat_periodic():
    clean = _smooth_scene()
    psf = motion_psf(13, 20)
    y = support.blur(clean, psf.kernel.double().numpy(), "nearest")
    kw = {"iterations": 50, "tv_weight": 0, "init": "observed"}
    err = {e: float((richardson_lucy(y, psf, edges=e, **kw) - clean).abs().mean()) for e in ("unseen", "periodic")}
    assert err["unseen"] < 0.5 * err["periodic"]


def _smooth_scene() -> torch.Tensor:
    """A smooth, non-periodic test image (no dataset needed): sums of slanted waves and a ramp."""
    yy, xx = torch.meshgrid(torch.arange(56.0), torch.arange(60.0), indexing="ij")
    img = 0.3 + 0.004 * xx + 0.1 * torch.sin(xx / 5 + yy / 9) + 0.1 * torch.cos(yy / 4 - xx / 13)
    return img.clamp(0, 1)[None, None]


def test_progress_and_errors():
    x = support.smooth_random(1, 1, 16, 16)
    psf = gaussian_psf(1.0)
    calls = []
    richardson_lucy(x, psf, iterations=5, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    for bad in (
        {"iterations": -1},
        {"iterations": 2.5},
        {"tv_weight": -0.1},
        {"tv_weight": float("nan")},
        {"damping": -1},
        {"sigma": -0.1},
        {"edges": "mirror"},
        {"init": "zeros"},
    ):
        with pytest.raises(InvalidParameterError):
            richardson_lucy(x, psf, **bad)
    with pytest.raises(InvalidParameterError):
        richardson_lucy(x, psf.kernel)
    with pytest.raises(InvalidImageError):
        richardson_lucy(x[0], psf)
    with pytest.raises(InvalidImageError):
        richardson_lucy(torch.full((1, 1, 4, 4), float("inf")), psf)


# ---- the operation ----------------------------------------------------------------------------


def _values(op, **overrides):
    return {p.name: p.to_core(overrides.get(p.name, p.default)) for p in op.inputs if not p.is_data}


def test_operation_declaration():
    op = get_operation("richardson_lucy")
    assert op.node_id == "RK_RichardsonLucy" and op.display_name == "Richardson–Lucy"
    assert op.full_category == "restorekit/deblur" and op.gpu
    op.check_signature()
    assert op.param("psf").kind == "psf" and not op.param("psf").optional
    assert [o.name for o in op.outputs] == ["image", "report"]
    assert all(p.help for p in op.inputs)
    assert op.param("tv_weight").to_core(0) is None and op.param("sigma").to_core(2.55) == pytest.approx(0.01)


@pytest.mark.parametrize("shape", [(3, 3, 64, 64), (1, 1, 64, 64), (1, 3, 3, 5), (2, 1, 1, 1), (1, 1, 7, 9)])
def test_operation_defaults_run(shape):
    op = get_operation("richardson_lucy")
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        image, report = op.call({"image": x, "psf": motion_psf(9, 30), **_values(op)})
    assert image.shape == x.shape
    assert torch.isfinite(image).all() and image.min() >= 0 and image.max() <= 1
    assert report.startswith("Richardson–Lucy:") and "TV weight auto" in report


def test_operation_options():
    op = get_operation("richardson_lucy")
    x = support.smooth_random(1, 3, 32, 32)
    psf = gaussian_psf(1.0)
    img, rep = op.call({"image": x, "psf": psf, **_values(op, regularise=False, iterations=7, init="observed")})
    assert "TV off" in rep and "7 iterations" in rep
    assert torch.allclose(img, richardson_lucy(x, psf, iterations=7, tv_weight=0, init="observed").clamp(0, 1))
    _, rep = op.call({"image": x, "psf": psf, **_values(op, tv_weight=0.004, damping=2, sigma=5.1, iterations=3)})
    assert "TV weight 0.004" in rep and "damping 2 sigma" in rep and "5.10" in rep


# ---- quality ----------------------------------------------------------------------------------


@pytest.mark.quality
@pytest.mark.parametrize("name", QUALITY_IMAGES)
def test_quality_vs_skimage(name):
    clean = support.load_set("Set12", [name], gray=True)[0]
    kernels = support.levin_kernels()
    for j in QUALITY_KERNELS:
        kernel = kernels[j]
        noisy = support.blur_and_noise(clean, kernel, seed=j)
        psf = PSF.from_array(kernel)
        ours = richardson_lucy(noisy, psf)
        plain = richardson_lucy(noisy, psf, iterations=30, tv_weight=0, init="observed", acceleration=False)
        p_ours, p_plain, p_in = (support.psnr(v, clean) for v in (ours, plain, noisy))
        arr = noisy[0, 0].double().numpy()
        p_ref = max(
            support.psnr(torch.from_numpy(sk_restoration.richardson_lucy(arr, kernel, num_iter=n)).float(), clean)
            for n in SKIMAGE_ITERATIONS
        )
        assert p_ours >= THRESHOLDS["rl_psnr"][(name, j)], (name, j, p_ours)
        assert p_ours - p_in >= THRESHOLDS["rl_gain_over_blurred_db"], (name, j, p_ours, p_in)
        assert p_ours - p_ref >= THRESHOLDS["rl_margin_over_skimage_db"], (name, j, p_ours, p_ref)
        assert p_plain - p_in >= THRESHOLDS["rl_plain_gain_over_blurred_db"], (name, j, p_plain, p_in)
        assert p_plain - p_ref >= THRESHOLDS["rl_plain_margin_over_skimage_db"], (name, j, p_plain, p_ref)
        assert abs(float(ours.mean() - noisy.mean())) < THRESHOLDS["rl_mean_shift_natural"]


@pytest.mark.quality
def test_quality_edge_handling():
    clean = support.load_set("Set12", ["01"], gray=True)[0]
    kernel = support.levin_kernels()[3]
    noisy = support.blur_and_noise(clean, kernel, seed=3)
    psf = PSF.from_array(kernel)
    unseen = support.psnr(richardson_lucy(noisy, psf, edges="unseen"), clean)
    periodic = support.psnr(richardson_lucy(noisy, psf, edges="periodic"), clean)
    assert unseen - periodic >= THRESHOLDS["rl_unseen_over_periodic_db"], (unseen, periodic)
