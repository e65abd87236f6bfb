"""Tests for restorekit.denoise.bm3d (our torch BM3D / CBM3D): the API checklist, the PSD and
pilot paths, and analytic checks of the transforms. Quality against the reference package is in
test_bm3d_quality.py."""

from __future__ import annotations

import pytest
import support
import torch

from restorekit.denoise.bm3d import BACKENDS, PROFILES, bm3d_denoise, reference_available
from restorekit.denoise.bm3d.options import check_backend, sigma_per_channel
from restorekit.denoise.bm3d.transforms import (
    coefficient_norms2,
    coefficient_variances_from_psd,
    group_haar_table,
    haar_matrix,
    transform_2d,
)
from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.quality.noise import estimate_sigma

S25 = 25 / 255


def _noisy(b=1, c=1, h=40, w=48, sigma255=25.0, seed=0, dtype=torch.float32):
    clean = support.smooth_random(b, c, h, w, seed=seed)
    return support.add_noise(clean, sigma255, seed=seed + 1).to(dtype), clean


# ----------------------------------------------------------------------------- shapes, dtype, device
@pytest.mark.parametrize("b,c", [(1, 1), (3, 1), (1, 3), (3, 3)])
def test_shapes_and_range(device, b, c):
    z, _ = _noisy(b, c, 25, 21)
    y = bm3d_denoise(z.to(device), sigma=S25)
    assert y.shape == z.shape and y.device.type == device.type and y.dtype == torch.float32
    assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1


@pytest.mark.parametrize("h,w,c", [(1, 1, 1), (1, 9, 3), (3, 5, 1), (5, 7, 3), (8, 8, 1), (10, 12, 3), (9, 23, 1)])
def test_tiny_and_odd_sizes(device, h, w, c):
    z, _ = _noisy(2, c, h, w)
    for profile in ("np", "vn") if h * w < 40 else ("np",):  # vn: 11x11 Wiener blocks
        y = bm3d_denoise(z.to(device), sigma=S25, profile=profile)
        assert y.shape == z.shape and torch.isfinite(y).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64])
def test_dtype_kept(device, dtype):
    z, _ = _noisy(1, 1, 24, 24, dtype=dtype)
    y = bm3d_denoise(z.to(device), sigma=S25)
    assert y.dtype == dtype and y.device.type == device.type


def test_non_contiguous_and_channels_last(device):
    z, _ = _noisy(2, 3, 20, 24)
    z = z.to(device)
    ref = bm3d_denoise(z, sigma=S25)
    cl = bm3d_denoise(z.contiguous(memory_format=torch.channels_last), sigma=S25)
    big = torch.zeros(2, 3, 20, 48, device=device)
    big[..., ::2] = z
    strided = bm3d_denoise(big[..., ::2], sigma=S25)
    assert torch.equal(ref, cl) and torch.equal(ref, strided)


def test_batch_consistency_and_per_image_sigma(device):
    z, _ = _noisy(3, 3, 24, 28)
    z = z.to(device)
    sig = torch.tensor([10.0, 25.0, 40.0]) / 255
    out = bm3d_denoise(z, sigma=sig)
    for i in range(3):
        one = bm3d_denoise(z[i : i + 1], sigma=float(sig[i]))
        torch.testing.assert_close(out[i : i + 1], one, atol=1e-6, rtol=0)


def test_deterministic(device):
    z, _ = _noisy(2, 3, 24, 24)
    z = z.to(device)
    assert torch.equal(bm3d_denoise(z, sigma=S25), bm3d_denoise(z, sigma=S25))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
def test_cuda_matches_cpu():
    z, clean = _noisy(2, 3, 64, 64)
    a = bm3d_denoise(z, sigma=S25)
    g = bm3d_denoise(z.cuda(), sigma=S25).cpu()
    # float rounding may change a few matches (ties), so agreement is statistical
    assert (a - g).abs().mean() < 2e-3
    assert abs(support.psnr(a, clean) - support.psnr(g, clean)) < 0.05


