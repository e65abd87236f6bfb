"""Load a restoration network from a weights file, safely, with its architecture detected by spandrel.

:func:`load_model` reads ``.pth``/``.pt``/``.ckpt`` files with ``torch.load(weights_only=True)``
(PyTorch's restricted unpickler: tensors and plain containers only, so no code in the file can run;
TorchScript archives, which carry code, are refused) and ``.safetensors`` files with safetensors.
The architecture and its hyper-parameters are detected by spandrel's registry, extended with
:mod:`restorekit.models.architectures` (FFDNet) and spandrel_extra_arches when installed. After
loading, every parameter and buffer of the network is checked to come from the file: a model is never
run with random weights.

The result is a :class:`RestorationModel`: one call ``model(x, noise_level)`` for every family, where
noise-conditional networks (DRUNet, FDnCNN, FFDNet) really receive ``noise_level`` through
:mod:`restorekit.models.conditioning`.
"""

from __future__ import annotations

import difflib
import logging
import os
import pickle
import struct
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import InvalidImageError, InvalidParameterError, ModelLoadError
from .conditioning import NoiseAdapter, noise_adapter_for, noise_level_map

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "RestorationModel",
    "load_model",
    "load_state_dict",
    "model_from_state_dict",
    "require_purpose",
    "supported_architectures",
    "resolve_model_path",
]

log = logging.getLogger(__name__)

SUPPORTED_EXTENSIONS = (".pth", ".pt", ".ckpt", ".safetensors")
BUILTIN_NAMES = ("restorekit built-in denoiser", "builtin")
"""Names :func:`load_model` takes for the built-in denoiser (see :mod:`restorekit.models.builtin`)."""

PURPOSES = ("denoise", "restore", "sr", "face")
"""Purposes a loaded model can have. ``denoise``: the architecture is a denoiser (DnCNN/FDnCNN, FFDNet,
DRUNet, SCUNet); ``restore``: another image-to-image restoration network at scale 1 (NAFNet, Restormer,
SwinIR-denoise/JPEG, 1x ESRGAN, ...: its weights decide the task); ``sr``: super-resolution (scale > 1);
``face``: face restoration (GFPGAN, CodeFormer, RestoreFormer). Inpainting models are refused."""

_DENOISER_ARCHS = {"DnCNN", "FFDNet", "FFDNetIPOL", "DRUNet", "SCUNet", "RestorekitBuiltin"}
_TILING = {1: "supported", 2: "discouraged", 3: "internal"}


# ----------------------------------------------------------------------------------------------
# the model object
# ----------------------------------------------------------------------------------------------


