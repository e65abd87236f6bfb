"""Architectures spandrel lacks, registered into spandrel's own registry.

FFDNet (Zhang, Zuo & Zhang, "FFDNet: Toward a fast and flexible solution for CNN-based image
denoising", IEEE TIP 2018) works on the four 2x2 sub-images of the input (pixel-unshuffle by 2),
concatenated with a noise-level map, through a plain conv+ReLU stack, and shuffles the result back.
Two weight layouts are in common use and both are supported:

- ``FFDNet``: the KAIR layout (``model.0.weight`` ... ``model.{2(nb-1)}.weight``, biases, no batch
  norm). Gray: 4+1 -> 64 channels, 15 convolutions; colour: 12+1 -> 96 channels, 12 convolutions.
  The noise map is one channel, appended after the sub-images; the network predicts the clean
  sub-images directly.
- ``FFDNetIPOL``: the layout of the IPOL reference implementation (``intermediate_dncnn.
  itermediate_dncnn.N.weight``, convolutions without bias, batch norm in the middle layers). The noise
  map has one channel per image channel and comes first; the network predicts the noise, which is
  subtracted from the input.

Both modules pad odd sizes by repeating the last row/column (as the reference implementations do),
so any input size works. ``forward(x, sigma)`` takes sigma in [0,1] units: a float, a tensor with one
value per image, or a per-pixel map [b,1,h,w] (full resolution, reduced to the half-resolution grid
by the root-mean-square over each 2x2 block) or [b,1,ceil(h/2),ceil(w/2)].

:func:`register` adds these to ``spandrel.MAIN_REGISTRY`` (detected before spandrel's DnCNN, whose key
pattern the KAIR FFDNet layout also matches), restorekit's own built-in denoiser
(:class:`restorekit.models.builtin_net.BuiltinDenoiserNet`, detected by its ``head``/``downs``/``ups``/
``body``/``tail`` keys with a 4-channel head: image + noise map) and installs ``spandrel_extra_arches`` when importable.
It is idempotent and called by the loader; nothing happens at import.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from spandrel import Architecture, ArchSupport, ImageModelDescriptor, SizeRequirements, StateDict
from spandrel.util import get_seq_len
from torch import Tensor, nn

__all__ = [
    "BUILTIN_ARCH_ID", "BuiltinDenoiserArch", "FFDNet", "FFDNetArch", "FFDNetIPOL", "FFDNetIPOLArch", "register",
    "registered_extra_arches",
]

log = logging.getLogger(__name__)

FFDNET_DEFAULT_SIGMA = 15.0 / 255.0
"""Noise level used when the caller gives none (the value the reference test scripts default to)."""


# ----------------------------------------------------------------------------------------------
# shared helpers
# ----------------------------------------------------------------------------------------------


def _pad_even(x: Tensor) -> Tensor:
    """Repeat the last row/column so that height and width are even."""
    ph, pw = x.shape[-2] % 2, x.shape[-1] % 2
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x


def _half_res_sigma(sigma: float | Tensor, x: Tensor) -> Tensor:
    """The noise level on the half-resolution grid of the (even-padded) input ``x``: [b,1,H/2,W/2].

    ``sigma`` is a float, a tensor with one value per image ([b], [b,1], [b,1,1,1]), a full-resolution
    map [b,1,h,w] (h, w: the size before even padding, or after), or a map already on the half grid.
    A full-resolution map is reduced by the root-mean-square over each 2x2 block (noise variances add).
    """
    b, _, H, W = x.shape  # noqa: N806 (already even)
    h2, w2 = H // 2, W // 2
    if not torch.is_tensor(sigma):
        return x.new_full((b, 1, h2, w2), float(sigma))
    s = sigma.to(device=x.device, dtype=x.dtype)
    if s.dim() < 4:
        s = s.reshape(-1, 1, 1, 1)
    if s.shape[1] != 1:
        raise ValueError(f"FFDNet noise map must have one channel, got shape {tuple(s.shape)}")
    if s.shape[0] not in (1, b):
        raise ValueError(f"FFDNet noise map batch {s.shape[0]} does not match the image batch {b}")
    if s.shape[-2:] == (1, 1):
        s = s.expand(b, 1, h2, w2)
    elif s.shape[-2:] == (h2, w2) and (h2, w2) != (H, W):
        s = s.expand(b, 1, h2, w2)
    elif s.shape[-2] in (H, H - 1) and s.shape[-1] in (W, W - 1):
        s = _pad_even(s.expand(b, 1, s.shape[-2], s.shape[-1]))
        s = F.avg_pool2d(s * s, 2).sqrt()
    else:
        raise ValueError(f"FFDNet noise map of shape {tuple(s.shape)} does not fit an image of {H}x{W}")
    return s


def _conv(cin: int, cout: int, bias: bool) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=bias)


# ----------------------------------------------------------------------------------------------
# KAIR layout
# ----------------------------------------------------------------------------------------------


class FFDNet(nn.Module):
    """FFDNet, KAIR weight layout: ``model`` = conv+ReLU x (nb-1), conv; biases, no batch norm.

    in_nc: image channels (1 or 3); out_nc: output channels; nc: features; nb: number of convolutions.
    """

    def __init__(self, *, in_nc: int = 1, out_nc: int = 1, nc: int = 64, nb: int = 15) -> None:
        super().__init__()
        if nb < 2:
            raise ValueError("FFDNet needs at least 2 convolutions")
        self.in_nc, self.out_nc, self.nc, self.nb = in_nc, out_nc, nc, nb
        self.hyperparameters = {"in_nc": in_nc, "out_nc": out_nc, "nc": nc, "nb": nb}
        layers: list[nn.Module] = [_conv(4 * in_nc + 1, nc, True), nn.ReLU(inplace=True)]
        for _ in range(nb - 2):
            layers += [_conv(nc, nc, True), nn.ReLU(inplace=True)]
        layers.append(_conv(nc, 4 * out_nc, True))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor, sigma: float | Tensor = FFDNET_DEFAULT_SIGMA) -> Tensor:
        """Denoise ``x`` [b,in_nc,h,w] in [0,1] at noise level ``sigma`` ([0,1] units)."""
        h, w = x.shape[-2:]
        xe = _pad_even(x)
        sub = F.pixel_unshuffle(xe, 2)
        noise = _half_res_sigma(sigma, xe)
        y = self.model(torch.cat([sub, noise], dim=1))
        return F.pixel_shuffle(y, 2)[..., :h, :w]


def _ffdnet_conv_indices(state_dict: StateDict, prefix: str) -> list[int]:
    idx = []
    for k in state_dict:
        if k.startswith(prefix) and k.endswith(".weight"):
            mid = k[len(prefix) : -len(".weight")]
            if mid.isdigit():
                idx.append(int(mid))
    return sorted(idx)


def _detect_ffdnet(state_dict: StateDict) -> bool:
    """KAIR FFDNet: conv weights+biases at model.0, model.2, ..., model.2(nb-1) and nothing else;
    first conv takes 4c+1 channels, last conv gives 4c' channels (c, c' in 1..4)."""
    try:
        idx = _ffdnet_conv_indices(state_dict, "model.")
        if len(idx) < 3 or idx != list(range(0, 2 * len(idx), 2)):
            return False
        expected = {f"model.{i}.{p}" for i in idx for p in ("weight", "bias")}
        if set(state_dict.keys()) != expected:
            return False
        first = state_dict["model.0.weight"]
        last = state_dict[f"model.{idx[-1]}.weight"]
        if first.dim() != 4 or last.dim() != 4 or tuple(first.shape[-2:]) != (3, 3):
            return False
        cin, cout = int(first.shape[1]), int(last.shape[0])
        return (cin - 1) % 4 == 0 and 1 <= (cin - 1) // 4 <= 4 and cout % 4 == 0 and 1 <= cout // 4 <= 4
    except Exception:  # a detector must never raise: spandrel would abort the whole detection
        return False


class FFDNetArch(Architecture[FFDNet]):
    """spandrel Architecture for the KAIR FFDNet layout."""

    def __init__(self) -> None:
        super().__init__(id="FFDNet", name="FFDNet", detect=_detect_ffdnet)

    def load(self, state_dict: StateDict) -> ImageModelDescriptor[FFDNet]:
        idx = _ffdnet_conv_indices(state_dict, "model.")
        nb = len(idx)
        first = state_dict["model.0.weight"]
        in_nc = (int(first.shape[1]) - 1) // 4
        nc = int(first.shape[0])
        out_nc = int(state_dict[f"model.{idx[-1]}.weight"].shape[0]) // 4
        model = FFDNet(in_nc=in_nc, out_nc=out_nc, nc=nc, nb=nb)

        def call(model: FFDNet, image: Tensor) -> Tensor:
            return model(image, FFDNET_DEFAULT_SIGMA)

        return ImageModelDescriptor(
            model,
            state_dict,
            architecture=self,
            purpose="Restoration",
            tags=[f"{nc}nc", f"{nb}nb"],
            supports_half=True,
            supports_bfloat16=True,
            scale=1,
            input_channels=in_nc,
            output_channels=out_nc,
            size_requirements=SizeRequirements(),
            call_fn=call,
        )


# ----------------------------------------------------------------------------------------------
# IPOL reference layout
# ----------------------------------------------------------------------------------------------

_IPOL_PREFIX = "intermediate_dncnn.itermediate_dncnn."


class FFDNetIPOL(nn.Module):
    """FFDNet, IPOL reference weight layout: conv, ReLU, (conv, BN, ReLU) x (layers-2), conv; no biases.

    The network predicts the noise of the sub-images; ``forward`` returns the denoised image
    (input minus predicted noise), like the reference test script does before clamping.
    """

    def __init__(self, *, in_nc: int = 1, nc: int = 64, layers: int = 15) -> None:
        super().__init__()
        self.in_nc, self.nc, self.layers = in_nc, nc, layers
        self.hyperparameters = {"in_nc": in_nc, "nc": nc, "layers": layers}
        mods: list[nn.Module] = [_conv(5 * in_nc, nc, False), nn.ReLU(inplace=True)]
        for _ in range(layers - 2):
            mods += [_conv(nc, nc, False), nn.BatchNorm2d(nc), nn.ReLU(inplace=True)]
        mods.append(_conv(nc, 4 * in_nc, False))
        self.intermediate_dncnn = nn.Module()
        self.intermediate_dncnn.itermediate_dncnn = nn.Sequential(*mods)

    def forward(self, x: Tensor, sigma: float | Tensor = FFDNET_DEFAULT_SIGMA) -> Tensor:
        """Denoise ``x`` [b,in_nc,h,w] in [0,1] at noise level ``sigma`` ([0,1] units)."""
        h, w = x.shape[-2:]
        xe = _pad_even(x)
        sub = F.pixel_unshuffle(xe, 2)
        noise = _half_res_sigma(sigma, xe).expand(-1, self.in_nc, -1, -1)
        pred = self.intermediate_dncnn.itermediate_dncnn(torch.cat([noise, sub], dim=1))
        return (xe - F.pixel_shuffle(pred, 2))[..., :h, :w]


def _detect_ffdnet_ipol(state_dict: StateDict) -> bool:
    try:
        w0 = state_dict.get(_IPOL_PREFIX + "0.weight")
        if w0 is None or w0.dim() != 4:
            return False
        cin = int(w0.shape[1])
        return cin % 5 == 0 and cin // 5 in (1, 3) and (_IPOL_PREFIX + "3.running_var") in state_dict
    except Exception:
        return False


class FFDNetIPOLArch(Architecture[FFDNetIPOL]):
    """spandrel Architecture for the IPOL reference FFDNet layout (net_gray.pth / net_rgb.pth)."""

    def __init__(self) -> None:
        super().__init__(id="FFDNetIPOL", name="FFDNet (IPOL)", detect=_detect_ffdnet_ipol)

    def load(self, state_dict: StateDict) -> ImageModelDescriptor[FFDNetIPOL]:
        n = get_seq_len(state_dict, _IPOL_PREFIX.rstrip("."))
        # conv, relu, (conv, bn, relu) * (layers - 2), conv  ->  n = 3 * layers - 4
        layers = (n + 4) // 3
        w0 = state_dict[_IPOL_PREFIX + "0.weight"]
        in_nc, nc = int(w0.shape[1]) // 5, int(w0.shape[0])
        # checkpoints written before PyTorch 0.4.1 have no num_batches_tracked buffers (unused in eval)
        state_dict = dict(state_dict)
        for i in range(layers - 2):
            key = f"{_IPOL_PREFIX}{3 + 3 * i}.num_batches_tracked"
            if key not in state_dict:
                state_dict[key] = torch.tensor(0, dtype=torch.long)
        model = FFDNetIPOL(in_nc=in_nc, nc=nc, layers=layers)

        def call(model: FFDNetIPOL, image: Tensor) -> Tensor:
            return model(image, FFDNET_DEFAULT_SIGMA)

        return ImageModelDescriptor(
            model,
            state_dict,
            architecture=self,
            purpose="Restoration",
            tags=[f"{nc}nc", f"{layers}layers"],
            supports_half=False,  # batch norm statistics in fp16 are untested
            supports_bfloat16=True,
            scale=1,
            input_channels=in_nc,
            output_channels=in_nc,
            size_requirements=SizeRequirements(),
            call_fn=call,
        )


# ----------------------------------------------------------------------------------------------
# restorekit's built-in denoiser
# ----------------------------------------------------------------------------------------------

BUILTIN_ARCH_ID = "RestorekitBuiltin"
"""spandrel id of :class:`~restorekit.models.builtin_net.BuiltinDenoiserNet`."""


def _seq_count(state_dict: StateDict, prefix: str) -> int:
    """Number of consecutive modules ``prefix.0``, ``prefix.1``, ... with keys in ``state_dict``."""
    n = 0
    while any(k.startswith(f"{prefix}.{n}.") for k in state_dict):
        n += 1
    return n


def _builtin_config(state_dict: StateDict) -> dict:
    """widths / blocks / body_blocks of a BuiltinDenoiserNet state dict (KeyError/ValueError if not one)."""
    levels = _seq_count(state_dict, "downs")
    if levels < 1:
        raise ValueError("no down-sampling convolutions")
    widths = [int(state_dict["downs.0.weight"].shape[1])]
    widths += [int(state_dict[f"downs.{i}.weight"].shape[0]) for i in range(levels)]
    blocks = [_seq_count(state_dict, f"encoders.{i}") for i in range(levels)]
    return {"widths": tuple(widths), "blocks": tuple(blocks), "body_blocks": _seq_count(state_dict, "body")}


def _detect_builtin(state_dict: StateDict) -> bool:
    """The built-in denoiser: head conv 4 -> w0 (RGB + noise map), tail conv w0 -> 3, U-Net downs/ups/body."""
    try:
        head, tail = state_dict.get("head.weight"), state_dict.get("tail.weight")
        if head is None or tail is None or head.dim() != 4 or tail.dim() != 4:
            return False
        if int(head.shape[1]) != 4 or int(tail.shape[0]) != 3 or int(tail.shape[1]) != int(head.shape[0]):
            return False
        return all(k in state_dict for k in ("downs.0.weight", "ups.0.weight", "body.0.conv1.weight",
                                               "encoders.0.0.conv1.weight", "decoders.0.0.conv1.weight"))
    except Exception:  # a detector must never raise
        return False


class BuiltinDenoiserArch(Architecture[nn.Module]):
    """spandrel Architecture for restorekit's built-in denoiser (noise-conditional slim U-Net, RGB)."""

    def __init__(self) -> None:
        super().__init__(id=BUILTIN_ARCH_ID, name="restorekit built-in denoiser", detect=_detect_builtin)

    def load(self, state_dict: StateDict) -> ImageModelDescriptor[nn.Module]:
        from .builtin_net import BuiltinDenoiserNet

        cfg = _builtin_config(state_dict)
        model = BuiltinDenoiserNet(**cfg)
        model.load_state_dict(state_dict, strict=True)

        def call(model: nn.Module, image: Tensor) -> Tensor:
            return model(image, image.new_full((image.shape[0], 1, 1, 1), FFDNET_DEFAULT_SIGMA))

        params = sum(p.numel() for p in model.parameters())
        return ImageModelDescriptor(
            model,
            state_dict,
            architecture=self,
            purpose="Restoration",
            tags=["x".join(str(w) for w in cfg["widths"]), f"{params / 1e6:.1f}M"],
            supports_half=True,
            supports_bfloat16=True,
            scale=1,
            input_channels=3,
            output_channels=3,
            size_requirements=SizeRequirements(),  # the network pads to its multiple itself
            call_fn=call,
        )


