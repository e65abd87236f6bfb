"""Benchmark: restorekit wavelet denoising against scikit-image's denoise_wavelet.

Same images, same noisy input (clean + Gaussian noise from a fixed seed per image, clipped to
[0, 1] because both implementations take [0, 1] images), same run. Prints, per set and noise
level, the mean PSNR and the mean time per image of each configuration, with the PSNR difference
and the time ratio against scikit-image's BayesShrink.

    python bench/bench_wavelet.py                 # Set12, sigma 15/25/50
    python bench/bench_wavelet.py --full          # Set12 and BSD68
    python bench/bench_wavelet.py --per-image     # also one row per image
    python bench/bench_wavelet.py --sets CBSD68   # colour (both sides denoise in YCbCr)
    python bench/bench_wavelet.py --speed --threads 2 --no-4k     # CPU: 512^2 gray, 1080p RGB
    python bench/bench_wavelet.py --speed --device cuda           # GPU: 512^2 gray, 1080p and 4K RGB, peak memory

Speed mode: our defaults (SureShrink, garrote, stationary, bior1.3, YCbCr) and our BayesShrink
decimated db4 against scikit-image denoise_wavelet (BayesShrink, soft, db4, YCbCr for colour, on
the CPU), the same noisy input, warm-up call excluded, median of ``--repeat`` runs (CUDA
synchronised), peak GPU memory of our runs, ratios against scikit-image.

Ours: BayesShrink decimated (at the reference's wavelet), BayesShrink stationary and the default
(SureShrink, garrote, stationary, bior1.3); VisuShrink decimated at the reference's wavelet for an
equal comparison with the reference's VisuShrink, and BayesShrink cycle-spun over 4x4 shifts at the
reference's wavelet. Reference: scikit-image denoise_wavelet with method BayesShrink and VisuShrink,
mode soft, rescale_sigma=True, its own automatic levels; and skimage.restoration.cycle_spin of its
BayesShrink over the same 4x4 shifts (max_shifts=3), a translation-invariant peer of our stationary path.
"""

from __future__ import annotations

import argparse
import inspect

import common
import numpy as np
import torch
from skimage.restoration import cycle_spin, denoise_wavelet

from restorekit.denoise.wavelet import wavelet_denoise
from restorekit.errors import DatasetNotFoundError


def _ours(kwargs):
    def run(x: torch.Tensor, device: str) -> torch.Tensor:
        return wavelet_denoise(x.to(device), **kwargs).cpu()

    return run


# scikit-image 0.26 renamed cycle_spin's num_workers to workers; one worker either way (no dask here).
_ONE_WORKER = {"workers": 1} if "workers" in inspect.signature(cycle_spin).parameters else {"num_workers": 1}


def _skimage(method: str, wavelet: str, shifts: int = 1):
    def run(x: torch.Tensor, device: str) -> torch.Tensor:
        arr = x[0].permute(1, 2, 0).numpy()
        channel_axis = -1 if arr.shape[-1] == 3 else None
        if channel_axis is None:
            arr = arr[..., 0]
        kw = dict(
            wavelet=wavelet,
            method=method,
            mode="soft",
            rescale_sigma=True,
            channel_axis=channel_axis,
            convert2ycbcr=channel_axis is not None,
        )
        if shifts > 1:
            out = cycle_spin(
                arr, denoise_wavelet, max_shifts=shifts - 1, func_kw=kw, channel_axis=channel_axis, **_ONE_WORKER
            )
        else:
            out = denoise_wavelet(arr, **kw)
        out = np.asarray(out, dtype=np.float32)
        if out.ndim == 2:
            out = out[..., None]
        return torch.from_numpy(out).permute(2, 0, 1).unsqueeze(0)

    return run


def _speed_image(c: int, h: int, w: int) -> torch.Tensor:
    """A Set12 (gray) / CBSD68 (RGB) image tiled to ``h x w`` plus Gaussian noise of sigma 25, clipped."""
    try:
        x = common.load_image(common.image_paths("Set12" if c == 1 else "CBSD68")[0], gray=c == 1)
    except DatasetNotFoundError:
        x = common.smooth_random(1, c, 256, 256, seed=0)
    reps = (h + x.shape[-2] - 1) // x.shape[-2], (w + x.shape[-1] - 1) // x.shape[-1]
    x = x.repeat(1, 1, *reps)[:, :, :h, :w].contiguous()
    return common.noisy_images([x], 25.0, clip=True)[0]