class RestorationModel:
    """A loaded restoration network with one calling convention for every architecture.

    Attributes: name (file stem), path, architecture (spandrel id, e.g. "DRUNet"), architecture_name,
    purpose (see :data:`PURPOSES`), scale, input_channels, output_channels (channels = input_channels),
    supports_half, supports_bfloat16, noise_conditional, default_noise_level ([0,1] units or None),
    size_multiple (height/width are padded internally to a multiple of it), min_size, square,
    tiling ("supported", "discouraged" or "internal"), tags, parameter_count, descriptor (the
    spandrel model descriptor), module (the torch module).
    """

    def __init__(self, descriptor: Any, *, name: str, path: Path | None = None) -> None:
        self.descriptor = descriptor
        self.name = name
        self.path = path
        arch = descriptor.architecture
        self.architecture: str = str(arch.id)
        self.architecture_name: str = str(arch.name)
        self.scale: int = int(descriptor.scale)
        self.input_channels: int = int(descriptor.input_channels)
        self.output_channels: int = int(descriptor.output_channels)
        self.supports_half: bool = bool(descriptor.supports_half)
        self.supports_bfloat16: bool = bool(descriptor.supports_bfloat16)
        req = descriptor.size_requirements
        self.size_multiple: int = int(req.multiple_of)
        self.min_size: int = int(req.minimum)
        self.square: bool = bool(req.square)
        self.tiling: str = _TILING.get(getattr(descriptor.tiling, "value", 1), "supported")
        self.tags: list[str] = list(descriptor.tags)
        self.purpose: str = _purpose_of(descriptor)
        self._adapter: NoiseAdapter | None = noise_adapter_for(descriptor)
        self.noise_conditional: bool = self._adapter is not None
        self.default_noise_level: float | None = self._adapter.default_sigma if self._adapter else None
        self.parameter_count: int = sum(p.numel() for p in descriptor.model.parameters())

    # -- properties -------------------------------------------------------------------------
    @property
    def module(self) -> nn.Module:
        """The underlying torch module (weights loaded, eval mode)."""
        return self.descriptor.model

    @property
    def channels(self) -> int:
        """Number of image channels the model takes (1 = gray, 3 = RGB)."""
        return self.input_channels

    @property
    def device(self) -> torch.device:
        return _first_tensor(self.module).device

    @property
    def dtype(self) -> torch.dtype:
        return _first_tensor(self.module).dtype

    @property
    def noise_family(self) -> str | None:
        """Name of the noise-conditioning family (e.g. "FDnCNN"), None if not noise-conditional."""
        return self._adapter.family if self._adapter else None

    # -- moving -----------------------------------------------------------------------------
    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> RestorationModel:
        """Move (and optionally cast) the weights in place; returns self.

        dtype float16/bfloat16 is refused with InvalidParameterError when the model does not support it.
        """
        if dtype is not None:
            if dtype == torch.float16 and not self.supports_half:
                raise InvalidParameterError(
                    "dtype", f"float16 is not supported by {self.architecture} models.", "Use bfloat16 or float32."
                )
            if dtype == torch.bfloat16 and not self.supports_bfloat16:
                raise InvalidParameterError(
                    "dtype", f"bfloat16 is not supported by {self.architecture} models.", "Use float32."
                )
            if not dtype.is_floating_point:
                raise InvalidParameterError("dtype", f"{dtype} is not a floating-point type.", "Use float32.")
        self.module.to(device=device, dtype=dtype)
        return self

    # -- running ----------------------------------------------------------------------------
    def __call__(self, x: Tensor, noise_level: float | Tensor | None = None, *, clamp: bool = True) -> Tensor:
        return self.forward(x, noise_level, clamp=clamp)

    def forward(self, x: Tensor, noise_level: float | Tensor | None = None, *, clamp: bool = True) -> Tensor:
        """Run the network on ``x`` [b,C,h,w] in [0,1] (C = input_channels).

        noise_level: noise std in [0,1] units for noise-conditional models: a float, one value per
        image [b], or a per-pixel map [b,1,h,w]; None = the family's default (15/255 for DRUNet, FDnCNN,
        FFDNet). Ignored by models that are not noise-conditional.
        The input is padded (reflect, then replicate) to the model's size requirements and the output
        cropped back, so any size works. Returns [b,output_channels,h*scale,w*scale] on x's device and
        dtype; computed on the model's device and dtype. clamp=True clips the output to [0,1]
        (clamp=False returns the raw network output).
        """
        if not torch.is_tensor(x) or x.dim() != 4:
            raise InvalidImageError(
                "image", f"must be a tensor [B,C,H,W], got {getattr(x, 'shape', type(x))}.", "Pass a 4-D tensor."
            )
        if x.shape[1] != self.input_channels:
            raise InvalidImageError(
                "image",
                f"has {x.shape[1]} channels but model '{self.name}' ({self.architecture}) takes {self.input_channels}.",
                "Convert the image (gray <-> RGB) or process channels separately.",
            )
        if x.shape[0] == 0 or x.shape[-1] == 0 or x.shape[-2] == 0:
            raise InvalidImageError("image", f"is empty (shape {tuple(x.shape)}).", "Pass a non-empty image.")
        ref = _first_tensor(self.module)
        h, w = x.shape[-2:]
        xin = x.to(device=ref.device, dtype=ref.dtype)
        pad_w, pad_h = self.descriptor.size_requirements.get_padding(w, h)
        xin = _pad(xin, pad_h, pad_w, reflect=True)
        if self.module.training:
            self.module.eval()
        with torch.no_grad():
            if self._adapter is not None:
                nmap = noise_level_map(noise_level, x[:, :1].to(device=ref.device, dtype=ref.dtype),
                                       default=self._adapter.default_sigma)
                nmap = _pad(nmap, pad_h, pad_w, reflect=False)
                out = self._adapter.run(self.module, xin, nmap)
            else:
                call = getattr(self.descriptor, "_call_fn", None)
                out = call(self.module, xin) if call is not None else self.module(xin)
        if not torch.is_tensor(out):
            raise ModelLoadError(
                f"model '{self.name}'", f"returned {type(out).__name__} instead of an image tensor.",
                "Report it to the restorekit developers, with the file name and where it was downloaded from.",
            )
        out = out[..., : h * self.scale, : w * self.scale]
        if clamp:
            out = out.clamp(0, 1)
        return out.to(device=x.device, dtype=x.dtype)

    # -- describing -------------------------------------------------------------------------
    def summary(self) -> str:
        """A few lines describing the model, for node reports and the CLI."""
        precision = ["fp32"] + (["fp16"] if self.supports_half else []) + (["bf16"] if self.supports_bfloat16 else [])
        lines = [
            f"{self.name}: {self.architecture_name} ({', '.join(self.tags) or 'no tags'})",
            f"purpose {self.purpose}, scale {self.scale}x, channels {self.input_channels} -> {self.output_channels}, "
            f"{self.parameter_count / 1e6:.2f} M parameters",
            f"precision {'/'.join(precision)}, tiling {self.tiling}, sizes padded to a multiple of {self.size_multiple}"
            + (f" (minimum {self.min_size})" if self.min_size else "")
            + (", square" if self.square else ""),
        ]
        if self.noise_conditional:
            lines.append(
                f"noise-conditional ({self.noise_family}), default noise level "
                f"{255 * (self.default_noise_level or 0):.0f}/255"
            )
        else:
            lines.append("not noise-conditional (the noise level is ignored)")
        lines.append(f"on {self.device} as {str(self.dtype).replace('torch.', '')}" + (f", from {self.path}" if self.path else ""))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"RestorationModel(name={self.name!r}, architecture={self.architecture!r}, purpose={self.purpose!r}, "
                f"scale={self.scale}, channels={self.input_channels}->{self.output_channels}, "
                f"noise_conditional={self.noise_conditional})")


