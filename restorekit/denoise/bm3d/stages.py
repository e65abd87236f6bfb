"""The two BM3D filtering stages, batched and processed in bands of reference rows.

One stage, for a batch of images ``[B, C, H, W]`` (C channels filtered with the same groups):

1. block matching on the guide image (the noisy image for hard thresholding, the basic estimate
   for Wiener filtering), see :mod:`.matching`;
2. the 2-D transform of every block of the band at once (im2col + one matrix product);
3. grouping by an index gather, the 1-D orthonormal Haar transform along each group (a batched
   matrix product with the Haar matrix of the group's size);
4. shrinkage: hard thresholding at ``lambda * std_k`` (weight ``1 / sum of the kept coefficients'
   noise variances``, i.e. ``1 / (sigma^2 N_kept)`` for white noise) or the empirical Wiener filter
   ``|Y|^2 / (|Y|^2 + mu^2 var_k)`` computed from the basic estimate ``Y`` (weight
   ``1 / sum_k W_k^2 var_k``);
5. the inverse Haar transform; the filtered 2-D coefficients of every block, times the group's
   weight, are added at the block's position (``index_add_``), and so are the weights;
6. after each band, the accumulated coefficients go back to pixels through the inverse 2-D
   transform times the Kaiser window and ``fold`` (col2im); the weights are spread with the window.
   The estimate is the ratio of the two sums.

The accumulation uses 64-bit fixed point, so that the result does not depend on the order of the
atomic additions on a GPU: runs are bit-for-bit reproducible. Weights are normalised per image and
channel by a constant (the mean coefficient variance), which leaves the ratio unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .matching import match_blocks
from .options import FIXED_SCALE, MAX_WEIGHT
from .profiles import StageParams
from .transforms import group_haar_table, group_pair_table, kaiser_2d, transform_2d

_PAIR_SHIFT = 24
_PAIR_SCALE = float(2**_PAIR_SHIFT)  # Haar products are multiples of 2**-5 (groups of up to 32); exact in int64
_PAIR_SCALE_INV = 1.0 / _PAIR_SCALE


_CONSTANTS: dict = {}


def device_constant(key: tuple, device: torch.device, make: Callable[[], torch.Tensor]) -> torch.Tensor:
    """A constant tensor (transform matrices, tables, grids) on ``device``, made once and kept: a
    copy from the host to a GPU waits for the queued work, so per-call copies would stall the GPU."""
    k = (*key, str(device))
    t = _CONSTANTS.get(k)
    if t is None:
        if len(_CONSTANTS) > 256:
            _CONSTANTS.clear()
        t = make().to(device)
        _CONSTANTS[k] = t
    return t


def _group_variances(
    pos: torch.Tensor,
    levels: torch.Tensor,
    wp: int,
    n1: int,
    pairs: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    lagcov: torch.Tensor,
    lagscale: torch.Tensor | None,
    c: int,
    pair_scaled: bool = False,
) -> torch.Tensor:
    """Exact noise variance of every 3-D coefficient of every group ``[B, nref, N2, C, K]``:
    ``var(l, k) = sum_{i,j} H[l,i] H[l,j] cov_k(p_j - p_i)``, where ``cov_k`` vanishes for blocks
    that do not overlap (white noise) or is truncated beyond the block size (correlated noise).

    The sums are gathered per lag first: ``W[l, lag] = sum over pairs at that lag of H[l,i] H[l,j]``
    (exactly, in float32: the products are multiples of a power of two), then contracted
    with the lag covariances."""
    pi, pj, pair_rows, pair_wts = pairs
    if not pair_wts.is_floating_point():  # fixed point (times _PAIR_SCALE): to exact float32
        pair_wts = pair_wts.float() * _PAIR_SCALE_INV
    b, nref, n2 = pos.shape
    g = b * nref
    span = 2 * n1 - 1
    nlag = span * span
    p32 = pos.to(torch.int32).view(g, n2)  # 32-bit index arithmetic: half the memory traffic
    r = torch.div(p32, wp, rounding_mode="floor")
    q = p32 - r * wp
    dy = r[:, pj] - r[:, pi]  # [G, P]
    dx = q[:, pj] - q[:, pi]
    inside = (dy.abs() < n1) & (dx.abs() < n1)
    lag = torch.where(inside, (dy + n1 - 1) * span + (dx + n1 - 1), torch.full_like(dy, nlag))
    lv = levels.reshape(-1)
    if pair_scaled:  # pair_rows: int64, already times (nlag + 1)
        idx = pair_rows.index_select(0, lv).add_(lag[..., None]).view(g, -1)
    else:
        idx = (pair_rows.index_select(0, lv) * (nlag + 1) + lag[..., None]).view(g, -1).long()
    del lag, dy, dx, inside
    # float32 sums of the pair weights (multiples of 2**-4, at most 1 in magnitude, at most a few
    # hundred per sum): exact whatever the order of the atomic additions, hence deterministic
    wm = torch.zeros(g, n2, nlag + 1, device=pos.device, dtype=torch.float32)
    wm.view(g, -1).scatter_add_(1, idx, pair_wts.index_select(0, lv).view(g, -1))
    del idx
    # the diagonal: every row l of a group of size m (l < m) has unit norm, at lag 0
    centre = (n1 - 1) * span + (n1 - 1)
    wm[:, :, centre] += (torch.arange(n2, device=pos.device)[None, :] < (2**lv)[:, None]).float()
    if lagcov.dim() == 2:  # white noise: separable lag covariances rho[dy, u] rho[dx, v], scaled per channel
        # one matrix product with kron(rho, rho) (the last row, for "no overlap", is zero)
        kr = torch.cat([torch.kron(lagcov, lagcov), lagcov.new_zeros(1, n1 * n1)], 0)  # [nlag + 1, K]
        v = torch.matmul(wm.view(g * n2, nlag + 1), kr).view(b, nref, n2, 1, n1 * n1)
        v = v * lagscale.float().to(pos.device).view(b, 1, 1, c, 1)
    else:
        wm = wm[..., :nlag]
        v = torch.einsum("bqn,bcnk->bqck", wm.reshape(b, nref * n2, nlag), lagcov).view(b, nref, n2, c, -1)
    return v.clamp_(min=1e-20)


def _pair_tables(n2: int, n1: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The pair table of :func:`.transforms.group_pair_table` for blocks of side ``n1``: slots, Haar
    rows times the lag count ``(2 n1 - 1)**2 + 1`` (int64, the row offsets of the lag histogram)
    and the weights rounded to their exact values (multiples of 2**-4), float32."""
    pi, pj, pair_rows, pair_wts = group_pair_table(n2)
    nlag1 = (2 * n1 - 1) ** 2 + 1
    return pi, pj, pair_rows * nlag1, (torch.round(pair_wts * _PAIR_SCALE) * _PAIR_SCALE_INV).float()