# ----------------------------------------------------------------------------- values
# The fused CUDA kernels transform blocks with float16 tensor-core products (float32 sums): each of
# the ~7 roundings is at most 2**-12 relative, so values agree to about 1e-3 at worst (a quarter of an
# 8-bit step), against 1e-4 for the float32 torch path.
def _exact_atol(device, torch_path_atol: float) -> float:
    return 2e-3 if device.type == "cuda" else torch_path_atol


def test_constant_image_is_kept(device):
    x = torch.full((1, 1, 12, 16), 0.4, device=device)
    torch.testing.assert_close(bm3d_denoise(x, sigma=S25), x, atol=_exact_atol(x.device, 2e-4), rtol=0)
    x3 = torch.stack([torch.full((12, 16), v) for v in (0.2, 0.5, 0.7)])[None].to(device)
    torch.testing.assert_close(bm3d_denoise(x3, sigma=S25), x3, atol=_exact_atol(x.device, 2e-4), rtol=0)


def test_zero_sigma_is_near_identity(device):
    z, _ = _noisy(1, 1, 32, 32)
    z = z.clamp(0, 1).to(device)
    torch.testing.assert_close(bm3d_denoise(z, sigma=0.0), z, atol=_exact_atol(z.device, 1e-4), rtol=0)


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_denoises(device, profile):
    clean = support.smooth_random(1, 1, 32, 32, seed=3)
    z = support.add_noise(clean, 25, seed=4).to(device)
    y = bm3d_denoise(z, sigma=S25, profile=profile)
    assert support.psnr(y, clean) > support.psnr(z, clean) + 4


@pytest.mark.parametrize("space", ["opp", "ycbcr"])
def test_colour_spaces_denoise(device, space):
    clean = support.smooth_random(1, 3, 32, 32, seed=5)
    z = support.add_noise(clean, 25, seed=6).to(device)
    for stage in ("hard", "all"):
        y = bm3d_denoise(z, sigma=S25, color_space=space, stage=stage)
        assert support.psnr(y, clean) > support.psnr(z, clean) + 4


def test_estimated_sigma_close_to_true():
    x = support.load_set("Set12", ["05"], gray=True)[0][:, :, :64, :64]
    z = support.add_noise(x, 25, seed=0)
    known = support.psnr(bm3d_denoise(z, sigma=S25), x)
    auto = support.psnr(bm3d_denoise(z), x)
    assert auto > known - 0.3


def test_progress_reports_monotone_to_the_end():
    z, _ = _noisy(1, 1, 32, 32)
    calls = []
    bm3d_denoise(z, sigma=S25, progress=lambda d, t: calls.append((d, t)))
    assert calls and calls[-1][0] == calls[-1][1]
    assert all(a[0] <= b[0] for a, b in zip(calls, calls[1:], strict=False))


def test_cpu_chunks_report_often_and_change_nothing(monkeypatch):
    """On the CPU a band is matched and filtered in chunks with a report after each (for Cancel):
    tiny chunks give the result of one chunk per band (to float rounding), with many more reports."""
    from restorekit.denoise.bm3d import stages

    z, _ = _noisy(2, 3, 40, 36)
    few, many = [], []
    monkeypatch.setattr(stages, "CPU_CHUNK_ELEMENTS", 1e30)
    monkeypatch.setattr(stages, "CPU_CHUNK_MACS", 1e30)
    one = bm3d_denoise(z, sigma=S25, progress=lambda d, t: few.append((d, t)))
    monkeypatch.setattr(stages, "CPU_CHUNK_ELEMENTS", 2e4)
    monkeypatch.setattr(stages, "CPU_CHUNK_MACS", 2e4)
    chunked = bm3d_denoise(z, sigma=S25, progress=lambda d, t: many.append((d, t)))
    # (the transforms of a chunk of blocks may round differently in the last bit: float rounding only)
    torch.testing.assert_close(chunked, one, atol=1e-6, rtol=0)
    assert len(many) > 10 * len(few) and many[-1][0] == many[-1][1]
    assert all(a[0] <= b[0] for a, b in zip(many, many[1:], strict=False))