def _first_tensor(module: nn.Module) -> Tensor:
    for t in module.parameters():
        return t
    for t in module.buffers():
        return t
    raise ModelLoadError("model", "has no weights.", None)


def _pad(t: Tensor, pad_h: int, pad_w: int, *, reflect: bool) -> Tensor:
    """Pad at the bottom/right: reflect as far as the size allows, then replicate (spandrel's rule)."""
    if not (pad_h or pad_w):
        return t
    h, w = t.shape[-2:]
    if reflect:
        rh, rw = min(pad_h, h - 1), min(pad_w, w - 1)
        if rh or rw:
            t = F.pad(t, (0, rw, 0, rh), mode="reflect")
        pad_h, pad_w = pad_h - rh, pad_w - rw
    if pad_h or pad_w:
        t = F.pad(t, (0, pad_w, 0, pad_h), mode="replicate")
    return t


def _purpose_of(descriptor: Any) -> str:
    arch = str(descriptor.architecture.id)
    if descriptor.purpose == "FaceSR":
        return "face"
    if descriptor.scale > 1:
        return "sr"
    if arch in _DENOISER_ARCHS:
        return "denoise"
    return "restore"


def require_purpose(model: RestorationModel, allowed: Sequence[str], *, role: str = "this operation") -> None:
    """Raise ModelLoadError unless ``model.purpose`` is one of ``allowed`` (e.g. ("denoise", "restore"))."""
    if model.purpose in allowed:
        return
    wanted = " or ".join(allowed)
    what = f"a {model.scale}x super-resolution model" if model.purpose == "sr" else f"a {model.purpose} model"
    raise ModelLoadError(
        f"model '{model.name}'",
        f"is {what} ({model.architecture}), but {role} needs a {wanted} model.",
        f"Choose a {wanted} model (e.g. DRUNet, FFDNet, SCUNet, NAFNet, Restormer)"
        + (", or use the model with an upscaling node." if model.purpose == "sr" else "."),
    )