def grid(length: int, block: int, step: int, shifts: tuple[int, ...] = (0,)) -> torch.Tensor:
    """Reference-block corners along one axis: every ``step`` pixels from each offset of ``shifts``,
    plus the last position."""
    last = length - block
    g = sorted({p for s in shifts for p in range(s, last + 1, step)} | {0, last})
    return torch.tensor(g, dtype=torch.int64)


#: Largest band budget of the torch path on a GPU. The whole pipeline peaks at about the budget plus
#: some tens of image-sized tensors (canvas spectra, PSDs, num/den), so 12 GiB keeps BM3D Deblur of
#: a 4K RGB image under 24 GB.
GPU_BUDGET_CAP = 12 * 2**30


def memory_budget(device: torch.device, cap: int = GPU_BUDGET_CAP) -> int:
    """Working-memory budget in bytes for one band of reference rows (measured peak: about the budget,
    e.g. 2.0 GB resident for a 512x512 image on the CPU).

    A fixed function of the device (a third of its total memory, at most ``cap``, on a GPU: 8 GiB on
    a 24 GB card; 2 GiB on the CPU), not of its momentary free memory, so that the band layout, hence
    the result, is the same from run to run."""
    if device.type == "cuda":
        total = torch.cuda.get_device_properties(device).total_memory
        return int(min(total // 3, cap))
    return 2 * 2**30


def run_stage(
    z: torch.Tensor,
    guide: torch.Tensor,
    var2d: torch.Tensor,
    params: StageParams,
    tau: torch.Tensor,
    *,
    mode: str,
    basic: torch.Tensor | None = None,
    lagcov: torch.Tensor | None = None,
    lagscale: torch.Tensor | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """One BM3D stage on the torch path (any device, white or correlated noise); the fused stage
    (:func:`.fused.run_stage_fused`) has the same contract, and :mod:`.dispatch` chooses between them.

    z: ``[B, C, H, W]`` float32 noisy image (H, W >= block). guide: ``[B, H, W]`` matching image.
    var2d: ``[B, C, K]`` noise variance of each 2-D coefficient (K = block**2) for this stage's
    transform. tau: ``[B]`` matching threshold (sum of squared differences over a block).
    mode: ``"hard"`` or ``"wiener"`` (then ``basic`` ``[B, C, H, W]`` is required).
    lagcov: covariance of a coefficient between two blocks at each lag: for white noise the 1-D row
    autocorrelations ``[2*block-1, block]`` (see :func:`.transforms.row_autocorrelations`, times
    ``lagscale`` ``[B, C]``, the noise variances), else ``[B, C, NB, K]`` with NB = (2*block-1)**2 lags. With it the noise variance
    of every 3-D coefficient is exact for the group's block positions (overlapping blocks carry
    correlated noise); without it every 3-D coefficient gets its 2-D variance ``var2d``.
    Returns the aggregated estimate ``[B, C, H, W]`` float32.
    """
    dev = z.device
    b, c, h, w = z.shape
    n1 = params.block
    k2 = n1 * n1
    n2 = params.group
    s = params.search // 2
    hp, wp = h - n1 + 1, w - n1 + 1

    tkey = (params.transform, n1)
    fwd = device_constant(("fwd", *tkey), dev, lambda: transform_2d(params.transform, n1)[0].float())
    # pixels of a block from its coefficients, times the window: [K(pixels), K(coefs)]
    synth = device_constant(
        ("synth", *tkey, params.beta),
        dev,
        lambda: (transform_2d(params.transform, n1)[1] * kaiser_2d(n1, params.beta).reshape(-1, 1)).float(),
    )
    win_flat = device_constant(
        ("win", n1, params.beta), dev, lambda: kaiser_2d(n1, params.beta).reshape(1, 1, k2, 1).float()
    )
    haar = device_constant(("haar", n2), dev, lambda: group_haar_table(n2).float())
    nlag = (2 * n1 - 1) ** 2
    if lagcov is not None:
        pairs = tuple(device_constant(("pairs", n2, n1, i), dev, lambda i=i: _pair_tables(n2, n1)[i]) for i in range(4))
        lagcov = lagcov.float().to(dev)
    var = var2d.float().clamp(min=1e-20)  # [B, C, K]
    vmean = var.mean(-1)  # [B, C]

    rows = grid(h, n1, params.step)
    cols = grid(w, n1, params.step, params.col_shifts)
    rows_dev = device_constant(("grid", h, n1, params.step), dev, lambda: rows)
    cols_dev = device_constant(("grid", w, n1, params.step, params.col_shifts), dev, lambda: cols)
    nc = cols.numel()
    budget = memory_budget(dev)
    per_ref = n2 * c * k2 * 4 * (12 if mode == "wiener" else 9) + n2 * 64
    if lagcov is not None:
        npair = 1 + int(math.log2(n2))
        per_ref += n2 * n2 * (12 * npair + 12) + n2 * (nlag + 1) * 12 + n2 * c * k2 * 4
    band_rows = max(1, min(rows.numel(), budget // max(per_ref * nc * b, 1)))
    num = torch.zeros(b, c, h, w, device=dev, dtype=torch.float32)
    den = torch.zeros(b, c, h, w, device=dev, dtype=torch.float32)
    nbands = (rows.numel() + band_rows - 1) // band_rows

    for bi in range(nbands):
        rr = rows[bi * band_rows : (bi + 1) * band_rows]
        pos, levels = match_blocks(
            guide,
            rr,
            cols,
            block=n1,
            search=params.search,
            group=n2,
            tau=tau,
            budget_bytes=budget,
            ref_rows_dev=rows_dev[bi * band_rows : (bi + 1) * band_rows],
            ref_cols_dev=cols_dev,
        )
        nref = pos.shape[1]
        # positions reachable from this band, and the pixels they cover
        p0 = max(0, int(rr[0]) - s)
        p1 = min(hp - 1, int(rr[-1]) + s)
        npr = p1 - p0 + 1
        npos = npr * wp
        pix = z[:, :, p0 : p1 + n1]

        def table(img: torch.Tensor, npr: int = npr, npos: int = npos) -> torch.Tensor:
            cols_ = F.unfold(img.reshape(b * c, 1, npr + n1 - 1, w), n1)  # [B*C, K, npos]
            coef = torch.matmul(fwd, cols_)  # [B*C, K, npos]
            return coef.view(b, c, k2, npos).permute(0, 3, 1, 2).reshape(b * npos, c * k2)

        flat = (pos - p0 * wp) + (torch.arange(b, device=dev) * npos).view(b, 1, 1)
        flat = flat.reshape(-1)  # [B*nref*n2]
        tz = table(pix)
        grp = tz.index_select(0, flat).view(b * nref, n2, c * k2)
        del tz
        tmat = haar.index_select(0, levels.reshape(-1))  # [B*nref, n2, n2]
        spec = torch.bmm(tmat, grp).view(b, nref, n2, c, k2)
        del grp
        gsize = (2**levels).view(b, nref, 1)
        slot_ok = torch.arange(n2, device=dev).view(1, 1, n2) < gsize  # [B, nref, n2]

        if lagcov is not None:
            var3 = _group_variances(pos, levels, wp, n1, pairs, lagcov, lagscale, c, pair_scaled=True)
        else:
            var3 = var.view(b, 1, 1, c, k2)
        if mode == "hard":
            # (the slots beyond the group's size hold zeros, never kept: no mask needed)
            keep = spec.square() > (params.shrink**2) * var3
            spec.mul_(keep)
            wsum = (keep * var3).sum((2, 4))  # [B, nref, C]
            del keep
            weight = vmean.view(b, 1, c) / wsum.clamp(min=1e-30)
            weight = torch.where(wsum > 0, weight, torch.ones_like(weight))
        else:
            tb = table(basic[:, :, p0 : p1 + n1])
            gb = tb.index_select(0, flat).view(b * nref, n2, c * k2)
            del tb
            yb = torch.bmm(tmat, gb).view(b, nref, n2, c, k2)
            del gb
            yb2 = yb.square_()
            # (the slots beyond the group's size hold zeros: their Wiener weight is 0, no mask needed)
            dnm = yb2 + params.shrink * var3
            wien = yb2.div_(dnm.clamp_(min=1e-30))
            del yb, yb2, dnm
            spec.mul_(wien)
            wsum = (wien.square_() * var3).sum((2, 4))
            del wien
            weight = vmean.view(b, 1, c) / wsum.clamp(min=1e-30)
        weight = weight.clamp(max=MAX_WEIGHT)  # [B, nref, C]

        est = torch.bmm(tmat.transpose(1, 2), spec.view(b * nref, n2, c * k2))
        del spec, tmat
        # weight times the fixed-point scale (a power of two: exact) in one pass
        est = est.view(b, nref, n2, c, k2).mul_((weight * FIXED_SCALE).view(b, nref, 1, c, 1))
        acc = torch.zeros(b * npos, c * k2, device=dev, dtype=torch.int64)
        acc.index_add_(0, flat, est.view(-1, c * k2).round_().to(torch.int64))
        del est
        wts = (weight.view(b, nref, 1, c) * slot_ok[..., None]).reshape(-1, c)
        wacc = torch.zeros(b * npos, c, device=dev, dtype=torch.int64)
        wacc.index_add_(0, flat, (wts * FIXED_SCALE).round_().to(torch.int64))
        del wts

        coef = (acc.to(torch.float64) / FIXED_SCALE).float().view(b, npos, c, k2).permute(0, 2, 3, 1)  # [B,C,K,npos]
        del acc
        blocks = torch.matmul(synth, coef)  # [B, C, K, npos]
        out_h = npr + n1 - 1
        num[:, :, p0 : p1 + n1] += F.fold(blocks.reshape(b * c, k2, npos), (out_h, w), n1).view(b, c, out_h, w)
        del blocks, coef
        wgt = (wacc.to(torch.float64) / FIXED_SCALE).float().view(b, npos, c).permute(0, 2, 1)  # [B, C, npos]
        spread = (win_flat * wgt[:, :, None, :]).reshape(b * c, k2, npos)
        den[:, :, p0 : p1 + n1] += F.fold(spread, (out_h, w), n1).view(b, c, out_h, w)
        if progress is not None:
            progress(bi + 1, nbands)
    return num / den.clamp(min=1e-30)
