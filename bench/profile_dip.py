"""Per-iteration cost of a Deep Image Prior fit on CUDA, by variant, and a PSNR / discrepancy trace.

Eager-step variants and a profiler table (written to DIR):
  python bench/profile_dip.py --out DIR --parts variants,prof
ms/iteration of the real fit (CUDA graphs) at 256x256 and 1920x1080, then PSNR / residual-ratio traces
(every 10 iterations, written to DIR) of CBSD68 256x256 crops at sigma 25:
  python bench/profile_dip.py --out DIR --parts fit,trace --images 5 --trace-s 8.5 --trace-variants ""
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import support  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from restorekit.learned import dip  # noqa: E402
from restorekit.learned.skipnet import SkipNet, padded_size  # noqa: E402
from restorekit.learned.training import gradients_enabled, trainable_copy  # noqa: E402
from restorekit.quality.noise import estimate_sigma  # noqa: E402

DEV = torch.device("cuda")


def eager_step(h, w, padding="reflect", norm="batch", cl=True, amp=torch.bfloat16, fused=False, width=32):
    fmt = torch.channels_last if cl else torch.contiguous_format
    net = SkipNet(32, 3, [width] * 5, 4, norm=norm, padding=padding).to(DEV).to(memory_format=fmt)
    hp, wp = padded_size(h, 5), padded_size(w, 5)
    z = (torch.rand(1, 32, hp, wp, device=DEV) * 0.1).to(amp or torch.float32).contiguous(memory_format=fmt)
    y = torch.rand(1, 3, h, w, device=DEV)
    kw = {"fused": True} if fused else {"foreach": True}
    opt = torch.optim.Adam(net.parameters(), lr=0.01, **kw)
    zb = torch.empty_like(z)

    def step():
        torch.add(z, zb.normal_(0, 1 / 30), out=zb)
        with torch.autocast("cuda", dtype=amp, enabled=amp is not None):
            out = net(zb)[:, :, :h, :w]
            loss = F.mse_loss(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def ms_per_it(step, n, warm):
    for _ in range(warm):
        step()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(n):
        step()
    torch.cuda.synchronize()
    return 1000 * (time.perf_counter() - t) / n


def fit_ms(h, w, n, **kw):
    x = torch.rand(1, 3, h, w, device=DEV)
    dip.deep_image_prior(x, iterations=5, early_stop=False, **kw)
    torch.cuda.synchronize()
    t = time.perf_counter()
    _, rep = dip.deep_image_prior(x, iterations=n, early_stop=True, sigma=0.0, **kw)
    torch.cuda.synchronize()
    return 1000 * (time.perf_counter() - t) / n


def profile(step, n, path, rows=25):
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as prof_

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    with prof_(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as p:
        for _ in range(n):
            step()
        torch.cuda.synchronize()
    ka = p.key_averages()
    Path(path).write_text(
        ka.table(sort_by="cuda_time_total", row_limit=60) + "\n\n" + ka.table(sort_by="cpu_time_total", row_limit=40)
    )
    tops = sorted(ka, key=lambda e: -getattr(e, "device_time_total", getattr(e, "cuda_time_total", 0)))
    out = []
    for e in tops[:rows]:
        dt = getattr(e, "device_time_total", getattr(e, "cuda_time_total", 0))
        out.append(f"    {dt / n / 1000:7.3f} ms/it  x{e.count // n:<4d} {e.key[:90]}")
    return "\n".join(out)


def trace(noisy, clean, kw, budget_s, every=50):
    var = float(estimate_sigma(noisy).square().mean())
    s = dip.DipSettings(
        kw.get("iterations", 4000),
        kw.get("learning_rate", 0.01),
        False,
        kw.get("ema", 0.99),
        0,
        kw.get("width", 32),
        5,
        4,
        32,
        kw.get("input_noise", 1 / 30),
        50,
        200,
        100,
        kw.get("precision", "auto"),
        "noise",
        0.75,
        kw.get("padding", "reflect"),
    )
    amp = dip._precision(noisy.device, s.precision)
    rows = []
    t0 = time.perf_counter()

    class Done(Exception):
        pass

    def hook(it, x, ema, v):
        if it % every == 0:
            e = ema.clamp(0, 1)
            rows.append(
                (
                    it,
                    10 * np.log10(1 / float(F.mse_loss(e, clean))),
                    float(F.mse_loss(ema, noisy)) / var,
                    float(F.mse_loss(x, noisy)) / var,
                    time.perf_counter() - t0,
                )
            )
            if time.perf_counter() - t0 > budget_s:
                raise Done

    with gradients_enabled():
        try:
            dip._fit_one(trainable_copy(noisy), s, amp, var, None, hook)
        except Done:
            pass
    return rows, var


T0 = time.perf_counter()


def left(budget):
    return budget - (time.perf_counter() - T0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=".")
    ap.add_argument("--budget", type=float, default=75)
    ap.add_argument("--parts", default="variants,prof,fit,trace")
    ap.add_argument("--trace-s", type=float, default=10)
    ap.add_argument("--trace-its", type=int, default=3000)
    ap.add_argument("--trace-variants", nargs="*", default=["", "precision=float32"])
    ap.add_argument("--images", type=int, default=1)
    a = ap.parse_args()
    out = Path(a.out)
    parts = a.parts.split(",")
    torch.backends.cudnn.benchmark = True
    print(torch.__version__, torch.cuda.get_device_name(), flush=True)
    variants = {
        "": {},
        "padding=zeros": {"padding": "zeros"},
        "norm=none": {"norm": "none"},
        "NCHW": {"cl": False},
        "fp32": {"amp": None},
    }
    if "variants" in parts:
        print("eager step 256x256:", flush=True)
        for name, kw in variants.items():
            ms = ms_per_it(eager_step(256, 256, **kw), 40, 8)
            print(f"  {name or 'current':42s} {ms:8.2f} ms/it  [{time.perf_counter() - T0:.0f}s]", flush=True)
    if "fit" in parts:
        for h, w, n in ((256, 256, 300), (1080, 1920, 20)):
            print(
                f"  dip fit (graphs) {h}x{w}: {fit_ms(h, w, n):8.2f} ms/it  [{time.perf_counter() - T0:.0f}s]",
                flush=True,
            )
    if "prof" in parts:
        print("profile eager current step 256x256 (top kernels):", flush=True)
        print(profile(eager_step(256, 256), 10, out / "prof_256.txt", rows=14), flush=True)
    if "trace" in parts:
        from bench_dip import center_crop, parse_variant

        for v in a.trace_variants:
            for i, path in enumerate(support.image_paths("CBSD68")[: a.images if not v else 1]):
                if left(a.budget) < a.trace_s + 3:
                    break
                clean = center_crop(support.load(path), 256)
                noisy = support.add_noise(clean, 25, seed=i).clamp(0, 1).to(DEV)
                kw = {"iterations": a.trace_its, **parse_variant(v)}
                rows, var = trace(noisy, clean.to(DEV), kw, a.trace_s, every=10)
                best = max(rows, key=lambda r: r[1])
                at = {r[0]: r[1] for r in rows}
                print(
                    f"trace {path.stem} [{v or 'base'}] sigma_est {255 * var**0.5:.2f}: best {best[1]:.2f} dB "
                    f"@ {best[0]} ratio {best[2]:.3f}; {rows[-1][0] / rows[-1][4]:.0f} it/s; "
                    + " ".join(f"{k}:{at[k]:.2f}" for k in (500, 1000, 1500, 2000, 2500, 3000) if k in at),
                    flush=True,
                )
                (out / f"trace_{path.stem}_{v or 'base'}.txt").write_text(
                    "\n".join(" ".join(f"{x:.5f}" for x in r) for r in rows)
                )


if __name__ == "__main__":
    main()
