"""Benchmark: Auto-tune (Noise2Self J-invariant calibration) and Auto-Denoise.

Part 1, auto-tune, per set / sigma / method, mean PSNR (dB) of:

- ``default``: the denoiser at its default strength (sigma scale 1 / NLM strength 1, SureShrink);
- ``tuned``: :func:`restorekit.denoise.autotune.autotune_denoiser` (density ``normal``), no clean image;
- ``oracle``: the best setting of the same evaluated grid, picked with the clean image;
- ``skimage``: the reference, ``skimage.restoration.calibrate_denoiser`` (its J-invariant calibration)
  over ``denoise_wavelet`` (BayesShrink, soft, ``sigma`` = the same grid of multiples of the estimated
  sigma), wavelet rows only;

and the times of ``tuned``, ``default`` and ``skimage``. ``--wrong-sigma F`` hands the denoisers
``F x`` the true sigma instead of the estimate, to show recovery from a badly set default.

Part 2, Auto-Denoise per noise type (white Gaussian at each sigma, Poisson-Gaussian with std sigma at
mid grey, Gaussian-filtered (1 px) noise of std sigma, JPEG quality 20 of the clean image): the
analysis' verdict, the methods chosen (counts), mean PSNR noisy -> result, time, and for comparison
the naive choice: non-local means with its defaults (sigma estimated by the white-noise estimator).

Noisy images are clipped to [0, 1] (and 8-bit quantised for JPEG). CPU timings on a shared machine
are noisy.

    python bench/bench_auto.py                      # Set12 01-04, sigma 15/25/50, wavelet + nlm
    python bench/bench_auto.py --full               # Set12 + BSD68, all images
    python bench/bench_auto.py --methods wavelet,nlm,bm3d --prefer balanced --device cuda
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import common
import cv2
import numpy as np
import torch

from restorekit.denoise.auto import auto_denoise
from restorekit.denoise.autotune import _apply, autotune_denoiser
from restorekit.denoise.nlm import nlm_denoise
from restorekit.sharpen.unsharp import gaussian_blur


def _jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    arr = (x[0, 0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    ok, buf = cv2.imencode(".jpg", arr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return torch.from_numpy(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255)[None, None]


def _skimage_calibrated(noisy: torch.Tensor, scales: list[float]) -> tuple[np.ndarray, float]:
    from skimage.restoration import calibrate_denoiser, denoise_wavelet, estimate_sigma

    img = noisy[0, 0].double().numpy()
    t = time.perf_counter()
    est = estimate_sigma(img)
    grid = {"sigma": [max(est * s, 1e-4) for s in scales], "method": ["BayesShrink"], "mode": ["soft"]}
    best = calibrate_denoiser(img, denoise_wavelet, denoise_parameters=grid)
    out = best(img)
    return out, time.perf_counter() - t


def bench_autotune(images, sigmas, methods, device, wrong_sigma, criterion, seed0=0) -> None:
    print(f"\n== Auto-tune (criterion {criterion}) vs default vs oracle; PSNR dB, times s (total over the images) ==")
    header = f"{'set':8s} {'sigma':>5s} {'method':8s} {'default':>8s} {'tuned':>8s} {'oracle':>8s} {'skimage':>8s}"
    header += f" {'t tuned':>8s} {'t dflt':>7s} {'t skim':>7s}  chosen strengths"
    print(header)
    for set_name, clean_list in images.items():
        for sigma in sigmas:
            noisy_list = common.noisy_images(clean_list, sigma, clip=True, seed0=seed0 + 100 * sigma)
            for method in methods:
                d_psnr, t_psnr, o_psnr, s_psnr, strengths = [], [], [], [], []
                t_tuned = t_default = t_skim = 0.0
                for clean, noisy in zip(clean_list, noisy_list, strict=True):
                    y = noisy.to(device)
                    given = sigma / 255 * wrong_sigma if wrong_sigma else None
                    (_, res), dt = common.timed(
                        autotune_denoiser, y, method=method, density="normal", sigma=given, criterion=criterion,
                        return_info=True, device=device,
                    )
                    t_tuned += dt
                    t_psnr.append(common.psnr(res.image.cpu(), clean))
                    key = "strength" if method == "nlm" else "sigma_scale"
                    strengths.append(res.params[0][key])
                    best = -1.0
                    default = None
                    for p, _ in res.table[0]:
                        out, dt = common.timed(_apply, method, y, res.sigma, [p], device=device)
                        is_default = p[key] == 1.0 and p.get("method", "sure") == "sure"
                        score = common.psnr(out.cpu(), clean)
                        if is_default and default is None:
                            default = score
                            t_default += dt
                        best = max(best, score)
                    d_psnr.append(default)
                    o_psnr.append(best)
                    if method == "wavelet":
                        scales = sorted({p["sigma_scale"] for p, _ in res.table[0]})
                        if wrong_sigma:  # skimage gets the same (wrong) base sigma through its own estimate scaled
                            scales = [s * wrong_sigma * sigma / 255 / max(res.sigma[0], 1e-6) for s in scales]
                        out, dt = _skimage_calibrated(noisy, scales)
                        t_skim += dt
                        s_psnr.append(common.psnr(torch.from_numpy(out).float()[None, None], clean))
                skim = f"{np.mean(s_psnr):8.2f}" if s_psnr else f"{'-':>8s}"
                tsk = f"{t_skim:7.2f}" if s_psnr else f"{'-':>7s}"
                print(
                    f"{set_name:8s} {sigma:5d} {method:8s} {np.mean(d_psnr):8.2f} {np.mean(t_psnr):8.2f} "
                    f"{np.mean(o_psnr):8.2f} {skim} {t_tuned:8.2f} {t_default:7.2f} {tsk}  "
                    + " ".join(f"{s:.2f}" for s in strengths)
                )


def _noise_cases(clean: torch.Tensor, sigma: int, seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    n = torch.randn(clean.shape, generator=gen)
    gain = (sigma / 255) ** 2 / 0.5
    filtered = gaussian_blur(n, 1.0)
    filtered = filtered / filtered.std()
    return {
        f"gauss{sigma}": (clean + n * sigma / 255).clamp(0, 1),
        f"poisgau{sigma}": (clean + n * torch.sqrt(gain * clean + (2 / 255) ** 2)).clamp(0, 1),
        f"corr{sigma}": (clean + filtered * sigma / 255).clamp(0, 1),
    }


def bench_auto(images, sigmas, prefer, device) -> None:
    print(f"\n== Auto-Denoise (prefer={prefer}); PSNR dB noisy -> result, time s (total) ==")
    print(
        f"{'set':8s} {'noise':10s} {'verdicts':28s} {'methods':34s} {'noisy':>7s} {'auto':>7s} {'gain':>6s} "
        f"{'time':>7s} {'NLM dflt':>8s} {'time':>6s}"
    )
    for set_name, clean_list in images.items():
        rows: dict[str, list] = {}
        for i, clean in enumerate(clean_list):
            cases = {}
            for sigma in sigmas:
                cases.update(_noise_cases(clean, sigma, seed=1000 + 100 * sigma + i))
            cases["jpeg20"] = _jpeg(clean, 20)
            for name, y in cases.items():
                yd = y.to(device)
                (out, choices), dt = common.timed(auto_denoise, yd, prefer=prefer, return_info=True, device=device)
                ch = choices[0]
                base, dt_base = common.timed(nlm_denoise, yd, device=device)
                label = ch.method + ("+vst" if ch.vst else "") + ("+psd" if ch.psd else "")
                rows.setdefault(name, []).append(
                    (ch.analysis.kind, label, common.psnr(y, clean), common.psnr(out.cpu(), clean), dt,
                     common.psnr(base.cpu(), clean), dt_base)
                )
        for name, r in rows.items():
            kinds = ",".join(f"{k}:{v}" for k, v in Counter(x[0] for x in r).items())
            meths = ",".join(f"{k}:{v}" for k, v in Counter(x[1] for x in r).items())
            a, b = np.mean([x[2] for x in r]), np.mean([x[3] for x in r])
            c = np.mean([x[5] for x in r])
            print(
                f"{set_name:8s} {name:10s} {kinds:28s} {meths:34s} {a:7.2f} {b:7.2f} {b - a:+6.2f} "
                f"{sum(x[4] for x in r):7.2f} {c:8.2f} {sum(x[6] for x in r):6.2f}"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.add_device_argument(ap)
    ap.add_argument("--full", action="store_true", help="Set12 + BSD68, all images (slow on CPU)")
    ap.add_argument("--sigmas", type=int, nargs="+", default=[15, 25, 50])
    ap.add_argument("--methods", default="wavelet,nlm", help="comma-separated: wavelet, nlm, bm3d")
    ap.add_argument("--prefer", default="fast", choices=("quality", "balanced", "fast"))
    ap.add_argument("--wrong-sigma", type=float, default=0.0, help="give the denoisers F x the true sigma")
    ap.add_argument("--criterion", default="auto", choices=("auto", "noise2self", "sure"))
    ap.add_argument("--skip-tune", action="store_true")
    ap.add_argument("--skip-auto", action="store_true")
    common.add_threads_argument(ap, default=1)
    args = ap.parse_args()
    common.set_threads(args.threads)
    device = common.get_device(args.device)
    if args.full:
        images = {"Set12": common.load_set("Set12", gray=True), "BSD68": common.load_set("BSD68", gray=True)}
    else:
        images = {"Set12": common.load_set("Set12", ["01", "02", "03", "04"], gray=True)}
    warm = common.add_noise(images["Set12"][0][..., :64, :64], 25).clamp(0, 1).to(device)
    autotune_denoiser(warm, density="coarse")
    auto_denoise(warm, prefer=args.prefer)
    if not args.skip_tune:
        bench_autotune(images, args.sigmas, args.methods.split(","), device, args.wrong_sigma, args.criterion)
    if not args.skip_auto:
        bench_auto(images, args.sigmas, args.prefer, device)


if __name__ == "__main__":
    common.run(main)