# ----------------------------------------------------------------------------------------------
# registration
# ----------------------------------------------------------------------------------------------

_registered = False
_extra_arches: list[str] = []


def register() -> None:
    """Add our architectures (and spandrel_extra_arches when installed) to ``spandrel.MAIN_REGISTRY``.

    Idempotent. Architectures already present (e.g. installed by ComfyUI) are kept as they are.
    """
    global _registered
    if _registered:
        return
    from spandrel import MAIN_REGISTRY

    MAIN_REGISTRY.add(
        ArchSupport.from_architecture(FFDNetArch(), before=("DnCNN",)),
        ArchSupport.from_architecture(FFDNetIPOLArch()),
        ArchSupport.from_architecture(BuiltinDenoiserArch(), before=("DnCNN",)),
        ignore_duplicates=True,
    )
    try:
        import spandrel_extra_arches  # optional; non-commercial licences for some architectures
    except ImportError:
        log.debug("spandrel_extra_arches not installed; its architectures are unavailable")
    else:
        try:
            added = spandrel_extra_arches.install(ignore_duplicates=True)
            _extra_arches.extend(a.architecture.id for a in added)
        except Exception as exc:  # a broken optional package must not break loading other models
            log.warning("could not install spandrel_extra_arches architectures: %s", exc)
    _registered = True


def registered_extra_arches() -> list[str]:
    """Ids of the architectures :func:`register` took from spandrel_extra_arches (empty if not installed)."""
    return list(_extra_arches)