# ----------------------------------------------------------------------------- PSD and pilot
def test_white_psd_equals_sigma(device):
    s = 0.125  # exactly representable, as is its square: the PSD s**2 and sigma s are the same noise bit for bit
    z, _ = _noisy(2, 3, 20, 22, sigma255=s * 255)
    z = z.to(device)
    by_sigma = bm3d_denoise(z, sigma=s)
    for psd in (torch.full((2, 1, 16, 16), s**2), torch.full((1, 3, 8, 9), s**2)):
        assert torch.equal(bm3d_denoise(z, noise_psd=psd.to(device)), by_sigma)
    gray = z[:, :1]
    assert torch.equal(
        bm3d_denoise(gray, noise_psd=torch.full((20, 22), s**2, device=device)), bm3d_denoise(gray, sigma=s)
    )


def test_nearly_white_psd_close_to_sigma():
    z, _ = _noisy(1, 1, 32, 32)
    psd = torch.full((32, 32), S25**2) * (1 + 1e-4 * torch.rand(32, 32, generator=torch.Generator().manual_seed(0)))
    a = bm3d_denoise(z, noise_psd=psd)
    b = bm3d_denoise(z, sigma=S25)
    assert (a - b).abs().mean() < 1e-4


def test_coefficient_variances_white_and_coloured():
    fwd, _ = transform_2d("bior1.5", 8)
    white = coefficient_variances_from_psd(torch.full((20, 24), 2.0, dtype=torch.float64), fwd, 8)
    torch.testing.assert_close(white, 2.0 * coefficient_norms2(fwd))
    # coloured noise n = k (*) w (circular), w white of unit variance: var <n, f> = ||k corr f||^2
    h = w = 16
    kern = torch.zeros(h, w, dtype=torch.float64)
    kern[0, 0], kern[0, 1], kern[1, 0], kern[2, 3] = 1.0, 0.5, -0.3, 0.2
    psd = torch.fft.fft2(kern).abs() ** 2  # E|FFT(n)|^2 / (H*W) with unit-variance w
    got = coefficient_variances_from_psd(psd, fwd, 8)
    basis = torch.zeros(64, h, w, dtype=torch.float64)
    basis[:, :8, :8] = fwd.reshape(64, 8, 8)
    # <k (*) w, f> = <w, corr(k, f)>; corr computed by FFT
    g = torch.fft.ifft2(torch.fft.fft2(basis) * torch.fft.fft2(kern).conj()).real
    torch.testing.assert_close(got, (g**2).sum((1, 2)))


def test_coloured_psd_runs_and_differs():
    clean = support.smooth_random(1, 1, 48, 48, seed=7)
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(1, 1, 48, 48, generator=gen) * S25
    k = torch.tensor([[0.25, 0.5, 0.25]]).view(1, 1, 1, 3) * 2
    noise = torch.nn.functional.conv2d(torch.nn.functional.pad(w, (1, 1, 0, 0), mode="circular"), k)
    z = clean + noise
    kern = torch.zeros(48, 48)
    kern[0, :2], kern[0, -1] = torch.tensor([1.0, 0.5]), 0.5
    psd = torch.fft.fft2(kern).abs() ** 2 * S25**2
    y = bm3d_denoise(z, noise_psd=psd)
    assert support.psnr(y, clean) > support.psnr(z, clean) + 4
    assert not torch.equal(y, bm3d_denoise(z, sigma=S25))


