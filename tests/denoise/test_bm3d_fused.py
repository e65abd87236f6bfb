"""Tests for the fused GPU kernels of BM3D (restorekit.denoise.bm3d.fused): the same results as the
torch path (on the CPU through Triton's interpreter, and on CUDA), determinism, independence of the
band layout, and the dispatch (restorekit.denoise.bm3d.dispatch: the ``auto`` rule, ``backend="fused"``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import support
import torch

from restorekit.denoise.bm3d import bm3d_denoise, dispatch, fused, stages
from restorekit.denoise.bm3d.profiles import get_profile
from restorekit.errors import InvalidParameterError, MissingDependencyError

S25 = 25 / 255
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")

_INTERPRETED = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
import torch, support
from restorekit.denoise.bm3d import bm3d_denoise
out = {}
for c, h, w, stage in ((1, 20, 26, "all"), (3, 17, 21, "hard")):
    clean = support.smooth_random(1, c, h, w, seed=3)
    z = support.add_noise(clean, 25, seed=4)
    os.environ["RESTOREKIT_BM3D_FUSED"] = "interpret"
    a = bm3d_denoise(z, sigma=25 / 255, stage=stage)
    os.environ["RESTOREKIT_BM3D_FUSED"] = "0"
    b = bm3d_denoise(z, sigma=25 / 255, stage=stage)
    out[f"{c}-{stage}"] = [float((a - b).abs().mean()), float((a - b).abs().max()),
                           support.psnr(a, clean), support.psnr(b, clean), support.psnr(z.clamp(0, 1), clean)]
    if c == 1:  # the explicit choices: backend="fused" is the kernels, backend="torch" the torch path
        os.environ["RESTOREKIT_BM3D_FUSED"] = "interpret"
        same = [bool(torch.equal(bm3d_denoise(z, sigma=25 / 255, stage=stage, backend="fused"), a)),
                bool(torch.equal(bm3d_denoise(z, sigma=25 / 255, stage=stage, backend="torch"), b))]
print(json.dumps({"cases": out, "explicit": same}))
"""


_INTERPRETED_VARIANCES = r"""
import json, math
import torch
import triton
import triton.language as tl
from restorekit.denoise.bm3d.fused_kernels import _haar_group_variances
from restorekit.denoise.bm3d.transforms import (
    coefficient_norms2, haar_matrix_in_place, row_autocorrelations, transform_1d, transform_2d)


@triton.jit
def probe(POS, LEV, RHO, NORMS, OUT, WP, KG: tl.constexpr, LOG_KG: tl.constexpr):
    g = tl.program_id(0)
    i = tl.arange(0, KG)
    p = tl.arange(0, 64)
    m = 1 << tl.load(LEV + g)
    live = i < m
    unit = tl.where(live[:, None], tl.load(NORMS + p)[None, :], 0.0)
    v = _haar_group_variances(POS + g * KG, m, unit, RHO, WP, KG, LOG_KG)
    tl.store(OUT + g * KG * 64 + i[:, None] * 64 + p[None, :], v)


gen = torch.Generator().manual_seed(0)
rho = row_autocorrelations(transform_1d("dct", 8))
norms = coefficient_norms2(transform_2d("dct", 8)[0])
wp = 21
worst = 0.0
for kg in (16, 32):
    levels = torch.tensor([0, 1, 2, 3, 4, 5, 4, 2][: 5 if kg == 16 else 8], dtype=torch.int32)
    # positions within 13 x 13 (most pairs overlap), one duplicate, and a far-away block
    ys, xs = torch.randint(0, 13, (2, levels.numel(), kg), generator=gen)
    ys[:, 1] = ys[:, 0]
    xs[:, 1] = xs[:, 0]
    ys[:, 2] += 40
    pos = (ys * wp + xs).to(torch.int32)
    out = torch.zeros(levels.numel(), kg, 64, dtype=torch.float32)
    probe[(levels.numel(),)](pos, levels, rho.float(), norms.float(), out, wp, KG=kg, LOG_KG=kg.bit_length() - 1)
    for g, lev in enumerate(levels.tolist()):
        m = 2**lev
        cov = torch.zeros(m, m, 64, dtype=torch.float64)
        for a in range(m):
            for b in range(m):
                dy, dx = int(ys[g, a] - ys[g, b]), int(xs[g, a] - xs[g, b])
                if abs(dy) < 8 and abs(dx) < 8:
                    cov[a, b] = (rho[dy + 7][:, None] * rho[dx + 7][None, :]).reshape(64)
        h = haar_matrix_in_place(m)
        want = torch.einsum("li,lj,ijk->lk", h, h, cov)
        got = out[g].double()
        worst = max(worst, float(((got[:m] - want).abs() / want.abs().clamp(min=1e-3)).max()))
        worst = max(worst, float(got[m:].abs().max()) if m < kg else 0.0)
print(json.dumps({"worst": worst}))
"""


