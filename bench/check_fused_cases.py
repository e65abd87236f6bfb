"""Fused BM3D kernels vs the torch path on a GPU for a few batch/channel/size cases (mean |diff|)."""

import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import support  # noqa: E402

from restorekit.denoise.bm3d import bm3d_denoise  # noqa: E402

for b, c, h, w, stage in [(1, 1, 64, 64, "hard"), (2, 1, 64, 64, "hard"), (1, 3, 64, 64, "hard"), (2, 3, 64, 64, "hard"),
                          (1, 1, 128, 128, "hard"), (2, 1, 128, 128, "hard"), (1, 1, 64, 64, "all"), (1, 1, 12, 16, "hard")]:
    clean = support.smooth_random(b, c, h, w, seed=0)
    z = support.add_noise(clean, 25, seed=1).cuda()
    os.environ["RESTOREKIT_BM3D_FUSED"] = "1"
    a = bm3d_denoise(z, sigma=25 / 255, stage=stage)
    os.environ["RESTOREKIT_BM3D_FUSED"] = "0"
    r = bm3d_denoise(z, sigma=25 / 255, stage=stage)
    per = [round(float((a[i] - r[i]).abs().mean()), 5) for i in range(b)]
    print(b, c, h, w, stage, per, "max", float((a - r).abs().max()), flush=True)
x = torch.full((1, 1, 12, 16), 0.4, device="cuda")
print("const", float((bm3d_denoise(x, sigma=25 / 255) - x).abs().max()))
