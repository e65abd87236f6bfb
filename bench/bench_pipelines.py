"""Pipelines: Smart Restore PSNR per degradation class, Restore Pipeline preset monotonicity, and timings.

Run: ``python bench/bench_pipelines.py [--device cuda] [--size 144]``. Uses CBSD68 crops (see
tests/pipelines); prints per class input -> output PSNR, the presets' mean sharpness (Laplacian
variance) and RMS contrast, seconds per call, and one Smart Restore report.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import support  # noqa: E402

from restorekit.deblur.psf import gaussian_psf  # noqa: E402
from restorekit.pipelines.restore import PRESETS, restore_pipeline  # noqa: E402
from restorekit.pipelines.smart import smart_restore  # noqa: E402
from restorekit.quality.metrics import laplacian_variance, psnr, rms_contrast  # noqa: E402


def _noise(x, s, seed):
    g = torch.Generator().manual_seed(seed)
    return (x + torch.randn(x.shape, generator=g) * s / 255).clamp(0, 1)


def _blur(x, s):
    k = gaussian_psf(s).kernel.to(x)
    r = k.shape[0] // 2
    return F.conv2d(F.pad(x.reshape(-1, 1, *x.shape[-2:]), (r, r, r, r), mode="reflect"), k[None, None]).reshape(x.shape)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", type=int, default=144)
    ap.add_argument("--names", default="101085,102061,103070")
    args = ap.parse_args()
    s = args.size
    x = torch.cat([im[..., 100:100 + s, 60:60 + s] for im in support.load_set("CBSD68", names=args.names.split(","))])
    m = x.mean(dim=(2, 3), keepdim=True)
    classes = {"noise 15": _noise(x, 15, 1), "blur 1.5 + noise 5": _noise(_blur(x, 1.5), 5, 2),
               "contrast 40% + noise 10": _noise(m + 0.4 * (x - m), 10, 3), "clean": x.clone()}
    reports = {}
    print("| class | input PSNR | Smart Restore PSNR | seconds | found |")
    print("|---|---|---|---|---|")
    for name, d in classes.items():
        d = d.to(args.device)
        t0 = time.perf_counter()
        r = smart_restore(d)
        dt = time.perf_counter() - t0
        pin, pout = psnr(d, x.to(d)).mean().item(), psnr(r.image, x.to(d)).mean().item()
        found = "; ".join(",".join(p.degradations) or "nothing" for p in r.plans)
        print(f"| {name} | {pin:.2f} | {pout:.2f} | {dt:.2f} | {found} |")
        reports[name] = r.report
    print("\n| class | " + " | ".join(f"{p} sharpness / contrast" for p in PRESETS) + " |")
    print("|---|" + "---|" * len(PRESETS))
    for name, d in classes.items():
        d = d.to(args.device)
        cells = []
        for p in PRESETS:
            o = restore_pipeline(d, preset=p).image
            cells.append(f"{laplacian_variance(o).mean().item():.0f} / {rms_contrast(o).mean().item():.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\nSmart Restore report, blur 1.5 + noise 5:\n" + reports["blur 1.5 + noise 5"])


if __name__ == "__main__":
    main()
