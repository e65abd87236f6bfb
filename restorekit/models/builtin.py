"""restorekit's built-in denoiser: weights shipped inside the package, loaded without any download.

The network is :class:`~restorekit.models.builtin_net.BuiltinDenoiserNet` (a slim noise-conditional
U-Net, about 2.1 M parameters). Its weights are ``restorekit/models/weights/builtin_denoiser.safetensors``
(float16 tensors) with the safetensors metadata ``format = "restorekit-builtin-denoiser"``,
``version = "1"``, ``config`` (JSON of the network's configuration) and ``training`` (free text).
The environment variable ``RESTOREKIT_BUILTIN_WEIGHTS`` points to another file of that format (tests,
benchmarks, a retrained network). A missing or malformed file is a :class:`ModelLoadError`, never a
network with random weights.

:func:`builtin_denoise` runs it through :func:`restorekit.models.restore.restore_with_model`, so tiling,
bf16/fp16 autocast and out-of-memory back-off are those of the Restore With Model node.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..errors import InvalidParameterError, ModelLoadError
from ..image import check_image
from ..progress import ProgressCallback

if TYPE_CHECKING:
    from .loader import RestorationModel

__all__ = [
    "BUILTIN_FORMAT",
    "BUILTIN_MODEL_NAME",
    "BUILTIN_VERSION",
    "ENV_BUILTIN_WEIGHTS",
    "BuiltinInfo",
    "builtin_denoise",
    "builtin_weights_available",
    "builtin_weights_path",
    "load_builtin_denoiser",
    "save_builtin_weights",
]

ENV_BUILTIN_WEIGHTS = "RESTOREKIT_BUILTIN_WEIGHTS"
BUILTIN_FORMAT = "restorekit-builtin-denoiser"
BUILTIN_VERSION = "1"
BUILTIN_MODEL_NAME = "restorekit built-in denoiser"
"""The name Load Restoration Model lists first and :func:`restorekit.models.load_model` accepts."""

_SHIPPED = Path(__file__).resolve().parent / "weights" / "builtin_denoiser.safetensors"
_REINSTALL = (
    "The restorekit installation is incomplete: reinstall it (pip install --force-reinstall restorekit, or "
    "reinstall the ComfyUI pack from its source) so that restorekit/models/weights/builtin_denoiser.safetensors "
    "is present."
)
_CACHE: dict[tuple, RestorationModel] = {}


def builtin_weights_path() -> Path:
    """The weights file of the built-in denoiser: ``$RESTOREKIT_BUILTIN_WEIGHTS`` if set, else the shipped file."""
    env = os.environ.get(ENV_BUILTIN_WEIGHTS, "").strip()
    return Path(os.path.expanduser(env)) if env else _SHIPPED


def builtin_weights_available() -> bool:
    """Whether :func:`builtin_weights_path` exists (its content is checked when it is loaded)."""
    return builtin_weights_path().is_file()


def save_builtin_weights(net: torch.nn.Module, path: str | os.PathLike[str], *, training: str = "") -> Path:
    """Write ``net`` (a BuiltinDenoiserNet) as float16 safetensors with the metadata the loader checks."""
    from safetensors.torch import save_file

    config = {"widths": list(net.widths), "blocks": list(net.blocks), "body_blocks": int(net.body_blocks)}
    tensors = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in net.state_dict().items()}
    meta = {"format": BUILTIN_FORMAT, "config": json.dumps(config), "version": BUILTIN_VERSION, "training": training}
    p = Path(path)
    save_file(tensors, str(p), metadata=meta)
    return p


def _bad(p: Path, problem: str, explicit: bool) -> ModelLoadError:
    fix = (f"Point {ENV_BUILTIN_WEIGHTS} (or the path given) to a file written by tools/train_builtin.py, or unset it."
           if explicit else _REINSTALL)
    return ModelLoadError(f"built-in denoiser weights '{p}'", problem, fix)


def _read(p: Path, explicit: bool) -> tuple[dict[str, Tensor], dict]:
    """Tensors (float32) and configuration of a built-in weights file, every check applied."""
    from safetensors import safe_open

    from .builtin_net import BuiltinDenoiserNet

    if not p.is_file():
        if explicit:
            raise _bad(p, "does not exist.", True)
        raise ModelLoadError(f"built-in denoiser weights '{p}'", "are missing from the installation.", _REINSTALL)
    try:
        with safe_open(str(p), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no iterator)
    except Exception as exc:
        raise _bad(p, f"is not a readable safetensors file ({type(exc).__name__}: {str(exc)[:200]}).", explicit) from exc
    if meta.get("format") != BUILTIN_FORMAT:
        raise _bad(p, f"has the format {meta.get('format')!r}, not {BUILTIN_FORMAT!r}.", explicit)
    if meta.get("version") != BUILTIN_VERSION:
        raise _bad(p, f"has version {meta.get('version')!r}; this restorekit reads version {BUILTIN_VERSION}.",
                   explicit)
    try:
        cfg = json.loads(meta.get("config", ""))
        net = BuiltinDenoiserNet(widths=tuple(cfg["widths"]), blocks=tuple(cfg["blocks"]),
                                 body_blocks=int(cfg["body_blocks"]))
    except Exception as exc:
        raise _bad(p, f"has an invalid config in its metadata ({type(exc).__name__}: {exc}).", explicit) from exc
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in tensors.items()}
    if expected != found:
        missing = sorted(set(expected) - set(found))
        extra = sorted(set(found) - set(expected))
        wrong = sorted(k for k in set(expected) & set(found) if expected[k] != found[k])
        detail = "; ".join(f"{n}: {', '.join(v[:3])}" for n, v in
                           (("missing", missing), ("unexpected", extra), ("wrong shape", wrong)) if v)
        raise _bad(p, f"does not match its config ({detail}).", explicit)
    return {k: v.float() for k, v in tensors.items()}, cfg


def load_builtin_denoiser(
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    path: str | os.PathLike[str] | None = None,
    *,
    cache: bool = True,
) -> RestorationModel:
    """The built-in denoiser as a :class:`~restorekit.models.loader.RestorationModel` (noise-conditional, RGB).

    path: a weights file of the built-in format; None = :func:`builtin_weights_path`. device (default CPU)
    and dtype (default float32) of the weights. With ``cache`` the same object is returned for the same
    file, device and dtype; do not move a cached model (pass ``cache=False`` for one you own).
    Raises ModelLoadError for a missing file, a wrong format/version/config or tensors that do not fit.
    """
    from .loader import model_from_state_dict

    explicit = path is not None or bool(os.environ.get(ENV_BUILTIN_WEIGHTS, "").strip())
    p = Path(path) if path is not None else builtin_weights_path()
    dev = torch.device(device if device is not None else "cpu")
    key = None
    if cache and p.is_file():
        st = p.stat()
        key = (str(p.resolve()), st.st_mtime_ns, st.st_size, str(dev), dtype)
        if key in _CACHE:
            return _CACHE[key]
    tensors, cfg = _read(p, explicit)
    model = model_from_state_dict(tensors, name=BUILTIN_MODEL_NAME, path=p, device=dev)
    if model.architecture != "RestorekitBuiltin":
        raise _bad(p, f"was detected as {model.architecture}, not as the built-in denoiser.", explicit)
    if dtype is not None:
        model.to(dtype=dtype)
    if key is not None:
        _CACHE[key] = model
    return model


@dataclass
class BuiltinInfo:
    """What :func:`builtin_denoise` did: noise levels per image (0-1 units; means of maps), how they were
    chosen, tiles, precision, device and seconds."""

    mode: str = "given"  # given / estimated / map, "+ mask" when a mask scaled it
    sigmas: list[float] = field(default_factory=list)
    tiles: int = 0
    tile: int = 0
    precision: str = "fp32"
    device: str = "cpu"
    seconds: float = 0.0
    restore: str = ""


def _per_image_sigma(sigma: float | Tensor | None, x: Tensor) -> tuple[Tensor, str]:
    """[B,1,H,W] or [B,1,1,1] noise level (float32, 0-1 units) and its mode."""
    from ..quality.noise import estimate_sigma

    b, _, h, w = x.shape
    if sigma is None:
        return estimate_sigma(x.float()).mean(dim=1).view(b, 1, 1, 1).clamp(0.0, 1.0), "estimated"
    if not torch.is_tensor(sigma):
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not 0.0 <= float(sigma) <= 1.0:
            raise InvalidParameterError(
                "sigma", f"must be a number in [0, 1] (the noise std on the 0-1 scale), got {sigma!r}.",
                "divide a 0-255 noise level by 255, or pass None to estimate it.",
            )
        return x.new_full((b, 1, 1, 1), float(sigma), dtype=torch.float32), "given"
    s = sigma.detach().to(device=x.device, dtype=torch.float32)
    if s.dim() <= 1 and s.numel() in (1, b):
        s = s.reshape(-1, 1, 1, 1)
    if s.dim() != 4 or s.shape[1] != 1 or s.shape[0] not in (1, b) or tuple(s.shape[-2:]) not in ((1, 1), (h, w)):
        raise InvalidParameterError(
            "sigma", f"has shape {tuple(sigma.shape)}, which does not fit the image batch {tuple(x.shape)}.",
            f"give a float, one value per image [{b}] or a per-pixel map [{b},1,{h},{w}].",
        )
    if not bool(torch.isfinite(s).all()) or float(s.min()) < 0 or float(s.max()) > 1:
        raise InvalidParameterError("sigma", "must be finite and in [0, 1] (0-1 units).", "divide 0-255 levels by 255.")
    return s.expand(b, 1, *s.shape[-2:]), ("map" if s.shape[-2:] == (h, w) and h * w > 1 else "given")


def builtin_denoise(
    x: Tensor,
    *,
    sigma: float | Tensor | None = None,
    mask: Tensor | None = None,
    strength: float = 1.0,
    tile: int = 0,
    overlap: int = 32,
    precision: str = "auto",
    weights: str | os.PathLike[str] | None = None,
    return_info: bool = False,
    progress: ProgressCallback | None = None,
) -> Tensor | tuple[Tensor, BuiltinInfo]:
    """Denoise ``x`` [B, C, H, W] in [0, 1] (C = 1 or 3) with the built-in network; same shape/dtype/device.

    sigma: the noise standard deviation in [0, 1] units (σ_255 / 255): a float, one value per image [B],
    or a per-pixel map [B or 1, 1, H, W]; None = blind: each image's level is estimated with
    :func:`restorekit.quality.noise.estimate_sigma` (median absolute deviation of the finest diagonal
    Haar wavelet band, averaged over channels). mask [B or 1, 1, H, W] in [0, 1] scales that level per
    pixel: noise map = mask × sigma (1 = the full level, 0 = leave that pixel as the network sees
    noise-free). Gray images are repeated to three channels and the three outputs averaged.
    strength in [0, 1]: linear blend with the input (0 = the input). tile: tile side in pixels (0 =
    automatic, the whole image when it fits); overlap: tile overlap in pixels. precision: "auto" (bf16 on
    CUDA where supported, else fp16; fp32 on the CPU), "fp32", "fp16", "bf16" (autocast). weights: a
    weights file of the built-in format (None = :func:`builtin_weights_path`). progress: per tile.
    With ``return_info`` returns ``(image, BuiltinInfo)``.
    """
    from .restore import restore_with_model

    check_image(x, "image")
    start = time.perf_counter()
    b, _, h, w = x.shape
    levels, mode = _per_image_sigma(sigma, x)
    if mask is not None:
        if not torch.is_tensor(mask) or mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[0] not in (1, b) \
                or tuple(mask.shape[-2:]) != (h, w):
            raise InvalidParameterError(
                "mask", f"has shape {tuple(getattr(mask, 'shape', ()))}; expected [{b} or 1, 1, {h}, {w}].",
                "give a mask of the image's size.",
            )
        m = mask.detach().to(device=x.device, dtype=torch.float32)
        if not bool(torch.isfinite(m).all()):
            raise InvalidParameterError("mask", "contains NaN or Inf.", "give a mask with values in [0, 1].")
        levels = levels * m.clamp(0.0, 1.0)
        mode += " + mask"
    noise_map = levels.expand(b, 1, h, w).contiguous()
    model = load_builtin_denoiser(device=x.device, path=weights)
    out, rinfo = restore_with_model(
        model, x, noise_map=noise_map, tile=tile, overlap=overlap, precision=precision, strength=strength,
        return_info=True, progress=progress,
    )
    info = BuiltinInfo(
        mode=mode, sigmas=[float(v) for v in noise_map.mean(dim=(1, 2, 3))], tiles=rinfo.tiles, tile=rinfo.tile,
        precision=rinfo.precision, device=str(x.device), seconds=time.perf_counter() - start, restore=rinfo.summary(),
    )
    return (out, info) if return_info else out