# ----------------------------------------------------------------------------------------------
# files
# ----------------------------------------------------------------------------------------------


def resolve_model_path(path: str | os.PathLike[str], search_dirs: Iterable[str | os.PathLike[str]] = ()) -> Path:
    """The existing weights file for ``path``: the path itself, or ``path`` inside one of ``search_dirs``.

    Raises ModelLoadError listing every place looked at (and similar file names found there).
    """
    p = Path(os.path.expanduser(os.fspath(path)))
    dirs = [Path(d) for d in search_dirs]
    candidates = [p] if p.is_absolute() else [p, *[d / p for d in dirs]]
    for c in candidates:
        if c.is_file():
            return c.resolve()
    looked = ", ".join(str(c) for c in candidates)
    known: list[str] = []
    for d in dirs if dirs else [p.parent]:
        if d.is_dir():
            known += [f.name for f in d.iterdir() if f.suffix.lower() in SUPPORTED_EXTENSIONS]
    close = difflib.get_close_matches(p.name, known, n=3, cutoff=0.5)
    hint = f" Similar files: {', '.join(close)}." if close else ""
    raise ModelLoadError(
        f"model file '{path}'",
        f"was not found (looked at: {looked}).{hint}",
        "Put the weights file in the model folder (ComfyUI: models/restorekit or models/upscale_models) "
        "or give its full path; `restorekit weights fetch NAME` downloads published weights.",
    )


def _sniff(path: Path) -> str:
    """'zip' (PyTorch >= 1.6 format), 'pickle' (legacy format), 'safetensors' or 'unknown'."""
    with open(path, "rb") as f:
        head = f.read(9)
    size = path.stat().st_size
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if len(head) == 9:
        (n,) = struct.unpack("<Q", head[:8])
        if 2 <= n <= size - 8 and head[8:9] == b"{":
            return "safetensors"
    if head[:1] == b"\x80":
        return "pickle"
    return "unknown"


