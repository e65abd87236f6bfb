"""Benchmark: our non-local means against scikit-image's fast NLM and OpenCV's fastNlMeansDenoising.

Same noisy images (fixed seeds, clipped to [0, 1]) for every method, in one run:

- ``ours``: :func:`restorekit.denoise.nlm.nlm_denoise` with automatic settings (sigma estimated,
  h / patch / window from the tuned table), on ``--device``.
- ``luma`` (colour sets): ours with ``color_mode="luma"`` (weights from luma patches).
- ``ours@sk``: ours at scikit-image's settings (same h, sigma, patch 5, search radius 6), to show
  that the two compute the same algorithm.
- ``skimage``: ``denoise_nl_means(fast_mode=True, h=0.8*sigma_est, sigma=sigma_est, patch_size=5,
  patch_distance=6)``, the settings its documentation recommends, sigma from skimage's
  ``estimate_sigma``.
- ``opencv``: ``fastNlMeansDenoising`` (gray) / ``fastNlMeansDenoisingColored`` (colour) on the
  8-bit image, templateWindowSize 7, searchWindowSize 21, at the h (0-255 units, hColor = h)
  that gives it the best mean PSNR on the set for that sigma (an oracle choice, favouring OpenCV).

Prints, per set and sigma, mean PSNR of each method and the total time, and time ratios
(reference time / our time). CPU references always run on the CPU; ``--device cuda`` times ours
on the GPU (synchronised, input already on the device, after a warm-up).

    python bench/bench_nlm.py                 # Set12 (gray) + 6 CBSD68 images, sigma 15/25/50
    python bench/bench_nlm.py --full          # Set12 + BSD68 (gray) + all of CBSD68
    python bench/bench_nlm.py --device cuda
"""

from __future__ import annotations

import argparse
import time

import common
import numpy as np
import torch

from restorekit.denoise.nlm import nlm_denoise
from restorekit.image import from_numpy, to_numpy

OPENCV_H_FACTORS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.4)


def run_ours(noisy: list[torch.Tensor], device: torch.device, **kw) -> tuple[list[torch.Tensor], float, list]:
    outs, settings, total = [], [], 0.0
    for y in noisy:
        yd = y.to(device)
        (out, info), t = common.timed(lambda yd=yd: nlm_denoise(yd, return_info=True, **kw), device=device)
        total += t
        outs.append(out.cpu())
        settings.append(info[0])
    return outs, total, settings


def run_skimage(noisy: list[torch.Tensor]) -> tuple[list[torch.Tensor], float, list[float]]:
    from skimage.restoration import denoise_nl_means, estimate_sigma

    outs, sigmas, total = [], [], 0.0
    for y in noisy:
        arr = to_numpy(y)[0].astype(np.float64)  # [H, W, C]
        color = arr.shape[-1] == 3
        img = arr if color else arr[..., 0]
        t = time.perf_counter()
        s = float(estimate_sigma(img, channel_axis=-1 if color else None, average_sigmas=True))
        res = denoise_nl_means(
            img,
            h=0.8 * s,
            sigma=s,
            patch_size=5,
            patch_distance=6,
            fast_mode=True,
            channel_axis=-1 if color else None,
        )
        total += time.perf_counter() - t
        res = res if color else res[..., None]
        outs.append(from_numpy(res[None].astype(np.float32), y))
        sigmas.append(s)
    return outs, total, sigmas


def run_opencv(noisy: list[torch.Tensor], h255: float) -> tuple[list[torch.Tensor], float]:
    import cv2

    outs, total = [], 0.0
    for y in noisy:
        arr = to_numpy(y)[0]
        u8 = np.clip(np.round(arr * 255.0), 0, 255).astype(np.uint8)
        t = time.perf_counter()
        if u8.shape[-1] == 3:
            res = cv2.fastNlMeansDenoisingColored(u8, None, h255, h255, 7, 21)
        else:
            res = cv2.fastNlMeansDenoising(u8[..., 0], None, h=h255, templateWindowSize=7, searchWindowSize=21)
            res = res[..., None]
        total += time.perf_counter() - t
        outs.append(from_numpy(res[None].astype(np.float32) / 255.0, y))
    return outs, total


