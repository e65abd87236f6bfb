"""Estimate Blur: blind Gaussian / motion PSF estimation (restorekit.deblur.estimate)."""

from __future__ import annotations

import pytest
import support
import torch
from thresholds import ALL_THRESHOLDS

from restorekit import params
from restorekit.deblur.estimate import BlurEstimate, estimate_blur
from restorekit.deblur.psf import PSF, gaussian_psf, motion_psf
from restorekit.deblur.wiener import wiener_deconvolution
from restorekit.errors import InvalidParameterError

T = ALL_THRESHOLDS["estimate_blur"]
SIGMAS = (1.0, 1.5, 2.0, 3.0)
LENGTHS = (9, 15, 21)
ANGLES = (0, 30, 45, 90, 135)
# A subset of Set12 keeps this file near 30 s; bench/bench_estimate_blur.py runs all 12.
MOTION_IMAGES = ("01", "05", "10")
GAUSS_IMAGES = ("01", "03", "09")


def _crop(x: torch.Tensor, n: int = 256) -> torch.Tensor:
    h, w = x.shape[-2:]
    t, le = max((h - n) // 2, 0), max((w - n) // 2, 0)
    return x[..., t : t + n, le : le + n]


def _images(names: tuple[str, ...]) -> list[torch.Tensor]:
    return [_crop(x) for x in support.load_set("Set12", names=list(names))]


def _angle_err(a: float, b: float) -> float:
    return abs((a - b + 90.0) % 180.0 - 90.0)


def _degrade(x: torch.Tensor, psf: PSF, seed: int) -> torch.Tensor:
    return support.blur_and_noise(x, psf.kernel.double().numpy(), seed=seed, sigma255=2.55)


def test_motion_sweep_angle_and_length() -> None:
    cases, ok = 0, 0
    for i, x in enumerate(_images(MOTION_IMAGES)):
        batch = torch.cat([_degrade(x, motion_psf(L, a), seed=100 * i + j)
                           for j, (L, a) in enumerate((L, a) for L in LENGTHS for a in ANGLES)])
        est = estimate_blur(batch, model="motion")
        for e, (L, a) in zip(est, ((L, a) for L in LENGTHS for a in ANGLES), strict=True):
            cases += 1
            ok += e.kind == "motion" and _angle_err(e.angle, a) <= 5 and abs(e.length - L) <= 0.15 * L
    assert ok / cases >= T["motion_pass_rate"], f"{ok}/{cases}"


def test_auto_classifies_motion() -> None:
    (x,) = _images(("05",))
    batch = torch.cat([_degrade(x, motion_psf(L, 30), seed=L) for L in LENGTHS])
    assert all(e.kind == "motion" for e in estimate_blur(batch))


def test_gaussian_sigma() -> None:
    errs = []
    for i, x in enumerate(_images(GAUSS_IMAGES)):
        batch = torch.cat([_degrade(x, gaussian_psf(s), seed=10 * i + j) for j, s in enumerate(SIGMAS)])
        for e, s in zip(estimate_blur(batch, model="gaussian"), SIGMAS, strict=True):
            assert e.kind == "gaussian"
            errs.append(abs(e.sigma - s) / s)
    rate = sum(r <= 0.10 for r in errs) / len(errs)
    assert rate >= T["gaussian_pass_rate"], errs
    assert max(errs) <= T["gaussian_max_rel_err"], errs


def test_deblurring_with_estimate_close_to_true_psf() -> None:
    (x,) = _images(("05",))
    gaps = []
    for j, psf in enumerate((gaussian_psf(2.0), motion_psf(15, 30), motion_psf(9, 90))):
        y = _degrade(x, psf, seed=j)
        (e,) = estimate_blur(y)
        gaps.append(support.psnr(wiener_deconvolution(y, psf), x) - support.psnr(wiener_deconvolution(y, e.psf), x))
    # Motion: within 1 dB. Gaussian: the sigma bias on this image (2.0 -> 2.49 px) costs about 4.2 dB.
    assert (gaps[1] + gaps[2]) / 2 <= T["deblur_gap_db"], gaps
    assert gaps[0] <= T["deblur_gap_gaussian_db"], gaps


def test_sharp_and_constant_images() -> None:
    (x,) = _images(("01",))
    (e,) = estimate_blur(x)
    assert e.kind == "none" or (e.kind == "gaussian" and e.sigma < 0.8)
    (c,) = estimate_blur(torch.full((1, 3, 64, 64), 0.4))
    assert c.kind == "none" and c.confidence == 0.0
    assert c.psf.shape == (1, 1)


def test_small_image_and_shapes() -> None:
    for shape in ((1, 1, 1, 1), (2, 3, 3, 5), (1, 1, 31, 200)):
        est = estimate_blur(torch.rand(shape))
        assert len(est) == shape[0] and all(e.kind == "none" and e.confidence == 0 for e in est)
        assert "too small" in est[0].why
    est = estimate_blur(torch.rand(1, 3, 48, 40, dtype=torch.float64))
    assert isinstance(est[0], BlurEstimate) and 0 <= est[0].confidence <= 1


def test_mixed_batch_is_per_image() -> None:
    (x,) = _images(("10",))
    batch = torch.cat([_degrade(x, gaussian_psf(2.0), 1), _degrade(x, motion_psf(15, 45), 2)])
    both = estimate_blur(batch)
    single = [estimate_blur(batch[i : i + 1])[0] for i in range(2)]
    assert both[0].kind == "gaussian" and both[1].kind == "motion"
    for a, b in zip(both, single, strict=True):
        assert a.kind == b.kind and a.sigma == pytest.approx(b.sigma, abs=1e-3)
        assert a.length == pytest.approx(b.length, abs=1e-3) and a.angle == pytest.approx(b.angle, abs=1e-3)


def test_bad_parameters() -> None:
    x = torch.rand(1, 1, 64, 64)
    with pytest.raises(InvalidParameterError):
        estimate_blur(x, model="defocus")
    with pytest.raises(InvalidParameterError):
        estimate_blur(x, max_length=1000)


def test_operation_outputs() -> None:
    (x,) = _images(("05",))
    y = _degrade(x, motion_psf(15, 45), 3)
    out = params.run("estimate_blur", image=torch.cat([y, y]), model="auto")
    assert isinstance(out["psf"], PSF) and "motion" in out["psf"].description
    assert "median" in out["report"] and "image 1" in out["report"]
    assert out["preview"].shape[0] == 2


def test_device_agrees_with_cpu(device):
    x = _crop(_images(("05",))[0], 128)
    k = motion_psf(11, 30).kernel
    r = k.shape[0] // 2
    y = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (r, r, r, r), mode="reflect"), k.flip(0, 1)[None, None])
    on_device = estimate_blur(y.to(device), model="motion")[0]
    on_cpu = estimate_blur(y, model="motion")[0]
    assert on_device.kind == on_cpu.kind == "motion"
    assert abs(on_device.length - on_cpu.length) <= 0.5 and abs(on_device.angle - on_cpu.angle) <= 1.0
