"""PIQE — Perception-based Image Quality Evaluator (Venkatanath N. et al., NCC 2015), MATLAB's definition.

No learned parameters. The gray image (MATLAB ``rgb2gray`` weights), padded by edge replication
to whole 16 x 16 px blocks and rounded to 0–255 levels, is turned into MSCN coefficients (7 x 7,
σ = 7/6 px Gaussian, replicated edges). A block is *active* when the variance v of its
coefficients exceeds 0.1. An active block is

- *impaired* (noticeable artifact, e.g. blockiness) when any 6-px segment of one of its four
  edges has a standard deviation below 0.1, and
- *noisy* when σ = sqrt(v) > 2 β, with β = |σ - c| / max(σ, c) and c the ratio of the standard
  deviation of the block's two centre columns to that of the rest (as MATLAB computes it).

Score = 100 · (1 + Σ_active [impaired · (1 - v) + noisy · v]) / (1 + number of active blocks):
0 (excellent) … 100 (bad); a flat image scores 100.
"""

from __future__ import annotations

import torch

from ..image import check_image
from .nr_features import matlab_gray, mscn

BLOCK = 16
ACTIVITY_THRESHOLD = 0.1
IMPAIRED_THRESHOLD = 0.1
SEGMENT = 6


def piqe(x: torch.Tensor) -> torch.Tensor:
    """PIQE score of each image of ``x`` ``[B, C, H, W]`` (float in [0, 1], C = 1 or 3): ``[B]`` in [0, 100], lower is better.

    Any size (1 x 1 included: padded to one block). Computed in float64 because the block tests
    are thresholds that float32 rounding would flip (the work is a few image-sized ops).
    """
    check_image(x, "image")
    b, _, h, w = x.shape
    g = matlab_gray(x.to(torch.float64))
    ph, pw = (-h) % BLOCK, (-w) % BLOCK
    if ph or pw:
        g = torch.nn.functional.pad(g, (0, pw, 0, ph), mode="replicate")
    g = torch.round(255.0 * g)
    z, _ = mscn(g, padding="replicate")
    nh, nw = g.shape[-2] // BLOCK, g.shape[-1] // BLOCK
    blocks = z[:, 0].reshape(b, nh, BLOCK, nw, BLOCK).permute(0, 1, 3, 2, 4).reshape(b, nh * nw, BLOCK, BLOCK)

    var = blocks.reshape(b, nh * nw, -1).var(-1)
    active = var > ACTIVITY_THRESHOLD

    edges = torch.stack([blocks[..., 0, :], blocks[..., :, -1], blocks[..., -1, :], blocks[..., :, 0]], dim=2)
    seg_std = edges.unfold(-1, SEGMENT, 1).std(-1)
    impaired = (seg_std < IMPAIRED_THRESHOLD).flatten(2).any(-1)

    # MATLAB deletes column 8 and then column 9 of the shortened block (1-based): columns 8 and 10 of the
    # original leave the surround, while the centre is columns 8 and 9.
    c1 = (BLOCK - 1 + 1) // 2 - 1
    center = blocks[..., :, c1 : c1 + 2].transpose(-1, -2).reshape(b, nh * nw, -1)
    keep = [j for j in range(BLOCK) if j not in (c1, c1 + 2)]
    surround = blocks[..., :, keep].reshape(b, nh * nw, -1)
    ratio = center.std(-1) / surround.std(-1)
    ratio = torch.nan_to_num(ratio, nan=0.0, posinf=float("inf"))
    sigma = var.sqrt()
    beta = (sigma - ratio).abs() / torch.maximum(sigma, ratio)
    noisy = sigma > 2 * beta

    dist = active * (impaired * (1 - var) + noisy * var)
    score = (dist.sum(-1) + 1) / (active.sum(-1) + 1) * 100
    return score.to(x.dtype if x.dtype == torch.float64 else torch.float32)
