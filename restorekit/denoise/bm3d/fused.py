"""Fused GPU kernels (Triton) for one BM3D stage with white noise: block matching and collaborative
filtering without the large intermediate tensors of the torch path (:mod:`.stages`).

Per band of reference rows, three kernels run:

1. ``_distances``: squared distances between every reference block and every block of its search
   window, for a tile of 8 x 8 reference blocks at a time, as ``|a|^2 + |b|^2 - 2 a.b`` with the dot
   products on the tensor cores (float16 values centred on the image mean; see Precision below). The candidate blocks of a
   tile are read once for the whole tile instead of once per reference block.
2. ``_select``: the ``group`` closest blocks within the matching threshold, closest first, the
   reference block always first; ties go to the lower offset index (deterministic).
3. ``_filter``: per group, the 2-D transform of the blocks (a matrix product), the Haar transform
   along the group (rows in place order, :func:`.transforms.haar_matrix_in_place`), the exact noise
   variance of every 3-D coefficient for the group's block positions (overlapping blocks carry
   correlated noise, see :mod:`.core`; computed up the Haar tree from the covariance of each pair of
   blocks once, ``m (m - 1) / 2`` outer products for a group of ``m``), hard thresholding or the
   empirical Wiener filter, the inverse transforms times the Kaiser window, and the aggregation.

Aggregation adds 64-bit fixed-point numbers with atomics, so the sums, hence the results, do not
depend on the order in which the GPU runs the groups: repeated runs are bit-for-bit identical.

Precision: the block transforms and the Haar transforms use float16 operands on the tensor cores
with float32 sums (each rounding at most 2**-12 relative: values agree with the float32 torch path to
about 1e-3 at worst); the 3-D noise variances are float32 throughout; the distances use float16 copies of the guide,
centred on its mean, with float32 norms; the selection ranks distances rounded to 11 mantissa bits.
Near-tied candidates may therefore swap; on the full standard sets the PSNR matches the torch path
within 0.01 dB (measured on an H100, ``bench/bench_bm3d.py``). Launch settings: :data:`CONFIG`
(tuned on an H100; ``bench/bench_bm3d.py --profiler`` shows per-kernel times).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from ...triton_support import raised_in_triton
from .options import FIXED_SCALE
from .profiles import StageParams
from .stages import device_constant, grid
from .transforms import (
    coefficient_norms2,
    group_haar_table,
    kaiser_2d,
    row_autocorrelations,
    transform_1d,
    transform_2d,
)

_TILE = 8  # reference blocks per tile side in the distance kernel
_CAND = 64  # candidate columns per chunk in the distance kernel

# launch settings (measured on an H100 with a tuning script since folded into bench/bench_bm3d.py --profiler)
CONFIG = {
    "dist_warps": 8,
    "dist_prec": "tf32",
    "dist_f16": True,
    "sel_rows": 4,
    "sel_warps": 4,
    "sel_seg": 32,
    "filt_warps": 2,
    "tr_prec": "tf32",
    "tr_f16": True,
}


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """True when Triton can be imported (it ships with the CUDA builds of torch on Linux)."""
    try:
        import triton  # noqa: F401
        import triton.language  # noqa: F401
    except Exception:  # noqa: BLE001 - any import failure means: use the torch path
        return False
    return True


_BROKEN: list[str] = []  # why the kernels cannot be built in this process, once that is known


def unusable() -> str | None:
    """Why the kernels cannot be built here (e.g. Triton finds no C compiler), or None."""
    return _BROKEN[0] if _BROKEN else None


def mark_unusable_if_triton_failed(exc: BaseException) -> bool:
    """If ``exc`` was raised inside Triton (building or launching the kernels, e.g. no C compiler or an
    unsupported GPU), remember it (the torch path is then used for the rest of the process) and return
    True; errors from anywhere else return False and must propagate."""
    inside = raised_in_triton(exc)
    if inside and not _BROKEN:
        _BROKEN.append(f"{type(exc).__name__}: {str(exc)[:300]}")
    return inside


def supported(block: int, group: int, channels: int) -> bool:
    """Whether the fused kernels handle these stage parameters (8x8 blocks, groups of 16 or 32)."""
    return block == 8 and group in (16, 32) and channels in (1, 3)


@functools.lru_cache(maxsize=1)
def _kernels() -> dict:
    from . import fused_kernels as k

    return {"distances": k._distances, "select": k._select, "filter": k._filter}


def run_stage_fused(
    z: torch.Tensor,
    guide: torch.Tensor,
    sig2: torch.Tensor,
    params: StageParams,
    tau: torch.Tensor,
    *,
    mode: str,
    basic: torch.Tensor | None = None,
    exact: bool = True,
    budget_bytes: int = 2**30,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """One BM3D stage with the fused kernels (white noise of variance ``sig2`` ``[B, C]``).

    Same contract as :func:`.stages.run_stage`: z ``[B, C, H, W]`` float32 contiguous (H, W >= 8),
    guide ``[B, H, W]``, tau ``[B]`` (sum of squared differences), mode "hard" or "wiener" (with
    ``basic``). ``exact``: exact 3-D variances for overlapping blocks. Returns ``[B, C, H, W]``.
    """
    kern = _kernels()
    dev = z.device
    b, c, h, w = z.shape
    n1, kg = params.block, params.group
    hp, wp = h - n1 + 1, w - n1 + 1
    s = params.search // 2
    ns = 2 * s + 1
    npad = 1 << (ns * ns - 1).bit_length()
    tkey = (params.transform, n1)
    fwdt = device_constant(("f_fwdt", *tkey), dev, lambda: transform_2d(params.transform, n1)[0].T.float().contiguous())
    synt = device_constant(
        ("f_synt", *tkey, params.beta),
        dev,
        lambda: (transform_2d(params.transform, n1)[1] * kaiser_2d(n1, params.beta).reshape(-1, 1)).T.float().contiguous(),
    )
    window = device_constant(("f_win", n1, params.beta), dev, lambda: kaiser_2d(n1, params.beta).float()[None, None])
    haar = device_constant(("f_haar_in_place", kg), dev, lambda: group_haar_table(kg, in_place=True).float().contiguous())
    rho = device_constant(
        ("f_rho", *tkey), dev, lambda: row_autocorrelations(transform_1d(params.transform, n1)).float().contiguous()
    )
    norms = device_constant(
        ("f_norms", *tkey), dev, lambda: coefficient_norms2(transform_2d(params.transform, n1)[0]).float()
    )
    rows = grid(h, n1, params.step)
    cols = grid(w, n1, params.step, params.col_shifts)
    rows_dev = device_constant(("f_rows", h, n1, params.step), dev, lambda: rows.to(torch.int32))
    cols_dev = device_constant(("f_cols", w, n1, params.step, params.col_shifts), dev, lambda: cols.to(torch.int32))
    nr, nc = rows.numel(), cols.numel()

    # distances do not change with a common offset; centred values make the TF32 products more precise
    # the kernels index plain row-major planes: every image they read must be contiguous (a colour
    # transform may hand over another memory layout)
    z = z.float().contiguous()
    guide = guide.float() - guide.float().mean((-2, -1), keepdim=True)
    if CONFIG["dist_f16"]:
        guide = guide.half()
    gq = guide.float()  # the values the dot products see, for consistent norms
    energy = torch.nn.functional.avg_pool2d((gq * gq)[:, None], n1, stride=1, divisor_override=1)[:, 0].contiguous()
    guide = guide.contiguous()
    basic_t = (basic if basic is not None else z).float().contiguous()
    sig2 = sig2.to(dev, torch.float32).contiguous()
    vmean = (sig2 * norms.mean()).contiguous()
    tau32 = tau.to(dev, torch.float32).contiguous()
    num = torch.zeros(b, c, h, w, device=dev, dtype=torch.int64)
    wacc = torch.zeros(b, c, hp, wp, device=dev, dtype=torch.int64)

    per_row = b * nc * ns * ns * 4 + b * nc * (kg + 1) * 4
    band = max(1, min(nr, budget_bytes // max(per_row, 1)))
    nbands = (nr + band - 1) // band
    shrink = float(params.shrink)
    for bi in range(nbands):
        r0, r1 = bi * band, min(nr, (bi + 1) * band)
        nrb = r1 - r0
        nref = nrb * nc
        rows_b = rows_dev[r0:r1]
        dist = torch.empty(b, nref, ns * ns, device=dev, dtype=torch.float32)
        kern["distances"][(triton_cdiv(nrb, _TILE), triton_cdiv(nc, _TILE), b)](
            guide, energy, rows_b, cols_dev, dist, nrb, nc, h, w, hp, wp, S=s, NS=ns, TILE=_TILE, BN=_CAND, PREC=CONFIG["dist_prec"], num_warps=CONFIG["dist_warps"]
        )
        pos = torch.empty(b, nref, kg, device=dev, dtype=torch.int32)
        lev = torch.empty(b, nref, device=dev, dtype=torch.int32)
        kern["select"][(triton_cdiv(nref, CONFIG["sel_rows"]), b)](
            dist, rows_b, cols_dev, tau32, pos, lev, nrb, nc, hp, wp,
            S=s, NS=ns, NPAD=npad, KG=kg, RB=CONFIG["sel_rows"], SEG=CONFIG["sel_seg"], num_warps=CONFIG["sel_warps"],
        )
        del dist
        kern["filter"][(nref, b)](
            z, basic_t, pos, lev, fwdt, synt, haar, rho, norms, sig2, vmean, num, wacc,
            nref, h, w, hp, wp, shrink, C=c, KG=kg, LOG_KG=kg.bit_length() - 1, WIENER=mode == "wiener", EXACT=exact and CONFIG.get("exact", True), ATOMIC=CONFIG.get("atomic", True), TPREC=CONFIG["tr_prec"], T16=CONFIG["tr_f16"], num_warps=CONFIG["filt_warps"],
        )
        if progress is not None:
            progress(bi + 1, nbands)
    numf = (num.to(torch.float64) / FIXED_SCALE).float()
    wf = (wacc.to(torch.float64) / FIXED_SCALE).float().view(b * c, 1, hp, wp)
    den = torch.nn.functional.conv_transpose2d(wf, window).view(b, c, h, w)
    return numf / den.clamp(min=1e-30)


def triton_cdiv(a: int, b: int) -> int:
    """Ceiling division for launch grids."""
    return -(-a // b)
