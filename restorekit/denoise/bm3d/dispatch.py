"""The one place where a BM3D backend is chosen, and the public entry point :func:`bm3d_denoise`.

Backends (``backend=``, the same keyword on :func:`bm3d_denoise` and
:func:`restorekit.deblur.bm3d_deblur.bm3d_deblur`):

* ``auto`` (default): per stage, the fused Triton kernels (:mod:`.fused`) where they apply (white
  noise on a CUDA device with Triton, 8x8 blocks, groups of 16 or 32), else the torch path
  (:mod:`.stages`). ``RESTOREKIT_BM3D_FUSED=0`` makes it use the torch path everywhere;
  ``=interpret`` also runs the kernels on the CPU through Triton's interpreter (slow; for tests).
  When Triton cannot build the kernels (e.g. no C compiler) the torch path runs, logged once.
* ``torch``: the torch path for every stage, on any device.
* ``fused``: the fused kernels for every stage, or an error saying why they cannot run (not a
  CUDA device, no Triton, correlated noise, a profile whose stages they do not handle). The
  environment variable does not turn an explicit choice off (``=interpret`` still lets it run
  on the CPU).
* ``reference``: the optional ``bm3d`` package (:mod:`.reference`; CPU, non-commercial licence);
  :class:`~restorekit.errors.MissingDependencyError` when it is not installed.

``restorekit`` (the name used by the nodes) is accepted for ``auto``.
"""

from __future__ import annotations

import logging
import os

import torch

from ...errors import InvalidParameterError, MissingDependencyError
from ...image import check_image
from ...progress import ProgressCallback
from . import core, fused, stages
from .options import FUSED_ENV, check_backend, check_options
from .profiles import StageParams
from .reference import bm3d_denoise_reference, load_reference

logger = logging.getLogger(__name__)

_FUSED_FIX = "use backend 'auto' (the fused kernels where they apply, else the torch path) or 'torch'."


def _flag() -> str:
    return os.environ.get(FUSED_ENV, "1")


def fused_wanted(z: torch.Tensor, params: StageParams) -> bool:
    """The ``auto`` rule for one stage (white noise assumed): the fused kernels when they handle the
    stage's parameters, ``z`` is on a CUDA device (or ``RESTOREKIT_BM3D_FUSED=interpret``), Triton
    imports, the kernels have not failed to build in this process and ``RESTOREKIT_BM3D_FUSED`` is
    not ``0``."""
    flag = _flag()
    if flag == "0" or fused.unusable() or not fused.supported(params.block, params.group, z.shape[1]):
        return False
    if z.device.type != "cuda" and flag != "interpret":
        return False
    return fused.available()


def _run_fused(z, guide, var2d, params, tau, *, mode, basic=None, lagcov=None, lagscale=None, progress=None):
    # the band budget of the fused stage: a quarter of the torch path's uncapped one (looked up at call time)
    budget = stages.memory_budget(z.device, cap=16 * 2**30) // 4
    return fused.run_stage_fused(
        z, guide, lagscale, params, tau, mode=mode, basic=basic, budget_bytes=budget, progress=progress
    )


def run_stage_auto(z, guide, var2d, params, tau, *, mode, basic=None, lagcov=None, lagscale=None, progress=None):
    """A stage runner (the contract of :func:`.stages.run_stage`) for ``backend="auto"``."""
    kw = dict(mode=mode, basic=basic, lagcov=lagcov, lagscale=lagscale, progress=progress)
    white = lagcov is not None and lagcov.dim() == 2 and lagscale is not None
    if white and fused_wanted(z, params):
        try:
            return _run_fused(z, guide, var2d, params, tau, **kw)
        except Exception as exc:
            if not fused.mark_unusable_if_triton_failed(exc):
                raise
            logger.warning(
                "BM3D: the fused GPU kernels cannot be built on this machine (%s); using the torch path, "
                "which gives the same quality more slowly. Installing a C compiler (gcc) usually fixes it.",
                fused.unusable(),
            )
    return stages.run_stage(z, guide, var2d, params, tau, **kw)


def run_stage_torch(z, guide, var2d, params, tau, **kw):
    """A stage runner for ``backend="torch"``: :func:`.stages.run_stage`."""
    return stages.run_stage(z, guide, var2d, params, tau, **kw)


def run_stage_fused(z, guide, var2d, params, tau, *, mode, basic=None, lagcov=None, lagscale=None, progress=None):
    """A stage runner for ``backend="fused"`` (the case was checked by :func:`fused_problem`)."""
    white = lagcov is not None and lagcov.dim() == 2 and lagscale is not None
    if not white or not fused.supported(params.block, params.group, z.shape[1]):
        raise InvalidParameterError(
            "backend", "the fused kernels handle white noise with 8x8 blocks and groups of 16 or 32 only.", _FUSED_FIX
        )
    try:
        return _run_fused(z, guide, var2d, params, tau, mode=mode, basic=basic, lagscale=lagscale, progress=progress)
    except Exception as exc:
        if not fused.mark_unusable_if_triton_failed(exc):
            raise
        raise MissingDependencyError(
            "backend",
            f"the fused Triton kernels cannot be built on this machine ({fused.unusable()}).",
            "install a C compiler (gcc), or " + _FUSED_FIX,
        ) from exc


RUNNERS = {"auto": run_stage_auto, "torch": run_stage_torch, "fused": run_stage_fused}


