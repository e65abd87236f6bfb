"""Noise2Void benchmark: BSD68 at sigma 25 (quality) and time to result for one 1080p image (speed).

Quality: the noisy BSD68 images (gray, white Gaussian noise sigma 25, seed = image index, not
clipped as in the standard protocol; ``--clip`` clips like a ComfyUI image) form one batch, as the
node does with a batch: one network is trained on patches from all of them, then applied to each.
Portrait images are rotated to landscape so that all 68 share one tensor (and rotated back).
Reference figures: Noise2Void paper (Krull et al. 2019) 27.71 dB; the same images through
restorekit's wavelet denoiser (BayesShrink, known sigma) as a classical baseline from the same run.

Speed: one 1920x1080 RGB image (a mosaic of CBSD68 images, sigma 25, clipped) through the node's
defaults, timed end to end (training + inference, after a warm-up run, CUDA synchronised).

Examples:
    python bench/bench_n2v.py --device cuda --full            # BSD68 68 images + 1080p timing
    python bench/bench_n2v.py --device cuda --count 8          # quick subset
    python bench/bench_n2v.py --device cuda --full --skip-1080p --steps 4000,10000 --lr 1e-3,2e-3   # grid
    python bench/bench_n2v.py --device cpu --count 2 --steps 30 --width 8 --skip-1080p   # smoke run
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys

import common
import torch

from restorekit.denoise.wavelet import wavelet_denoise
from restorekit.learned.n2v import noise2void
from restorekit.params import get_operation

PAPER_BSD68_SIGMA25 = 27.71


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def ints(text: str) -> list[int]:
    return [int(v) for v in str(text).split(",")]


def floats(text: str) -> list[float]:
    return [float(v) for v in str(text).split(",")]


def node_defaults(device: torch.device) -> dict:
    """The Noise2Void node's default settings on ``device``, its automatic (0) ones resolved as the node does."""
    op = get_operation("noise2void")
    defaults = {p.name: p.default for p in op.inputs if not p.is_data}
    automatic = sys.modules[op.func.__module__].automatic_budget(device)
    return {k: (automatic.get(k, v) if v == 0 and k in automatic else v) for k, v in defaults.items()}


def bsd68_batch(count: int | None, sigma: float, clip: bool) -> tuple[torch.Tensor, torch.Tensor, list[bool]]:
    """Clean and noisy BSD68 (gray) as one landscape batch; ``rotated[i]`` marks portrait images."""
    originals = [common.load_image(p, gray=True) for p in common.image_paths("BSD68")[: count or None]]
    cleans, noisies, rotated = [], [], []
    for clean, noisy in zip(originals, common.noisy_images(originals, sigma, clip=clip), strict=True):
        rot = clean.shape[-2] > clean.shape[-1]
        if rot:
            clean, noisy = clean.rot90(1, (-2, -1)), noisy.rot90(1, (-2, -1))
        cleans.append(clean)
        noisies.append(noisy)
        rotated.append(rot)
    h = min(c.shape[-2] for c in cleans)
    w = min(c.shape[-1] for c in cleans)
    if any(c.shape[-2:] != (h, w) for c in cleans):
        print(f"note: cropping all images to {h}x{w} to form one batch")
    return (torch.cat([c[..., :h, :w] for c in cleans]), torch.cat([n[..., :h, :w] for n in noisies]), rotated)


