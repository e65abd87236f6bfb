"""Time every registered operation with its default parameters on 1080p and 4K RGB images.

Usage: python bench/bench_ops_speed.py [--device cuda] [--sizes 1080p 4k] [--repeat 3]
Prints milliseconds per image (median of --repeat runs after one warm-up). CPU-only operations
run on the CPU whatever --device says (their row is marked).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from restorekit.deblur.psf import gaussian_psf
from restorekit.params import all_operations

SIZES = {"512": (512, 512), "1080p": (1080, 1920), "4k": (2160, 3840)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sizes", nargs="+", default=["1080p", "4k"], choices=list(SIZES))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", nargs="*", help="operation names")
    args = ap.parse_args()
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    print(f"device {device} {torch.cuda.get_device_name(device) if device.type == 'cuda' else ''}")
    print(f"{'operation':24s} {'size':>6s} {'ms':>10s}  where")
    for op in all_operations():
        if args.only and op.name not in args.only:
            continue
        for size in args.sizes:
            h, w = SIZES[size]
            image = torch.rand(1, 3, h, w, generator=gen)
            where = device if op.gpu else torch.device("cpu")
            values = {}
            for p in op.inputs:
                if p.kind == "image":
                    values[p.name] = image.to(where) if not p.optional else None
                elif p.kind == "psf":
                    values[p.name] = gaussian_psf(2.0)
                elif p.kind == "mask":
                    values[p.name] = None
                else:
                    values[p.name] = p.to_core(p.default)
            times = []
            for i in range(args.repeat + 1):
                if where.type == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
                op.call(values)
                if where.type == "cuda":
                    torch.cuda.synchronize()
                if i:
                    times.append((time.perf_counter() - start) * 1000)
            print(f"{op.name:24s} {size:>6s} {statistics.median(times):10.1f}  {where.type}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
