"""Triton kernels of the fused BM3D stage (see :mod:`.fused`, which documents them and launches them).

Importing this module needs Triton; :mod:`.fused` imports it only when the fused path runs.
"""

import triton
import triton.language as tl

from .options import FIXED_SCALE, MAX_WEIGHT

_FIXED = tl.constexpr(FIXED_SCALE)  # the aggregation's fixed-point scale (2**36), as in the torch stage
_MAX_WEIGHT = tl.constexpr(MAX_WEIGHT)  # the cap of the normalised group weights


@triton.jit
def _mm(a, b, F16: tl.constexpr, PREC: tl.constexpr):
    """a @ b with float32 accumulation: float16 operands (F16) or float32 ones at precision PREC."""
    if F16:
        return tl.dot(a.to(tl.float16), b.to(tl.float16))
    else:
        return tl.dot(a, b, input_precision=PREC)

# sizes are not specialised on: a new image size must not compile the kernels again
@triton.jit(do_not_specialize=["nrows", "ncols", "H", "W", "HP", "WP"])
def _distances(
    U,  # [B, H, W] guide (float32 or float16), centred
    E,  # [B, HP, WP] float32 squared norm of the block at each position
    ROWS,  # int32 reference rows of this band
    COLS,  # int32 reference columns
    D,  # [B, nref, NS*NS] float32 out
    nrows,
    ncols,
    H,
    W,
    HP,
    WP,
    S: tl.constexpr,
    NS: tl.constexpr,
    TILE: tl.constexpr,
    BN: tl.constexpr,
    PREC: tl.constexpr,
):
    pid_r = tl.program_id(0)
    pid_c = tl.program_id(1)
    img = tl.program_id(2)
    m = tl.arange(0, TILE * TILE)
    ri = pid_r * TILE + m // TILE
    ci = pid_c * TILE + m % TILE
    mval = (ri < nrows) & (ci < ncols)
    ry = tl.load(ROWS + ri, mask=mval, other=0)
    rx = tl.load(COLS + ci, mask=mval, other=0)
    base = U + img.to(tl.int64) * H * W
    p = tl.arange(0, 64)
    a = tl.load(base + (ry[:, None] + p[None, :] // 8) * W + rx[:, None] + p[None, :] % 8, mask=mval[:, None], other=0.0)
    ebase = E + img.to(tl.int64) * HP * WP
    a2 = tl.load(ebase + ry * WP + rx, mask=mval, other=0.0)
    y_lo = tl.maximum(tl.min(tl.where(mval, ry, 1 << 30), 0) - S, 0)
    y_hi = tl.minimum(tl.max(tl.where(mval, ry, -1), 0) + S, HP - 1)
    x_lo = tl.maximum(tl.min(tl.where(mval, rx, 1 << 30), 0) - S, 0)
    x_hi = tl.minimum(tl.max(tl.where(mval, rx, -1), 0) + S, WP - 1)
    n = tl.arange(0, BN)
    out = D + (img.to(tl.int64) * nrows * ncols + (ri * ncols + ci).to(tl.int64)) * (NS * NS)
    for cy in range(y_lo, y_hi + 1):
        dy = cy - ry
        row_ok = mval & (dy >= -S) & (dy <= S)
        for cx0 in range(x_lo, x_hi + 1, BN):
            cx = cx0 + n
            nval = cx <= x_hi
            bm = tl.load(base + (cy + p[:, None] // 8) * W + cx[None, :] + p[:, None] % 8, mask=nval[None, :], other=0.0)
            b2 = tl.load(ebase + cy * WP + cx, mask=nval, other=0.0)
            ab = tl.dot(a, bm, input_precision=PREC)
            d = a2[:, None] + b2[None, :] - 2.0 * ab
            dx = cx[None, :] - rx[:, None]
            ok = row_ok[:, None] & nval[None, :] & (dx >= -S) & (dx <= S)
            tl.store(out[:, None] + (dy[:, None] + S) * NS + dx + S, d, mask=ok)

_NEVER = tl.constexpr(0x7FFFFFFF)


@triton.jit
def _keys(D, row, ry, rx, rval, o, tau, HP, WP, S: tl.constexpr, NS: tl.constexpr):
    """Selection keys ``[RB, n]`` (int32) of the search offsets ``o`` ``[RB, n]`` of RB reference blocks:
    the distance rounded to 11 mantissa bits (relative 5e-4) above the offset's index, so that the
    smallest key is the closest block and ties go to the lower index; the reference block itself gets
    distance 0 (always first); offsets outside the image or beyond the threshold ``tau`` get _NEVER."""
    cy = ry[:, None] + (o // NS - S)
    cx = rx[:, None] + (o % NS - S)
    inside = rval[:, None] & (o < NS * NS) & (cy >= 0) & (cy < HP) & (cx >= 0) & (cx < WP)
    d = tl.load(D + row[:, None] * (NS * NS) + o, mask=inside, other=float("inf"))
    bits = (tl.maximum(d, 0.0).to(tl.int32, bitcast=True) >> 12) + 1
    key = tl.where(inside & (d <= tau), (bits << 11) | o, _NEVER)
    return tl.where((o == S * NS + S) & rval[:, None], S * NS + S, key)


@triton.jit(do_not_specialize=["nrows", "ncols", "HP", "WP"])
def _select(
    D,
    ROWS,
    COLS,
    TAU,  # [B] float32
    POS,  # [B, nref, KG] int32 out (flat position row * WP + col)
    LEV,  # [B, nref] int32 out (log2 of the group size)
    nrows,
    ncols,
    HP,
    WP,
    S: tl.constexpr,
    NS: tl.constexpr,
    NPAD: tl.constexpr,
    KG: tl.constexpr,
    RB: tl.constexpr,
    SEG: tl.constexpr,
):
    # The offsets are split into segments of SEG lanes; the minimum key of every segment is kept. Each
    # of the KG rounds takes the smallest segment minimum (the next closest block) and recomputes only
    # that segment's minimum over the keys above it (keys are unique and come out in increasing order).
    pid = tl.program_id(0)
    img = tl.program_id(1)
    nref = nrows * ncols
    r = pid * RB + tl.arange(0, RB)
    rval = r < nref
    ry = tl.load(ROWS + r // ncols, mask=rval, other=0)
    rx = tl.load(COLS + r % ncols, mask=rval, other=0)
    row = img.to(tl.int64) * nref + r.to(tl.int64)
    tau = tl.load(TAU + img)
    lanes = tl.arange(0, NPAD)[None, :] + tl.zeros([RB, 1], dtype=tl.int32)
    key = _keys(D, row, ry, rx, rval, lanes, tau, HP, WP, S, NS)
    segmin = tl.min(tl.reshape(key, (RB, NPAD // SEG, SEG)), 2)  # [RB, NSEG]
    sidx = tl.arange(0, NPAD // SEG)[None, :]
    within = tl.arange(0, SEG)[None, :]
    here = ry * WP + rx
    count = tl.zeros([RB], dtype=tl.int32)
    for k in tl.static_range(KG):
        best = tl.min(segmin, 1)
        found = best != _NEVER
        idx = best & 2047
        where = (ry + idx // NS - S) * WP + rx + idx % NS - S
        tl.store(POS + row * KG + k, tl.where(found, where, here), mask=rval)
        count += found.to(tl.int32)
        if k + 1 < KG:
            g = idx // SEG
            ks = _keys(D, row, ry, rx, rval, g[:, None] * SEG + within, tau, HP, WP, S, NS)
            nxt = tl.min(tl.where(ks > best[:, None], ks, _NEVER), 1)
            segmin = tl.where(sidx == g[:, None], nxt[:, None], segmin)
    lev = tl.zeros([RB], dtype=tl.int32)
    for s in tl.static_range(1, 6):
        lev = tl.where(count >= (1 << s), s, lev)
    tl.store(LEV + row, lev, mask=rval)


@triton.jit
def _haar_group_variances(GPOS, m, unit, RHO, WP, KG: tl.constexpr, LOG_KG: tl.constexpr):
    """Unit-white-noise variance ``[KG, 64]`` of every 3-D coefficient of a group of ``m`` (a power of
    two) blocks at the flat positions ``GPOS[0:KG]``, for the group Haar transform in place order
    (:func:`restorekit.denoise.bm3d.transforms.haar_matrix_in_place`); ``unit`` ``[KG, 64]`` holds
    the 2-D coefficient variances in the slots ``< m`` and zeros beyond.

    With ``C_ij`` the noise covariance of the 2-D coefficients of blocks ``i`` and ``j`` (zero unless
    the blocks overlap), a dyadic interval ``I`` of slots with halves ``L`` and ``R`` has the detail
    variance ``(A(L) + A(R) - 2 X(I)) / |I|``, where ``A(J) = sum_{i, j in J} C_ij`` and the cross
    sum ``X(I) = sum_{i in L, j in R} C_ij``; and ``A(I) = A(L) + A(R) + 2 X(I)``. The scaling
    coefficient has ``A([0, m)) / m``. Every pair of blocks is the cross pair of exactly one interval
    (at level ``msb(i ^ j)``), so walking up the levels visits each pair once: ``m (m - 1) / 2``
    covariances in all, no matrix products, float32 sums.
    """
    HALF: tl.constexpr = KG // 2
    k = tl.arange(0, HALF)
    u8 = tl.arange(0, 8)
    i = tl.arange(0, KG)
    area = unit  # A of the intervals of the current length, one row each
    total = tl.sum(unit, 0)
    out = tl.zeros([KG, 64], dtype=tl.float32)
    for t in tl.static_range(LOG_KG):
        # (1 << t): half the length of this level's intervals (kept inline: a named constexpr could not
        # be re-bound in the next unrolled iteration)
        left = ((k >> t) << (t + 1)) | (k & ((1 << t) - 1))  # the slots of the left halves
        pl = tl.load(GPOS + left)
        yl = pl // WP
        xl = pl % WP
        cross = tl.zeros([HALF, 64], dtype=tl.float32)
        for d in range(1 << t, tl.minimum(2 << t, m)):  # partner slot left ^ d lies in the right half
            pr = tl.load(GPOS + (left ^ d))
            dy = yl - pr // WP
            dx = xl - pr % WP
            ovl = ((left ^ d) < m) & (dy < 8) & (dy > -8) & (dx < 8) & (dx > -8)
            if tl.sum(ovl.to(tl.int32), 0) > 0:
                ru = tl.load(RHO + (dy[:, None] + 7) * 8 + u8[None, :], mask=ovl[:, None], other=0.0)
                rv = tl.load(RHO + (dx[:, None] + 7) * 8 + u8[None, :], mask=ovl[:, None], other=0.0)
                cross += tl.reshape(ru[:, :, None] * rv[:, None, :], (HALF, 64))
        x = tl.sum(tl.reshape(cross, (HALF >> t, 1 << t, 64)), 1)  # X of each interval of length 2 << t
        halves = tl.sum(tl.reshape(area, (HALF >> t, 2, 64)), 1)  # A(L) + A(R)
        detail = (halves - 2.0 * x) * (0.5 / (1 << t))
        slot = (tl.arange(0, 2 << t) == (1 << t))[None, :, None]  # the detail's slot: start + (1 << t)
        out += tl.reshape(tl.where(slot, detail[:, None, :], 0.0), (KG, 64))
        area = halves + 2.0 * x
        total += 2.0 * tl.sum(x, 0)  # pairs beyond the group contribute zeros
    out = tl.where(i[:, None] == 0, (total / m.to(tl.float32))[None, :], out)
    return tl.where((i < m)[:, None], out, 0.0)


@triton.jit(do_not_specialize=["nref", "H", "W", "HP", "WP", "shrink"])
def _filter(
    Z,  # [B, C, H, W] float32 noisy
    BASIC,  # [B, C, H, W] float32 basic estimate (Wiener) or Z
    POS,
    LEV,
    FWDT,  # [64, 64] float32: coef = block @ FWDT
    SYNT,  # [64, 64] float32: windowed pixels = coef @ SYNT
    HAAR,  # [L, KG, KG] float32 group Haar transforms of sizes 2**l, rows in place order
    RHO,  # [15, 8] float32 row autocorrelations of the 1-D transform
    NORMS,  # [64] float32 squared norms of the 2-D analysis functions
    SIG2,  # [B, C] float32 noise variances
    VMEAN,  # [B, C] float32 weight normalisers
    NUM,  # [B, C, H, W] int64 accumulators (fixed point)
    WACC,  # [B, C, HP, WP] int64 weight per block position (fixed point)
    nref,
    H,
    W,
    HP,
    WP,
    shrink,
    C: tl.constexpr,
    KG: tl.constexpr,
    LOG_KG: tl.constexpr,
    WIENER: tl.constexpr,
    EXACT: tl.constexpr,
    TPREC: tl.constexpr,
    T16: tl.constexpr,
    ATOMIC: tl.constexpr,
):
    g = tl.program_id(0)
    img = tl.program_id(1)
    row = img.to(tl.int64) * nref + g
    i = tl.arange(0, KG)
    p = tl.arange(0, 64)
    pos = tl.load(POS + row * KG + i)
    lev = tl.load(LEV + row)
    m = 1 << lev
    live = i < m
    py = pos // WP
    px = pos % WP
    hm = tl.load(HAAR + lev * KG * KG + i[:, None] * KG + i[None, :])  # [l, i]
    # noise variance of each 3-D coefficient (slot l, 2-D coefficient k), for unit white noise
    unit = tl.where(live[:, None], tl.load(NORMS + p)[None, :], 0.0)
    if EXACT:
        unit = _haar_group_variances(POS + row * KG, m, unit, RHO, WP, KG, LOG_KG)
    pix = (py[:, None] + p[None, :] // 8) * W + px[:, None] + p[None, :] % 8
    fwdt = tl.load(FWDT + p[:, None] * 64 + p[None, :])
    synt = tl.load(SYNT + p[:, None] * 64 + p[None, :])
    for c in tl.static_range(C):
        plane = (img * C + c).to(tl.int64)
        x = tl.load(Z + plane * H * W + pix, mask=live[:, None], other=0.0)
        spec = _mm(hm, _mm(x, fwdt, T16, TPREC), T16, TPREC)
        var = tl.load(SIG2 + img * C + c) * unit
        if WIENER:
            y = tl.load(BASIC + plane * H * W + pix, mask=live[:, None], other=0.0)
            yb = _mm(hm, _mm(y, fwdt, T16, TPREC), T16, TPREC)
            y2 = yb * yb
            gain = y2 / tl.maximum(y2 + shrink * var, 1e-30)
            spec = spec * gain
            wsum = tl.sum(tl.sum(gain * gain * var, 1), 0)
            weight = tl.load(VMEAN + img * C + c) / tl.maximum(wsum, 1e-30)
        else:
            keep = spec * spec > shrink * shrink * var
            spec = tl.where(keep, spec, 0.0)
            wsum = tl.sum(tl.sum(tl.where(keep, var, 0.0), 1), 0)
            weight = tl.where(wsum > 0, tl.load(VMEAN + img * C + c) / tl.maximum(wsum, 1e-30), 1.0)
        weight = tl.minimum(weight, _MAX_WEIGHT) * _FIXED  # times the fixed-point scale
        est = _mm(tl.trans(hm), spec, T16, TPREC)
        blocks = _mm(est, synt, T16, TPREC) * weight
        fixed = (blocks + tl.where(blocks >= 0, 0.5, -0.5)).to(tl.int64)  # rounded to nearest
        if ATOMIC:
            tl.atomic_add(NUM + plane * H * W + pix, fixed, mask=live[:, None], sem="relaxed")
        else:
            tl.store(NUM + plane * H * W + pix, fixed, mask=live[:, None])
        wfix = tl.zeros([KG], dtype=tl.int64) + (weight + 0.5).to(tl.int64)
        tl.atomic_add(WACC + plane * HP * WP + pos, wfix, mask=live, sem="relaxed")
