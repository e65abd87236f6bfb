"""Benchmark: restorekit deconvolution (Richardson–Lucy, Wiener) against scikit-image.

Protocol (non-circular, the default): each Set12 image (gray) is blurred by each of the 8 Levin
et al. (2009) kernels with ``scipy.ndimage.convolve(mode="reflect")`` (the scene continues as a
mirror image beyond the frame, so how a method treats the borders matters), then white Gaussian
noise of sigma 2.55/255 (7.65/255 too with --full; seed = 100 * image + kernel) is added and the
result clipped to [0, 1]. ``--boundary nearest`` uses an edge-replicated scene instead. For
reference the circular protocol of DPIR (``mode="wrap"``, where FFT methods see exactly their
own model) is run as well (skip it with --no-wrap); there our methods also run with
``edges="periodic"`` (columns ``/per``), the model that matches that protocol.

PSNR is measured on the full frame (no border shave), 8-bit quantised.

Ours, with a fixed rule, never tuned against the clean image:
  RL       plain Richardson–Lucy: 30 iterations, no TV, no acceleration, observed start, unseen edges.
  RL+TV    richardson_lucy defaults: 100 iterations, TV weight 0.35 x estimated sigma, Biggs-Andrews
           acceleration, Wiener start, unseen edges.
  Wiener   wiener_deconvolution defaults: mode auto (marginal likelihood, estimated sigma),
           gradient regulariser, replicate edges.
Reference, at its best setting per image chosen with the clean image (an oracle the reference gets
and we do not): skimage.restoration.richardson_lucy, best num_iter in 1, 2, 5, 10, 20, 30, 50, 100;
skimage.restoration.wiener, best balance in 10^-4 .. 10^0 (quarter decades).
With --padded-reference the reference also runs on the image padded by one kernel size
(``numpy.pad(mode="edge")``) and cropped back, which removes most of its border damage, as a
comparison of the core algorithms.

Times: per image, ours on --device (warmed up, synchronised on CUDA); the reference's time is that
of one run at its best setting (CPU, numpy). The ratio is t_ours / t_ref.

    python bench/bench_deblur.py                    # Set12 x 8 kernels, sigma 2.55, reflect + wrap
    python bench/bench_deblur.py --full             # also sigma 7.65
    python bench/bench_deblur.py --device cuda --per-kernel --padded-reference
"""

from __future__ import annotations

import argparse
import os
import time

import common
import numpy as np
import torch
from skimage import restoration as sk_restoration

from restorekit.deblur import rl_fused
from restorekit.deblur.psf import PSF
from restorekit.deblur.richardson_lucy import richardson_lucy
from restorekit.deblur.wiener import wiener_deconvolution

SK_ITERATIONS = (1, 2, 5, 10, 20, 30, 50, 100)
SK_BALANCES = tuple(10.0 ** np.arange(-4, 0.01, 0.25))


def degrade(clean: torch.Tensor, kernel: np.ndarray, sigma255: float, seed: int, boundary: str) -> torch.Tensor:
    """The deblurring protocol with scene boundary ``boundary`` (scipy mode: reflect, nearest, wrap)."""
    return common.blur_and_noise(clean, kernel, seed=seed, sigma255=sigma255, mode=boundary)


def ours():
    def rl(y: torch.Tensor, psf: PSF) -> torch.Tensor:
        return richardson_lucy(y, psf, iterations=30, tv_weight=0, acceleration=False, init="observed")

    def rl_tv(y: torch.Tensor, psf: PSF) -> torch.Tensor:
        return richardson_lucy(y, psf)

    def wiener(y: torch.Tensor, psf: PSF) -> torch.Tensor:
        return wiener_deconvolution(y, psf)

    return {"RL": rl, "RL+TV": rl_tv, "Wiener": wiener}


def ours_periodic():
    """Our methods told that the image is periodic: the matched model for the circular protocol."""

    def rl_tv(y: torch.Tensor, psf: PSF) -> torch.Tensor:
        return richardson_lucy(y, psf, edges="periodic")

    def wiener(y: torch.Tensor, psf: PSF) -> torch.Tensor:
        return wiener_deconvolution(y, psf, edges="periodic")

    return {"RL+TV/per": rl_tv, "Wiener/per": wiener}


