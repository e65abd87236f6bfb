"""Triton kernels of the Richardson–Lucy iteration (see :mod:`restorekit.deblur.rl_fused`).

Each kernel works on ``[planes, H, W]`` float32 canvases (one plane = one image channel) in
1-D blocks of ``BLOCK`` pixels; ``program_id(1)`` is the plane. They compute the same formulas, in
the same order, as the torch path of :mod:`restorekit.deblur.richardson_lucy`; divisions and
square roots are correctly rounded (``div_rn``, ``sqrt_rn``) so that both agree to float rounding.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit(do_not_specialize=["n", "tiny"])
def _ratio(DATA, MODEL, OUT, n, tiny, BLOCK: tl.constexpr):
    """``OUT = DATA / max(MODEL, tiny)``."""
    offs = tl.program_id(1).to(tl.int64) * n + tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK) < n
    model = tl.maximum(tl.load(MODEL + offs, mask=inside, other=1.0), tiny)
    data = tl.load(DATA + offs, mask=inside, other=0.0)
    tl.store(OUT + offs, tl.div_rn(data, model), mask=inside)


@triton.jit(do_not_specialize=["n", "alpha_max"])
def _extrapolate(U, PREV, STATS, STATS_PREV, OUT, n, alpha_max, BLOCK: tl.constexpr):
    """Biggs–Andrews step ``OUT = max(U + alpha (U - PREV), 0)``, ``alpha = clip(<g_k, g_k-1> / <g_k-1, g_k-1>,
    0, alpha_max)`` from the per-plane sums ``STATS[p] = (<g_k, g_k-1>, <g_k, g_k>)`` and ``STATS_PREV``."""
    plane = tl.program_id(1)
    dot = tl.load(STATS + 2 * plane)
    square = tl.maximum(tl.load(STATS_PREV + 2 * plane + 1), 1e-20)
    alpha = tl.minimum(tl.maximum(tl.div_rn(dot, square), 0.0), alpha_max)
    local = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = local < n
    offs = plane.to(tl.int64) * n + local
    u = tl.load(U + offs, mask=inside, other=0.0)
    prev = tl.load(PREV + offs, mask=inside, other=0.0)
    tl.store(OUT + offs, tl.maximum(u + alpha * (u - prev), 0.0), mask=inside)


@triton.jit
def _unit_gradient(ux, uy, eps):
    return tl.div_rn(ux, tl.sqrt_rn(ux * ux + uy * uy + eps * eps)), tl.div_rn(
        uy, tl.sqrt_rn(ux * ux + uy * uy + eps * eps)
    )


@triton.jit(do_not_specialize=["H", "W", "nblocks", "tv_floor"])
def _update(
    S,
    V,
    NORM,
    ACTIVE,
    GPREV,
    LAM,
    EPS,
    NEW,
    G,
    PART,
    H,
    W,
    nblocks,
    tv_floor,
    HAS_NORM: tl.constexpr,
    HAS_TV: tl.constexpr,
    HAS_ACTIVE: tl.constexpr,
    ACCEL: tl.constexpr,
    HAS_GPREV: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """One RL update from ``S = A^T(ratio)`` at the point ``V``::

        NEW = max(S V / (NORM (max(1 - lam div(grad V / |grad V|_eps), tv_floor))), 0)   where ACTIVE, else V

    With ``ACCEL`` it also writes the change ``G = NEW - V`` and the block sums ``PART[p, block] =
    (<G, GPREV>, <G, G>)`` that the next extrapolation needs."""
    plane = tl.program_id(1)
    n = H * W
    local = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = local < n
    base = plane.to(tl.int64) * n
    offs = base + local
    v = tl.load(V + offs, mask=inside, other=0.0)
    new = tl.load(S + offs, mask=inside, other=0.0) * v
    denom = tl.full([BLOCK], 1.0, tl.float32)
    if HAS_NORM:
        denom = tl.load(NORM + local, mask=inside, other=1.0)
    if HAS_TV:
        lam = tl.load(LAM + plane)
        eps = tl.load(EPS + plane)
        row = local // W
        col = local - row * W
        right = col < W - 1
        down = row < H - 1
        left = col > 0
        up = row > 0
        v_r = tl.load(V + offs + 1, mask=inside & right, other=0.0)
        v_d = tl.load(V + offs + W, mask=inside & down, other=0.0)
        v_l = tl.load(V + offs - 1, mask=inside & left, other=0.0)
        v_ld = tl.load(V + offs + W - 1, mask=inside & left & down, other=0.0)
        v_u = tl.load(V + offs - W, mask=inside & up, other=0.0)
        v_ur = tl.load(V + offs - W + 1, mask=inside & up & right, other=0.0)
        # forward differences, zero across the far border, at this pixel, its left and its upper neighbour
        px, py = _unit_gradient(tl.where(right, v_r - v, 0.0), tl.where(down, v_d - v, 0.0), eps)
        pxl, _ = _unit_gradient(v - v_l, tl.where(down, v_ld - v_l, 0.0), eps)
        _, pyu = _unit_gradient(tl.where(right, v_ur - v_u, 0.0), v - v_u, eps)
        div = px - tl.where(left, pxl, 0.0) + py - tl.where(up, pyu, 0.0)
        tv = tl.maximum(1.0 - lam * div, tv_floor)
        denom = denom * tv
    if HAS_NORM or HAS_TV:
        new = tl.div_rn(new, denom)
    new = tl.maximum(new, 0.0)
    if HAS_ACTIVE:
        new = tl.where(tl.load(ACTIVE + local, mask=inside, other=0) != 0, new, v)
    tl.store(NEW + offs, new, mask=inside)
    if ACCEL:
        g = tl.where(inside, new - v, 0.0)
        tl.store(G + offs, g, mask=inside)
        slot = PART + (plane.to(tl.int64) * nblocks + tl.program_id(0)) * 2
        if HAS_GPREV:
            tl.store(slot, tl.sum(g * tl.load(GPREV + offs, mask=inside, other=0.0), axis=0))
        else:
            tl.store(slot, 0.0)
        tl.store(slot + 1, tl.sum(g * g, axis=0))
