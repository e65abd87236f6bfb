"""Block matching for BM3D, vectorised over reference blocks and search offsets.

For every reference block (top-left corners on a grid of rows ``ref_rows`` and columns
``ref_cols``) the sum of squared differences to every block of the ``search x search`` window
around it is computed as, for each offset ``(dy, dx)``, the squared difference between the image
and its shifted copy (written once for a chunk of offsets), box-summed over the block directly at
the reference corners by strided window sums (one ``avg_pool2d`` with divisor 1 per arithmetic run
of the corners: every sum is taken over its own n*n terms, the same arithmetic whatever the band of
rows, so that banding does not change the result). Offsets are processed in chunks of rows of the
window so that the working memory stays under a budget. Offsets that leave the image get a huge
distance (the image is padded with a far value); the
reference block itself is always first. The ``group`` closest blocks are kept (ties broken by the
order of the offsets, deterministically) and the group size is the largest power of two not above
the number of blocks whose distance is within the threshold.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

_OUTSIDE = 1.0e4  # padding value of the matching image (its blocks are ~1e8 * 64 away)


def match_blocks(
    u: torch.Tensor,
    ref_rows: torch.Tensor,
    ref_cols: torch.Tensor,
    *,
    block: int,
    search: int,
    group: int,
    tau: torch.Tensor,
    budget_bytes: int,
    ref_rows_dev: torch.Tensor | None = None,
    ref_cols_dev: torch.Tensor | None = None,
    chunk_elements: float = float("inf"),
    tick: Callable[[float], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Match the reference blocks of one band of rows.

    u: ``[B, H, W]`` float32 matching image. ref_rows / ref_cols: int64 (sorted) block corners.
    tau: ``[B]`` threshold on the *sum* of squared differences over a block.
    Returns ``positions [B, nr*nc, group]`` (flat index ``row * (W - block + 1) + col`` of the
    matched blocks' corners, closest first; the reference first) and ``levels [B, nr*nc]``
    (log2 of the group size). ``ref_rows_dev`` / ``ref_cols_dev``: the same corners already on the
    image's device (saves copies from the host, which stall the GPU). ``chunk_elements``: at most
    about this many squared differences (or distances ranked) between two calls of ``tick(fraction
    of the matching done)`` (the chunks do not change the result).
    """
    b, h, w = u.shape
    n1 = block
    hp, wp = h - n1 + 1, w - n1 + 1
    sy, sx = min(search // 2, hp - 1), min(search // 2, wp - 1)  # no offset can reach further
    ny, nx = 2 * sy + 1, 2 * sx + 1
    r0, r1 = int(ref_rows[0]), int(ref_rows[-1])
    nr, nc = ref_rows.numel(), ref_cols.numel()
    hc = r1 - r0 + n1  # pixel rows spanned by the reference blocks

    lo, hi = r0 - sy, r1 + sy + n1  # pixel rows reached by the candidates
    band = u[:, max(lo, 0) : min(hi, h)]
    # outside the image: a value far from any pixel ([0, 1] data), so that every block that leaves the
    # image gets a huge distance (above any threshold, after every block inside) without a mask pass
    band = F.pad(band, (sx, sx, max(0, -lo), max(0, hi - h)), value=_OUTSIDE)  # [B, hc + 2sy, w + 2sx]
    ref = band[:, sy : sy + hc, sx : sx + w]  # [B, hc, w]
    cols = ref_cols_dev if ref_cols_dev is not None else ref_cols.to(u.device)
    rows_d = ref_rows_dev if ref_rows_dev is not None else ref_rows.to(u.device)
    # all row shifts as a view: [B, ny(dy), hc, w + 2sx]
    shifted_rows = band.unfold(1, hc, 1).permute(0, 1, 3, 2)

    # squared differences of every offset of a chunk of window rows, written once in the layout
    # [B, ndy, nx, hc, w], then summed over the blocks at the reference corners by strided 2-D window
    # sums (avg_pool2d with divisor 1: every sum is taken directly over its own 64 terms, the same
    # arithmetic whatever the band, so banding does not change the result)
    rows_l = (ref_rows - r0).tolist()
    cols_l = ref_cols.tolist()
    per_dy = b * hc * nx * w * 4 * 2
    chunk = max(1, min(ny, budget_bytes // max(per_dy, 1), int(min(chunk_elements / max(per_dy / 8, 1), ny))))
    parts = []
    for d0 in range(0, ny, chunk):
        d1 = min(ny, d0 + chunk)
        cand = shifted_rows[:, d0:d1].unfold(3, w, 1).permute(0, 1, 3, 2, 4)  # [B, ndy, nx(dx), hc, w] view
        diff = torch.empty(b, d1 - d0, nx, hc, w, device=u.device, dtype=u.dtype)
        torch.sub(cand, ref[:, None, None], out=diff)
        diff.mul_(diff)
        rs = _box_sums(diff.view(-1, hc, w), rows_l, cols_l, n1)  # [B*ndy*nx, nr, nc]
        parts.append(rs.view(b, d1 - d0, nx, nr, nc))
        del diff, rs
        if tick is not None:
            tick(0.8 * d1 / ny)
    dist = torch.cat(parts, 1) if len(parts) > 1 else parts[0]  # [B, dy, dx, nr, nc]
    del parts
    dist[:, sy, sx] = -1.0  # the reference block always comes first
    dist = dist.view(b, ny * nx, nr * nc)

    k = min(group, ny * nx)
    nref = nr * nc
    span = max(1, int(min(nref, chunk_elements / max(b * ny * nx, 1))))
    if span >= nref:
        vals, arg = torch.topk(dist.transpose(1, 2).contiguous(), k, dim=-1, largest=False, sorted=True)
    else:  # ranked in chunks of references (each row on its own: the same result)
        vals = torch.empty(b, nref, k, device=dist.device, dtype=dist.dtype)
        arg = torch.empty(b, nref, k, device=dist.device, dtype=torch.int64)
        for g0 in range(0, nref, span):
            g1 = min(nref, g0 + span)
            v, a = torch.topk(dist[:, :, g0:g1].transpose(1, 2).contiguous(), k, dim=-1, largest=False, sorted=True)
            vals[:, g0:g1], arg[:, g0:g1] = v, a
            del v, a
            if tick is not None:
                tick(0.8 + 0.2 * g1 / nref)
    del dist
    dy = arg // nx - sy
    dx = arg % nx - sx
    rows_abs = rows_d.repeat_interleave(nc)[None, :, None] + dy
    cols_abs = cols.repeat(nr)[None, :, None] + dx
    valid = vals <= tau.view(b, 1, 1)
    rows_abs = torch.where(valid, rows_abs, rows_abs[..., :1]).clamp_(0, hp - 1)
    cols_abs = torch.where(valid, cols_abs, cols_abs[..., :1]).clamp_(0, wp - 1)
    pos = rows_abs * wp + cols_abs
    if k < group:
        pos = torch.cat([pos, pos[..., :1].expand(b, nr * nc, group - k)], -1)
    count = valid.sum(-1).clamp_(min=1)  # the reference block is always valid
    levels = torch.floor(torch.log2(count.double())).long()
    return pos, levels


def _segments(idx: list[int]) -> list[tuple[int, int, int]]:
    """Split a sorted list of positions into arithmetic runs ``(start, step, count)``."""
    out = []
    i = 0
    while i < len(idx):
        if i + 1 == len(idx):
            out.append((idx[i], 1, 1))
            break
        step = idx[i + 1] - idx[i]
        j = i + 1
        while j + 1 < len(idx) and idx[j + 1] - idx[j] == step:
            j += 1
        out.append((idx[i], step, j - i + 1))
        i = j + 1
    return out


def _box_sums(d: torch.Tensor, rows: list[int], cols: list[int], n: int) -> torch.Tensor:
    """Sums of the ``n x n`` windows of ``d`` ``[N, H, W]`` whose top-left corners are at every
    (rows[i], cols[j]): ``[N, len(rows), len(cols)]``. Each arithmetic run of the positions is one
    strided window sum (the input is sliced only where a run does not start at 0)."""
    hh, ww = d.shape[-2:]
    out_r = []
    for r0, rs, rn in _segments(rows):
        out_c = []
        for c0, cs, cn in _segments(cols):
            sub = d[:, r0 : r0 + (rn - 1) * rs + n if r0 else hh, c0 : c0 + (cn - 1) * cs + n if c0 else ww]
            pooled = F.avg_pool2d(sub, n, stride=(rs, cs), divisor_override=1)
            out_c.append(pooled[:, :rn, :cn])
        out_r.append(torch.cat(out_c, -1) if len(out_c) > 1 else out_c[0])
    return torch.cat(out_r, -2) if len(out_r) > 1 else out_r[0]
