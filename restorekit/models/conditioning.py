"""Noise-level adapters: feed a noise level (sigma) to noise-conditional networks ourselves.

spandrel's wrappers for DRUNet and FDnCNN (and callers such as ComfyUI's upscale node) call these
networks with the image only and a noise map fixed at 15/255. An adapter here calls the underlying
``torch.nn.Module`` directly with the noise map we build, so the caller's sigma, a per-image value or
a per-pixel map, really reaches the network:

==============  ==========================================================  ===============
architecture    how sigma enters the network                                default sigma
==============  ==========================================================  ===============
DRUNet          one extra input channel, the sigma map, after the image      15/255
DnCNN (FDnCNN)  one extra input channel, the sigma map, after the image      15/255
FFDNet (KAIR)   sigma map on the half-resolution grid (RMS over 2x2 blocks)   15/255
FFDNetIPOL      same, one map per image channel                              15/255
built-in        ``forward(x, sigma_map)`` of restorekit's own U-Net           15/255
==============  ==========================================================  ===============

Plain DnCNN, SCUNet, NAFNet, SwinIR, Restormer, ESRGAN and the other spandrel architectures are not
noise-conditional (blind or fixed-level); they have no adapter and ignore the noise level.
FBCNN is conditioned on a JPEG quality factor, not on a noise level, and is left to spandrel's call.

Units: sigma is in [0,1] units (the standard deviation of the noise on an image in [0,1], i.e.
sigma_255 / 255), everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import InvalidParameterError

__all__ = [
    "NoiseAdapter",
    "noise_adapter_for",
    "register_noise_adapter",
    "noise_level_map",
    "DEFAULT_SIGMA",
]

DEFAULT_SIGMA = 15.0 / 255.0
"""The default noise level of the DPIR/KAIR family (DRUNet, FDnCNN, FFDNet) in [0,1] units."""

NoiseRun = Callable[[nn.Module, Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class NoiseAdapter:
    """How to call one noise-conditional network family.

    run(module, x, noise_map) -> output, where x is [b,C,h,w] (already padded to the model's size
    requirements) and noise_map is [b,1,h,w] in [0,1] units, on x's device and dtype.
    """

    family: str
    default_sigma: float
    run: NoiseRun
    description: str


def _concat_channel(module: nn.Module, x: Tensor, noise_map: Tensor) -> Tensor:
    return module(torch.cat([x, noise_map], dim=1))


def _ffdnet(module: nn.Module, x: Tensor, noise_map: Tensor) -> Tensor:
    return module(x, noise_map)


def _drunet(descriptor: Any) -> NoiseAdapter:
    return NoiseAdapter("DRUNet", DEFAULT_SIGMA, _concat_channel, "sigma map as an extra input channel")


def _dncnn(descriptor: Any) -> NoiseAdapter | None:
    if getattr(descriptor.model, "mode", "DnCNN") != "FDnCNN":
        return None  # plain DnCNN: trained for one noise level (or blind), no sigma input
    return NoiseAdapter("FDnCNN", DEFAULT_SIGMA, _concat_channel, "sigma map as an extra input channel")


def _ffdnet_family(descriptor: Any) -> NoiseAdapter:
    return NoiseAdapter(
        str(descriptor.architecture.id), DEFAULT_SIGMA, _ffdnet, "sigma map on the half-resolution grid"
    )


_ADAPTERS: dict[str, Callable[[Any], NoiseAdapter | None]] = {
    "DRUNet": _drunet,
    "DnCNN": _dncnn,
    "FFDNet": _ffdnet_family,
    "FFDNetIPOL": _ffdnet_family,
    "RestorekitBuiltin": lambda d: NoiseAdapter(
        "RestorekitBuiltin", DEFAULT_SIGMA, _ffdnet, "sigma map as the second argument of forward"
    ),
}


def register_noise_adapter(arch_id: str, factory: Callable[[Any], NoiseAdapter | None]) -> None:
    """Declare how to feed sigma to the spandrel architecture ``arch_id``.

    ``factory(descriptor)`` returns a :class:`NoiseAdapter`, or None when this particular model of the
    architecture is not noise-conditional.
    """
    _ADAPTERS[arch_id] = factory


def noise_adapter_for(descriptor: Any) -> NoiseAdapter | None:
    """The noise adapter for a spandrel model descriptor, or None if the model is not noise-conditional."""
    factory = _ADAPTERS.get(str(descriptor.architecture.id))
    return None if factory is None else factory(descriptor)


def noise_level_map(noise_level: float | Tensor | None, x: Tensor, *, default: float) -> Tensor:
    """A noise map [b,1,h,w] on x's device/dtype from a noise level in [0,1] units.

    noise_level: None (use ``default``), a float, a tensor with one value per image ([b], [b,1] or
    [b,1,1,1]), or a per-pixel map [b,1,h,w] / [1,1,h,w] of x's size. Values must be finite and in
    [0, 1] (sigma/255 for an 8-bit noise level).
    """
    b, _, h, w = x.shape
    if noise_level is None:
        return x.new_full((b, 1, h, w), float(default))
    if not torch.is_tensor(noise_level):
        value = float(noise_level)
        _check_range(torch.tensor([value]))
        return x.new_full((b, 1, h, w), value)
    s = noise_level.detach().to(device=x.device, dtype=torch.float32)
    if s.dim() <= 2 and s.numel() in (1, b):
        s = s.reshape(-1, 1, 1, 1)
    if s.dim() != 4 or s.shape[1] != 1 or s.shape[0] not in (1, b) or s.shape[-2:] not in ((1, 1), (h, w)):
        raise InvalidParameterError(
            "noise_level",
            f"has shape {tuple(noise_level.shape)}, which does not fit an image batch of shape {tuple(x.shape)}.",
            f"Give a float, one value per image ([{b}]) or a map [{b},1,{h},{w}].",
        )
    _check_range(s)
    return s.to(x.dtype).expand(b, 1, h, w)


def _check_range(s: Tensor) -> None:
    if not bool(torch.isfinite(s).all()):
        raise InvalidParameterError("noise_level", "contains NaN or Inf.", "Give finite noise levels.")
    lo, hi = float(s.min()), float(s.max())
    if lo < 0:
        raise InvalidParameterError("noise_level", f"is negative ({lo:g}).", "Noise levels are >= 0.")
    if hi > 1.0 + 1e-6:
        raise InvalidParameterError(
            "noise_level",
            f"is {hi:g}, above 1; the core uses [0,1] units.",
            "Divide an 8-bit noise level (0-255) by 255.",
        )