def sk_best(kind: str, noisy: torch.Tensor, kernel: np.ndarray, clean: torch.Tensor, pad: bool):
    """Best PSNR of a scikit-image method over its grid, and the time of one run at that setting."""
    arr = noisy[0, 0].double().numpy()
    m = max(kernel.shape) if pad else 0
    if pad:
        arr = np.pad(arr, m, mode="edge")

    def run(value):
        if kind == "rl":
            out = sk_restoration.richardson_lucy(arr, kernel, num_iter=value)
        else:
            out = sk_restoration.wiener(arr, kernel, value)
        if pad:
            out = out[m:-m, m:-m]
        return torch.from_numpy(np.ascontiguousarray(out)).float()[None, None]

    grid = SK_ITERATIONS if kind == "rl" else SK_BALANCES
    scores = [common.psnr(run(v), clean) for v in grid]
    best = grid[int(np.argmax(scores))]
    t0 = time.perf_counter()
    run(best)
    return max(scores), time.perf_counter() - t0, best


SPEED_SIZES = {"512": (512, 512), "1080p": (1080, 1920), "4k": (2160, 3840)}


def rl_speed(device: str, sizes: list[str], repeat: int) -> None:
    """Time Richardson–Lucy with the node's defaults (100 iterations, automatic TV, acceleration, unseen edges,
    Wiener start; sigma estimated) on one RGB image per size, Levin kernel 1 (index 0, 19x19 after cropping)."""
    kernel = common.levin_kernels()[0]
    psf = PSF.from_array(kernel)
    print(f"Richardson–Lucy node defaults, RGB, Levin kernel 1 {kernel.shape}, device {device}:")
    for name in sizes:
        h, w = SPEED_SIZES[name]
        gen = torch.Generator().manual_seed(0)
        x = torch.rand(1, 3, h // 8 + 1, w // 8 + 1, generator=gen)
        x = torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
        x = (x + 0.01 * torch.randn(x.shape, generator=gen)).clamp(0, 1).to(device)
        timing = common.time_repeats(lambda x=x: richardson_lucy(x, psf), device=device, repeat=repeat)
        start = common.time_repeats(lambda x=x: richardson_lucy(x, psf, iterations=0), device=device, repeat=repeat)
        line = (
            f"  {name:6s} {h}x{w}: median {timing.median_ms:.1f} ms, best {1000 * timing.best:.1f} ms "
            f"({len(timing.times)} runs); of which the Wiener start and setup {start.median_ms:.1f} ms"
        )
        if torch.device(device).type == "cuda":
            previous = os.environ.get(rl_fused.FUSED_ENV)
            os.environ[rl_fused.FUSED_ENV] = "0"
            try:
                plain = common.time_repeats(lambda x=x: richardson_lucy(x, psf), device=device, repeat=repeat)
            finally:
                os.environ.pop(rl_fused.FUSED_ENV) if previous is None else os.environ.update(
                    {rl_fused.FUSED_ENV: previous}
                )
            line += f"; torch path without the fused kernels {plain.median_ms:.1f} ms ({plain.median_ms / timing.median_ms:.2f}x)"
        print(line, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_device_argument(ap, help="where our methods run")
    ap.add_argument("--full", action="store_true", help="also sigma 7.65")
    ap.add_argument("--boundary", default="reflect", choices=("reflect", "nearest"), help="true scene boundary")
    ap.add_argument("--no-wrap", action="store_true", help="skip the circular (DPIR) protocol")
    ap.add_argument("--only-wrap", action="store_true", help="run the circular (DPIR) protocol only")
    ap.add_argument("--sigmas", type=float, nargs="+", help="noise levels, 0-255 (default 2.55, and 7.65 with --full)")
    ap.add_argument("--images", nargs="+", help="Set12 stems to use (default: all 12)")
    ap.add_argument("--kernels", type=int, nargs="+", default=list(range(8)), help="Levin kernel indices 0-7")
    ap.add_argument("--padded-reference", action="store_true", help="also run the reference on a padded image")
    ap.add_argument("--per-kernel", action="store_true", help="one row per kernel too")
    ap.add_argument("--crop", type=int, default=0, help="top-left crop side of every image (0 = whole image)")
    ap.add_argument(
        "--speed-sizes",
        nargs="*",
        default=["1080p", "4k"],
        choices=sorted(SPEED_SIZES),
        help="RL node-default timing sizes (RGB); give none to skip",
    )
    ap.add_argument("--speed-only", action="store_true", help="only the RL timing at --speed-sizes")
    ap.add_argument("--repeat", type=int, default=3, help="timed repeats of the RL timing")
    common.add_threads_argument(ap)
    args = ap.parse_args()
    common.get_device(args.device)
    common.set_threads(args.threads)
    if args.speed_sizes:
        rl_speed(args.device, args.speed_sizes, args.repeat)
    if args.speed_only:
        return

    paths = common.image_paths("Set12")
    if args.images:
        paths = [p for p in paths if p.stem in args.images]
    cleans = [common.load_image(p, gray=True) for p in paths]
    if args.crop:
        cleans = [c[..., : args.crop, : args.crop] for c in cleans]
    all_kernels = common.levin_kernels()
    kernels = [(j, all_kernels[j]) for j in args.kernels]
    methods = ours()
    refs = ["skRL", "skWiener"] + (["skRL(pad)", "skWiener(pad)"] if args.padded_reference else [])
    sigmas = args.sigmas or [2.55] + ([7.65] if args.full else [])
    protocols = ["wrap"] if args.only_wrap else [args.boundary] + ([] if args.no_wrap else ["wrap"])

    # warm-up (kernels, FFT plans, CUDA context)
    warm = degrade(cleans[0], kernels[0][1], 2.55, 0, "reflect").to(args.device)
    for fn in methods.values():
        fn(warm, PSF.from_array(kernels[0][1]))

    print(
        f"Set12 ({len(cleans)} images) x Levin kernels {args.kernels}; device {args.device}, torch threads "
        f"{torch.get_num_threads()}; PSNR full frame, 8-bit; times per image"
    )
    for protocol in protocols:
        for sigma in sigmas:
            rows = {}
            methods = {**ours(), **(ours_periodic() if protocol == "wrap" else {})}
            for j, kernel in kernels:
                psf = PSF.from_array(kernel)
                rec = {name: [] for name in ["input", *methods, *refs]}
                tim = {name: [] for name in [*methods, *refs]}
                for i, clean in enumerate(cleans):
                    noisy = degrade(clean, kernel, sigma, 100 * i + j, protocol)
                    rec["input"].append(common.psnr(noisy, clean))
                    dev_noisy = noisy.to(args.device)
                    for name, fn in methods.items():
                        if args.device == "cuda" and i == 0:
                            fn(dev_noisy, psf)  # first use of this size: cuFFT plans, not timed
                        out, secs = common.timed(fn, dev_noisy, psf, device=args.device)
                        rec[name].append(common.psnr(out, clean))
                        tim[name].append(secs)
                    for name in refs:
                        kind = "rl" if name.startswith("skRL") else "wiener"
                        p, secs, _ = sk_best(kind, noisy, kernel, clean, pad=name.endswith("(pad)"))
                        rec[name].append(p)
                        tim[name].append(secs)
                rows[j] = (rec, tim)
            _print_table(protocol, sigma, rows, methods, refs, args.per_kernel)


def _print_table(protocol, sigma, rows, methods, refs, per_kernel) -> None:
    names = ["input", *methods, *refs]
    print(f"\nprotocol {protocol}, sigma {sigma:g}: mean PSNR (dB)")
    print(f"{'kernel':8s} " + " ".join(f"{n:>13s}" for n in names))
    agg = {n: [] for n in names}
    tagg = {n: [] for n in [*methods, *refs]}
    for j, (rec, tim) in rows.items():
        for n in names:
            agg[n] += rec[n]
        for n in tagg:
            tagg[n] += tim[n]
        if per_kernel:
            print(f"{'k' + str(j + 1):8s} " + " ".join(f"{np.mean(rec[n]):13.2f}" for n in names))
    print(f"{'all':8s} " + " ".join(f"{np.mean(agg[n]):13.2f}" for n in names))
    print(f"{'worst':8s} " + " ".join(f"{np.min(agg[n]):13.2f}" for n in names))
    best_ref_rl = np.array(agg["skRL"])
    best_ref_w = np.array(agg["skWiener"])
    for n in methods:
        a = np.array(agg[n])
        print(
            f"  {n:7s} vs skRL {np.mean(a - best_ref_rl):+6.2f} dB (min {np.min(a - best_ref_rl):+6.2f}), "
            f"vs skWiener {np.mean(a - best_ref_w):+6.2f} dB (min {np.min(a - best_ref_w):+6.2f}), "
            f"gain over input {np.mean(a - np.array(agg['input'])):+6.2f} dB (min "
            f"{np.min(a - np.array(agg['input'])):+6.2f})"
        )
    print("  times (ms/image): " + ", ".join(f"{n} {1000 * np.mean(tagg[n]):.1f}" for n in tagg))
    t_rl, t_w = np.mean(tagg["skRL"]), np.mean(tagg["skWiener"])
    print(
        "  ratios t_ours/t_ref: "
        + ", ".join(
            f"{n}/skRL {np.mean(tagg[n]) / t_rl:.2f}, {n}/skWiener {np.mean(tagg[n]) / t_w:.2f}" for n in methods
        )
    )


if __name__ == "__main__":
    common.run(main)
