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

On the CPU the transforms, the matching (per chunk of offsets and of references) and the
filtering of a band run in chunks of some tens of milliseconds with a progress report after each
(:data:`CPU_CHUNK_ELEMENTS`): Cancel is seen quickly, and the smaller temporaries stay in cache
(measured 1.8x faster at 256x256 on a 2-core CPU than one chunk per band).

The accumulation uses 64-bit fixed point, so that the result does not depend on the order of the
atomic additions on a GPU: runs are bit-for-bit reproducible. Weights are normalised per image and
channel by a constant (the mean coefficient variance), which leaves the ratio unchanged.
"""

from __future__ import annotations

import functools
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


#: CPU work between two progress reports (a cancel is seen at the next report): a band's reference
#: blocks are matched and filtered in chunks of about ``CPU_CHUNK_ELEMENTS`` element operations and
#: its block transforms computed in chunks of about ``CPU_CHUNK_MACS`` multiply-adds, each some tens
#: of milliseconds on one core of a small CPU. On CUDA every band is one chunk (the work is queued
#: asynchronously; reporting then costs no synchronisation).
CPU_CHUNK_ELEMENTS = 1.2e7
CPU_CHUNK_MACS = 6.0e7


def _chunking(dev: torch.device) -> bool:
    return dev.type != "cuda"


def _spans(n: int, size: int) -> list[tuple[int, int]]:
    """``[0, n)`` cut into consecutive spans of at most ``size`` (at least one element each)."""
    size = max(1, int(size))
    return [(i, min(n, i + size)) for i in range(0, n, size)]


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
    progress: ``progress(done, total)``, called often (on the CPU after every chunk of some tens of
    milliseconds of work, see :data:`CPU_CHUNK_ELEMENTS`), monotone, ending with ``done == total``.
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
    pairs = None
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

    # chunk sizes (CPU): positions per transform chunk, reference rows per matching chunk, references
    # per filtering chunk; one chunk per band on CUDA
    chunked = _chunking(dev)
    inf = float("inf")
    pos_chunk = CPU_CHUNK_MACS / (b * c * k2 * k2) if chunked else inf
    ny, nx = 2 * min(s, hp - 1) + 1, 2 * min(s, wp - 1) + 1
    # reference rows matched at once: enough that the rows shared by neighbouring blocks are not
    # recomputed much (the squared differences cover the rows of the blocks), few enough that the
    # distances stay small (matching reports within, per chunk of offsets and of references)
    match_rows = max(4 * n1 / params.step, 4 * CPU_CHUNK_ELEMENTS / (b * nc * ny * nx)) if chunked else inf
    per_ref_work = n2 * c * k2 * (2 * n2 + (40 if mode == "wiener" else 30))
    if lagcov is not None:
        per_ref_work += n2 * (nlag + 1) * (k2 if lagcov.dim() == 2 else 2 * c * k2 // 2) // 2 + n2 * n2 * 24
    ref_chunk = CPU_CHUNK_ELEMENTS / (b * per_ref_work) if chunked else inf
    ntab = 2 if mode == "wiener" else 1

    def tick(bi: int, frac: float) -> None:
        # within a band: transforms 0-10 %, matching and filtering 10-90 %, synthesis 90-100 %
        if progress is not None:
            progress(bi * 1000 + min(1000, int(1000 * frac)), nbands * 1000)

    for bi in range(nbands):
        rr = rows[bi * band_rows : (bi + 1) * band_rows]
        # positions reachable from this band, and the pixels they cover
        p0 = max(0, int(rr[0]) - s)
        p1 = min(hp - 1, int(rr[-1]) + s)
        npr = p1 - p0 + 1
        npos = npr * wp
        pos_spans = _spans(npos, pos_chunk if chunked else npos)
        def table(img: torch.Tensor, first: int, npr: int = npr, npos: int = npos, spans=pos_spans, bi=bi) -> torch.Tensor:
            cols_ = F.unfold(img.reshape(b * c, 1, npr + n1 - 1, w), n1)  # [B*C, K, npos]
            if len(spans) == 1:
                coef = torch.matmul(fwd, cols_)  # [B*C, K, npos]
                return coef.view(b, c, k2, npos).permute(0, 3, 1, 2).reshape(b * npos, c * k2)
            out = torch.empty(b, npos, c, k2, device=dev, dtype=torch.float32)
            for i, (j0, j1) in enumerate(spans):
                coef = torch.matmul(fwd, cols_[:, :, j0:j1])
                out[:, j0:j1] = coef.view(b, c, k2, j1 - j0).permute(0, 3, 1, 2)
                tick(bi, 0.1 * (first + (i + 1) / len(spans)) / ntab)
            return out.view(b * npos, c * k2)

        tz = table(z[:, :, p0 : p1 + n1], 0)
        tb = table(basic[:, :, p0 : p1 + n1], 1) if mode == "wiener" else None
        tick(bi, 0.1)
        acc = torch.zeros(b * npos, c * k2, device=dev, dtype=torch.int64)
        wacc = torch.zeros(b * npos, c, device=dev, dtype=torch.int64)
        bases = (torch.arange(b, device=dev) * npos - p0 * wp).view(b, 1, 1)

        row_spans = _spans(rr.numel(), match_rows if chunked else rr.numel())
        for si, (q0, q1) in enumerate(row_spans):
            r_lo = bi * band_rows + q0
            pos, levels = match_blocks(
                guide,
                rr[q0:q1],
                cols,
                block=n1,
                search=params.search,
                group=n2,
                tau=tau,
                budget_bytes=budget,
                ref_rows_dev=rows_dev[r_lo : r_lo + (q1 - q0)],
                ref_cols_dev=cols_dev,
                chunk_elements=CPU_CHUNK_ELEMENTS if chunked else inf,
                tick=None if progress is None else functools.partial(_match_tick, tick, bi, si, len(row_spans)),
            )
            nref = pos.shape[1]
            ref_spans = _spans(nref, ref_chunk if chunked else nref)
            for ci, (g0, g1) in enumerate(ref_spans):
                if len(ref_spans) == 1:
                    pc, lc = pos, levels
                else:
                    pc, lc = pos[:, g0:g1], levels[:, g0:g1]
                _filter(pc, lc, tz, tb, acc, wacc, bases, haar, var, vmean, params, mode, wp, n1, pairs, lagcov,
                        lagscale, c)
                tick(bi, 0.1 + 0.8 * (si + 0.5 + 0.5 * (ci + 1) / len(ref_spans)) / len(row_spans))
            del pos, levels
        del tz, tb

        coef = (acc.to(torch.float64) / FIXED_SCALE).float().view(b, npos, c, k2).permute(0, 2, 3, 1)  # [B,C,K,npos]
        del acc
        if len(pos_spans) == 1:
            blocks = torch.matmul(synth, coef)  # [B, C, K, npos]
        else:
            blocks = torch.empty(b, c, k2, npos, device=dev, dtype=torch.float32)
            for i, (j0, j1) in enumerate(pos_spans):
                blocks[..., j0:j1] = torch.matmul(synth, coef[..., j0:j1])
                tick(bi, 0.9 + 0.09 * (i + 1) / len(pos_spans))
        out_h = npr + n1 - 1
        num[:, :, p0 : p1 + n1] += F.fold(blocks.reshape(b * c, k2, npos), (out_h, w), n1).view(b, c, out_h, w)
        del blocks, coef
        wgt = (wacc.to(torch.float64) / FIXED_SCALE).float().view(b, npos, c).permute(0, 2, 1)  # [B, C, npos]
        spread = (win_flat * wgt[:, :, None, :]).reshape(b * c, k2, npos)
        den[:, :, p0 : p1 + n1] += F.fold(spread, (out_h, w), n1).view(b, c, out_h, w)
        tick(bi, 1.0)
    return num / den.clamp(min=1e-30)


def _match_tick(tick: Callable[[int, float], None], bi: int, si: int, nsub: int, frac: float) -> None:
    # matching takes the first half of a chunk of reference rows' share of the band
    tick(bi, 0.1 + 0.8 * (si + 0.5 * frac) / nsub)


def _filter(pos, levels, tz, tb, acc, wacc, bases, haar, var, vmean, params, mode, wp, n1, pairs, lagcov, lagscale, c):
    """Collaborative filtering of the groups ``pos`` ``[B, nref, N2]`` (levels ``[B, nref]``) of one band:
    gather their 2-D spectra from the band's tables ``tz`` (and ``tb``, the basic estimate's, for
    Wiener), shrink in the 3-D domain, and add the weighted coefficients and weights in fixed point
    to ``acc`` ``[B*npos, C*K]`` and ``wacc`` ``[B*npos, C]`` (flat band index = ``pos + bases``)."""
    dev = tz.device
    b, nref, n2 = pos.shape
    k2 = n1 * n1
    flat = (pos + bases).reshape(-1)  # [B*nref*n2]
    grp = tz.index_select(0, flat).view(b * nref, n2, c * k2)
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
        gb = tb.index_select(0, flat).view(b * nref, n2, c * k2)
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
    acc.index_add_(0, flat, est.view(-1, c * k2).round_().to(torch.int64))
    del est
    wts = (weight.view(b, nref, 1, c) * slot_ok[..., None]).reshape(-1, c)
    wacc.index_add_(0, flat, (wts * FIXED_SCALE).round_().to(torch.int64))
