"""Tests for restorekit.deblur.psf (PSF type and factories), the FFT helpers and the Make PSF operation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from restorekit.deblur.fft import fast_size, pad, periodic_extension, psf_to_otf
from restorekit.deblur.psf import (
    PSF,
    airy_psf,
    disk_psf,
    gaussian_psf,
    make_psf,
    motion_psf,
    psf_from_image,
    psf_preview,
)
from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.operations import deblur as _deblur_ops  # noqa: F401  (registers the operations)
from restorekit.params import get_operation


def _centroid(k: torch.Tensor) -> tuple[float, float]:
    h, w = k.shape
    k = k.double()
    cy = float((k.sum(1) * torch.arange(h, dtype=torch.float64)).sum()) - h // 2
    cx = float((k.sum(0) * torch.arange(w, dtype=torch.float64)).sum()) - w // 2
    return cy, cx


def _check_valid(psf: PSF) -> None:
    k = psf.kernel
    assert k.dtype == torch.float32 and k.dim() == 2
    assert k.shape[0] % 2 == 1 and k.shape[1] % 2 == 1
    assert (k >= 0).all()
    assert abs(float(k.double().sum()) - 1) < 1e-5
    assert psf.description


# ---- PSF type ----------------------------------------------------------------------------------


def test_psf_validation():
    PSF(torch.ones(3, 5) / 15, "box")
    PSF(torch.ones(3, 3, dtype=torch.float64) / 9)  # converted to float32
    assert PSF(torch.ones(3, 3, dtype=torch.float64) / 9).kernel.dtype == torch.float32
    with pytest.raises(InvalidParameterError, match="odd"):
        PSF(torch.ones(4, 3) / 12)
    with pytest.raises(InvalidParameterError, match="2-D"):
        PSF(torch.ones(1, 3, 3) / 9)
    with pytest.raises(InvalidParameterError, match="sum to 1"):
        PSF(torch.ones(3, 3))
    with pytest.raises(InvalidParameterError, match="negative"):
        PSF(torch.tensor([[0.5, -0.5, 1.0]]))
    with pytest.raises(InvalidParameterError, match="NaN"):
        PSF(torch.tensor([[float("nan"), 1.0, 0.0]]))
    with pytest.raises(InvalidParameterError, match="float"):
        PSF(torch.ones(1, 1, dtype=torch.int64))
    with pytest.raises(InvalidParameterError):
        PSF(np.ones((3, 3)) / 9)  # not a tensor
    p = PSF.from_array(np.arange(9.0).reshape(3, 3), "ramp")
    _check_valid(p)
    assert p.shape == (3, 3) and "ramp" in repr(p)
    with pytest.raises(InvalidParameterError):
        PSF.from_array(np.zeros((3, 3)))


# ---- factories ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "psf",
    [
        gaussian_psf(0.3),
        gaussian_psf(2.5),
        gaussian_psf(1.0, size=5),
        motion_psf(0, 0),
        motion_psf(1, 0),
        motion_psf(7.5, 33),
        motion_psf(25, -120),
        disk_psf(0.2),
        disk_psf(4.3),
        airy_psf(550, 0.4, 0.2),
        airy_psf(450, 1.4, 0.1),
        airy_psf(550, 0.05, 1.0, size=9),
    ],
    ids=lambda p: p.description,
)
def test_factories_valid_and_centred(psf):
    _check_valid(psf)
    cy, cx = _centroid(psf.kernel)
    assert abs(cy) < 1e-4 and abs(cx) < 1e-4  # symmetric shapes are centred exactly


def test_gaussian_is_pixel_integrated():
    sigma = 1.3
    k = gaussian_psf(sigma).kernel.double()
    n = k.shape[0]
    assert n == 2 * math.ceil(3.5 * sigma) + 1
    t = torch.arange(n, dtype=torch.float64) - n // 2
    cdf = lambda v: 0.5 * (1 + torch.erf(v / (sigma * math.sqrt(2))))  # noqa: E731
    g = cdf(t + 0.5) - cdf(t - 0.5)
    ref = g[:, None] * g[None, :]
    assert torch.allclose(k, ref / ref.sum(), atol=1e-7)
    var = float((k.sum(0) * t**2).sum())
    assert var == pytest.approx(sigma**2 + 1 / 12, rel=2e-3)  # Gaussian * box


def test_motion_exact_lengths():
    def row(length):
        k = motion_psf(length, 0).kernel
        assert k.sum(0).sum() == pytest.approx(1)
        return (k.sum(0) * length).tolist()  # taps in units of covered pixels

    r7 = row(7)
    assert [round(v, 6) for v in r7 if v > 0] == [1.0] * 7
    r8 = row(8)
    assert [round(v, 6) for v in r8 if v > 0] == [0.5] + [1.0] * 7 + [0.5]
    r75 = row(7.5)
    assert [round(v, 6) for v in r75 if v > 0] == [0.25] + [1.0] * 7 + [0.25]
    # Second moment along the line = L^2 / 12 (uniform segment) + pixel spread: grows continuously with L.
    m = []
    for length in (7.0, 7.25, 7.5, 8.0):
        k = motion_psf(length, 0, size=11).kernel.double()
        t = torch.arange(11, dtype=torch.float64) - 5
        m.append(float((k.sum(0) * t**2).sum()))
    assert m[0] < m[1] < m[2] < m[3]


def test_motion_angle_continuous_and_oriented():
    k0 = motion_psf(15, 0).kernel
    k90 = motion_psf(15, 90).kernel
    assert torch.allclose(k90, k0.T, atol=1e-7)  # vertical = transposed horizontal
    k180 = motion_psf(15, 180).kernel
    assert torch.allclose(k180, k0, atol=1e-7)
    # 45 degrees: up-right in image coordinates (rows grow downwards)
    k45 = motion_psf(10, 45).kernel
    n = k45.shape[0]
    c = n // 2
    assert k45[c - 2, c + 2] > 0 and k45[c + 2, c - 2] > 0 and k45[c - 2, c - 2] == 0
    # Second-moment orientation follows the angle for every angle, not only multiples of 45
    for angle in (0, 10, 23.5, 37, 61, 90, 133, 170):
        k = motion_psf(21, angle, size=25).kernel.double()
        t = torch.arange(25, dtype=torch.float64) - 12
        yy, xx = torch.meshgrid(t, t, indexing="ij")
        mxx = float((k * xx * xx).sum())
        myy = float((k * yy * yy).sum())
        mxy = float((k * xx * -yy).sum())
        theta = 0.5 * math.degrees(math.atan2(2 * mxy, mxx - myy))
        assert (theta - angle + 90) % 180 - 90 == pytest.approx(0, abs=1.0)
    # small angle changes give small kernel changes (no jumps)
    a = motion_psf(15, 30).kernel
    b = motion_psf(15, 30.5).kernel
    assert 0 < (a - b).abs().sum() < 0.1


def test_disk_area_and_radius():
    for r in (1.5, 3.0, 6.2):
        k = disk_psf(r).kernel
        peak = float(k.max())
        assert peak == pytest.approx(1 / (math.pi * r * r), rel=0.03)  # inner pixels: 1 / disk area
    a, b = disk_psf(3.0, size=9).kernel, disk_psf(3.25, size=9).kernel
    assert (a - b).abs().sum() > 1e-3  # fractional radius changes the rim


def test_airy_first_ring():
    # first zero at 0.61 lambda / NA = 0.61 * 0.55 / 0.25 = 1.342 um = 13.42 px at 0.1 um pixels
    psf = airy_psf(550, 0.25, 0.1)
    k = psf.kernel
    c = k.shape[0] // 2
    prof = k[c, c:]
    first_min = int(torch.argmin(prof[:20]))
    assert first_min == 13
    assert float(prof[first_min]) < 0.01 * float(prof[0])
    assert k.shape[0] == 2 * math.ceil(4 * 13.42) + 1


def test_factory_errors():
    with pytest.raises(InvalidParameterError):
        gaussian_psf(0)
    with pytest.raises(InvalidParameterError):
        gaussian_psf(float("nan"))
    with pytest.raises(InvalidParameterError, match="odd"):
        gaussian_psf(1.0, size=6)
    with pytest.raises(InvalidParameterError):
        gaussian_psf(1.0, size=-3)
    with pytest.raises(InvalidParameterError):
        gaussian_psf(1.0, size=1001)
    with pytest.raises(InvalidParameterError):
        motion_psf(-1, 0)
    with pytest.raises(InvalidParameterError):
        motion_psf(5, float("inf"))
    with pytest.raises(InvalidParameterError):
        disk_psf(-2)
    with pytest.raises(InvalidParameterError):
        airy_psf(550, 0, 0.1)
    with pytest.raises(InvalidParameterError):
        make_psf("box")
    with pytest.raises(InvalidParameterError, match="custom"):
        make_psf("custom")


def test_psf_from_image_centres_by_centroid():
    img = torch.zeros(1, 1, 20, 30)
    img[0, 0, 5, 7] = 1.0
    img[0, 0, 5, 9] = 1.0
    img[0, 0, 6, 8] = 2.0
    psf = psf_from_image(img)
    _check_valid(psf)
    cy, cx = _centroid(psf.kernel)
    assert abs(cy) <= 0.5 and abs(cx) <= 0.5
    assert psf.shape == (3, 3)
    # RGB: luma; 2-D input; off-centre spot in a big frame is cropped
    rgb = torch.zeros(1, 3, 40, 40)
    rgb[0, :, 30:33, 2:5] = torch.tensor([1.0, 0.5, 0.2])[:, None, None]
    p2 = psf_from_image(rgb)
    assert p2.shape == (3, 3) and torch.allclose(p2.kernel, torch.full((3, 3), 1 / 9))
    k = motion_psf(9, 20).kernel  # point-symmetric: comes back as its non-zero bounding box
    p3 = psf_from_image(k)
    nz = torch.nonzero(k > 0)
    (r0, c0), (r1, c1) = nz.min(0).values.tolist(), nz.max(0).values.tolist()
    assert torch.allclose(p3.kernel, k[r0 : r1 + 1, c0 : c1 + 1], atol=1e-7)
    with pytest.raises(InvalidImageError):
        psf_from_image(torch.zeros(1, 1, 5, 5))
    with pytest.raises(InvalidImageError):
        psf_from_image(torch.ones(2, 1, 5, 5))
    with pytest.raises(InvalidImageError):
        psf_from_image(torch.ones(5))


def test_psf_from_image_roundtrip_asymmetric():
    k = torch.zeros(7, 7)
    k[3, 3] = 0.5
    k[3, 4] = 0.25
    k[4, 3] = 0.25
    psf = psf_from_image(k)
    cy, cx = _centroid(psf.kernel)
    assert abs(cy) <= 0.5 and abs(cx) <= 0.5
    assert float(psf.kernel.sum()) == pytest.approx(1)


def test_preview():
    for psf in (gaussian_psf(0.5), motion_psf(31, 10), PSF(torch.ones(1, 3) / 3), PSF(torch.ones(3, 201) / 603)):
        prev = psf_preview(psf)
        assert prev.dim() == 4 and prev.shape[:2] == (1, 1) and prev.dtype == torch.float32
        assert min(prev.shape[-2:]) >= 64
        assert float(prev.max()) == pytest.approx(1.0) and float(prev.min()) >= 0
        f = max(1, -(-64 // max(psf.shape)))
        assert prev.shape[-2] == max(64, psf.shape[0] * f) and prev.shape[-1] == max(64, psf.shape[1] * f)
    prev = psf_preview(PSF(torch.ones(3, 3) / 9))  # 3x3 taps of 22x22 pixels each, nearest neighbour
    assert prev.shape[-2:] == (66, 66)
    assert torch.equal(prev[0, 0, :22, :22], torch.full((22, 22), float(prev[0, 0, 0, 0])))


# ---- FFT helpers -------------------------------------------------------------------------------


def test_fast_size():
    assert fast_size(1) == 1
    assert fast_size(97) == 98
    assert fast_size(257) == 270
    for n in range(1, 300):
        m = fast_size(n)
        assert m >= n
        for p in (2, 3, 5, 7):
            while m % p == 0:
                m //= p
        assert m == 1


def test_otf_matches_ndimage_convolution():
    gen = np.random.default_rng(0)
    x = gen.random((20, 27))
    k = gen.random((5, 7))
    k /= k.sum()
    ref = ndi.convolve(x, k, mode="wrap")
    otf = psf_to_otf(torch.from_numpy(k), x.shape)
    out = torch.fft.irfft2(torch.fft.rfft2(torch.from_numpy(x)) * otf, s=x.shape).numpy()
    assert np.abs(out - ref).max() < 1e-12
    # kernel larger than the grid: folded (wrap-around convolution on a tiny image)
    xs = gen.random((3, 4))
    ref = ndi.convolve(xs, k, mode="wrap")
    otf = psf_to_otf(torch.from_numpy(k), xs.shape)
    out = torch.fft.irfft2(torch.fft.rfft2(torch.from_numpy(xs)) * otf, s=xs.shape).numpy()
    assert np.abs(out - ref).max() < 1e-12


def test_padding_modes():
    x = torch.arange(4.0).view(1, 1, 1, 4)
    assert pad(x, (0, 0, 3, 3), "reflect")[0, 0, 0].tolist() == [2, 1, 0, 0, 1, 2, 3, 3, 2, 1]
    assert pad(x, (0, 0, 2, 2), "replicate")[0, 0, 0].tolist() == [0, 0, 0, 1, 2, 3, 3, 3]
    assert pad(x, (0, 0, 2, 2), "periodic")[0, 0, 0].tolist() == [2, 3, 0, 1, 2, 3, 0, 1]
    wide = pad(x, (0, 0, 9, 9), "reflect")  # wider than the image
    assert wide.shape[-1] == 22
    with pytest.raises(InvalidParameterError):
        pad(x, (0, 0, 1, 1), "mirror")


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
def test_periodic_extension(mode):
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 13, 17, generator=gen)
    y = periodic_extension(x, (5, 6, 7, 8), mode)
    assert y.shape == (2, 3, 24, 32)
    assert torch.equal(y[..., 5:18, 7:24], x)  # the image itself is untouched
    # smooth wrap-around: a ramp 0 -> 1 (a jump of 1 when wrapped as is) gets gentle steps only
    ramp = torch.linspace(0, 1, 40).view(1, 1, 1, 40).expand(1, 1, 6, 40)
    ext = periodic_extension(ramp, (0, 0, 8, 8), mode)
    steps = (torch.roll(ext, 1, dims=-1) - ext).abs()
    assert steps.max() < 0.15
    assert (torch.roll(ramp, 1, dims=-1) - ramp).abs().max() == 1.0
    c = torch.full((1, 1, 5, 6), 0.3)
    assert torch.equal(periodic_extension(c, (4, 4, 4, 4), mode), torch.full((1, 1, 13, 14), 0.3))


# ---- the Make PSF operation -------------------------------------------------------------------


def _values(op, **overrides):
    return {p.name: p.to_core(overrides.get(p.name, p.default)) for p in op.inputs if not p.is_data}


def test_make_psf_declaration():
    op = get_operation("make_psf")
    assert op.node_id == "RK_MakePsf" and op.display_name == "Make PSF"
    assert op.full_category == "restorekit/deblur"
    op.check_signature()
    assert [p.name for p in op.inputs] == [
        "shape",
        "sigma",
        "length",
        "angle",
        "radius",
        "wavelength",
        "numerical_aperture",
        "pixel_size",
        "size",
        "custom",
    ]
    assert op.param("shape").choices == ("gaussian", "motion", "disk", "airy", "custom")
    assert op.param("shape").default == "gaussian"
    assert op.param("custom").kind == "image" and op.param("custom").optional
    assert [(o.name, o.kind) for o in op.outputs] == [("psf", "psf"), ("preview", "image")]
    assert all(p.help for p in op.inputs)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"shape": "motion", "length": 15, "angle": 30},
        {"shape": "disk", "radius": 2.5},
        {"shape": "airy"},
        {"shape": "gaussian", "sigma": 1.0, "size": 11},
    ],
)
def test_make_psf_runs(overrides):
    op = get_operation("make_psf")
    with torch.inference_mode():
        psf, preview = op.call({**_values(op, **overrides), "custom": None})
    assert isinstance(psf, PSF)
    _check_valid(psf)
    assert preview.shape[:2] == (1, 1) and min(preview.shape[-2:]) >= 1 and max(preview.shape[-2:]) >= 64
    assert float(preview.max()) == pytest.approx(1.0)
    if overrides.get("shape") == "motion":
        assert torch.allclose(psf.kernel, motion_psf(15, 30).kernel)
    if "size" in overrides:
        assert psf.shape == (11, 11)


def test_make_psf_custom_and_errors():
    op = get_operation("make_psf")
    img = torch.zeros(2, 3, 16, 16)
    img[0, :, 7:10, 6:9] = 1.0
    psf, _ = op.call({**_values(op, shape="custom"), "custom": img})
    assert psf.shape == (3, 3)
    with pytest.raises(InvalidParameterError):
        op.call({**_values(op, shape="custom"), "custom": None})
    with pytest.raises(InvalidParameterError):
        op.call({**_values(op, size=10), "custom": None})
    with pytest.raises(InvalidParameterError):
        op.param("sigma").to_core(0)
