"""The options of BM3D, their constants and their validation: one place for every backend.

Everything here is used by the torch stage, the fused stage, the optional reference backend and
BM3D deblurring alike; this module imports nothing from the rest of the package.

* :data:`PROFILES`, :data:`STAGES`, :data:`COLOR_SPACES`, :data:`BACKENDS`: the accepted names
  (the profiles' numbers are in :mod:`.profiles`);
* :data:`COLOR_MATRICES`: the RGB -> luma/chroma transforms of CBM3D;
* :func:`check_options`, :func:`check_backend`, :func:`sigma_per_channel` (the one sigma
  validator) and :func:`psd_tensor` (the one PSD validator);
* the fixed-point constants of the aggregation, shared by the torch and the fused stages.
"""

from __future__ import annotations

import torch

from ...errors import InvalidParameterError

PROFILES = ("np", "refilter", "vn", "high", "lc", "deb")
STAGES = ("hard", "all")
COLOR_SPACES = ("opp", "ycbcr")

#: Where the filtering runs: ``auto`` (the fused Triton kernels on a CUDA device for the cases they
#: handle, else the torch path), ``torch`` (the torch path, any device), ``fused`` (the fused
#: kernels, an error where they cannot run) and ``reference`` (the optional ``bm3d`` package, CPU).
BACKENDS = ("auto", "torch", "fused", "reference")
#: Older names still accepted: ``restorekit`` (our implementation) is ``auto``.
BACKEND_ALIASES = {"restorekit": "auto"}
#: The backend choices of the BM3D nodes (and of the workflows saved with them).
NODE_BACKENDS = ("restorekit", "reference")

#: ``RESTOREKIT_BM3D_FUSED=0`` makes ``auto`` use the torch path everywhere; ``=interpret`` lets the
#: fused kernels run on the CPU through Triton's interpreter (slow; for tests).
FUSED_ENV = "RESTOREKIT_BM3D_FUSED"

#: Forward colour transforms (rows: output channels); the inverse is the exact matrix inverse.
COLOR_MATRICES = {
    "opp": ((1 / 3, 1 / 3, 1 / 3), (0.5, 0.0, -0.5), (0.25, -0.5, 0.25)),
    "ycbcr": ((0.299, 0.587, 0.114), (-0.168737, -0.331263, 0.5), (0.5, -0.418688, -0.081313)),
}
#: A transformed colour channel with a smaller range (over the image) is not stretched by it.
MIN_RANGE = 1e-6

#: Fixed-point scale of the aggregation sums (a power of two: scaling is exact), and the cap of
#: the normalised group weights (only reached by degenerate groups); torch and fused stages alike.
FIXED_SCALE = float(2**36)
MAX_WEIGHT = 1e3

_SIGMA_FIX = "pass the noise standard deviation in [0, 1] units (25/255 for 25 grey levels), or None to estimate it."


def check_options(profile: str, stage: str, color_space: str) -> None:
    """Validate the choices shared by every backend."""
    if profile not in PROFILES:
        raise InvalidParameterError(
            "profile", f"unknown profile {profile!r}.", f"choose one of: {', '.join(PROFILES)}."
        )
    if stage not in STAGES:
        raise InvalidParameterError(
            "stage", f"unknown stage {stage!r}.", "choose 'hard' (stage 1 only) or 'all' (plus Wiener filtering)."
        )
    if color_space not in COLOR_SPACES:
        raise InvalidParameterError(
            "color_space", f"unknown colour space {color_space!r}.", f"choose one of: {', '.join(COLOR_SPACES)}."
        )


def check_backend(backend: str) -> str:
    """The backend's name (an alias replaced by the name it stands for), or InvalidParameterError."""
    name = BACKEND_ALIASES.get(backend, backend) if isinstance(backend, str) else backend
    if name not in BACKENDS:
        raise InvalidParameterError(
            "backend", f"unknown backend {backend!r}.", f"choose one of: {', '.join(BACKENDS)}."
        )
    return name


