"""Benchmark: Grain Add syntheses at 1080p, against their targets and a filtered-noise peer, same run.

Each synthesis runs through ``restorekit.grain.synthesis.add_grain`` on a 1920x1080 RGB float32 image
(a smooth gradient, grain std 8 grey levels, size 1 px, colour grain, seed 0) already on the device.
Times are the median of --repeat calls after a warm-up, milliseconds per frame (CUDA synchronised).
Targets (H100): ar 0.5 ms, boolean 250 ms, boolean_fast 3 ms; CPU (2 cores): ar 150 ms. The peer is
the "filtered noise" other node packs use: ``torch.randn`` + a separable Gaussian blur (conv2d) + add,
on the same device. Grain Analyze (``restorekit.grain.analysis.analyze_grain``, lag 3, 32 bins) is timed
on the ar-grained image, blind and with the clean image as reference; target (H100) 30 ms blind.

    python bench/bench_grain.py [--device cpu|cuda] [--repeat 10] [--size 1080x1920] [--batch 1]
"""

from __future__ import annotations

import argparse
import math

import common
import torch
import torch.nn.functional as F

from restorekit.grain.analysis import analyze_grain
from restorekit.grain.synthesis import add_grain, grain_model

TARGETS = {"cuda": {"ar": 0.5, "boolean": 250.0, "boolean_fast": 3.0, "analyze (blind)": 30.0},
           "cpu": {"ar": 150.0}}


def _peer(x: torch.Tensor, std: float, sigma: float, gen: torch.Generator) -> torch.Tensor:
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-t**2 / (2 * sigma**2))
    k = k / k.sum()
    n = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype).flatten(0, 1)[:, None]
    n = F.conv2d(F.pad(n, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    n = F.conv2d(F.pad(n, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))
    n = n.view_as(x) * (std / float(k.square().sum()))  # rough variance normalisation of the peer
    return (x + n).clamp(0, 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_device_argument(ap)
    common.add_threads_argument(ap)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--size", default="1080x1920")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--skip-boolean", action="store_true", help="skip the full Boolean model (slow on the CPU)")
    args = ap.parse_args()
    common.set_threads(args.threads)
    dev = common.get_device(args.device)
    h, w = (int(v) for v in args.size.split("x"))
    yy = torch.linspace(0.15, 0.85, h, device=dev).view(h, 1)
    xx = torch.linspace(0.0, 1.0, w, device=dev).view(1, w)
    img = (yy * 0.7 + 0.3 * xx).expand(3, h, w).unsqueeze(0).repeat(args.batch, 1, 1, 1).contiguous()
    print(f"grain synthesis, {args.batch} x {w}x{h} RGB float32 on {common.device_name(dev)}; ms per frame")
    targets = TARGETS.get(dev.type, {})
    rows = []
    methods = ["ar", "gaussian", "boolean_fast"] + ([] if args.skip_boolean else ["boolean"])
    for method in methods:
        m = grain_model(8 / 255, 1.0, method, color=True)
        rep = args.repeat if method != "boolean" else max(1, min(args.repeat, 3))
        t = common.time_repeats(lambda m=m, method=method: add_grain(img, m, seed=0, synthesis=method), dev, rep)
        ms = t.median_ms / args.batch
        tgt = targets.get(method)
        rows.append([method, common.fmt(ms), common.fmt(tgt), common.fmt_ratio(ms, tgt)])
    gen = torch.Generator(device=dev).manual_seed(0)
    t = common.time_repeats(lambda: _peer(img, 8 / 255, 1.0, gen), dev, args.repeat)
    peer_ms = t.median_ms / args.batch
    rows.append(["peer: randn + Gaussian blur", common.fmt(peer_ms), "", ""])
    gauss_ms = float(rows[1][1])
    grainy = add_grain(img, grain_model(8 / 255, 1.0, "ar", color=True), seed=1)
    for label, ref in (("analyze (blind)", None), ("analyze (reference)", img)):
        t = common.time_repeats(lambda ref=ref: analyze_grain(grainy, reference=ref), dev, max(1, min(args.repeat, 5)))
        ms = t.median_ms / args.batch
        tgt = targets.get(label)
        rows.append([label, common.fmt(ms), common.fmt(tgt), common.fmt_ratio(ms, tgt)])
    common.print_table(["synthesis", "ms/frame", "target ms", "ours/target"], rows)
    print(f"gaussian / peer: {common.fmt_ratio(gauss_ms, peer_ms)}")
    return 0


if __name__ == "__main__":
    common.run(main)
