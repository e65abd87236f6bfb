"""Benchmark: our PSNR / SSIM / noise estimate against scikit-image on the same images.

Runs on Set12 (noisy sigma 25 vs clean, per image, and the seven 256 x 256 images as one batch)
and on a 1920 x 1080 RGB image (CBSD68's first image resized, noisy sigma 15). With ``--full``
BSD68 is added. Prints, per case: our value, scikit-image's value, our time, scikit-image's
time and the speed ratio (reference time / our time; above 1 = we are faster).

    python bench/bench_metrics.py [--device cpu|cuda] [--full] [--repeats N] [--threads N]
"""

from __future__ import annotations

import argparse

import common
import numpy as np
import torch
import torch.nn.functional as F

from restorekit.image import to_numpy
from restorekit.quality import metrics as M
from restorekit.quality.noise import estimate_sigma


def _sk():
    """scikit-image's psnr, ssim and estimate_sigma (None where missing; estimate_sigma needs PyWavelets)."""
    try:
        from skimage.metrics import peak_signal_noise_ratio, structural_similarity
        from skimage.restoration import estimate_sigma as sk_estimate_sigma
    except ImportError:
        return None
    try:
        import pywt  # noqa: F401
    except ImportError:
        sk_estimate_sigma = None
    return peak_signal_noise_ratio, structural_similarity, sk_estimate_sigma


def _pairs_numpy(noisy: list[torch.Tensor], clean: list[torch.Tensor]) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for n, c in zip(noisy, clean, strict=True):
        a, b = to_numpy(n)[0], to_numpy(c)[0]
        if a.shape[-1] == 1:
            a, b = a[..., 0], b[..., 0]
        out.append((a, b))
    return out


def bench_case(name, noisy, clean, device, repeats, rows, batched=False):
    """Time PSNR, SSIM and noise estimation over a list of images (or one batch when ``batched``)."""
    sk = _sk()
    dev_noisy = [n.to(device) for n in noisy]
    dev_clean = [c.to(device) for c in clean]
    if batched:
        dev_noisy, dev_clean = [torch.cat(dev_noisy)], [torch.cat(dev_clean)]
    pairs = _pairs_numpy(noisy, clean)
    rgb = noisy[0].shape[1] == 3
    kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
    if rgb:
        kw["channel_axis"] = -1

    def ours(fn):
        return lambda: torch.cat([fn(n, c) for n, c in zip(dev_noisy, dev_clean, strict=True)]).cpu()

    cases = [
        ("PSNR dB", ours(M.psnr), (lambda: [sk[0](b, a, data_range=1.0) for a, b in pairs]) if sk else None),
        ("SSIM", ours(M.ssim), (lambda: [sk[1](a, b, **kw) for a, b in pairs]) if sk else None),
        (
            "noise sigma (0-255)",
            lambda: torch.cat([estimate_sigma(n).mean(dim=1) * 255 for n in dev_noisy]).cpu(),
            (lambda: [255 * sk[2](a, channel_axis=-1 if rgb else None, average_sigmas=True) for a, _ in pairs])
            if sk and sk[2]
            else None,
        ),
    ]
    for metric, fn_ours, fn_ref in cases:
        ours_t = common.time_repeats(fn_ours, device, repeats)
        v_ours, t_ours = float(torch.as_tensor(ours_t.result).double().mean()), ours_t.median_ms
        if fn_ref is not None:
            ref_t = common.time_repeats(fn_ref, None, repeats)
            v_ref, t_ref = float(np.mean(ref_t.result)), ref_t.median_ms
        else:
            v_ref, t_ref = float("nan"), float("nan")
        rows.append((name, metric, v_ours, v_ref, t_ours, t_ref, common.ratio(t_ref, t_ours)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_device_argument(parser)
    parser.add_argument("--full", action="store_true", help="add BSD68 (68 images)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=0, help="only the first N Set12 images (0 = all 12)")
    parser.add_argument("--big-size", type=int, nargs=2, metavar=("H", "W"), default=[1080, 1920],
                        help="size of the resized RGB image (default 1080 1920)")
    common.add_threads_argument(parser, help="torch CPU threads (0 = torch's default; scikit-image uses one)")
    args = parser.parse_args()
    common.set_threads(args.threads)
    device = common.get_device(args.device)

    rows: list[tuple] = []
    clean12 = common.load_set("Set12", gray=True)[: args.images or None]
    noisy12 = common.noisy_images(clean12, 25, clip=True)
    bench_case(f"Set12 ({len(clean12)} imgs, s=25)", noisy12, clean12, device, args.repeats, rows)
    small = [i for i, c in enumerate(clean12) if c.shape[-1] == 256]
    bench_case(
        f"Set12 256px batch of {len(small)}",
        [noisy12[i] for i in small],
        [clean12[i] for i in small],
        device,
        args.repeats,
        rows,
        batched=True,
    )

    src = common.load_image(common.image_paths("CBSD68")[0], gray=False)
    h, w = args.big_size
    big = F.interpolate(src, size=(h, w), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
    bench_case(
        f"{w}x{h} RGB (s=15)",
        [common.add_noise(big, 15, seed=7).clamp(0, 1)],
        [big],
        device,
        args.repeats,
        rows,
    )

    if args.full:
        clean68 = common.load_set("BSD68", gray=True)
        noisy68 = common.noisy_images(clean68, 25, clip=True)
        bench_case("BSD68 (68 imgs, s=25)", noisy68, clean68, device, args.repeats, rows)

    print(
        f"device: {common.device_name(device)}; torch {torch.__version__}; "
        f"times are medians of {args.repeats} runs after a warm-up"
    )
    header = ("case", "metric", "ours", "skimage", "ours ms", "skimage ms", "ratio")
    print(
        f"{header[0]:<26} {header[1]:<20} {header[2]:>9} {header[3]:>9} {header[4]:>9} {header[5]:>10} {header[6]:>7}"
    )
    for case, metric, vo, vr, to, tr, ratio in rows:
        print(f"{case:<26} {metric:<20} {vo:>9.4f} {vr:>9.4f} {to:>9.2f} {tr:>10.2f} {ratio:>7.2f}")


if __name__ == "__main__":
    common.run(main)
