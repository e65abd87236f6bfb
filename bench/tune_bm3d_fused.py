"""Launch settings of the fused BM3D kernels (:mod:`restorekit.denoise.bm3d.fused`) on a GPU: time of
each kernel per setting, one change at a time from the current ``CONFIG``, gray 512x512, sigma 25.

    python bench/tune_bm3d_fused.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import support  # noqa: E402

from restorekit.denoise.bm3d import bm3d_denoise, fused  # noqa: E402

VARIANTS = [
    {},
    {"sel_rows": 2},
    {"sel_rows": 8, "sel_warps": 8},
    {"sel_seg": 32},
    {"filt_warps": 4},
    {"dist_warps": 4},
]
QUALITY = [
    {},
]


def kernel_times(z: torch.Tensor, rgb: bool) -> dict:
    for _ in range(2):
        bm3d_denoise(z, sigma=25 / 255)
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(3):
            bm3d_denoise(z, sigma=25 / 255)
        torch.cuda.synchronize()
    out = {}
    for ev in prof.key_averages():
        if ev.key in ("_distances", "_select", "_filter"):
            out[ev.key] = ev.device_time_total / 3 / 1000
    out["total"] = sum(ev.device_time_total for ev in prof.key_averages() if ev.device_type.name == "CUDA") / 3 / 1000
    return out


def main() -> None:
    base = dict(fused.CONFIG)
    for label, c, h, w in (("gray 512", 1, 512, 512), ("rgb 1080p", 3, 1080, 1920))[: 1 if "--gray" in sys.argv else 2]:
        z = support.add_noise(support.smooth_random(1, c, h, w, seed=0), 25, seed=0).cuda()
        ref = bm3d_denoise(z, sigma=25 / 255)
        for v in VARIANTS:
            fused.CONFIG.clear()
            fused.CONFIG.update({**base, **v})
            try:
                t = kernel_times(z, c == 3)
                diff = float((bm3d_denoise(z, sigma=25 / 255) - ref).abs().max())
                print(f"{label} {v}: " + " ".join(f"{k} {x:.2f}" for k, x in t.items()) + f" ms; max|d| {diff:.1e}", flush=True)
            except Exception as e:  # noqa: BLE001
                print(f"{label} {v}: failed {type(e).__name__}: {str(e)[:200]}", flush=True)
    if "--quality" in sys.argv:
        sets = [("Set12", 15, None, True), ("CBSD68", 25, 20, False)]
        data = {name: [support.load(p, gray=g) for p in support.image_paths(name)[:n]] for name, _, n, g in sets}
        for v in QUALITY:
            fused.CONFIG.clear()
            fused.CONFIG.update({**base, **v})
            line = []
            for name, sigma, _, _ in sets:
                vals = []
                for i, x in enumerate(data[name]):
                    z = support.add_noise(x, sigma, seed=i).cuda()
                    vals.append(support.psnr(bm3d_denoise(z, sigma=sigma / 255).cpu(), x))
                line.append(f"{name} s{sigma} {sum(vals) / len(vals):.3f}")
            print(f"quality {v}: " + "  ".join(line), flush=True)
    fused.CONFIG.clear()
    fused.CONFIG.update(base)


if __name__ == "__main__":
    main()
