"""Kernel-level profile of our BM3D on a GPU (torch.profiler): where the time of one call goes.

    python bench/profile_bm3d.py --device cuda [--rgb]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import support  # noqa: E402

from restorekit.denoise.bm3d import bm3d_denoise  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cuda")
    p.add_argument("--rgb", action="store_true")
    p.add_argument("--rows", type=int, default=30)
    args = p.parse_args()
    dev = torch.device(args.device)
    c, h, w = (3, 1080, 1920) if args.rgb else (1, 512, 512)
    z = support.add_noise(support.smooth_random(1, c, h, w, seed=0), 25, seed=0).to(dev)
    for stage in ("hard", "all"):
        for _ in range(2):
            bm3d_denoise(z, sigma=25 / 255, stage=stage)
        torch.cuda.synchronize()
        t = time.perf_counter()
        bm3d_denoise(z, sigma=25 / 255, stage=stage)
        torch.cuda.synchronize()
        print(f"stage={stage}: {1000 * (time.perf_counter() - t):.1f} ms")
    acts = [torch.profiler.ProfilerActivity.CUDA, torch.profiler.ProfilerActivity.CPU]
    for stage in ("hard", "all"):
        with torch.profiler.profile(activities=acts) as prof:
            bm3d_denoise(z, sigma=25 / 255, stage=stage)
            torch.cuda.synchronize()
        print(f"stage={stage}, by CUDA time")
        print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=args.rows, max_name_column_width=50))
        print(f"stage={stage}, by CPU time")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows, max_name_column_width=50))


if __name__ == "__main__":
    main()
