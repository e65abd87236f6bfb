"""Tests for the fused Triton kernels of Richardson–Lucy (restorekit.deblur.rl_fused / rl_kernels): the
torch path's results (on the CPU through Triton's interpreter, and on CUDA), compilation of every
variant for Hopper without a GPU, and the dispatch switch."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest
import support
import torch

from restorekit.deblur import rl_fused

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
needs_triton = pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="Triton is not installed")

# Every option that changes the kernels' variant: unseen edges (normaliser + held pixels), periodic (neither),
# padded edges, TV on/off, acceleration on/off, observed/Wiener start.
_CASES = [
    {},
    {"edges": "periodic"},
    {"edges": "reflect", "tv_weight": 0},
    {"acceleration": False},
    {"tv_weight": 0.01, "init": "observed"},
]

_INTERPRETED = r"""
import json, os, sys
import torch
from restorekit.deblur.psf import PSF
from restorekit.deblur.richardson_lucy import richardson_lucy
from restorekit.deblur import rl_fused

cases = json.loads(sys.argv[1])
g = torch.Generator().manual_seed(0)
x = torch.rand(2, 3, 23, 31, generator=g)
k = torch.rand(5, 7, generator=g) ** 2
psf = PSF.from_array(k / k.sum())
out = []
for kw in cases:
    os.environ["RESTOREKIT_RL_FUSED"] = "interpret"
    wanted = rl_fused.wanted(x.device)
    a = richardson_lucy(x, psf, iterations=12, **kw)
    os.environ["RESTOREKIT_RL_FUSED"] = "0"
    b = richardson_lucy(x, psf, iterations=12, **kw)
    out.append([wanted and not rl_fused._BROKEN, float((a - b).abs().max()), float((b - x).abs().max())])
print(json.dumps(out))
"""


@needs_triton
def test_interpreted_kernels_match_torch_path():
    """Twelve RL steps with the kernels (Triton's CPU interpreter) equal the torch path's to float rounding,
    for every kernel variant, on an odd-sized colour batch with an asymmetric PSF."""
    env = {**os.environ, "TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-c", _INTERPRETED, json.dumps(_CASES)], env=env, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-2000:]
    for kw, (wanted, diff, change) in zip(_CASES, json.loads(run.stdout.strip().splitlines()[-1]), strict=True):
        assert wanted, kw
        assert change > 0.05, kw  # the iteration did change the image, so the comparison means something
        assert diff < 2e-5, (kw, diff)


_COMPILE_FOR_HOPPER = r"""
from restorekit.deblur import rl_fused, rl_kernels as k

P = "*fp32"
B = rl_fused._BLOCK
cases = [
    (k._ratio, dict(DATA=P, MODEL=P, OUT=P, n="i32", tiny="fp32"), dict(BLOCK=B)),
    (k._extrapolate, dict(U=P, PREV=P, STATS=P, STATS_PREV=P, OUT=P, n="i32", alpha_max="fp32"), dict(BLOCK=B)),
]
for norm in (False, True):
    for tv in (False, True):
        for accel, gprev in ((False, False), (True, False), (True, True)):
            sig = dict(S=P, V=P, NORM=P, ACTIVE="*u8" if norm else P, GPREV=P, LAM=P, EPS=P, NEW=P, G=P, PART=P,
                       H="i32", W="i32", nblocks="i32", tv_floor="fp32")
            const = dict(HAS_NORM=norm, HAS_TV=tv, HAS_ACTIVE=norm, ACCEL=accel, HAS_GPREV=gprev, BLOCK=B)
            cases.append((k._update, sig, const))
failed = []
for fn, sig, const in cases:
    src = ASTSource(fn=fn, signature={**sig, **{n: "constexpr" for n in const}}, constexprs=const)
    try:
        triton.compile(src, target=GPUTarget("cuda", 90, 32), options={"num_warps": rl_fused._WARPS})
    except Exception as exc:  # noqa: BLE001 - collected and reported by the test
        failed.append(f"{fn.__name__} {const}: {type(exc).__name__}: {str(exc)[:1500]}")
print(json.dumps({"failed": failed, "compiled": len(cases)}))
"""


@needs_triton
def test_kernels_compile_for_hopper_without_a_gpu():
    """Triton's compiler (to sm_90 code, no GPU needed) accepts every kernel variant RL launches; the
    interpreter runs code the compiler may reject, so this catches what the interpreted test cannot."""
    res = support.compile_for_hopper(_COMPILE_FOR_HOPPER)
    assert res["failed"] == [], "\n".join(res["failed"])
    assert res["compiled"] == 14


def test_dispatch_switch(monkeypatch):
    """The kernels never run for CPU tensors unless asked for (interpreter), nor anywhere with the switch at 0."""
    monkeypatch.setenv(rl_fused.FUSED_ENV, "1")
    assert not rl_fused.wanted(torch.device("cpu"))
    monkeypatch.setenv(rl_fused.FUSED_ENV, "0")
    assert not rl_fused.wanted(torch.device("cuda"))


def test_failure_outside_triton_propagates():
    """Only a failure raised inside Triton switches to the torch path; any other error comes out."""

    def broken():
        raise ValueError("not Triton's")

    with pytest.raises(ValueError, match="not Triton's"):
        rl_fused.built_or_none(broken)


@cuda
@pytest.mark.parametrize("kw", _CASES, ids=[json.dumps(c) for c in _CASES])
def test_cuda_kernels_match_torch_path(kw, monkeypatch):
    """On CUDA, 100 steps (the default) with the kernels stay as close to the torch path on the same GPU as that
    path is to itself on the CPU (the kernels fuse multiply-adds, so rounding differs in the last bit and the
    iteration carries it on), and within 2e-3 of it on a real blurred, noisy image."""
    from restorekit.deblur.psf import gaussian_psf
    from restorekit.deblur.richardson_lucy import richardson_lucy

    clean = support.load_set("CBSD68", names=["101085"])[0][..., :131, :177]
    psf = gaussian_psf(2.0)
    y = support.add_noise(support.blur(clean, psf.kernel.double().numpy()), 2.55, seed=0).clamp(0, 1)
    monkeypatch.setenv(rl_fused.FUSED_ENV, "1")
    assert rl_fused.wanted(torch.device("cuda"))
    fused = richardson_lucy(y.cuda(), psf, **kw).cpu()
    monkeypatch.setenv(rl_fused.FUSED_ENV, "0")
    plain = richardson_lucy(y.cuda(), psf, **kw).cpu()
    cpu = richardson_lucy(y, psf, **kw)
    fused_gap = float((fused - plain).abs().max())
    device_gap = float((plain - cpu).abs().max())
    print(f"\n[rl fused] {kw}: fused vs torch (CUDA) {fused_gap:.2e}, torch CUDA vs CPU {device_gap:.2e}")
    assert fused_gap <= max(2 * device_gap, 1e-4), (fused_gap, device_gap)
    assert fused_gap < 2e-3