@pytest.mark.parametrize("c", [1, 3])
def test_pilot_path_reproduces_two_stages(device, c):
    clean = support.smooth_random(1, c, 32, 32, seed=8)
    z = support.add_noise(clean, 25, seed=9).clamp(0, 1).to(device)
    basic = bm3d_denoise(z, sigma=S25, stage="hard")
    full = bm3d_denoise(z, sigma=S25)
    via = bm3d_denoise(z, sigma=S25, pilot=basic)
    assert (full - via).abs().mean() < 2e-3
    assert abs(support.psnr(full, clean) - support.psnr(via, clean)) < 0.1


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "kwargs",
    [
        {"profile": "foo"},
        {"stage": "wiener"},
        {"color_space": "lab"},
        {"sigma": -0.1},
        {"sigma": 2.0},
        {"sigma": float("nan")},
        {"sigma": "25"},
        {"sigma": torch.ones(5) * 0.1},
        {"noise_psd": torch.ones(2, 3, 3)},
        {"noise_psd": -torch.ones(16, 16)},
        {"noise_psd": torch.ones(4, 1, 16, 16)},
    ],
)
def test_bad_parameters(kwargs):
    z, _ = _noisy(2, 1, 16, 16)
    kwargs.setdefault("sigma", S25)
    with pytest.raises(InvalidParameterError):
        bm3d_denoise(z, **kwargs)


def test_bad_images_and_pilot():
    z, _ = _noisy(1, 1, 16, 16)
    with pytest.raises(InvalidImageError):
        bm3d_denoise(torch.rand(1, 2, 16, 16), sigma=S25)
    with pytest.raises(InvalidImageError):
        bm3d_denoise(torch.full((1, 1, 8, 8), float("nan")), sigma=S25)
    with pytest.raises(InvalidImageError):
        bm3d_denoise(z, sigma=S25, pilot=torch.rand(1, 1, 8, 8))
    with pytest.raises(InvalidParameterError):
        bm3d_denoise(z, sigma=S25, pilot=z, stage="hard")


def test_haar_tables_are_orthonormal():
    for n in (1, 2, 4, 8, 16, 32):
        h = haar_matrix(n)
        torch.testing.assert_close(h @ h.T, torch.eye(n, dtype=torch.float64))
    t = group_haar_table(16)
    assert t.shape == (5, 16, 16) and torch.equal(t[2, 4:], torch.zeros(12, 16, dtype=torch.float64))


def test_in_place_haar_is_the_haar_transform_reordered():
    from restorekit.denoise.bm3d.transforms import haar_matrix_in_place

    for n in (1, 2, 4, 8, 16, 32):
        h, hp = haar_matrix(n), haar_matrix_in_place(n)
        torch.testing.assert_close(hp @ hp.T, torch.eye(n, dtype=torch.float64))
        # every in-place row is a row of the coarse-to-fine transform, each used once
        match = (hp @ h.T).abs()
        torch.testing.assert_close(match.sum(1), torch.ones(n, dtype=torch.float64))
        assert sorted(match.argmax(1).tolist()) == list(range(n))
    want = torch.tensor([[1.0, 1, 1, 1], [2**0.5, -(2**0.5), 0, 0], [1, 1, -1, -1], [0, 0, 2**0.5, -(2**0.5)]]) / 2
    torch.testing.assert_close(haar_matrix_in_place(4), want.double())
    t = group_haar_table(8, in_place=True)
    assert torch.equal(t[2, :4, :4], haar_matrix_in_place(4)) and not t[2, 4:].any() and not t[2, :, 4:].any()


