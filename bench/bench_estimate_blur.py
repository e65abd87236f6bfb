"""Benchmark: Estimate Blur on all of Set12 (256 px centre crops), blur + white noise 2.55/255 (reflect).

Gaussian sigma {1, 1.5, 2, 3} (pass: within 10 %, model=gaussian) and motion length {9, 15, 21} x angle
{0, 30, 45, 90, 135} (pass: angle within 5 deg and length within 15 %, model=motion); auto's classification rate;
Wiener (auto) PSNR with the estimated vs the true PSF; time of one 1080p estimate on --device.

    python bench/bench_estimate_blur.py [--device cuda]
"""

from __future__ import annotations

import argparse
import time

import common
import torch

from restorekit.deblur.estimate import estimate_blur
from restorekit.deblur.psf import gaussian_psf, motion_psf
from restorekit.deblur.wiener import wiener_deconvolution


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    common.add_device_argument(ap)
    args = ap.parse_args()
    dev = common.get_device(args.device)
    cases = [("gaussian", gaussian_psf(s), s) for s in (1.0, 1.5, 2.0, 3.0)]
    cases += [("motion", motion_psf(L, a), (L, a)) for L in (9, 15, 21) for a in (0, 30, 45, 90, 135)]
    rows, passed, auto_ok, gaps = [], {"gaussian": [0, 0], "motion": [0, 0]}, 0, []
    for i, x in enumerate(common.load_set("Set12")):
        h, w = x.shape[-2:]
        x = x[..., (h - 256) // 2 : (h - 256) // 2 + 256, (w - 256) // 2 : (w - 256) // 2 + 256]
        for j, (kind, psf, truth) in enumerate(cases):
            y = common.blur_and_noise(x, psf.kernel.double().numpy(), seed=100 * i + j).to(dev)
            (e,) = estimate_blur(y, model=kind)
            (a,) = estimate_blur(y)
            auto_ok += a.kind == kind
            if kind == "gaussian":
                ok = abs(e.sigma - truth) <= 0.1 * truth
                desc = f"sigma {e.sigma:.2f}"
            else:
                da = abs((e.angle - truth[1] + 90) % 180 - 90)
                ok = da <= 5 and abs(e.length - truth[0]) <= 0.15 * truth[0]
                desc = f"L {e.length:.1f} @ {e.angle:.1f}"
            passed[kind][0] += ok
            passed[kind][1] += 1
            p_true = common.psnr(wiener_deconvolution(y, psf), x.to(dev))
            p_est = common.psnr(wiener_deconvolution(y, a.psf), x.to(dev))
            gaps.append(p_true - p_est)
            rows.append([f"{i + 1:02d}", f"{kind} {truth}", desc, "ok" if ok else "FAIL", a.kind,
                         f"{p_true:.2f}", f"{p_est:.2f}"])
    common.print_table(["image", "blur", "estimate", "pass", "auto", "PSNR true", "PSNR est"], rows)
    for k, (ok, n) in passed.items():
        print(f"{k}: {ok}/{n} = {100 * ok / n:.1f} %")
    print(f"auto kind correct: {auto_ok}/{len(rows)}; mean Wiener gap (true - estimated PSF): "
          f"{sum(gaps) / len(gaps):.2f} dB")
    big = torch.rand(1, 3, 1080, 1920, device=dev)
    estimate_blur(big)
    common.sync(dev)
    t0 = time.perf_counter()
    estimate_blur(big)
    common.sync(dev)
    print(f"1080p estimate on {common.device_name(dev)}: {1000 * (time.perf_counter() - t0):.0f} ms")


if __name__ == "__main__":
    main()
