"""Tests for restorekit.denoise.auto (Auto-Denoise) and the Auto-Denoise operations."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import support
import torch
from thresholds import ALL_THRESHOLDS

from restorekit.denoise import auto as auto_mod
from restorekit.denoise.auto import AutoChoice, auto_denoise, choose, format_report, gat_forward, gat_inverse
from restorekit.errors import InvalidImageError, InvalidParameterError, MissingDependencyError
from restorekit.quality.noise_analysis import analyse_noise
from restorekit.sharpen.unsharp import gaussian_blur

THRESHOLDS = ALL_THRESHOLDS["auto_denoise"]
NAMES = ["01", "05"]
NO_EXTRAS = {"wavelet": True, "nlm": True, "bm3d": False, "n2v": False, "dip": False}
ALL = {"wavelet": True, "nlm": True, "bm3d": True, "n2v": True, "dip": True}


def _jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    arr = (x[0, 0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    ok, buf = cv2.imencode(".jpg", arr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return torch.from_numpy(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255)[None, None]


@pytest.fixture(scope="module")
def cases() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    clean = torch.cat([im[..., 64:192, 64:192] for im in support.load_set("Set12", NAMES, gray=True)])
    n = torch.randn(clean.shape, generator=torch.Generator().manual_seed(5))
    gain = (25 / 255) ** 2 / 0.5
    filtered = gaussian_blur(n, 1.0)
    filtered = filtered / filtered.std()
    return clean, {
        "gaussian": (clean + n * 25 / 255).clamp(0, 1),
        "poisson_gaussian": (clean + n * torch.sqrt(gain * clean + (2 / 255) ** 2)).clamp(0, 1),
        "correlated": (clean + filtered * 20 / 255).clamp(0, 1),
        "jpeg": torch.cat([_jpeg(clean[i : i + 1], 20) for i in range(len(NAMES))]),
    }


# ---- decision rule ------------------------------------------------------------------------------


@pytest.mark.quality
def test_choices_per_noise_type(cases) -> None:
    _, noisy = cases
    expected = {
        # (available, prefer) -> method per kind
        ("none", "balanced"): {"gaussian": "nlm", "poisson_gaussian": "nlm", "correlated": "nlm", "jpeg": "nlm"},
        ("all", "balanced"): {"gaussian": "bm3d", "poisson_gaussian": "bm3d", "correlated": "nlm", "jpeg": "bm3d"},
        ("all", "fast"): {"gaussian": "wavelet", "poisson_gaussian": "wavelet", "correlated": "nlm", "jpeg": "nlm"},
        ("all", "quality"): {"gaussian": "bm3d", "poisson_gaussian": "n2v", "correlated": "bm3d", "jpeg": "bm3d"},
    }
    analyses = {kind: analyse_noise(y) for kind, y in noisy.items()}
    for (avail, prefer), table in expected.items():
        for kind, method in table.items():
            for a in analyses[kind]:
                assert a.kind == kind
                ch = choose(a, prefer=prefer, available=ALL if avail == "all" else NO_EXTRAS)
                assert ch.method == method, (avail, prefer, kind)
                assert ch.vst == (kind == "poisson_gaussian" and method != "n2v")
                assert ch.psd == (kind == "correlated" and method == "bm3d")
                assert ch.reason
    # balanced on a GPU affords BM3D with the estimated noise spectrum for correlated noise
    for a in analyses["correlated"]:
        assert choose(a, prefer="balanced", available=ALL, on_gpu=True).psd


@pytest.mark.quality
def test_clean_image_is_stated_and_gently_processed(cases) -> None:
    clean, _ = cases
    x = clean[:1]
    out, choices = auto_denoise(x, prefer="fast", return_info=True)
    assert choices[0].analysis.kind == "clean" and choices[0].method == "wavelet"
    text = format_report(choices)
    assert "below the threshold" in text and "gentle" in text
    assert support.psnr(out, x) > 40  # gentle: clean content kept
    assert not torch.equal(out, x)  # and not silently returned as is


# ---- results -------------------------------------------------------------------------------------


@pytest.mark.quality
@pytest.mark.parametrize("kind", ["gaussian", "poisson_gaussian", "correlated", "jpeg"])
def test_improves_psnr(cases, kind) -> None:
    clean, noisy = cases
    y = noisy[kind]
    out, choices = auto_denoise(y, prefer="fast", return_info=True)
    for i in range(len(NAMES)):
        before = support.psnr(y[i : i + 1], clean[i : i + 1])
        after = support.psnr(out[i : i + 1], clean[i : i + 1])
        assert after >= before + THRESHOLDS["gain_db"][kind], (kind, before, after)
        assert choices[i].analysis.kind == kind
    text = format_report(choices)
    assert "method:" in text and "why:" in text


def test_vst_stabilises_variance() -> None:
    gain, floor = 0.01, (2 / 255) ** 2
    stds = []
    for level in (0.1, 0.3, 0.5, 0.7):  # away from 1, where clipping lowers the variance
        gen = torch.Generator().manual_seed(int(level * 10))
        y = level + torch.randn(1, 1, 128, 128, generator=gen) * (gain * level + floor) ** 0.5
        u, sigma_u = gat_forward(y, gain, floor)
        stds.append(float(u.std()) / sigma_u)
        # inverse of the noise-free transform at the mean is close to the level (unbiased inverse)
        back = gat_inverse(u.mean().view(1, 1, 1, 1), gain, floor)
        assert float(back) == pytest.approx(level, abs=0.02)
    assert all(0.9 < s < 1.1 for s in stds)


@pytest.mark.parametrize("shape", [(3, 3, 40, 36), (1, 1, 33, 17), (1, 3, 3, 5), (2, 1, 1, 1)])
def test_shapes_batches_inference_mode(shape) -> None:
    gen = torch.Generator().manual_seed(6)
    x = (support.smooth_random(*shape[:2], *shape[2:], seed=6) + 0.08 * torch.randn(shape, generator=gen)).clamp(0, 1)
    with torch.inference_mode():
        out, choices = auto_denoise(x, prefer="fast", return_info=True)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert len(choices) == shape[0]


def test_batch_consistency_and_layout() -> None:
    gen = torch.Generator().manual_seed(7)
    x = (support.smooth_random(3, 3, 32, 32, seed=7) + 0.1 * torch.randn(3, 3, 32, 32, generator=gen)).clamp(0, 1)
    out = auto_denoise(x, prefer="fast")
    one = auto_denoise(x[2:], prefer="fast")
    torch.testing.assert_close(out[2:], one, atol=1e-5, rtol=0)
    cl = auto_denoise(x.contiguous(memory_format=torch.channels_last), prefer="fast")
    torch.testing.assert_close(cl, out, atol=1e-5, rtol=0)


def test_method_override_and_errors(monkeypatch) -> None:
    x = (support.smooth_random(1, 1, 32, 32, seed=8) + 0.05 * torch.randn(1, 1, 32, 32)).clamp(0, 1)
    _, choices = auto_denoise(x, method="nlm", return_info=True)
    assert choices[0].method == "nlm" and "override" in choices[0].reason
    with pytest.raises(InvalidParameterError):
        auto_denoise(x, method="median")
    with pytest.raises(InvalidParameterError):
        auto_denoise(x, prefer="best")
    with pytest.raises(InvalidParameterError):
        auto_denoise(x, seed=-1)
    with pytest.raises(InvalidImageError):
        auto_denoise(torch.rand(1, 4, 8, 8))
    monkeypatch.setattr(auto_mod, "available_methods", lambda: dict(NO_EXTRAS))
    with pytest.raises(MissingDependencyError):
        auto_denoise(x, method="bm3d")
    _, choices = auto_denoise(x, return_info=True)  # falls back to NLM when BM3D is absent
    assert choices[0].method == "nlm"


def test_return_info_convention() -> None:
    """The image alone by default; ``(image, choices)`` with ``return_info=True``, same image."""
    gen = torch.Generator().manual_seed(9)
    x = (support.smooth_random(1, 1, 24, 24, seed=9) + 0.08 * torch.randn(1, 1, 24, 24, generator=gen)).clamp(0, 1)
    out = auto_denoise(x, prefer="fast")
    assert isinstance(out, torch.Tensor)
    res = auto_denoise(x, prefer="fast", return_info=True)
    assert isinstance(res, tuple) and len(res) == 2
    assert torch.equal(res[0], out)
    assert isinstance(res[1], list) and len(res[1]) == 1 and isinstance(res[1][0], AutoChoice)


# ---- operations -----------------------------------------------------------------------------------


def _op(name: str):
    import restorekit.operations.denoise  # noqa: F401  (registers the operations)
    from restorekit.params import OPERATIONS

    return OPERATIONS[name]


@pytest.mark.parametrize("name", ["auto_denoise", "autotune_denoiser", "analyze_noise"])
def test_operations_run_with_defaults(name) -> None:
    op = _op(name)
    gen = torch.Generator().manual_seed(9)
    for x in (
        (support.smooth_random(3, 3, 48, 40, seed=9) + 0.06 * torch.randn(3, 3, 48, 40, generator=gen)).clamp(0, 1),
        support.smooth_random(1, 1, 24, 20, seed=10),
        support.smooth_random(1, 3, 5, 3, seed=11),
    ):
        values = {p.name: (x if p.kind == "image" else p.to_core(p.default)) for p in op.inputs}
        with torch.inference_mode():
            outs = op.call(values)
        assert len(outs) == len(op.outputs)
        for spec, value in zip(op.outputs, outs, strict=True):
            if spec.kind == "image":
                assert value.shape == x.shape and torch.isfinite(value).all()
                assert value.min() >= 0 and value.max() <= 1
            elif spec.kind == "string":
                assert isinstance(value, str) and value
            elif spec.kind == "float":
                assert isinstance(value, float) and np.isfinite(value)


def test_device_kept(device) -> None:
    """Analysis, auto-tune and Auto-Denoise on the device (CPU here; CUDA on a GPU machine)."""
    gen = torch.Generator().manual_seed(14)
    x = (support.smooth_random(2, 3, 40, 48, seed=14) + 0.08 * torch.randn(2, 3, 40, 48, generator=gen)).clamp(0, 1)
    xd = x.to(device)
    assert len(analyse_noise(xd)) == 2
    for prefer in ("fast", "balanced") if device.type == "cuda" else ("fast",):  # BM3D is slow on the CPU
        out = auto_denoise(xd, prefer=prefer)
        assert out.device == xd.device and out.shape == x.shape and torch.isfinite(out).all()
    from restorekit.denoise.autotune import autotune_denoiser

    for criterion in ("sure", "noise2self"):
        out = autotune_denoiser(xd[:1, :, :24, :24], method="nlm", density="coarse", criterion=criterion)
        assert out.device == xd.device


# ---- progress ------------------------------------------------------------------------------------


def _assert_one_bar(seen: list[tuple[int, int]], total: int) -> None:
    assert seen, "no progress reported"
    assert {t for _, t in seen} == {total}, "the total changed during the run"
    values = [d for d, _ in seen]
    assert values == sorted(values), f"progress moved back: {values}"
    assert values[-1] == total and values[0] >= 0


@pytest.mark.parametrize("prefer", ["quality", "fast"])
def test_progress_is_one_monotonic_bar(cases, prefer) -> None:
    """Mixed batch (white, correlated, signal-dependent noise: several groups, the coloured-noise branch with
    the estimated spectrum for ``quality``): one bar 0 -> 100 x (B + 1), never moving back."""
    _, noisy = cases
    x = torch.cat([noisy["gaussian"][:1], noisy["correlated"][:1], noisy["poisson_gaussian"][:1]])[..., :64, :64]
    seen: list[tuple[int, int]] = []
    available = {**auto_mod.available_methods(), "n2v": False, "dip": False}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(auto_mod, "available_methods", lambda: dict(available))
        _, choices = auto_denoise(x, prefer=prefer, progress=lambda d, t: seen.append((d, t)), return_info=True)
    if prefer == "quality" and available.get("bm3d"):
        assert any(ch.psd for ch in choices)
    _assert_one_bar(seen, 100 * (len(x) + 1))
    assert len(seen) > len(x) + 1  # the analysis and the methods report, not only the group ends


def test_progress_of_a_restarting_step_does_not_move_back(monkeypatch) -> None:
    def restarting(method, x, sigmas, seed, progress):  # a method that counts 0..4 twice (e.g. a retry)
        for _ in range(2):
            for k in range(5):
                progress(k, 4)
        return x, ""

    monkeypatch.setattr(auto_mod, "_run", restarting)
    x = (support.smooth_random(2, 1, 32, 32, seed=3) + 0.05 * torch.randn(2, 1, 32, 32)).clamp(0, 1)
    seen: list[tuple[int, int]] = []
    auto_denoise(x, method="nlm", progress=lambda d, t: seen.append((d, t)))
    _assert_one_bar(seen, 300)


def test_analysis_in_chunks_matches_one_call(monkeypatch) -> None:
    gen = torch.Generator().manual_seed(4)
    x = (support.smooth_random(3, 3, 40, 40, seed=4) + 0.08 * torch.randn(3, 3, 40, 40, generator=gen)).clamp(0, 1)
    whole = analyse_noise(x)
    monkeypatch.setattr(auto_mod, "_CHUNK_PIXELS", 40 * 40)  # one image per call
    seen: list[tuple[int, int]] = []
    parts = auto_mod._analyse(x, lambda d, t: seen.append((d, t)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    for a, b in zip(whole, parts, strict=True):
        assert a.kind == b.kind and a.sigma == pytest.approx(b.sigma, rel=1e-5, abs=1e-7)
        assert a.correlation == pytest.approx(b.correlation, rel=1e-4, abs=1e-6)