def test_group_variances_match_definition():
    """Exact 3-D variances: sum_{i,j} H[l,i] H[l,j] cov_k(p_j - p_i) by brute force."""
    from restorekit.denoise.bm3d import stages
    from restorekit.denoise.bm3d.transforms import (
        coefficient_autocov_white,
        group_pair_table,
        row_autocorrelations,
        transform_1d,
    )

    n1, n2, wp = 8, 16, 40
    rho = row_autocorrelations(transform_1d("bior1.5", n1))
    fwd, _ = transform_2d("bior1.5", n1)
    lagcov = coefficient_autocov_white(fwd, n1)  # [225, 64]
    gen = torch.Generator().manual_seed(0)
    pos = torch.randint(0, wp * 30, (2, 3, n2), generator=gen)
    pos[..., 1:6] = pos[..., :1] + torch.tensor([1, 2, wp, wp + 1, 3])  # overlapping blocks
    levels = torch.tensor([[4, 3, 0], [2, 4, 1]])
    pi, pj, rows, wts = group_pair_table(n2)
    pairs = (pi, pj, rows.int(), torch.round(wts * stages._PAIR_SCALE).long())
    sig2 = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    got = stages._group_variances(pos, levels, wp, n1, pairs, rho.float(), sig2, 1)
    for bi in range(2):
        for gi in range(3):
            m = 2 ** int(levels[bi, gi])
            h = haar_matrix(m)
            p = pos[bi, gi, :m]
            r, q = p // wp, p % wp
            cov = torch.zeros(64, m, m, dtype=torch.float64)
            for i in range(m):
                for j in range(m):
                    dy, dx = int(r[j] - r[i]), int(q[j] - q[i])
                    if abs(dy) < n1 and abs(dx) < n1:
                        cov[:, i, j] = lagcov[(dy + 7) * 15 + dx + 7]
            want = torch.einsum("li,kij,lj->lk", h, cov, h) * sig2[bi, 0]
            torch.testing.assert_close(got[bi, gi, :m, 0].double(), want, atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------------------- backends
def _crop(c: int) -> tuple[torch.Tensor, torch.Tensor]:
    clean = support.smooth_random(1, c, 32, 32, seed=11)
    return support.add_noise(clean, 25, seed=12).clamp(0, 1), clean


#: Sum and sum of squares of the output on :func:`_crop` (sigma 25), measured on the CPU before the
#: backends were brought under one dispatcher (commit 7d40d51: core.bm3d_denoise, the reference
#: wrapper restorekit.denoise.bm3d_reference.bm3d_denoise_reference).
BEFORE = {
    ("torch", 1): (511.0803519189358, 257.7961446333601),
    ("torch", 3): (1555.8369299769402, 797.2367518037267),
    ("reference", 1): (509.7526396214962, 256.4136435437475),
    ("reference", 3): (1555.1938551664352, 796.2733338339355),
}


@pytest.mark.parametrize("backend,c", sorted(BEFORE))
def test_backends_give_the_results_of_before(backend, c):
    if backend == "reference" and not reference_available():
        pytest.skip("optional package bm3d not installed")
    z, _ = _crop(c)
    y = bm3d_denoise(z, sigma=S25, backend=backend).double()
    total, squares = BEFORE[(backend, c)]
    # (mean differences of 1e-6 per pixel; the reference package itself varies by ~3e-7 between runs)
    assert float(y.sum()) == pytest.approx(total, abs=2e-3)
    assert float((y * y).sum()) == pytest.approx(squares, abs=2e-3)


def test_auto_backend_on_the_cpu_is_the_torch_path_and_restorekit_its_old_name():
    z, _ = _crop(3)
    y = bm3d_denoise(z, sigma=S25, backend="torch")
    assert torch.equal(bm3d_denoise(z, sigma=S25), y)
    assert torch.equal(bm3d_denoise(z, sigma=S25, backend="auto"), y)
    assert torch.equal(bm3d_denoise(z, sigma=S25, backend="restorekit"), y)
    assert BACKENDS == ("auto", "torch", "fused", "reference")
    assert [check_backend(b) for b in ("auto", "torch", "fused", "reference", "restorekit")] == [
        "auto", "torch", "fused", "reference", "auto"
    ]  # fmt: skip


@pytest.mark.parametrize("backend", ["cupy", "Torch", "", None, 1, "gpu"])
def test_bad_backend_name(backend):
    z, _ = _noisy(1, 1, 16, 16)
    with pytest.raises(InvalidParameterError) as err:
        bm3d_denoise(z, sigma=S25, backend=backend)
    text = str(err.value)
    assert text.startswith("backend:") and "auto, torch, fused, reference" in text


# ----------------------------------------------------------------------------- the sigma validator
def test_sigma_validator_shapes_and_types():
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    want = torch.full((2, 3), 0.1)
    for sigma in (0.1, torch.tensor(0.1), torch.tensor([0.1]), torch.tensor([0.1, 0.1]), torch.full((1, 3), 0.1),
                  torch.full((2, 1), 0.1), torch.full((2, 3), 0.1, dtype=torch.float64)):  # fmt: skip
        got = sigma_per_channel(x, sigma)
        assert got.shape == (2, 3) and got.dtype == torch.float32 and got.device == x.device
        assert torch.equal(got, want)
    rows = [[0.0, 0.5, 1.0], [0.2, 0.3, 0.4]]
    per = sigma_per_channel(x, torch.tensor(rows, dtype=torch.float64), dtype=torch.float64, device="cpu")
    assert per.dtype == torch.float64 and per.tolist() == rows
    assert sigma_per_channel(x, 25 / 255, dtype=torch.float64)[0, 0].item() == 25 / 255  # exact in float64
    assert sigma_per_channel(x, 0).tolist() == [[0.0] * 3] * 2  # ints are numbers
    torch.testing.assert_close(sigma_per_channel(x, None), estimate_sigma(x))  # None: estimated per image and channel


@pytest.mark.parametrize(
    "sigma,words",
    [
        (-0.1, "within [0, 1]"),
        (1.5, "within [0, 1]"),
        (25.0, "divide grey levels by 255"),
        (float("nan"), "finite"),
        (float("inf"), "finite"),
        (torch.tensor([0.1, -0.1]), "within [0, 1]"),
        (torch.tensor([0.1, float("nan")]), "finite"),
        (True, "expected a number"),
        ("25", "expected a number"),
        ([0.1, 0.1], "expected a number"),
        (torch.tensor([True, False]), "real tensor"),
        (torch.tensor([0.1 + 0j]), "real tensor"),
        (torch.ones(5) * 0.1, "one per image (2)"),
        (torch.ones(2, 2) * 0.1, "per image and channel (2x3)"),
        (torch.ones(2, 3, 1) * 0.1, "got shape (2, 3, 1)"),
    ],
)
def test_sigma_validator_rules(sigma, words):
    """One validator for every backend and for BM3D deblurring: a number or a [B] / [B, C] tensor,
    finite, within [0, 1] (image units); the message says what to do."""
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with pytest.raises(InvalidParameterError) as err:
        sigma_per_channel(x, sigma)
    text = str(err.value)
    assert text.startswith("sigma:") and "Fix:" in text and words in text
    with pytest.raises(InvalidParameterError, match="sigma"):  # the same rule at the entry point
        bm3d_denoise(x, sigma=sigma)


def _autocov_spectral(psd: torch.Tensor, fwd: torch.Tensor, n: int) -> torch.Tensor:
    """The definition: IFFT2(PSD |DFT f_k|^2) at the lags -(n-1)..(n-1) (one [K, Hp, Wp] tensor)."""
    hp, wp = psd.shape[-2:]
    spec = torch.fft.fft2(fwd.double().reshape(n * n, n, n), s=(hp, wp)).abs() ** 2
    full = torch.fft.ifft2(psd.double()[..., None, :, :] * spec).real
    lags = torch.arange(-(n - 1), n)
    return full[..., lags % hp, :][..., :, lags % wp].flatten(-2).transpose(-1, -2)


@pytest.mark.parametrize("grid", [(8, 8), (14, 20), (15, 15), (40, 33), (97, 64)])
@pytest.mark.parametrize("name,n", [("bior1.5", 8), ("dct", 4)])
def test_psd_lag_covariances_match_the_spectral_definition(grid, name, n):
    """The lag-domain computation (one FFT of the PSD, no image x K tensor) equals the definition,
    and the variances are its lag 0."""
    from restorekit.denoise.bm3d.transforms import coefficient_autocov_from_psd

    g = torch.Generator().manual_seed(3)
    psd = torch.rand(2, 3, *grid, generator=g, dtype=torch.float64)
    fwd, _ = transform_2d(name, n)
    want = _autocov_spectral(psd, fwd, n)
    got = coefficient_autocov_from_psd(psd, fwd, n)
    assert got.shape == (2, 3, (2 * n - 1) ** 2, n * n)
    torch.testing.assert_close(got, want, atol=1e-12, rtol=0)
    centre = (n - 1) * (2 * n - 1) + (n - 1)
    torch.testing.assert_close(coefficient_variances_from_psd(psd, fwd, n), want[..., centre, :], atol=1e-12, rtol=0)