_COMPILE_FOR_HOPPER = r"""
from restorekit.denoise.bm3d import fused, fused_kernels as k

P, I = "*fp32", "*i32"
dist = dict(U="*fp16", E=P, ROWS=I, COLS=I, D=P, nrows="i32", ncols="i32", H="i32", W="i32", HP="i32", WP="i32")
sel = dict(D=P, ROWS=I, COLS=I, TAU=P, POS=I, LEV=I, nrows="i32", ncols="i32", HP="i32", WP="i32")
filt = dict(Z=P, BASIC=P, POS=I, LEV=I, FWDT=P, SYNT=P, HAAR=P, RHO=P, NORMS=P, SIG2=P, VMEAN=P, NUM="*i64",
            WACC="*i64", nref="i32", H="i32", W="i32", HP="i32", WP="i32", shrink="fp32")
cfg = fused.CONFIG
cases = [(k._distances, dist, dict(S=19, NS=39, TILE=8, BN=64, PREC=cfg["dist_prec"]), cfg["dist_warps"])]
for kg in (16, 32):
    cases.append((k._select, sel, dict(S=19, NS=39, NPAD=2048, KG=kg, RB=cfg["sel_rows"], SEG=cfg["sel_seg"]),
                  cfg["sel_warps"]))
for kg, wiener in ((16, False), (32, True)):  # the stages of the standard profiles
    for c in (1, 3):
        const = dict(C=c, KG=kg, LOG_KG=kg.bit_length() - 1, WIENER=wiener, EXACT=True, TPREC=cfg["tr_prec"],
                     T16=cfg["tr_f16"], ATOMIC=True)
        cases.append((k._filter, filt, const, cfg["filt_warps"]))
failed = []
for fn, sig, const, warps in cases:
    src = ASTSource(fn=fn, signature={**sig, **{n: "constexpr" for n in const}}, constexprs=const)
    try:
        triton.compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": warps})
    except Exception as exc:  # noqa: BLE001 - collected and reported by the test
        failed.append(f"{fn.__name__} {const}: {type(exc).__name__}: {str(exc)[:1500]}")
print(json.dumps({"failed": failed, "compiled": len(cases)}))
"""


def _interpreter_ok() -> bool:
    """Triton's CPU interpreter runs these kernels from version 3.8 (3.6 rejects their loop bounds)."""
    if not fused.available():
        return False
    import triton

    return tuple(int(p) for p in triton.__version__.split(".")[:2]) >= (3, 8)


@pytest.mark.skipif(not _interpreter_ok(), reason="needs Triton >= 3.8 (its CPU interpreter)")
def test_interpreted_kernels_match_torch_path():
    """The kernels, run by Triton's CPU interpreter, give the torch path's result (gray, both stages;
    colour, stage 1) up to float16 transform rounding."""
    env = {**os.environ, "TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1"}
    tests_dir = str(Path(__file__).resolve().parents[1])
    run = subprocess.run(
        [sys.executable, "-c", _INTERPRETED, tests_dir], env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-2000:]
    res = json.loads(run.stdout.strip().splitlines()[-1])
    assert res["explicit"] == [True, True]
    for key, (mean_abs, max_abs, p_fused, p_torch, p_noisy) in res["cases"].items():
        assert mean_abs < 2e-3, key
        assert max_abs < 0.05, key
        assert abs(p_fused - p_torch) < 0.1, key
        assert p_fused > p_noisy + 3, key


@pytest.mark.skipif(not _interpreter_ok(), reason="needs Triton >= 3.8 (its CPU interpreter)")
def test_interpreted_group_variances_match_definition():
    """The kernels' 3-D noise variances (Haar tree over the block pairs) equal
    ``sum_{i,j} H[l,i] H[l,j] cov_k(p_i - p_j)`` by brute force, for every group size of both
    group lengths, overlapping, repeated and distant blocks; slots beyond the group are zero."""
    env = {**os.environ, "TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-c", _INTERPRETED_VARIANCES], env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout.strip().splitlines()[-1])["worst"] < 1e-5


