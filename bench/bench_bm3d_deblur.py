"""Benchmark: BM3D Deblur (ours) against Richardson–Lucy, Wiener and the reference-backend BM3D deblur.

Protocol (restorekit.datasets.blur_and_noise, as in the tests): each gray Set12 image is blurred by a Levin et al. (2009)
kernel with ``scipy.ndimage.convolve(mode="reflect")`` (non-circular), white Gaussian noise of
sigma 2.55/255 (``--sigmas 2.55 7.65`` for more; seed = 100 * image + kernel) is added and the result
clipped to [0, 1]. PSNR on the full frame, 8-bit quantised. Every method runs with its automatic
settings (noise sigma estimated from the image); nothing is tuned with the clean image.

Methods:
  BM3D       restorekit.deblur.bm3d_deblur, backend "restorekit" (our torch BM3D), on --device.
  RL         restorekit.deblur.richardson_lucy defaults (TV, Wiener start, unseen edges), on --device.
  Wiener     restorekit.deblur.wiener_deconvolution defaults (auto), on --device.
  BM3D-ref   the same pipeline with backend "reference" (the optional `bm3d` package, CPU only);
             skipped when the package is missing or with --no-reference. (The package's own
             ``bm3d_deblurring`` is not run: on NumPy 2 it needs the wrapper's compatibility shim
             and then ran for over 10 minutes on one 256x256 image here.)

Default: a quick subset (Set12 images 01, 05, 07 x Levin kernels 1 and 4). ``--full``: all 12 images
x all 8 kernels. Times are per image, warmed up, synchronised on CUDA; ratio = t_ref / t_BM3D.

    python bench/bench_bm3d_deblur.py                              # quick subset, CPU
    python bench/bench_bm3d_deblur.py --device cuda --full --no-reference
    python bench/bench_bm3d_deblur.py --device cuda --full --sigmas 2.55 7.65
    python bench/bench_bm3d_deblur.py --device cuda --speed             # 1080p, 1440p, 4K RGB: time, peak memory
    python bench/bench_bm3d_deblur.py --device cpu --speed --sizes 256rgb 512rgb

``--speed``: BM3D Deblur alone on RGB images (a CBSD68 image tiled to the size, Levin kernel 1, sigma
2.55), ``--sizes`` among 1080rgb, 1440rgb, 4krgb (default: all three) or ``<side>rgb`` / ``<side>gray``:
the first call's time, the median of ``--repeat`` warm calls and the peak memory
(``torch.cuda.max_memory_allocated`` on CUDA; not measured on the CPU).
"""

from __future__ import annotations

import argparse
import functools

import common
import numpy as np

from restorekit.deblur.bm3d_deblur import bm3d_deblur
from restorekit.deblur.psf import PSF
from restorekit.deblur.richardson_lucy import richardson_lucy
from restorekit.deblur.wiener import wiener_deconvolution

QUICK_IMAGES = ["01", "05", "07"]
QUICK_KERNELS = [0, 3]


SPEED_SIZES = {"1080rgb": (3, 1080, 1920), "1440rgb": (3, 1440, 2560), "4krgb": (3, 2160, 3840)}


def _size(label: str) -> tuple[int, int, int]:
    if label in SPEED_SIZES:
        return SPEED_SIZES[label]
    for kind, c in (("gray", 1), ("rgb", 3)):
        if label.endswith(kind) and label[: -len(kind)].isdigit():
            return c, int(label[: -len(kind)]), int(label[: -len(kind)])
    raise SystemExit(f"--sizes: unknown size {label!r} (1080rgb, 1440rgb, 4krgb, <side>rgb, <side>gray)")