def _corrupt(path: Path, detail: str) -> ModelLoadError:
    return ModelLoadError(
        f"model file '{path.name}'",
        f"could not be read as weights: {detail}",
        "The file is damaged or not a weights file: download it again and check its size/checksum.",
    )


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Read the tensors of a weights file safely (no code in the file can run) and canonicalise them.

    ``.pth``/``.pt``/``.ckpt``: ``torch.load(weights_only=True)``; TorchScript archives are refused.
    ``.safetensors``: safetensors. The file's content decides the reader when the extension lies.
    Wrappers such as ``{"params_ema": ...}``, ``{"state_dict": ...}`` and ``module.`` prefixes are
    removed (spandrel's canonicalisation); non-tensor entries are dropped.
    """
    from spandrel import canonicalize_state_dict

    p = Path(path)
    ext = p.suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        raise ModelLoadError(
            f"model file '{p.name}'",
            f"has the unsupported extension '{ext or '(none)'}'.",
            f"Use a weights file ending in {', '.join(SUPPORTED_EXTENSIONS)}.",
        )
    try:
        kind = _sniff(p)
    except OSError as exc:
        raise _corrupt(p, str(exc)) from exc
    if kind == "unknown":
        raise _corrupt(p, "neither a PyTorch checkpoint nor a safetensors file.")
    if kind == "safetensors":
        try:
            from safetensors.torch import load_file

            raw: Any = load_file(str(p), device="cpu")
        except Exception as exc:
            raise _corrupt(p, f"invalid safetensors data ({exc}).") from exc
    else:
        if kind == "zip":
            try:
                with zipfile.ZipFile(p) as zf:
                    names = zf.namelist()
            except (zipfile.BadZipFile, OSError) as exc:
                raise _corrupt(p, f"broken zip archive ({exc}).") from exc
            if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
                raise ModelLoadError(
                    f"model file '{p.name}'",
                    "is a TorchScript archive, which contains code; restorekit only loads plain weights.",
                    "Use the plain state-dict (.pth) or .safetensors release of this model.",
                )
        try:
            raw = torch.load(p, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            lines = str(exc).strip().splitlines()
            detail = next((ln for ln in lines if "GLOBAL" in ln or "global" in ln), "")
            if not detail:  # a broken pickle stream, not a forbidden object
                why = next((ln for ln in lines if ln.startswith("Unsupported")), "unpickling failed")
                raise _corrupt(p, f"broken data ({why.strip()[:200]}).") from None
            raise ModelLoadError(
                f"model file '{p.name}'",
                "contains pickled Python objects other than tensors; loading it could run code, so it was "
                f"refused ({detail.strip()[:200]}).",
                "Use a .safetensors version of the model, or a plain state dict saved with "
                "torch.save(model.state_dict(), path) from a trusted source.",
            ) from None
        except Exception as exc:
            raise _corrupt(p, f"{type(exc).__name__}: {str(exc)[:300]}") from exc
    if not isinstance(raw, dict):
        raise ModelLoadError(
            f"model file '{p.name}'",
            f"holds a {type(raw).__name__}, not a dictionary of weights.",
            "Save the model with torch.save(model.state_dict(), path) or as .safetensors.",
        )
    sd = canonicalize_state_dict(raw)
    tensors = {k: v for k, v in sd.items() if isinstance(k, str) and torch.is_tensor(v)}
    if not tensors:
        raise ModelLoadError(
            f"model file '{p.name}'",
            f"contains no weight tensors (top-level keys: {', '.join(map(str, list(raw)[:8]))}).",
            "Check that this is a model weights file, not an optimiser state or a config.",
        )
    return tensors


# ----------------------------------------------------------------------------------------------
# detection
# ----------------------------------------------------------------------------------------------


def _registry() -> Any:
    from spandrel import MAIN_REGISTRY

    from .architectures import register

    register()
    return MAIN_REGISTRY


def supported_architectures() -> list[str]:
    """Ids of every architecture the loader can detect (spandrel + ours + spandrel_extra_arches if installed)."""
    return sorted(str(a.architecture.id) for a in _registry().architectures("insertion"))


def _verify_weights(module: nn.Module, state_dict: dict[str, Tensor]) -> list[str]:
    """Names of module parameters/persistent buffers whose values do not come from ``state_dict``.

    Matched by name first; a tensor renamed by the architecture's loader is matched by value.
    BatchNorm's num_batches_tracked counter (unused at inference) is not checked.
    """
    by_shape: dict[tuple[int, ...], list[Tensor]] = defaultdict(list)
    for v in state_dict.values():
        by_shape[tuple(v.shape)].append(v)
    persistent = module.state_dict(keep_vars=True)
    missing = []
    for name, t in persistent.items():
        if name.endswith("num_batches_tracked"):
            continue
        t = t.detach()
        src = state_dict.get(name)
        if src is not None and src.shape == t.shape and torch.equal(src.to(device=t.device, dtype=t.dtype), t):
            continue
        if any(torch.equal(c.to(device=t.device, dtype=t.dtype), t) for c in by_shape.get(tuple(t.shape), ())):
            continue
        missing.append(name)
    return missing


def model_from_state_dict(
    state_dict: dict[str, Tensor], *, name: str = "model", path: Path | None = None, device: str | torch.device = "cpu"
) -> RestorationModel:
    """Detect the architecture of a (canonical) state dict, build the network, check every weight."""
    from spandrel import MaskedImageModelDescriptor

    registry = _registry()
    subject = f"model '{name}'"
    descriptor = None
    failure = ""
    arch_id = ""
    # spandrel's detection order; like spandrel, the first architecture whose keys match decides
    # (trying the next one after a failed load could pick a wrong architecture that happens to fit).
    for support in registry.architectures("detection"):
        try:
            hit = support.detect(state_dict)
        except Exception:
            hit = False
        if not hit:
            continue
        arch_id = str(support.architecture.id)
        state_dict = dict(state_dict)  # some architectures rename keys in place
        try:
            descriptor = support.architecture.load(state_dict)
        except Exception as exc:  # the keys matched but the weights do not fit this architecture
            text = str(exc).strip().splitlines()
            failure = f"{type(exc).__name__}: {text[0][:300] if text else ''}"
        break
    if descriptor is None:
        if failure:
            raise ModelLoadError(
                subject,
                f"looks like {arch_id} but its weights do not fit the architecture ({failure}). "
                "It is not run with partly random weights.",
                "The file may be truncated or a variant restorekit does not know; report it to the restorekit developers "
                "with the file name and where it was downloaded from.",
            )
        keys = list(state_dict)
        raise ModelLoadError(
            subject,
            f"has an unknown architecture ({len(keys)} tensors; first keys: {', '.join(keys[:6])}). "
            f"Supported: {', '.join(supported_architectures())}.",
            "Check that the file is an image-restoration or upscaling model. If it is a published one, report it "
            "to the restorekit developers with the file name, its download URL and the keys above"
            + ("" if _extra_installed() else "; some architectures need `pip install spandrel_extra_arches`")
            + ".",
        )
    if isinstance(descriptor, MaskedImageModelDescriptor):
        raise ModelLoadError(
            subject,
            f"is an inpainting model ({descriptor.architecture.id}), which needs a mask; restorekit's model "
            "nodes run image-to-image restoration and upscaling models.",
            "Use an inpainting node for this model, or choose a restoration model.",
        )
    missing = _verify_weights(descriptor.model, state_dict)
    if missing:
        raise ModelLoadError(
            subject,
            f"was detected as {descriptor.architecture.id} but {len(missing)} weights of the network are not in "
            f"the file ({', '.join(missing[:5])}{'...' if len(missing) > 5 else ''}); it is not run with random "
            "weights.",
            "The file may be incomplete: download it again, or report it to the restorekit developers.",
        )
    descriptor.model.eval()
    for p in descriptor.model.parameters():
        p.requires_grad_(False)
    model = RestorationModel(descriptor, name=name, path=path)
    return model.to(device)


def _extra_installed() -> bool:
    try:
        import spandrel_extra_arches  # noqa: F401
    except ImportError:
        return False
    return True


def load_model(
    path: str | os.PathLike[str],
    *,
    device: str | torch.device = "cpu",
    search_dirs: Iterable[str | os.PathLike[str]] = (),
) -> RestorationModel:
    """Load a weights file (.pth, .pt, .ckpt, .safetensors) into a :class:`RestorationModel`.

    path: a file path; a relative path is also looked up in ``search_dirs`` (e.g. ComfyUI's model
    folders). ``"restorekit built-in denoiser"`` (or ``"builtin"``) loads the weights shipped with
    restorekit (:mod:`restorekit.models.builtin`). device: where the weights go. Raises ModelLoadError for a missing, unreadable or unsafe
    file, an unknown architecture, an inpainting model, or weights that do not cover the network.
    """
    if isinstance(path, str) and path.strip() in BUILTIN_NAMES:
        from .builtin import load_builtin_denoiser

        return load_builtin_denoiser(device=device, cache=False)
    p = resolve_model_path(path, search_dirs)
    state_dict = load_state_dict(p)
    model = model_from_state_dict(state_dict, name=p.stem, path=p, device=device)
    log.info("loaded %s as %s (%s, %dx)", p.name, model.architecture, model.purpose, model.scale)
    return model
