"""Benchmark: the built-in denoiser (and FFDNet through our loader) on the standard sets, plus its speed.

Quality: CBSD68 (RGB) and Set12 / BSD68 (gray) at sigma 15 / 25 / 50, additive white Gaussian noise with the
datasets' protocol (seed = image index), clipped to [0, 1] as a node sees it; mean PSNR of the built-in
denoiser with the sigma given ("known") and estimated ("blind"), and the same two rows for FFDNet when its
published weights are given (``--ffdnet`` colour, ``--ffdnet-gray`` gray; loaded by restorekit's loader and
run by restore_with_model, blind = the loader's estimate). Speed: 1080p RGB in bf16 and fp32 on CUDA, and
512x512 RGB on the CPU (median of ``--repeat`` runs after one warm-up).

  python bench/bench_builtin.py --limit 4 --crop 256                 # quick, CPU
  python bench/bench_builtin.py --device cuda --ffdnet ffdnet_color.pth --ffdnet-gray ffdnet_gray.pth

The weights are the shipped file, or RESTOREKIT_BUILTIN_WEIGHTS / ``--weights``; datasets from
RESTOREKIT_DATASETS like the other benches.
"""

from __future__ import annotations

import argparse
import os

import common
import torch

from restorekit.models import load_model
from restorekit.models.builtin import ENV_BUILTIN_WEIGHTS, builtin_denoise, builtin_weights_path
from restorekit.models.restore import restore_with_model

SETS = (("CBSD68", False), ("Set12", True), ("BSD68", True))
SIGMAS = (15, 25, 50)


def _images(name: str, gray: bool, limit: int, crop: int) -> list[torch.Tensor]:
    paths = common.image_paths(name)[: limit or None]
    out = []
    for p in paths:
        x = common.load_image(p, gray=gray)
        if crop:
            x = x[..., :crop, :crop]
        out.append(x)
    return out


def _mean_psnr(method, cleans, sigma255, device, clip: bool = True) -> float:
    noisy = common.noisy_images(cleans, sigma255, clip=clip)
    values = []
    for c, n in zip(cleans, noisy, strict=True):
        with torch.inference_mode():
            y = method(n.to(device), sigma255 / 255.0).float().cpu()
        values.append(float(common.psnr(y, c)))
    return sum(values) / len(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_device_argument(parser)
    parser.add_argument("--limit", type=int, default=0, help="images per set (0 = all)")
    parser.add_argument("--crop", type=int, default=0, help="crop each image to its top-left NxN (0 = whole)")
    parser.add_argument("--weights", default="", help=f"built-in weights file (default: ${ENV_BUILTIN_WEIGHTS} "
                        "or the shipped file)")
    parser.add_argument("--ffdnet", default="", help="FFDNet colour weights (e.g. KAIR ffdnet_color.pth)")
    parser.add_argument("--ffdnet-gray", default="", help="FFDNet gray weights (e.g. KAIR ffdnet_gray.pth)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-speed", action="store_true", help="skip the timings")
    parser.add_argument("--standard", action="store_true",
                        help="also the papers' protocol: noise not clipped, the network run directly with the true "
                             "sigma (the node clamps its input to [0, 1], so this bypasses the node)")
    args = parser.parse_args()
    if args.weights:
        os.environ[ENV_BUILTIN_WEIGHTS] = args.weights
    device = common.get_device(args.device)
    print(f"built-in weights: {builtin_weights_path()}; device {common.device_name(device)}")

    ffd = {False: load_model(args.ffdnet, device=device) if args.ffdnet else None,
           True: load_model(args.ffdnet_gray, device=device) if args.ffdnet_gray else None}

    def ours(known: bool):
        return lambda x, s: builtin_denoise(x, sigma=s if known else None, precision="fp32")

    def theirs(model, known: bool):
        return lambda x, s: restore_with_model(model, x, noise_level=s if known else None,
                                               estimate_noise=not known, precision="fp32")

    def raw_network():
        from safetensors.torch import load_file

        from restorekit.models.builtin_net import BuiltinDenoiserNet

        net = BuiltinDenoiserNet()
        net.load_state_dict({k: v.float() for k, v in load_file(str(builtin_weights_path())).items()})
        net = net.to(device).eval()

        def run(x, s):
            x3 = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
            y = net(x3, torch.full((x.shape[0], 1, 1, 1), s, device=x.device))
            return y.mean(1, keepdim=True) if x.shape[1] == 1 else y

        return run

    if args.standard:
        raw = raw_network()
        print("standard protocol (unclipped noise, sigma known), mean PSNR dB:")
        for name, gray in SETS:
            try:
                cleans = _images(name, gray, args.limit, args.crop)
            except common.DatasetNotFoundError as e:
                print(f"{name}: skipped ({e})")
                continue
            cells = [f"s{sigma} {_mean_psnr(raw, cleans, sigma, device, clip=False):.2f}" for sigma in SIGMAS]
            print(f"  {name:7s} n={len(cleans):3d}  " + "  ".join(cells), flush=True)

    rows = []
    for name, gray in SETS:
        try:
            cleans = _images(name, gray, args.limit, args.crop)
        except common.DatasetNotFoundError as e:
            print(f"{name}: skipped ({e})")
            continue
        for sigma in SIGMAS:
            known = _mean_psnr(ours(True), cleans, sigma, device)
            blind = _mean_psnr(ours(False), cleans, sigma, device)
            row = [name, str(sigma), str(len(cleans)), f"{known:.2f}", f"{blind:.2f}", f"{blind - known:+.2f}"]
            model = ffd[gray]
            if model is not None:
                fk = _mean_psnr(theirs(model, True), cleans, sigma, device)
                fb = _mean_psnr(theirs(model, False), cleans, sigma, device)
                row += [f"{fk:.2f}", f"{fb:.2f}", f"{known - fk:+.2f}"]
            else:
                row += ["n/a", "n/a", "n/a"]
            rows.append(row)
            print("  ".join(row), flush=True)
    common.print_table(["set", "sigma", "n", "ours known", "ours blind", "blind-known", "FFDNet known",
                        "FFDNet blind", "ours-FFDNet"], rows)

    if args.no_speed:
        return 0
    speed = []
    cases = [("1080p", (1080, 1920), "bf16"), ("1080p", (1080, 1920), "fp32")] if device.type == "cuda" else []
    cases.append(("512x512", (512, 512), "fp32"))
    for label, (h, w), precision in cases:
        dev = device if label == "1080p" else torch.device("cpu")
        x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0)).to(dev)
        with torch.inference_mode():
            t = common.time_repeats(lambda x=x, p=precision: builtin_denoise(x, sigma=25 / 255, precision=p),
                                    device=dev, repeat=args.repeat)
            row = [label, precision, common.device_name(dev), f"{t.median_ms:.1f}"]
            model = ffd[False]
            if model is not None:
                model.to(dev)
                tf = common.time_repeats(
                    lambda x=x, p=precision, m=model: restore_with_model(m, x, noise_level=25 / 255, precision=p),
                    device=dev, repeat=args.repeat)
                row.append(f"{tf.median_ms:.1f}")
        if len(row) == 4:
            row.append("n/a")
        speed.append(row)
    common.print_table(["size", "precision", "device", "ours ms", "FFDNet colour ms"], speed)
    return 0


if __name__ == "__main__":
    common.run(main)