def mean_psnr(outs: list[torch.Tensor], clean: list[torch.Tensor]) -> float:
    return float(np.mean([common.psnr(o, c) for o, c in zip(outs, clean, strict=True)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_device_argument(ap)
    ap.add_argument("--full", action="store_true", help="Set12 + BSD68 + all of CBSD68")
    ap.add_argument("--sigmas", default="15,25,50", help="noise levels in 0-255 grey levels")
    ap.add_argument("--gray-images", type=int, default=0, help="Set12 images in the quick run (0 = all 12)")
    ap.add_argument("--color-images", type=int, default=6, help="CBSD68 images in the quick run")
    ap.add_argument("--crop", type=int, default=0, help="top-left crop side of every image (0 = whole image)")
    ap.add_argument("--no-opencv", action="store_true")
    common.add_threads_argument(
        ap, help="torch CPU threads (0 = torch's default); 1 avoids thread-sync stalls on a busy machine"
    )
    args = ap.parse_args()
    common.set_threads(args.threads)
    device = common.get_device(args.device)

    sets: list[tuple[str, bool, int | None]] = [("Set12", True, None if args.full else args.gray_images or None)]
    if args.full:
        sets += [("BSD68", True, None), ("CBSD68", False, None)]
    else:
        sets += [("CBSD68", False, args.color_images)]

    # Warm-up (CUDA context, kernels, allocator).
    warm = common.add_noise(common.load_image(common.image_paths("Set12")[0]), 25, 0).clamp(0, 1)
    run_ours([warm, warm], device)

    header = (
        f"{'set':<8} {'sigma':>5} {'n':>3} | {'ours':>6} {'luma':>6} {'ours@sk':>7} {'skimage':>7} {'opencv':>6} {'cv h':>5} |"
        f" {'t ours':>7} {'t sk':>7} {'t cv':>7} | {'sk/ours':>7} {'cv/ours':>7} | auto settings (sigma est, h, patch, r)"
    )
    print(
        f"device for ours: {device} ({common.device_name(device)}); references on the CPU. "
        "PSNR in dB, times in s (totals)."
    )
    print(header)
    print("-" * len(header))
    for set_name, gray, limit in sets:
        clean = common.load_set(set_name, gray=gray)
        if limit:
            clean = clean[:limit]
        if args.crop:
            clean = [c[..., : args.crop, : args.crop] for c in clean]
        for sigma in [float(s) for s in args.sigmas.split(",")]:
            noisy = common.noisy_images(clean, sigma, clip=True)
            ours, t_ours, settings = run_ours(noisy, device)
            p_luma = float("nan")
            if not gray:
                p_luma = mean_psnr(run_ours(noisy, device, color_mode="luma")[0], clean)
            sk, t_sk, sk_sigmas = run_skimage(noisy)
            # Ours at skimage's settings, image by image (same sigma estimate and h).
            same = []
            for y, s in zip(noisy, sk_sigmas, strict=True):
                out, _ = nlm_denoise(
                    y.to(device), sigma=s, h=0.8 * s, patch_size=5, search_radius=6, return_info=True
                )
                same.append(out.cpu())
            p_ours, p_same, p_sk = mean_psnr(ours, clean), mean_psnr(same, clean), mean_psnr(sk, clean)
            p_cv, t_cv, h_cv = float("nan"), float("nan"), float("nan")
            if not args.no_opencv:
                for f in OPENCV_H_FACTORS:
                    cv, t = run_opencv(noisy, f * sigma)
                    p = mean_psnr(cv, clean)
                    if not p_cv >= p:
                        p_cv, t_cv, h_cv = p, t, f * sigma
            s0 = settings[0]
            sig_est = np.mean([s.sigma for s in settings]) * 255
            h_mean = np.mean([s.h for s in settings]) * 255
            print(
                f"{set_name:<8} {sigma:>5g} {len(clean):>3} | {p_ours:6.2f} {p_luma:6.2f} {p_same:7.2f} {p_sk:7.2f} {p_cv:6.2f}"
                f" {h_cv:5.1f} | {t_ours:7.3f} {t_sk:7.3f} {t_cv:7.3f} | {common.ratio(t_sk, t_ours):7.2f}"
                f" {common.ratio(t_cv, t_ours):7.2f} |"
                f" {sig_est:.1f}, {h_mean:.1f}, {s0.patch_size}, {s0.search_radius}",
                flush=True,
            )


if __name__ == "__main__":
    common.run(main)