def speed(args: argparse.Namespace) -> None:
    """Times of our defaults and of scikit-image at 512^2 gray, 1080p RGB and 4K RGB."""
    device = torch.device(args.device)
    cases = [("gray 512x512", 1, 512, 512), ("RGB 1920x1080", 3, 1080, 1920), ("RGB 3840x2160", 3, 2160, 3840)]
    if args.no_4k:
        cases = cases[:2]
    print(f"device: {common.device_name(device)}; torch threads {torch.get_num_threads()}; median of {args.repeat} "
          f"runs after one warm-up; scikit-image on the CPU (numpy)")
    rows = []
    for label, c, h, w in cases:
        noisy = _speed_image(c, h, w)
        x = noisy.to(device)
        ours = common.time_repeats(lambda x=x: wavelet_denoise(x), device=device, repeat=args.repeat, memory=True)
        ours_dec = common.time_repeats(
            lambda x=x: wavelet_denoise(x, method="bayes", mode="soft", transform="decimated", wavelet="db4"),
            device=device, repeat=args.repeat, memory=True,
        )
        if args.no_reference:
            ref = None
        else:
            sk = _skimage("BayesShrink", "db4")
            ref = common.time_repeats(lambda noisy=noisy, sk=sk: sk(noisy, "cpu"), device=None, repeat=args.repeat).median
        rows.append([
            label,
            common.fmt(1000 * ours.median, ".1f"),
            common.fmt(ours.peak_gib, ".2f"),
            common.fmt(1000 * ours_dec.median, ".1f"),
            common.fmt(None if ref is None else 1000 * ref, ".1f"),
            common.fmt_ratio(ours.median, ref),
            common.fmt_ratio(ours_dec.median, ref),
        ])
    common.print_table(
        ["size", "ours default ms", "peak GiB", "ours bayes dec db4 ms", "skimage bayes db4 ms",
         "default/skimage", "bayes dec/skimage"],
        rows,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_device_argument(ap, help="where our denoiser runs (cpu or cuda); scikit-image always runs on the CPU")
    ap.add_argument("--full", action="store_true", help="Set12 and BSD68 (default: Set12 only)")
    ap.add_argument("--sets", nargs="+", help="explicit sets instead, e.g. CBSD68 Set3C (colour: YCbCr on both sides)")
    ap.add_argument("--sigmas", type=float, nargs="+", default=[15.0, 25.0, 50.0], help="noise levels, 0-255")
    ap.add_argument("--wavelet", default="db4", help="wavelet of the reference and of our decimated runs")
    common.add_threads_argument(
        ap,
        default=1,
        help="torch intra-op threads (default 1: the reference is single-threaded numpy, and on a busy "
        "2-core machine torch's thread pool makes small tensor operations slow)",
    )
    ap.add_argument("--per-image", action="store_true", help="print one row per image too")
    ap.add_argument("--images", type=int, default=0, help="only the first N images of each set (0 = all)")
    ap.add_argument("--speed", action="store_true", help="time 512^2 gray, 1080p RGB and 4K RGB instead")
    ap.add_argument("--no-4k", action="store_true", help="speed mode: skip 4K (slow on a CPU)")
    ap.add_argument("--no-reference", action="store_true", help="speed mode: skip scikit-image")
    ap.add_argument("--repeat", type=int, default=3, help="speed mode: timed runs per size (median)")
    args = ap.parse_args()
    common.get_device(args.device)
    common.set_threads(args.threads)
    if args.speed:
        speed(args)
        return

    w = args.wavelet
    methods = {
        f"ours bayes decimated {w}": _ours(dict(method="bayes", mode="soft", transform="decimated", wavelet=w)),
        "ours bayes stationary bior1.3": _ours(dict(method="bayes", mode="soft", transform="stationary")),
        "ours default (sure garrote stationary bior1.3)": _ours({}),
        f"ours visu decimated {w}": _ours(dict(method="visu", mode="soft", transform="decimated", wavelet=w)),
        f"ours bayes cycle-spin 4x4 {w}": _ours(dict(method="bayes", mode="soft", transform="cycle_spin", wavelet=w)),
        f"skimage BayesShrink {w}": _skimage("BayesShrink", w),
        f"skimage VisuShrink {w}": _skimage("VisuShrink", w),
        f"skimage BayesShrink cycle-spin 4x4 {w}": _skimage("BayesShrink", w, shifts=4),
    }
    reference = f"skimage BayesShrink {w}"
    reference_ti = f"skimage BayesShrink cycle-spin 4x4 {w}"
    sets = args.sets or (["Set12"] + (["BSD68"] if args.full else []))
    print(
        f"torch threads {torch.get_num_threads()}, device {args.device}; noisy input clipped to [0, 1]; "
        f"PSNR on 8-bit quantised results; times per image (mean)"
    )
    for set_name in sets:
        paths = common.image_paths(set_name)[: args.images or None]
        cleans = [common.load_image(p) for p in paths]
        for sigma in args.sigmas:
            noisies = common.noisy_images(cleans, sigma, clip=True)
            psnr = {name: [] for name in methods}
            secs = {name: [] for name in methods}
            for name, fn in methods.items():
                fn(noisies[0], args.device)  # warm-up
                for clean, noisy in zip(cleans, noisies, strict=True):
                    out, t = common.timed(fn, noisy, args.device, device=args.device)
                    secs[name].append(t)
                    psnr[name].append(common.psnr(out, clean))
            noisy_psnr = np.mean([common.psnr(n, c) for n, c in zip(noisies, cleans, strict=True)])
            ref_p, ref_t = np.mean(psnr[reference]), np.mean(secs[reference])
            ti_p, ti_t = np.mean(psnr[reference_ti]), np.mean(secs[reference_ti])
            print(f"\n{set_name} ({len(cleans)} images), sigma {sigma:g}: noisy input {noisy_psnr:.2f} dB")
            print(f"dPSNR, t/t_ref: against {reference}; dPSNR_cs, t/t_cs: against {reference_ti}")
            print(
                f"{'method':48s} {'PSNR':>7s} {'dPSNR':>7s} {'dPSNR_cs':>8s} {'ms/img':>8s} {'t/t_ref':>8s} "
                f"{'t/t_cs':>7s}"
            )
            for name in methods:
                p, t = np.mean(psnr[name]), np.mean(secs[name])
                print(
                    f"{name:48s} {p:7.2f} {p - ref_p:+7.2f} {p - ti_p:+8.2f} {1000 * t:8.1f} {t / ref_t:8.2f} "
                    f"{t / ti_t:7.2f}"
                )
            if args.per_image:
                short = list(methods)
                print("per image PSNR: " + " | ".join(f"{i}: {n}" for i, n in enumerate(short)))
                for k, p in enumerate(paths):
                    print(f"  {p.stem:10s} " + " ".join(f"{psnr[n][k]:6.2f}" for n in short))


if __name__ == "__main__":
    common.run(main)
