"""Benchmark: NIQE, BRISQUE and PIQE per 1080 x 800 RGB image (CBSD68's first image resized), batch of 1 and of 4.

Targets (issue 19): NIQE and BRISQUE at most 40 ms per image on an H100 (pyiqa reports 41 / 38 ms on a V100)
and at most 0.25 s on the CPU. Prints the score, median and best time per image, and peak GPU memory.

    python bench/bench_nr_quality.py [--device cpu|cuda] [--repeats N] [--threads N]
"""

from __future__ import annotations

import argparse

import common
import torch
import torch.nn.functional as F

from restorekit.quality.brisque import brisque
from restorekit.quality.niqe import niqe
from restorekit.quality.piqe import piqe

TARGETS = {"cpu": {"niqe": 0.25, "brisque": 0.25}, "cuda": {"niqe": 0.040, "brisque": 0.040}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_device_argument(parser, default="auto")
    common.add_threads_argument(parser)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    common.set_threads(args.threads)
    device = common.get_device(args.device)
    src = common.load_set("CBSD68")[0]
    x = F.interpolate(src, size=(800, 1080), mode="bicubic", align_corners=False).clamp(0, 1).to(device)
    print(f"device: {common.device_name(device)}; image 1080x800 RGB")
    print(
        f"{'measure':8s} {'batch':>5s} {'score':>9s} {'median/img':>11s} {'best/img':>9s} {'target':>7s} {'peak GiB':>8s}"
    )
    for name, fn in (("niqe", niqe), ("brisque", brisque), ("piqe", piqe)):
        for batch in (1, 4):
            xb = x.expand(batch, -1, -1, -1).contiguous()
            with torch.inference_mode():
                t = common.time_repeats(lambda fn=fn, xb=xb: fn(xb), device, repeat=args.repeats, warmup=1, memory=True)
            target = TARGETS[device.type].get(name)
            peak = t.peak_bytes / 2**30 if t.peak_bytes is not None else None
            print(
                f"{name:8s} {batch:5d} {t.result[0].item():9.4f} {t.median / batch * 1e3:9.1f}ms "
                f"{min(t.times) / batch * 1e3:7.1f}ms {common.fmt(target and target * 1e3, '.0f', missing='-'):>5s}ms "
                f"{common.fmt(peak, '.2f'):>8s}"
            )


if __name__ == "__main__":
    main()
