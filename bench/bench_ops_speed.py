"""Time every registered operation with its default parameters on 1080p and 4K RGB images.

Usage: python bench/bench_ops_speed.py [--device cuda] [--sizes 512 1080p 4k] [--repeat 3] [--only NAME ...]
Prints milliseconds per image (median of --repeat runs after one warm-up). CPU-only operations
run on the CPU whatever --device says (their row is marked). Operations whose default inputs need a
file or a model (a weights file to load, a loaded model) are listed as skipped; one that fails is reported and makes the exit status 1.
"""

from __future__ import annotations

import argparse

import common
import torch

from restorekit.deblur.psf import gaussian_psf
from restorekit.errors import InvalidParameterError, RestoreError
from restorekit.params import all_operations

SIZES = {"512": (512, 512), "1080p": (1080, 1920), "4k": (2160, 3840)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_device_argument(ap)
    ap.add_argument("--sizes", nargs="+", default=["1080p", "4k"], choices=list(SIZES))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", nargs="*", help="operation names")
    args = ap.parse_args()
    device = common.get_device(args.device)
    gen = torch.Generator().manual_seed(0)
    print(f"device {device} ({common.device_name(device)})")
    print(f"{'operation':24s} {'size':>6s} {'ms':>10s}  where")
    failed: list[str] = []
    for op in all_operations():
        if args.only and op.name not in args.only:
            continue
        for size in args.sizes:
            h, w = SIZES[size]
            image = torch.rand(1, 3, h, w, generator=gen)
            where = device if op.gpu else torch.device("cpu")
            try:
                values = default_values(op, image.to(where))
            except RestoreError as error:  # e.g. a weights file to choose: nothing to time without one
                print(f"{op.name:24s} {size:>6s} {'skipped':>10s}  {error.subject}: {error.problem}", flush=True)
                continue
            try:
                t = common.time_repeats(lambda op=op, values=values: op.call(values), where, args.repeat)
            except Exception as error:  # noqa: BLE001 - report, time the others, exit 1 at the end
                print(f"{op.name:24s} {size:>6s} {'FAILED':>10s}  {type(error).__name__}: {error}", flush=True)
                failed.append(op.name)
                continue
            print(f"{op.name:24s} {size:>6s} {t.median_ms:10.1f}  {where.type}", flush=True)
    if failed:
        print("failed:", ", ".join(sorted(set(failed))))
        return 1
    return 0


def default_values(op, image: torch.Tensor) -> dict:
    """Inputs of ``op`` at their defaults: ``image`` for the (required) image, a Gaussian PSF of 2 px."""
    values = {}
    for p in op.inputs:
        if p.kind == "image":
            values[p.name] = image if not p.optional else None
        elif p.kind == "psf":
            values[p.name] = gaussian_psf(2.0)
        elif p.kind == "mask":
            values[p.name] = None
        elif p.kind == "model":
            raise InvalidParameterError(p.name, "needs a loaded model (bench_models.py times restoring with one).")
        else:
            values[p.name] = p.to_core(p.default)
    return values


if __name__ == "__main__":
    common.run(main)
