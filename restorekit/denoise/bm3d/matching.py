"""Block matching for BM3D, vectorised over reference blocks and search offsets.

For every reference block (top-left corners on a grid of rows ``ref_rows`` and columns
``ref_cols``) the sum of squared differences to every block of the ``search x search`` window
around it is computed as, for each offset ``(dy, dx)``, the squared difference between the image
and its shifted copy, box-summed over the block: along rows with prefix sums taken at the
reference columns, then over the block's rows by window sums at the reference rows (the same
arithmetic whatever the band of rows, so that banding does not change the result). Offsets are processed in chunks of rows of the window so that the
working memory stays under a budget. Offsets that leave the image get an infinite distance; the
reference block itself is always first. The ``group`` closest blocks are kept (ties broken by the
order of the offsets, deterministically) and the group size is the largest power of two not above
the number of blocks whose distance is within the threshold.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


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
) -> tuple[torch.Tensor, torch.Tensor]:
    """Match the reference blocks of one band of rows.

    u: ``[B, H, W]`` float32 matching image. ref_rows / ref_cols: int64 (sorted) block corners.
    tau: ``[B]`` threshold on the *sum* of squared differences over a block.
    Returns ``positions [B, nr*nc, group]`` (flat index ``row * (W - block + 1) + col`` of the
    matched blocks' corners, closest first; the reference first) and ``levels [B, nr*nc]``
    (log2 of the group size).
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
    band = F.pad(band, (sx, sx, max(0, -lo), max(0, hi - h)))  # [B, hc + 2sy, w + 2sx]
    ref = band[:, sy : sy + hc, sx : sx + w]  # [B, hc, w]
    rows_rel = (ref_rows - r0).to(u.device)
    cols = ref_cols.to(u.device)
    # all row shifts as a view: [B, ny(dy), hc, w + 2sx]
    shifted_rows = band.unfold(1, hc, 1).permute(0, 1, 3, 2)

    # column box sums from prefix sums (along whole rows, so independent of the band):
    # S[a, a + n1) = P[a + n1 - 1] - P[a - 1], P[-1] = 0
    col_prev = (cols - 1).clamp(min=0)
    col_has_prev = (cols > 0).to(u.dtype)
    # the reference rows are, but for the last ones, every ``row_step`` rows from the band's first
    rr_cpu = (ref_rows - r0).tolist()
    row_step = rr_cpu[1] - rr_cpu[0] if nr > 1 else 1
    n_regular = 0
    while n_regular < nr and rr_cpu[n_regular] == n_regular * row_step:
        n_regular += 1
    per_dy = b * hc * nx * (w + 1) * 4 * 3
    chunk = max(1, min(ny, budget_bytes // max(per_dy, 1)))
    parts = []
    for d0 in range(0, ny, chunk):
        d1 = min(ny, d0 + chunk)
        cand = shifted_rows[:, d0:d1].unfold(3, w, 1)  # [B, ndy, hc, nx(dx), w]
        diff = (cand - ref[:, None, :, None, :]).square_()
        cs = diff.cumsum_(-1)  # prefix sums along columns, in place
        colsum = cs[..., cols + n1 - 1] - cs[..., col_prev] * col_has_prev  # [B, ndy, hc, nx, nc]
        del cs, diff
        # sums over the block's rows at the reference rows: one strided window sum for the regular
        # part of the grid, direct sums for the rest
        rs = colsum.unfold(2, n1, row_step)[:, :, :n_regular].sum(-1) if n_regular else None
        if n_regular < nr:
            extra = colsum.unfold(2, n1, 1)[:, :, rows_rel[n_regular:]].sum(-1)
            rs = extra if rs is None else torch.cat([rs, extra], 2)
        parts.append(rs)  # [B, ndy, nr, nx, nc]
        del rs, colsum
    dist = torch.cat(parts, 1) if len(parts) > 1 else parts[0]  # [B, dy, nr, dx, nc]
    dist = dist.permute(0, 2, 4, 1, 3)  # [B, nr, nc, dy, dx]

    offy = torch.arange(-sy, sy + 1, device=u.device)
    offx = torch.arange(-sx, sx + 1, device=u.device)
    ry = ref_rows.to(u.device)[:, None] + offy[None, :]
    cx = cols[:, None] + offx[None, :]
    ok_r = (ry >= 0) & (ry < hp)  # [nr, dy]
    ok_c = (cx >= 0) & (cx < wp)  # [nc, dx]
    ok = ok_r[:, None, :, None] & ok_c[None, :, None, :]  # [nr, nc, dy, dx]
    dist = dist.masked_fill(~ok, float("inf"))
    dist[:, :, :, sy, sx] = -1.0  # the reference block always comes first
    dist = dist.reshape(b, nr * nc, ny * nx)

    k = min(group, ny * nx)
    vals, arg = torch.topk(dist, k, dim=-1, largest=False, sorted=True)
    dy = arg // nx - sy
    dx = arg % nx - sx
    rows_abs = ref_rows.to(u.device).repeat_interleave(nc)[None, :, None] + dy
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