def mosaic_1080p(sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A 1920x1080 RGB image tiled from CBSD68 images, and its noisy (clipped) version."""
    imgs = [im if im.shape[-2] < im.shape[-1] else im.rot90(1, (-2, -1)) for im in common.load_set("CBSD68")[:16]]
    rows = [torch.cat([imgs[r * 4 + c][..., :321, :481] for c in range(4)], dim=-1) for r in range(4)]
    clean = torch.cat(rows, dim=-2)[..., :1080, :1920].contiguous()
    return clean, common.add_noise(clean, sigma, seed=1080).clamp(0, 1)


def main() -> None:
    defaults = node_defaults(torch.device("cpu"))  # mask ratio, learning rate, depth: the same on every device
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_device_argument(ap)
    ap.add_argument("--full", action="store_true", help="all 68 BSD68 images (default: --count)")
    ap.add_argument("--count", type=int, default=8, help="BSD68 images in the quick subset")
    ap.add_argument("--sigma", type=float, default=25.0)
    ap.add_argument("--clip", action="store_true", help="clip the noisy BSD68 images to [0, 1] (as ComfyUI would)")
    ap.add_argument("--steps", default="4000", help="training steps for BSD68 (comma-separated list: one run each)")
    ap.add_argument("--patches", default="128", help="patches per step for BSD68 (list allowed)")
    ap.add_argument("--patch-size", type=int, default=64)
    ap.add_argument("--mask-ratio", type=float, default=defaults["mask_ratio"])
    ap.add_argument("--lr", default=str(defaults["learning_rate"]), help="learning rate (list allowed)")
    ap.add_argument("--width", default=None, help="U-Net width (list allowed; default: the node's on --device)")
    ap.add_argument("--depth", type=int, default=defaults["depth"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fp32", action="store_true", help="no mixed precision on CUDA")
    ap.add_argument("--no-ensemble", action="store_true", help="no 8-fold self-ensemble at inference")
    ap.add_argument("--nondeterministic", action="store_true", help="let cuDNN pick non-deterministic algorithms")
    ap.add_argument("--skip-bsd68", action="store_true")
    ap.add_argument("--skip-1080p", action="store_true")
    ap.add_argument("--steps-1080p", type=int, default=None,
                    help="steps for the 1080p timing (default: the node's on --device)")
    args = ap.parse_args()
    if args.device == "cpu":
        torch.set_num_threads(min(torch.get_num_threads(), 2))
    device = common.get_device(args.device)
    defaults = node_defaults(device)
    args.width = args.width or str(defaults["width"])
    args.steps_1080p = args.steps_1080p or defaults["steps"]

    # warm-up (CUDA context, cuDNN kernels, allocator)
    warm = torch.rand(1, 3, 128, 128, device=device)
    noise2void(warm, steps=5, patches_per_step=8, width=ints(args.width)[0], depth=args.depth, allow_half=not args.fp32)
    common.sync(device)

    if not args.skip_bsd68:
        clean, noisy, _rot = bsd68_batch(None if args.full else args.count, args.sigma, args.clip)
        n = clean.shape[0]
        print(f"BSD68: {n} images {clean.shape[-2]}x{clean.shape[-1]} (landscape), sigma {args.sigma:g}, "
              f"{'clipped' if args.clip else 'not clipped'}; device {args.device}; paper (N2V) {PAPER_BSD68_SIGMA25} dB")
        ref, t_ref = common.timed(wavelet_denoise, noisy.clamp(0, 1), sigma=args.sigma / 255)
        p_noisy = mean([common.psnr(noisy[i], clean[i]) for i in range(n)])
        p_ref = mean([common.psnr(ref[i], clean[i]) for i in range(n)])
        x = noisy.to(device)
        rows = []
        for steps, width, lr, patches in itertools.product(ints(args.steps), ints(args.width), floats(args.lr),
                                                            ints(args.patches)):
            (out, info), t_ours = common.timed(
                noise2void,
                x, steps=steps, patch_size=args.patch_size, patches_per_step=patches, mask_ratio=args.mask_ratio,
                learning_rate=lr, width=width, depth=args.depth, seed=args.seed, allow_half=not args.fp32,
                self_ensemble=not args.no_ensemble, deterministic=not args.nondeterministic, return_info=True,
                device=device,
            )
            out = out.cpu()
            p_ours = mean([common.psnr(out[i], clean[i]) for i in range(n)])
            print(f"  steps {steps} x {patches} patches {info['patch_size']}, mask {100 * info['mask_ratio']:.2f}%, "
                  f"width {width}, depth {info['depth']}, lr {lr:g}, {info['precision']}, self-ensemble "
                  f"{info['self_ensemble']}: {p_ours:.2f} dB in {t_ours:.1f} s (train {info['train_seconds']:.1f} s, "
                  f"inference {info['inference_seconds']:.2f} s); loss curve "
                  + ", ".join(f"{s_}:{v:.5f}" for s_, v in info["loss_curve"]), flush=True)
            rows.append((f"s{steps} w{width} lr{lr:g} p{patches}", p_ours, t_ours))
        print()
        name = "BSD68" + ("" if args.full else f"[{n}]")
        print(f"{'set':<10}{'config':<26}{'noisy':>7}{'N2V ours':>10}{'wavelet':>9}{'paper':>7}{'t ours s':>10}"
              f"{'t wavelet s':>12}{'ratio':>7}")
        for config, p_ours, t_ours in rows:
            print(f"{name:<10}{config:<26}{p_noisy:7.2f}{p_ours:10.2f}{p_ref:9.2f}{PAPER_BSD68_SIGMA25:7.2f}"
                  f"{t_ours:10.1f}{t_ref:12.1f}{t_ours / t_ref:7.1f}")
        print("target: >= 27.5 dB on the full set (--full)")

    if not args.skip_1080p:
        clean, noisy = mosaic_1080p(args.sigma)
        x = noisy.to(device)
        kw = {k: v for k, v in defaults.items() if k not in ("steps",)}
        common.reset_peak_memory(device)
        (out, info), t = common.timed(noise2void, x, steps=args.steps_1080p, allow_half=not args.fp32,
                                      deterministic=not args.nondeterministic, **kw, return_info=True, device=device)
        print()
        print(f"1080p RGB (1920x1080, sigma {args.sigma:g}), node defaults ({info['steps']} steps x {info['patches']} "
              f"patches {info['patch_size']}, width {info['width']}): {t:.1f} s total (train {info['train_seconds']:.1f}"
              f" s, inference {info['inference_seconds']:.2f} s, tile {info['tile']}), {info['precision']}, "
              f"PSNR {common.psnr(noisy, clean):.2f} -> {common.psnr(out, clean):.2f} dB; target <= 20 s on H100")
        if device.type == "cuda":
            print(f"peak GPU memory {common.peak_memory_gib(device):.2f} GiB")
        if not math.isfinite(t):
            raise SystemExit(1)


if __name__ == "__main__":
    common.run(main)
