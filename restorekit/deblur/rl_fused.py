"""The pixel-wise parts of a Richardson–Lucy step as three fused Triton kernels (CUDA).

On a GPU one RL step of :mod:`restorekit.deblur.richardson_lucy` is four FFTs and, in plain torch,
about thirty element-wise kernels (ratio, TV divergence, update, clipping, acceleration sums), each
one a full pass over the canvas; those passes, not the FFTs, took two thirds of the time. Here
they are three kernels: the data ratio, the update (TV stencil, normalisation, clipping, the
change and its per-plane sums) and the Biggs–Andrews extrapolation. The results equal the torch
path to float rounding.

``RESTOREKIT_RL_FUSED``: ``1`` (default) uses the kernels for CUDA tensors when Triton imports;
``0`` never; ``interpret`` also on the CPU through Triton's interpreter (slow; for tests, with
``TRITON_INTERPRET=1``).
"""

from __future__ import annotations

import functools
import logging
import os

import torch

from ..triton_support import raised_in_triton

logger = logging.getLogger(__name__)

FUSED_ENV = "RESTOREKIT_RL_FUSED"
_BLOCK = 1024
_WARPS = 4
_BROKEN: list[str] = []  # why the kernels cannot be built in this process, once that is known


@functools.lru_cache(maxsize=1)
def _kernels():
    try:
        from . import rl_kernels
    except Exception as exc:  # noqa: BLE001 - any import failure of Triton means: use the torch path
        _BROKEN.append(f"Triton did not import: {type(exc).__name__}: {exc}")
        return None
    return rl_kernels


def wanted(device: torch.device) -> bool:
    """Whether the fused kernels run for tensors on ``device`` (see the module docstring)."""
    flag = os.environ.get(FUSED_ENV, "1")
    if flag == "0" or _BROKEN or (device.type != "cuda" and flag != "interpret"):
        return False
    return _kernels() is not None


def _grid(n: int, planes: int) -> tuple[int, int]:
    return ((n + _BLOCK - 1) // _BLOCK, planes)


class FusedSteps:
    """The element-wise parts of RL steps on ``[B, C, H, W]`` float32 canvases with the kernels.

    Same interface as ``richardson_lucy._TorchSteps``: ``ratio(model)``, ``update(s, v, gprev)``,
    ``extrapolate(u, prev, stats, stats_prev)``."""

    def __init__(
        self, data, norm, active, lam, tv_eps, accelerate: bool, tv_floor: float, tiny: float, alpha_max: float
    ):
        self.k = _kernels()
        self.data = data.contiguous()
        b, c, h, w = data.shape
        self.shape, self.planes, self.n = (b, c), b * c, h * w
        self.hw = (h, w)
        self.norm = None if norm is None else norm.contiguous()
        self.active = None if active is None else active.to(torch.uint8).contiguous()
        self.lam = None if lam is None else _per_plane(lam, b, c, data.device)
        self.eps = None if lam is None else _per_plane(tv_eps, b, c, data.device)
        self.accelerate = accelerate
        self.tv_floor, self.tiny, self.alpha_max = tv_floor, tiny, alpha_max
        self.nblocks = _grid(self.n, 1)[0]
        self.dummy = torch.zeros(1, device=data.device)

    def ratio(self, model: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(self.data)
        self.k._ratio[_grid(self.n, self.planes)](
            self.data, model.contiguous(), out, self.n, self.tiny, BLOCK=_BLOCK, num_warps=_WARPS
        )
        return out

    def update(self, s: torch.Tensor, v: torch.Tensor, gprev: torch.Tensor | None):
        new = torch.empty_like(v)
        g = torch.empty_like(v) if self.accelerate else self.dummy
        part = torch.empty(self.planes, self.nblocks, 2, device=v.device) if self.accelerate else self.dummy
        d = self.dummy
        h, w = self.hw
        self.k._update[_grid(self.n, self.planes)](
            s.contiguous(),
            v.contiguous(),
            d if self.norm is None else self.norm,
            d if self.active is None else self.active,
            d if gprev is None else gprev,
            d if self.lam is None else self.lam,
            d if self.eps is None else self.eps,
            new,
            g,
            part,
            h,
            w,
            self.nblocks,
            self.tv_floor,
            HAS_NORM=self.norm is not None,
            HAS_TV=self.lam is not None,
            HAS_ACTIVE=self.active is not None,
            ACCEL=self.accelerate,
            HAS_GPREV=gprev is not None,
            BLOCK=_BLOCK,
            num_warps=_WARPS,
        )
        if not self.accelerate:
            return new, None, None
        return new, g, part.sum(dim=1).reshape(*self.shape, 2)

    def extrapolate(self, u, prev, stats, stats_prev) -> torch.Tensor:
        out = torch.empty_like(u)
        self.k._extrapolate[_grid(self.n, self.planes)](
            u,
            prev,
            stats.contiguous(),
            stats_prev.contiguous(),
            out,
            self.n,
            self.alpha_max,
            BLOCK=_BLOCK,
            num_warps=_WARPS,
        )
        return out

    def warm_up(self) -> FusedSteps:
        """Build every kernel variant the iteration will launch (results discarded), so that a Triton
        failure shows up here, before the first step, rather than in the middle of the iteration."""
        v = self.data.clamp_min(self.tiny)
        s = self.ratio(v)
        _, g, stats = self.update(s, v, None)
        if self.accelerate:
            self.update(s, v, g)
            self.extrapolate(v, v, stats, stats)
        return self


def _per_plane(value, b: int, c: int, device: torch.device) -> torch.Tensor:
    """A number or a ``[B, C, 1, 1]`` tensor as a contiguous float32 ``[B, C]`` tensor."""
    return torch.as_tensor(value, dtype=torch.float32, device=device).expand(b, c, 1, 1).reshape(b, c).contiguous()


def built_or_none(make) -> FusedSteps | None:
    """``make().warm_up()``, or None when Triton fails to build or launch its kernels in this process
    (e.g. no C compiler): the failure is logged once and the torch path is used from then on."""
    try:
        return make().warm_up()
    except Exception as exc:
        if not raised_in_triton(exc):
            raise
        _BROKEN.append(f"{type(exc).__name__}: {str(exc)[:300]}")
        logger.warning(
            "Richardson-Lucy: the fused Triton kernels are unusable here (%s); using the torch path.", _BROKEN[0]
        )
        return None