def speed(args: argparse.Namespace, dev: str) -> None:
    """Time and peak memory of BM3D Deblur on large images."""
    import torch

    kernel = common.levin_kernels()[0]
    psf = PSF.from_array(kernel)
    print(f"device {dev} ({common.device_name(dev)}), profile {args.profile}, Levin kernel 1, sigma 2.55")
    print(f"{'size':<10}{'first s':>10}{'median s':>10}{'peak GiB':>10}{'PSNR':>8}")
    for label in args.sizes:
        c, h, w = _size(label)
        src = common.load_image(common.image_paths("CBSD68" if c == 3 else "Set12")[0], gray=c == 1)
        reps = (h + src.shape[-2] - 1) // src.shape[-2], (w + src.shape[-1] - 1) // src.shape[-1]
        clean = src.repeat(1, 1, *reps)[:, :, :h, :w].contiguous()
        y = common.blur_and_noise(clean, kernel, seed=0, sigma255=2.55).to(dev)
        common.sync(dev)
        if dev == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        run = functools.partial(bm3d_deblur, y, psf, profile=args.profile)
        out, first = common.timed(run, device=dev)
        t = common.time_repeats(run, dev, args.repeat, 0)
        peak = torch.cuda.max_memory_allocated() / 2**30 if dev == "cuda" else float("nan")
        print(f"{label:<10}{first:>10.3f}{t.median:>10.3f}{peak:>10.2f}{common.psnr(out, clean):>8.2f}", flush=True)
        del out, y, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_device_argument(parser)
    parser.add_argument("--full", action="store_true", help="all Set12 images x all 8 Levin kernels")
    parser.add_argument("--sigmas", type=float, nargs="+", default=[2.55], help="noise sigmas, 0-255 units")
    parser.add_argument("--no-reference", action="store_true", help="skip the reference-backend BM3D deblur")
    parser.add_argument("--profile", default="np", help="BM3D profile for both backends")
    parser.add_argument("--images", nargs="+", help="Set12 stems to use instead (e.g. 01 05)")
    parser.add_argument("--kernels", type=int, nargs="+", help="Levin kernel indices 0-7 to use instead")
    parser.add_argument("--crop", type=int, default=0, help="top-left crop side of every image (0 = whole image)")
    parser.add_argument("--speed", action="store_true", help="time and peak memory at 1080p, 1440p, 4K RGB")
    parser.add_argument("--sizes", nargs="+", default=list(SPEED_SIZES), help="with --speed: 1080rgb 1440rgb 4krgb ...")
    parser.add_argument("--repeat", type=int, default=3, help="with --speed: timed calls after the first")
    common.add_threads_argument(parser)
    args = parser.parse_args()
    common.set_threads(args.threads)
    dev = common.get_device(args.device).type
    if args.speed:
        speed(args, dev)
        return

    names = args.images or (None if args.full else QUICK_IMAGES)
    paths = [p for p in common.image_paths("Set12") if names is None or p.stem in names]
    kernels = common.levin_kernels()
    kernel_ids = args.kernels or (list(range(len(kernels))) if args.full else QUICK_KERNELS)
    # the reference backend needs the optional `bm3d` package (and its `bm4d` engine)
    use_ref = not args.no_reference and common.have_modules("bm3d", "bm4d")

    methods = {
        "BM3D": lambda y, psf: bm3d_deblur(y, psf, profile=args.profile),
        "RL": lambda y, psf: richardson_lucy(y, psf),
        "Wiener": lambda y, psf: wiener_deconvolution(y, psf),
    }
    if use_ref:
        methods["BM3D-ref"] = lambda y, psf: bm3d_deblur(y.cpu(), psf, profile=args.profile, backend="reference")

    # warm-up (CUDA context, kernels, FFT plans)
    warm = common.load_image(paths[0], gray=True)[..., :64, :64].to(dev)
    wpsf = PSF.from_array(kernels[kernel_ids[0]])
    for name in ("BM3D", "RL", "Wiener"):
        methods[name](warm, wpsf)

    cols = list(methods)
    print(f"device {dev} ({common.device_name(dev)}), profile {args.profile}")
    header = f"{'image':<8}{'kernel':>7}{'sigma':>7}" + "".join(f"{c:>10}" for c in cols)
    header += "".join(f"{'t ' + c:>12}" for c in cols) + (f"{'ratio':>8}" if use_ref else "")
    for sigma in args.sigmas:
        print(f"\nSet12 x Levin, sigma {sigma} (PSNR dB; times in s per image)")
        print(header)
        scores = {c: [] for c in cols}
        times = {c: [] for c in cols}
        for ip, path in enumerate(paths):
            clean = common.load_image(path, gray=True)
            if args.crop:
                clean = clean[..., : args.crop, : args.crop]
            for k in kernel_ids:
                psf = PSF.from_array(kernels[k])
                seed = 100 * ip + k
                y = common.blur_and_noise(clean, kernels[k], seed=seed, sigma255=sigma).to(dev)
                row_p, row_t = [], []
                for c in cols:
                    out, t = common.timed(methods[c], y, psf, device="cpu" if c == "BM3D-ref" else dev)
                    p = common.psnr(out, clean)
                    scores[c].append(p)
                    times[c].append(t)
                    row_p.append(f"{p:>10.2f}")
                    row_t.append(f"{t:>12.3f}")
                ratio = f"{times['BM3D-ref'][-1] / times['BM3D'][-1]:>8.1f}" if use_ref else ""
                print(f"{path.stem:<8}{k + 1:>7}{sigma:>7.2f}" + "".join(row_p) + "".join(row_t) + ratio, flush=True)
        mean_p = "".join(f"{np.mean(scores[c]):>10.2f}" for c in cols)
        mean_t = "".join(f"{np.mean(times[c]):>12.3f}" for c in cols)
        ratio = f"{np.mean(times['BM3D-ref']) / np.mean(times['BM3D']):>8.1f}" if use_ref else ""
        print(f"{'mean':<8}{'':>7}{sigma:>7.2f}" + mean_p + mean_t + ratio)
        wins = sum(a > max(b, w) for a, b, w in zip(scores["BM3D"], scores["RL"], scores["Wiener"], strict=True))
        print(
            f"BM3D beats RL and Wiener on {wins}/{len(scores['BM3D'])} images; mean gain over RL "
            f"{np.mean(scores['BM3D']) - np.mean(scores['RL']):+.2f} dB, over Wiener "
            f"{np.mean(scores['BM3D']) - np.mean(scores['Wiener']):+.2f} dB"
        )


if __name__ == "__main__":
    common.run(main)