def sigma_per_channel(
    x: torch.Tensor,
    sigma: float | torch.Tensor | None,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The noise std of every image and channel of ``x`` ``[B, C, H, W]``, as ``[B, C]``.

    ``sigma``: a number, a tensor of shape ``[]``, ``[1]``, ``[B]``, ``[1 or B, 1 or C]``, or None
    (estimated per image and channel, :func:`restorekit.quality.noise.estimate_sigma`). Values must
    be finite and within [0, 1] (image units); bools, strings and complex tensors are refused.
    Returns ``dtype`` on ``device`` (default: x's device); a given sigma is checked in float64.
    """
    b, c = x.shape[:2]
    dev = x.device if device is None else device
    if sigma is None:
        from ...quality.noise import estimate_sigma

        return estimate_sigma(x.float()).to(dev, dtype)
    if isinstance(sigma, torch.Tensor):
        if sigma.dtype == torch.bool or sigma.is_complex():
            raise InvalidParameterError("sigma", f"expected a real tensor, got {sigma.dtype}.", _SIGMA_FIX)
        s = sigma.detach().to("cpu", torch.float64)
        if s.dim() == 0:
            s = s.expand(b, c)
        elif s.dim() == 1 and s.shape[0] in (1, b):
            s = s.view(-1, 1).expand(b, c)
        elif s.dim() == 2 and s.shape[0] in (1, b) and s.shape[1] in (1, c):
            s = s.expand(b, c)
        else:
            raise InvalidParameterError(
                "sigma",
                f"expected a number, a [B] or a [B, C] tensor, got shape {tuple(s.shape)}.",
                f"pass one value, or one per image ({b}) or per image and channel ({b}x{c}).",
            )
    elif isinstance(sigma, (int, float)) and not isinstance(sigma, bool):
        s = torch.full((b, c), float(sigma), dtype=torch.float64)
    else:
        raise InvalidParameterError(
            "sigma", f"expected a number, a tensor or None (estimate), got {type(sigma).__name__}.", _SIGMA_FIX
        )
    if not bool(torch.isfinite(s).all()) or bool((s < 0).any()) or bool((s > 1).any()):
        raise InvalidParameterError(
            "sigma",
            f"must be finite and within [0, 1] (image units), got {_show(sigma)}.",
            "divide grey levels by 255 (e.g. 25 -> 0.098).",
        )
    return s.contiguous().to(dev, dtype)


def _show(sigma: float | torch.Tensor) -> str:
    if isinstance(sigma, torch.Tensor):
        v = sigma.detach().double().flatten()
        return repr(float(v[0])) if v.numel() == 1 else f"values from {float(v.min())!r} to {float(v.max())!r}"
    return repr(sigma)


def psd_tensor(psd: torch.Tensor, b: int, c: int, *, size: tuple[int, int] | None = None) -> torch.Tensor:
    """A noise PSD checked and broadcast to ``[B, C, Hp, Wp]`` float64 on its device.

    ``psd``: ``[H, W]`` or ``[1 or B, 1 or C, H, W]``, finite and non-negative, convention
    ``E|FFT2(noise)|^2 / (H*W)`` (the constant ``s**2`` for white noise of std ``s``). Any grid size,
    unless ``size`` (the image's height and width) requires that grid.
    """
    if not isinstance(psd, torch.Tensor) or psd.dim() not in (2, 4):
        shape = tuple(psd.shape) if isinstance(psd, torch.Tensor) else type(psd).__name__
        raise InvalidParameterError(
            "noise_psd",
            f"expected an [H, W] or [B, 1 or C, H, W] tensor, got {shape}.",
            "pass E|FFT2(noise)|^2 / (H*W) (the constant sigma**2 for white noise).",
        )
    p = psd.detach().double()
    if p.dim() == 2:
        p = p[None, None]
    if p.shape[0] not in (1, b) or p.shape[1] not in (1, c):
        raise InvalidParameterError(
            "noise_psd",
            f"shape {tuple(psd.shape)} does not match {b} images of {c} channels.",
            "give one PSD for all, or one per image and/or channel.",
        )
    if p.shape[-2] < 1 or p.shape[-1] < 1:
        raise InvalidParameterError("noise_psd", "is empty.", "pass a non-empty PSD.")
    if size is not None and tuple(p.shape[-2:]) != tuple(size):
        raise InvalidParameterError(
            "noise_psd",
            f"grid {tuple(p.shape[-2:])} differs from the image's {tuple(size)}; the reference backend needs the "
            "image's grid.",
            "give the PSD on the image's grid (backends 'auto' and 'torch' accept any grid size).",
        )
    if not bool(torch.isfinite(p).all()) or bool((p < 0).any()):
        raise InvalidParameterError("noise_psd", "must be finite and non-negative.", "check how the PSD was computed.")
    return p.expand(b, c, *p.shape[-2:])


__all__ = [
    "BACKENDS",
    "BACKEND_ALIASES",
    "COLOR_MATRICES",
    "COLOR_SPACES",
    "FIXED_SCALE",
    "FUSED_ENV",
    "MAX_WEIGHT",
    "MIN_RANGE",
    "NODE_BACKENDS",
    "PROFILES",
    "STAGES",
    "check_backend",
    "check_options",
    "psd_tensor",
    "sigma_per_channel",
]
