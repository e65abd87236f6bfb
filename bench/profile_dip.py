"""Per-iteration cost of a Deep Image Prior fit (made for CUDA), by variant, and a PSNR / discrepancy trace.

Parts (``--parts``, comma-separated):
  variants  ms/iteration of one eager training step at 256x256 for network / precision variants;
  prof      a torch.profiler table of that step (top kernels printed, full tables written to DIR);
  fit       ms/iteration of the real fit (CUDA graphs on CUDA) at 256x256 and 1920x1080;
  trace     PSNR / residual-ratio traces (every 10 iterations, written to DIR) of CBSD68 256x256 centre
            crops at sigma 25 (noise protocol of restorekit.datasets, clipped), within --trace-s seconds each.

  python bench/profile_dip.py --out DIR --parts variants,prof
  python bench/profile_dip.py --out DIR --parts fit,trace --images 5 --trace-s 8.5 --trace-variants ""
  python bench/profile_dip.py --device cpu --parts trace --trace-s 3 --trace-variants ""   # CPU smoke run
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import common
import numpy as np
import torch
from bench_dip import center_crop, dip_settings, parse_variant
from torch.nn import functional as F

from restorekit.learned import dip
from restorekit.learned.skipnet import SkipNet, padded_size
from restorekit.learned.training import gradients_enabled, trainable_copy
from restorekit.quality.noise import estimate_sigma

DEV = torch.device("cuda")  # set from --device in main()


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
        with torch.autocast(DEV.type, dtype=amp, enabled=amp is not None):
            out = net(zb)[:, :, :h, :w]
            loss = F.mse_loss(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def ms_per_it(step, n, warm):
    for _ in range(warm):
        step()
    _, t = common.timed(lambda: [step() for _ in range(n)], device=DEV)
    return 1000 * t / n


def fit_ms(h, w, n, **kw):
    x = torch.rand(1, 3, h, w, device=DEV)
    dip.deep_image_prior(x, iterations=5, early_stop=False, **kw)
    _, t = common.timed(dip.deep_image_prior, x, iterations=n, early_stop=True, sigma=0.0, **kw, device=DEV)
    return 1000 * t / n


def profile(step, n, path, rows=25):
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as prof_

    for _ in range(3):
        step()
    common.sync(DEV)
    cuda = DEV.type == "cuda"
    with prof_(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])) as p:
        for _ in range(n):
            step()
        common.sync(DEV)
    ka = p.key_averages()
    Path(path).write_text(
        (ka.table(sort_by="device_time_total", row_limit=60) + "\n\n" if cuda else "")
        + ka.table(sort_by="cpu_time_total", row_limit=40)
    )
    tops = sorted(ka, key=lambda e: -getattr(e, "device_time_total", getattr(e, "cuda_time_total", 0)))
    out = []
    for e in tops[:rows]:
        dt = getattr(e, "device_time_total", getattr(e, "cuda_time_total", 0))
        out.append(f"    {dt / n / 1000:7.3f} ms/it  x{e.count // n:<4d} {e.key[:90]}")
    return "\n".join(out)


def trace(noisy, clean, kw, budget_s, every=50):
    """PSNR / discrepancy rows of one fit without early stopping, until ``budget_s`` seconds have passed."""
    var = float(estimate_sigma(noisy).square().mean())
    s = dip_settings({"iterations": 4000, **kw, "early_stop": False, "seed": 0})
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
    global DEV
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_device_argument(ap, default="cuda")
    ap.add_argument("--out", default=".", help="folder for the profiler tables and traces")
    ap.add_argument("--budget", type=float, default=75, help="seconds for the whole run (no new trace after)")
    ap.add_argument("--parts", default="variants,prof,fit,trace", help="comma-separated parts to run")
    ap.add_argument("--trace-s", type=float, default=10, help="seconds per trace")
    ap.add_argument("--trace-its", type=int, default=3000, help="most iterations per trace")
    ap.add_argument("--trace-variants", nargs="*", default=["", "precision=float32"],
                    help='settings per trace, as bench_dip.py --variants ("" = the defaults)')
    ap.add_argument("--images", type=int, default=1, help="CBSD68 crops traced with the default settings")
    a = ap.parse_args()
    DEV = common.get_device(a.device)
    out = Path(a.out)
    parts = a.parts.split(",")
    torch.backends.cudnn.benchmark = True
    print(torch.__version__, common.device_name(DEV), flush=True)
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
        for v in a.trace_variants:
            for i, path in enumerate(common.image_paths("CBSD68")[: a.images if not v else 1]):
                if left(a.budget) < a.trace_s + 3:
                    break
                clean = center_crop(common.load_image(path), 256)
                noisy = common.add_noise(clean, 25, seed=i).clamp(0, 1).to(DEV)
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
    common.run(main)