def test_kernels_compile_for_hopper_without_a_gpu():
    """Triton's compiler (to sm_90 machine code, no GPU needed) accepts every kernel variant the standard
    profiles launch; the interpreter runs code the compiler rejects (e.g. a constexpr re-bound in an
    unrolled loop), so this catches what the interpreted tests cannot."""
    res = support.compile_for_hopper(_COMPILE_FOR_HOPPER)
    assert res["failed"] == [], "\n".join(res["failed"])
    assert res["compiled"] == 7


def test_dispatch_switch(monkeypatch):
    z = torch.zeros(1, 1, 16, 16)
    params = get_profile("np").hard
    monkeypatch.setenv("RESTOREKIT_BM3D_FUSED", "1")
    assert not dispatch.fused_wanted(z, params)  # CPU tensors: torch path
    monkeypatch.setenv("RESTOREKIT_BM3D_FUSED", "0")
    assert not dispatch.fused_wanted(z, params)
    monkeypatch.setenv("RESTOREKIT_BM3D_FUSED", "interpret")
    assert dispatch.fused_wanted(z, params) == fused.available()
    assert not fused.supported(11, 32, 1) and not fused.supported(8, 8, 1) and fused.supported(8, 32, 3)


def test_explicit_fused_backend_on_cpu_is_a_clear_error(monkeypatch):
    """backend="fused" never falls back: on a CPU tensor it says why and what to do instead."""
    z = support.add_noise(support.smooth_random(1, 1, 20, 24, seed=1), 25, seed=2)
    for flag in ("1", "0"):  # the environment switch does not matter for an explicit choice
        monkeypatch.setenv("RESTOREKIT_BM3D_FUSED", flag)
        with pytest.raises(InvalidParameterError) as err:
            bm3d_denoise(z, sigma=S25, backend="fused")
        text = str(err.value)
        assert text.startswith("backend:") and "CUDA" in text and "cpu" in text and "'torch'" in text


def test_explicit_fused_backend_refuses_cases_the_kernels_do_not_handle(monkeypatch):
    """With a device the kernels could run on (the interpreter), the cases they do not handle are
    refused before any work, naming the reason; Triton being absent is a missing dependency."""
    monkeypatch.setattr(fused, "_BROKEN", [])
    monkeypatch.setattr(fused, "available", lambda: True)
    monkeypatch.setenv("RESTOREKIT_BM3D_FUSED", "interpret")
    calls = []
    monkeypatch.setattr(fused, "run_stage_fused", lambda *a, **k: calls.append(1))
    z = support.add_noise(support.smooth_random(1, 1, 24, 24, seed=1), 25, seed=2)
    kernel = torch.zeros(24, 24)
    kernel[0, :2] = torch.tensor([1.0, 0.5])
    coloured = torch.fft.fft2(kernel).abs() ** 2 * S25**2
    for kwargs, words in (
        ({"noise_psd": coloured}, "white noise"),
        ({"profile": "vn"}, "11x11"),
        ({"profile": "refilter"}, "refilter"),
    ):
        with pytest.raises(InvalidParameterError, match=words):
            bm3d_denoise(z, sigma=S25, backend="fused", **kwargs)
    assert calls == []  # refused up front
    monkeypatch.setattr(fused, "available", lambda: False)
    with pytest.raises(MissingDependencyError, match="Triton"):
        bm3d_denoise(z, sigma=S25, backend="fused")


@cuda
@pytest.mark.parametrize("c", [1, 3])
def test_cuda_fused_matches_torch_path(monkeypatch, c):
    names = support.image_paths("Set12" if c == 1 else "CBSD68")[:3]
    fused_db, torch_db = [], []
    for i, p in enumerate(names):
        x = support.load(p, gray=c == 1)[..., :128, :128]
        z = support.add_noise(x, 25, seed=i).cuda()
        monkeypatch.setenv("RESTOREKIT_BM3D_FUSED", "1")
        a = bm3d_denoise(z, sigma=S25).cpu()
        monkeypatch.setenv("RESTOREKIT_BM3D_FUSED", "0")
        b = bm3d_denoise(z, sigma=S25).cpu()
        assert (a - b).abs().mean() < 2e-3
        fused_db.append(support.psnr(a, x))
        torch_db.append(support.psnr(b, x))
    assert sum(fused_db) / 3 > sum(torch_db) / 3 - 0.02


