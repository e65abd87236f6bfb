"""Benchmark: restorekit TV denoising against scikit-image's denoise_tv_chambolle / denoise_tv_bregman.

1. Speed, same run: ours (Chambolle and split Bregman, default budgets) vs skimage denoise_tv_chambolle
   (its defaults: eps 2e-4, at most 200 iterations) at the same weight on the same noisy Set12 images;
   times per image and the ratio t_skimage / t_ours.
2. ``--device cuda``: 1080p RGB (batch 1) timing of ours on the GPU (median of repeats), both methods.
3. PSNR, Set12 sigma 15/25 (clipped noise, seed = image index): ours with the automatic weight (sigma
   given, and estimated) vs skimage denoise_tv_chambolle at the best weight of a 10-weight sweep
   (0.3-1.2 sigma, picked on the test set itself).

    python bench/bench_tv.py                  # CPU, Set12 full size
    python bench/bench_tv.py --crop 128       # 128x128 centre crops (as the tests)
    python bench/bench_tv.py --device cuda    # adds the 1080p GPU timing
"""

from __future__ import annotations

import argparse

import common
import numpy as np
import torch
from skimage.restoration import denoise_tv_bregman, denoise_tv_chambolle

from restorekit.denoise.tv import tv_denoise


def _sk(fn, x: torch.Tensor, **kw) -> torch.Tensor:
    return torch.from_numpy(np.asarray(fn(x[0, 0].double().numpy(), **kw), dtype=np.float32))[None, None]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_device_argument(ap)
    common.add_threads_argument(ap, default=1, help="torch CPU threads (default 1, as single-threaded skimage)")
    ap.add_argument("--crop", type=int, default=0, help="centre crop size (0 = full images)")
    ap.add_argument("--sigmas", type=float, nargs="+", default=[15.0, 25.0])
    ap.add_argument("--repeat", type=int, default=10, help="GPU timing repeats")
    args = ap.parse_args()
    device = common.get_device(args.device)
    common.set_threads(args.threads)
    cleans = common.load_set("Set12")
    if args.crop:
        c = args.crop
        cleans = [x[..., (x.shape[-2] - c) // 2:(x.shape[-2] + c) // 2, (x.shape[-1] - c) // 2:(x.shape[-1] + c) // 2]
                  for x in cleans]
    print(f"device {common.device_name(device)}; torch threads {torch.get_num_threads()}; Set12 {len(cleans)} images"
          + (f", {args.crop}x{args.crop} crops" if args.crop else ""))

    # 1. speed on the CPU (same weight, same images, same run)
    noisy = common.noisy_images(cleans, 25.0, clip=True)
    weight = 0.07
    ours_c = ours_b = sk_c = sk_b = 0.0
    for n in noisy:
        ours_c += common.timed(tv_denoise, n, weight=weight)[1]
        ours_b += common.timed(tv_denoise, n, weight=weight, method="split_bregman")[1]
        sk_c += common.timed(_sk, denoise_tv_chambolle, n, weight=weight)[1]
        sk_b += common.timed(_sk, denoise_tv_bregman, n, weight=1 / weight, isotropic=True)[1]
    k = len(noisy)
    print(f"\nCPU speed, sigma 25, weight {weight} (skimage bregman weight {1 / weight:.1f}); ms per image")
    common.print_table(
        ["method", "ours ms", "skimage ms", "skimage/ours"],
        [["chambolle", common.fmt(1e3 * ours_c / k, ".1f"), common.fmt(1e3 * sk_c / k, ".1f"),
          common.fmt_ratio(sk_c, ours_c)],
         ["split_bregman", common.fmt(1e3 * ours_b / k, ".1f"), common.fmt(1e3 * sk_b / k, ".1f"),
          common.fmt_ratio(sk_b, ours_b)]],
    )

    # 2. 1080p RGB on the GPU
    if device.type == "cuda":
        x = torch.rand((1, 3, 1080, 1920), generator=torch.Generator().manual_seed(0)).to(device)
        rows = []
        for method in ("chambolle", "split_bregman"):
            for color in ("vectorial", "per_channel"):
                t = common.time_repeats(lambda m=method, c=color: tv_denoise(x, sigma=25 / 255, method=m, color=c,
                                                                                 tol=0.0),
                                        device=device, repeat=args.repeat, memory=True)
                rows.append([method, color, common.fmt(t.median_ms, ".2f"), common.fmt(t.peak_gib, ".2f")])
        print("\n1080p RGB, sigma 25, full default budget (100 iterations, no early stop)")
        common.print_table(["method", "color", "median ms", "peak GiB"], rows)

    # 3. PSNR: ours auto vs skimage best of a sweep
    rows = []
    for sigma in args.sigmas:
        noisy = common.noisy_images(cleans, sigma, clip=True)
        given = np.mean([common.psnr(tv_denoise(n.to(device), sigma=sigma / 255).cpu(), c)
                         for n, c in zip(noisy, cleans, strict=True)])
        est = np.mean([common.psnr(tv_denoise(n.to(device)).cpu(), c) for n, c in zip(noisy, cleans, strict=True)])
        sweep = []
        for f in np.linspace(0.3, 1.2, 10):
            sweep.append((np.mean([common.psnr(_sk(denoise_tv_chambolle, n, weight=f * sigma / 255), c)
                                   for n, c in zip(noisy, cleans, strict=True)]), f))
        best, f_best = max(sweep)
        rows.append([f"{sigma:g}", f"{given:.3f}", f"{est:.3f}", f"{best:.3f} (w = {f_best:.1f} sigma)",
                     f"{given - best:+.3f}"])
    print("\nSet12 mean PSNR dB (clipped noise, seed = index)")
    common.print_table(["sigma", "ours auto (sigma given)", "ours auto (estimated)", "skimage best sweep",
                        "ours - skimage"], rows)


if __name__ == "__main__":
    common.run(main)
