"""Benchmark: Deep Image Prior against CBM3D on CBSD68 crops, and DIP's time to result on one 1080p image.

Same noisy images (white Gaussian noise, fixed seeds, clipped to [0, 1]) for both methods:

- ``DIP``: :func:`restorekit.learned.dip.deep_image_prior` with the given settings (defaults = the
  node's defaults), on ``--device``; the noise level for the stopping rule is estimated (no clean
  image, no true sigma is given to it).
- ``CBM3D``: ``bm3d.bm3d_rgb`` of the ``bm3d`` package (profile "np", opponent colour space) with
  the true sigma, on the CPU (gray sets: ``bm3d.bm3d``).
- ``--oracle``: also records DIP's PSNR against the clean image every 10 iterations (a diagnostic
  for tuning the stopping rule): the best PSNR reached, at which iteration, and the ratio
  ``mean((avg - noisy)^2) / sigma_est^2`` there (the rule stops at ``--discrepancy``).

Then (unless ``--no-hd``) the time to result of one 1920x1080 RGB image (the first landscape
CBSD68 image resized to 1920x1080, plus noise), after a short warm-up run at that size; on CUDA synchronised before each
clock reading. Prints iterations, stop reason, ms per iteration.

    python bench/bench_dip.py --tiny --threads 1                     # CPU smoke run (2 crops 48x48, small net)
    python bench/bench_dip.py --device cuda                # 6 CBSD68 crops 256x256, sigma 25, + 1080p
    python bench/bench_dip.py --device cuda --oracle --no-hd
    python bench/bench_dip.py --device cuda --full         # all 68 images (crops)
    python bench/bench_dip.py --device cuda --variants "" "padding=zeros" "width=48"   # compare settings
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect

import common
import numpy as np
import torch
from torch.nn import functional as F

from restorekit.image import from_numpy, to_numpy
from restorekit.learned import dip


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    size = min(size, h, w)
    top, left = (h - size) // 2, (w - size) // 2
    return x[:, :, top : top + size, left : left + size]


def reference(noisy: torch.Tensor, sigma: float) -> torch.Tensor:
    import bm3d

    arr = to_numpy(noisy)[0]
    if arr.shape[-1] == 3:
        out = bm3d.bm3d_rgb(arr, sigma)
    else:
        out = bm3d.bm3d(arr[:, :, 0], sigma)[:, :, None]
    return from_numpy(np.asarray(out, dtype=np.float32)[None], noisy)


def dip_kwargs(a: argparse.Namespace) -> dict:
    return {
        "iterations": a.iterations,
        "learning_rate": a.lr,
        "width": a.width,
        "depth": a.depth,
        "input_channels": a.input_channels,
        "input_noise": a.input_noise,
        "ema": a.ema,
        "discrepancy": a.discrepancy,
        "stop_rule": a.stop_rule,
        "early_stop": not a.no_early_stop,
        "precision": a.precision,
        "padding": a.padding,
        "seed": 0,
    }


def dip_settings(kw: dict) -> dip.DipSettings:
    """The :class:`dip.DipSettings` that :func:`dip.deep_image_prior` builds from keywords ``kw`` (others: defaults)."""
    defaults = {
        name: p.default for name, p in inspect.signature(dip.deep_image_prior).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    values = {**defaults, **kw}
    return dip.DipSettings(**{f.name: values[f.name] for f in dataclasses.fields(dip.DipSettings)})


def run_oracle(noisy: torch.Tensor, clean: torch.Tensor, kw: dict) -> tuple[torch.Tensor, dict, tuple]:
    """One DIP fit with a PSNR trace (slower: a sync every 10 iterations)."""
    from restorekit.learned.training import gradients_enabled, trainable_copy
    from restorekit.quality.noise import estimate_sigma

    s = dip_settings(kw)
    var = float(estimate_sigma(noisy).square().mean())
    amp = dip._precision(noisy.device, kw["precision"])
    clean_d = clean.to(noisy.device)
    trace: list[tuple[int, float, float]] = []

    def hook(it, x, ema, v):
        if it % 10 == 0:
            mse = float(F.mse_loss(ema.clamp(0, 1), clean_d))
            trace.append((it, 10 * np.log10(1 / max(mse, 1e-12)), float(F.mse_loss(ema, noisy)) / var))

    with gradients_enabled():
        out, info = dip._fit_one(trainable_copy(noisy), s, amp, var, None, hook)
    best = max(trace, key=lambda r: r[1]) if trace else (0, float("nan"), float("nan"))
    return out, info, best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_device_argument(ap)
    ap.add_argument("--full", action="store_true", help="all 68 CBSD68 images")
    ap.add_argument("--images", type=int, default=6)
    ap.add_argument("--size", type=int, default=256, help="centre crop side")
    ap.add_argument("--sigma", type=float, default=25.0, help="noise std, 0-255")
    ap.add_argument("--set", default="CBSD68")
    ap.add_argument("--iterations", type=int, default=3000)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--depth", type=int, default=5)
    ap.add_argument("--input-channels", type=int, default=32)
    ap.add_argument("--input-noise", type=float, default=1 / 30)
    ap.add_argument("--ema", type=float, default=0.99)
    ap.add_argument("--discrepancy", type=float, default=0.75)
    ap.add_argument("--stop-rule", default="noise", choices=dip.STOP_RULES)
    ap.add_argument("--no-early-stop", action="store_true")
    ap.add_argument("--padding", default="reflect", choices=("reflect", "zeros"))
    ap.add_argument("--precision", default="auto", choices=dip.PRECISIONS)
    ap.add_argument("--oracle", action="store_true", help="trace DIP's PSNR against the clean image")
    ap.add_argument("--no-ref", action="store_true", help="skip CBM3D")
    ap.add_argument("--no-hd", action="store_true", help="skip the 1080p timing")
    ap.add_argument(
        "--hd-size",
        type=int,
        nargs=2,
        default=[1080, 1920],
        metavar=("H", "W"),
        help="size of the timed image (default 1080p)",
    )
    ap.add_argument("--hd-only", action="store_true", help="only the 1080p timing")
    ap.add_argument(
        "--variants",
        nargs="*",
        default=None,
        help='extra settings to compare on the same images, e.g. "width=48" "lr=0.005,padding=zeros"; '
        '"" = the base settings',
    )
    common.add_threads_argument(ap)
    ap.add_argument("--tiny", action="store_true", help="CPU smoke configuration: 2 crops 48x48, width 16, 200 its")
    a = ap.parse_args()
    if a.tiny:
        a.images, a.size, a.width, a.depth, a.iterations, a.no_hd = 2, 48, 16, 4, 200, True
    common.set_threads(a.threads)
    device = common.get_device(a.device)
    torch.manual_seed(0)
    base = dip_kwargs(a)
    variants = [(v or "base", {**base, **parse_variant(v)}) for v in (a.variants or [""])]
    sigma = a.sigma / 255
    print(f"DIP base settings: {base}; device {device}")
    summary: dict[str, list[str]] = {name: [] for name, _ in variants}

    if not a.hd_only:
        paths = common.image_paths(a.set)
        if not a.full:
            paths = paths[: a.images]
        cleans = [center_crop(common.load_image(path), a.size) for path in paths]
        noisies = common.noisy_images(cleans, a.sigma, clip=True)
        cases = [(path.stem, c, n) for path, c, n in zip(paths, cleans, noisies, strict=True)]
        refs: list[tuple[float, float]] = []
        for _, clean, noisy in cases:
            if a.no_ref:
                refs.append((float("nan"), float("nan")))
                continue
            out, t = common.timed(reference, noisy, sigma)
            refs.append((common.psnr(out, clean), t))
        # warm-up (CUDA context, cuDNN) on a small image
        dip.deep_image_prior(torch.rand(1, 3, 64, 64, device=device), **{**base, "iterations": 20})
        for name, kw in variants:
            rows = []
            print(f"\n[{name}] {a.set} centre crops {a.size}x{a.size}, sigma {a.sigma:g}")
            head = (
                f"{'image':>10} {'noisy':>6} {'DIP':>6} {'CBM3D':>6} {'diff':>6} {'its':>5} {'t DIP':>7} {'t CBM3D':>7}"
            )
            print(head + (f" {'peak':>6} {'@it':>5} {'ratio':>6}" if a.oracle else ""))
            for (stem, clean, noisy), (p_ref, t_ref) in zip(cases, refs, strict=True):
                nd = noisy.to(device)
                if a.oracle:
                    (out, info, best), t_dip = common.timed(run_oracle, nd, clean, kw, device=device)
                    its = info["iterations"]
                else:
                    (out, rep), t_dip = common.timed(dip.deep_image_prior, nd, **kw, return_info=True, device=device)
                    its = rep["iterations"][0]
                p_noisy, p_dip = common.psnr(noisy, clean), common.psnr(out.cpu(), clean)
                rows.append((p_noisy, p_dip, p_ref, its, t_dip, t_ref))
                line = (
                    f"{stem:>10} {p_noisy:6.2f} {p_dip:6.2f} {p_ref:6.2f} {p_dip - p_ref:6.2f} {its:5d} "
                    f"{t_dip:7.2f} {t_ref:7.2f}"
                )
                if a.oracle:
                    line += f" {best[1]:6.2f} {best[0]:5d} {best[2]:6.3f}"
                print(line, flush=True)
            m = np.mean(np.array(rows, dtype=np.float64), axis=0)
            print(
                f"{'mean':>10} {m[0]:6.2f} {m[1]:6.2f} {m[2]:6.2f} {m[1] - m[2]:6.2f} {m[3]:5.0f} {m[4]:7.2f} {m[5]:7.2f}"
            )
            summary[name].append(
                f"crops: DIP {m[1]:.2f} dB vs CBM3D {m[2]:.2f} dB ({m[1] - m[2]:+.2f}), "
                f"{m[3]:.0f} its, {m[4]:.2f} s/crop"
            )

    if not a.no_hd:
        clean = next(
            im for im in map(common.load_image, common.image_paths(a.set)) if im.shape[-1] > im.shape[-2]
        )
        clean = F.interpolate(clean, size=tuple(a.hd_size), mode="bicubic", align_corners=False).clamp(0, 1)
        noisy = common.add_noise(clean, a.sigma, seed=0).clamp(0, 1).to(device)
        for name, kw in variants:
            print(f"\n[{name}] time to result: one image {tuple(noisy.shape)}")
            common.reset_peak_memory(device)
            _, t = common.timed(
                dip.deep_image_prior, noisy, **{**kw, "iterations": 20, "early_stop": False}, device=device
            )
            print(f"  warm-up (20 iterations, cuDNN autotuning at this size): {t:.2f} s")
            (out, rep), dt = common.timed(dip.deep_image_prior, noisy, **kw, return_info=True, device=device)
            its = rep["iterations"][0]
            print(
                f"  {dt:.2f} s, {its} iterations ({rep['stop_reason'][0]}), {1000 * dt / its:.2f} ms/iteration, "
                f"{rep['precision']}; PSNR {common.psnr(noisy.cpu(), clean):.2f} -> "
                f"{common.psnr(out.cpu(), clean):.2f} (enlarged source: smoother than a real photo)"
            )
            mem = ""
            if device.type == "cuda":
                mem = f", peak GPU memory {common.peak_memory_gib(device):.2f} GiB"
                print(f"  {mem[2:]}")
            summary[name].append(
                f"{a.hd_size[0]}x{a.hd_size[1]}: {dt:.2f} s, {its} its, {1000 * dt / its:.2f} ms/it{mem}"
            )

    print("\nSummary")
    for name, parts in summary.items():
        print(f"  [{name}] " + "; ".join(parts))


def parse_variant(text: str) -> dict:
    """``"width=48,lr=0.005"`` -> overrides of :func:`deep_image_prior` keywords (``lr`` = learning_rate)."""
    out: dict = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, _, value = item.partition("=")
        key = {"lr": "learning_rate"}.get(key.strip(), key.strip())
        value = value.strip()
        if value.lower() in ("true", "false"):
            out[key] = value.lower() == "true"
        else:
            try:
                out[key] = int(value)
            except ValueError:
                try:
                    out[key] = float(value)
                except ValueError:
                    out[key] = value
    return out


if __name__ == "__main__":
    common.run(main)