@cuda
def test_cuda_fused_colour_batch_matches_single_images():
    # a colour batch reaches the kernels in the colour transform's memory layout (regression: it was
    # read as if contiguous, which broke batches of colour images)
    z = support.add_noise(support.smooth_random(3, 3, 40, 52, seed=5), 25, seed=6).cuda()
    out = bm3d_denoise(z, sigma=S25)
    for i in range(3):
        assert torch.equal(out[i : i + 1], bm3d_denoise(z[i : i + 1], sigma=S25))


@cuda
def test_cuda_fused_deterministic_and_band_independent(monkeypatch):
    z = support.add_noise(support.smooth_random(2, 3, 70, 90, seed=1), 25, seed=2).cuda()
    a = bm3d_denoise(z, sigma=S25)
    assert torch.equal(a, bm3d_denoise(z, sigma=S25))
    # a tiny memory budget splits the reference rows into many bands: the same sums, exactly
    monkeypatch.setattr(stages, "memory_budget", lambda device, cap=None: 4 * 2**20)
    assert torch.equal(a, bm3d_denoise(z, sigma=S25))


def test_kernels_that_cannot_be_built_fall_back_to_the_torch_path(monkeypatch, caplog):
    """A failure inside Triton (e.g. no C compiler) is logged once and the torch path runs; any other
    error propagates."""
    fake_triton = compile("def build(*a, **k):\n    raise RuntimeError('Failed to find C compiler')\n", "/x/triton/build.py", "exec")
    ns: dict = {}
    exec(fake_triton, ns)
    monkeypatch.setattr(fused, "_BROKEN", [])
    monkeypatch.setattr(fused, "available", lambda: True)
    monkeypatch.setattr(fused, "run_stage_fused", ns["build"])
    monkeypatch.setenv("RESTOREKIT_BM3D_FUSED", "interpret")
    z = support.add_noise(support.smooth_random(1, 1, 20, 24, seed=1), 25, seed=2)
    with caplog.at_level("WARNING"):
        out = bm3d_denoise(z, sigma=S25)
    assert "cannot be built" in caplog.text and "C compiler" in (fused.unusable() or "")
    monkeypatch.setenv("RESTOREKIT_BM3D_FUSED", "0")
    assert torch.equal(out, bm3d_denoise(z, sigma=S25))

    def broken(*a, **k):
        raise ValueError("a bug of ours")

    monkeypatch.setattr(fused, "_BROKEN", [])
    monkeypatch.setattr(fused, "run_stage_fused", broken)
    monkeypatch.setenv("RESTOREKIT_BM3D_FUSED", "interpret")
    with pytest.raises(ValueError, match="a bug of ours"):
        bm3d_denoise(z, sigma=S25)
    with pytest.raises(ValueError, match="a bug of ours"):
        bm3d_denoise(z, sigma=S25, backend="fused")


def test_explicit_fused_backend_reports_kernels_that_cannot_be_built(monkeypatch):
    """backend="fused": a failure inside Triton is a MissingDependencyError naming it, not a silent
    fallback; once known, later calls are refused up front; backend="auto" then runs the torch path."""
    fake_triton = compile("def build(*a, **k):\n    raise RuntimeError('Failed to find C compiler')\n", "/x/triton/build.py", "exec")
    ns: dict = {}
    exec(fake_triton, ns)
    monkeypatch.setattr(fused, "_BROKEN", [])
    monkeypatch.setattr(fused, "available", lambda: True)
    monkeypatch.setattr(fused, "run_stage_fused", ns["build"])
    monkeypatch.setenv("RESTOREKIT_BM3D_FUSED", "interpret")
    z = support.add_noise(support.smooth_random(1, 1, 20, 24, seed=1), 25, seed=2)
    for _ in range(2):
        with pytest.raises(MissingDependencyError, match="C compiler"):
            bm3d_denoise(z, sigma=S25, backend="fused")
    assert "C compiler" in (fused.unusable() or "")
    assert torch.equal(bm3d_denoise(z, sigma=S25), bm3d_denoise(z, sigma=S25, backend="torch"))