def _fused_device_problem(device: torch.device) -> None:
    """Raise when the fused kernels cannot run on ``device`` in this process."""
    if torch.device(device).type != "cuda" and _flag() != "interpret":
        raise InvalidParameterError(
            "backend",
            f"the fused Triton kernels run on CUDA GPUs only; the image is on {torch.device(device).type}.",
            "move the image to a CUDA device, or " + _FUSED_FIX,
        )
    if not fused.available():
        raise MissingDependencyError(
            "backend",
            "the fused kernels need Triton, which cannot be imported here.",
            "install the CUDA build of torch (it ships Triton) or `pip install triton`, or " + _FUSED_FIX,
        )
    if fused.unusable():
        raise MissingDependencyError(
            "backend",
            f"the fused Triton kernels cannot be built on this machine ({fused.unusable()}).",
            "install a C compiler (gcc), or " + _FUSED_FIX,
        )


def fused_problem(problem: core.Problem) -> str | None:
    """Why the fused kernels cannot filter ``problem`` (None when they can, every stage)."""
    prof = problem.profile
    if problem.psd is not None:
        return "the fused kernels handle white noise only, not a noise PSD (correlated noise)."
    if prof.refilter:
        return f"profile {prof.name!r} refilters with correlated noise, which the fused kernels do not handle."
    if not core.EXACT_VARIANCES:
        return "the fused kernels compute exact 3-D variances, which are switched off (core.EXACT_VARIANCES)."
    for mode, params in problem.stages():
        if not fused.supported(params.block, params.group, problem.z.shape[1]):
            return (
                f"profile {prof.name!r} runs its {mode} stage with {params.block}x{params.block} blocks and groups of "
                f"{params.group}; the fused kernels handle 8x8 blocks and groups of 16 or 32."
            )
    return None


def resolve_backend(backend: str, device: torch.device | str, *, white_noise: bool | None = None) -> str:
    """Check a backend choice before any work: its name (aliases replaced), and what can be known up
    front: the ``reference`` package is installed; ``fused`` has a CUDA device (or the interpreter),
    Triton, and white noise (``white_noise=False``: the caller filters correlated noise)."""
    name = check_backend(backend)
    if name == "reference":
        load_reference()
    elif name == "fused":
        if white_noise is False:
            raise InvalidParameterError(
                "backend", "the fused kernels handle white noise only; this filters correlated noise.", _FUSED_FIX
            )
        _fused_device_problem(device)
    return name


def bm3d_denoise(
    x: torch.Tensor,
    *,
    sigma: float | torch.Tensor | None = None,
    profile: str = "np",
    stage: str = "all",
    color_space: str = "opp",
    noise_psd: torch.Tensor | None = None,
    pilot: torch.Tensor | None = None,
    backend: str = "auto",
    progress: ProgressCallback | None = None,
) -> torch.Tensor:
    """BM3D denoising (CBM3D for colour) of a batch ``[B, C, H, W]`` (C = 1 or 3), any device.

    sigma: noise standard deviation in [0, 1] units: a number, ``[B]`` or ``[B, C]`` (per RGB
    channel); None estimates it per image and channel (:func:`restorekit.quality.noise.estimate_sigma`).
    profile: "np" (default), "refilter" (adds residual refiltering), "vn" (high noise), "high"
    (denser, slower), "lc" (low complexity, faster), "deb" (the deblurring paper's settings).
    stage: "hard" (the basic estimate, hard thresholding only) or "all" (plus Wiener filtering).
    color_space: "opp" (opponent) or "ycbcr", for 3-channel images: grouping is done on the luma
    channel, every channel is filtered with the same groups.
    noise_psd: power spectral density of stationary correlated noise, ``[H, W]`` or
    ``[B, 1 or C, H, W]`` (any grid size; convention ``E|FFT2(noise)|^2 / (H*W)``, i.e. the constant
    ``s**2`` for white noise of std ``s``); overrides ``sigma``. Thresholds and Wiener weights then
    use the exact noise variance of every 2-D transform coefficient.
    pilot: a basic estimate ``[B, C, H, W]``: stage 1 is skipped and the Wiener stage runs with it.
    backend: "auto" (default), "torch", "fused" or "reference" (see the module docstring).
    Returns the estimate, same shape, dtype and device as ``x``, clipped to [0, 1].
    The computation is float32, deterministic, and done in bands of rows sized to the device's memory.
    """
    check_image(x, "x")
    check_options(profile, stage, color_space)
    name = resolve_backend(backend, x.device)
    if name == "reference":
        return bm3d_denoise_reference(
            x,
            sigma=sigma,
            profile=profile,
            stage=stage,
            color_space=color_space,
            noise_psd=noise_psd,
            pilot=pilot,
            progress=progress,
        )
    problem = core.prepare(
        x,
        sigma=sigma,
        profile=profile,
        stage=stage,
        color_space=color_space,
        noise_psd=noise_psd,
        pilot=pilot,
        checked=True,
    )
    if name == "fused":
        why = fused_problem(problem)
        if why is not None:
            raise InvalidParameterError("backend", why, _FUSED_FIX)
    return core.solve(problem, RUNNERS[name], progress)


__all__ = [
    "RUNNERS",
    "bm3d_denoise",
    "fused_problem",
    "fused_wanted",
    "resolve_backend",
    "run_stage_auto",
    "run_stage_fused",
    "run_stage_torch",
]
