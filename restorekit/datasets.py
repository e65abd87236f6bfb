"""The standard benchmark sets and the evaluation protocol shared by restorekit's tests and benchmarks.

Sets (each a folder of the same name under one datasets root; see ``SOURCES.md`` there):

- ``Set12`` (12 gray, 256x256 and 512x512), ``BSD68`` (68 gray, 481x321 / 321x481), ``CBSD68``
  (the same 68 in RGB), ``Set5`` / ``Set14`` (RGB, one gray in Set14), ``Set3C`` (3 RGB),
  ``classic5`` (5 gray), ``Train400`` (400 gray 180x180);
- ``DeblurKernels/Levin09.mat``: the 8 blur kernels of Levin et al. (2009), see :func:`levin_kernels`.

Where the sets are looked for, first match wins (:func:`candidate_dirs`):

1. an explicit ``root=`` argument (then nothing else is searched);
2. the environment variable ``RESTOREKIT_DATASETS``;
3. ``../shared/datasets`` beside the repository (the checkout holding this package);
4. ``<repository>/.data``.

A set that is in none of them raises :class:`~restorekit.errors.DatasetNotFoundError`
(also a ``FileNotFoundError``) listing every folder searched.

Protocol (the one of the KAIR / DnCNN / DPIR literature, so figures compare with published ones):
images are loaded as core tensors ``[1, C, H, W]`` float32 in [0, 1] (:func:`load_image`);
noise is white Gaussian of std ``sigma255 / 255`` drawn on the CPU from a fixed seed and *not*
clipped (:func:`add_noise`); quality is the PSNR after clipping to [0, 1] and 8-bit quantisation
(:func:`psnr`); deblurring blurs with ``scipy.ndimage.convolve`` before the noise
(:func:`blur_and_noise`). The generated values depend only on the seed, so results are
reproducible across runs and machines.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .errors import DatasetNotFoundError, MissingDependencyError

__all__ = [
    "ENV_VAR",
    "IMAGE_SUFFIXES",
    "KNOWN_SETS",
    "add_noise",
    "blur",
    "blur_and_noise",
    "candidate_dirs",
    "datasets_dir",
    "image_paths",
    "levin_kernels",
    "load_image",
    "load_set",
    "psnr",
    "smooth_random",
]

ENV_VAR = "RESTOREKIT_DATASETS"
"""Environment variable naming a datasets root, searched before the default places."""

IMAGE_SUFFIXES = (".png", ".bmp", ".tif", ".jpg")
"""File name endings (any case) counted as images of a set."""

KNOWN_SETS = ("Set12", "BSD68", "CBSD68", "Set5", "Set14", "Set3C", "classic5", "Train400", "DeblurKernels")
"""Folder names of the standard sets (others are found the same way if present)."""

_REPO = Path(__file__).resolve().parents[1]


def candidate_dirs(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """The datasets roots searched, in order: ``[root]`` alone if given, else the defaults (module docstring)."""
    if root is not None:
        return [Path(root)]
    env = os.environ.get(ENV_VAR)
    candidates = [Path(env)] if env else []
    return candidates + [_REPO.parent / "shared" / "datasets", _REPO / ".data"]


def datasets_dir(set_name: str = "Set12", root: str | os.PathLike[str] | None = None) -> Path:
    """The first datasets root (see :func:`candidate_dirs`) holding the folder ``set_name``.

    Raises :class:`~restorekit.errors.DatasetNotFoundError` naming every folder searched.
    """
    candidates = candidate_dirs(root)
    for path in candidates:
        if (path / set_name).is_dir():
            return path
    raise DatasetNotFoundError(
        f"benchmark set {set_name!r}",
        f"not found (looked in {', '.join(str(p / set_name) for p in candidates)}).",
        f"put the standard sets ({', '.join(KNOWN_SETS)}) in one folder and point ${ENV_VAR} at it "
        "(or pass root=), or place them in ../shared/datasets beside the repository.",
    )


def image_paths(set_name: str, root: str | os.PathLike[str] | None = None) -> list[Path]:
    """Sorted image files (:data:`IMAGE_SUFFIXES`) of a set, e.g. ``image_paths("Set12")``."""
    folder = datasets_dir(set_name, root) / set_name
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def load_image(path: str | os.PathLike[str], gray: bool | None = None) -> torch.Tensor:
    """An 8-bit image file as a core tensor ``[1, C, H, W]`` float32 in [0, 1] (8-bit value / 255).

    ``gray=True``: one channel (Pillow's ``convert("L")``: BT.601 luma, rounded to 8 bits);
    ``gray=False``: three channels (RGB; a gray file is replicated); ``None``: as stored when the
    file is gray (L) or RGB, other modes (palette, RGBA, …) converted to RGB.
    """
    with Image.open(path) as im:
        if gray is True:
            im = im.convert("L")
        elif gray is False or im.mode not in ("L", "RGB"):
            im = im.convert("RGB")
        arr = np.asarray(im, dtype=np.float32) / 255.0
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous()


def load_set(
    set_name: str,
    names: list[str] | None = None,
    gray: bool | None = None,
    root: str | os.PathLike[str] | None = None,
) -> list[torch.Tensor]:
    """The images of a set in file-name order (all, or those whose file stem is in ``names``).

    Each is a ``[1, C, H, W]`` float32 tensor in [0, 1]; ``gray`` as in :func:`load_image`.
    """
    paths = image_paths(set_name, root)
    if names is not None:
        paths = [p for p in paths if p.stem in names]
    return [load_image(p, gray) for p in paths]


def add_noise(clean: torch.Tensor, sigma255: float, seed: int = 0) -> torch.Tensor:
    """``clean`` plus white Gaussian noise of std ``sigma255 / 255`` (``sigma255`` in 0-255 grey levels).

    The noise is drawn in float32 on the CPU from ``torch.Generator().manual_seed(seed)`` (so it
    is the same on every machine and device), then moved to ``clean``'s device. The result is
    *not* clipped, as in the standard (KAIR/DPIR) protocol: clip it before handing it to an
    operation that requires [0, 1] input (a ComfyUI image is always clipped).
    """
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(clean.shape, generator=gen, dtype=torch.float32) * (sigma255 / 255.0)
    return clean + noise.to(clean.device)


def psnr(result: torch.Tensor, clean: torch.Tensor) -> float:
    """PSNR in dB of ``result`` against ``clean`` (any device, same shape, values in [0, 1]).

    Both are clipped to [0, 1] and quantised to 8 bits (``round(255 x)``) first, and the mean
    squared error is taken over every pixel and channel of the whole batch: ``10 log10(255^2 / MSE)``.
    Identical 8-bit images give ``inf`` (no cap).
    """
    a = (result.detach().float().cpu().clamp(0, 1) * 255).round()
    b = (clean.detach().float().cpu().clamp(0, 1) * 255).round()
    mse = torch.mean((a - b) ** 2).item()
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def levin_kernels(root: str | os.PathLike[str] | None = None) -> list[np.ndarray]:
    """The 8 blur kernels of Levin et al. (2009) (``DeblurKernels/Levin09.mat``), float64, each summing to 1.

    Reading the MATLAB v7.3 file needs the optional package ``h5py``.
    """
    try:
        import h5py
    except ImportError as exc:
        raise MissingDependencyError(
            "levin_kernels", "reading Levin09.mat needs the package h5py.", "pip install h5py"
        ) from exc
    out = []
    with h5py.File(datasets_dir("DeblurKernels", root) / "DeblurKernels" / "Levin09.mat", "r") as f:
        refs = f["kernels"]
        for ref in np.asarray(refs).ravel():
            k = np.asarray(f[ref], dtype=np.float64).T
            out.append(k / k.sum())
    return out


def blur(x: torch.Tensor, kernel: np.ndarray, mode: str = "reflect") -> torch.Tensor:
    """``scipy.ndimage.convolve`` of every image and channel of ``x`` ``[B, C, H, W]`` with ``kernel``.

    Computed in float64 on the CPU, returned as float32 (CPU). ``mode`` is scipy's boundary rule:
    "reflect" (the non-circular protocol: the scene continues as a mirror image), "nearest",
    "wrap" (circular, DPIR's protocol), …
    """
    import scipy.ndimage as ndi

    arr = x.detach().cpu().double().numpy()
    out = np.stack([np.stack([ndi.convolve(img[ch], kernel, mode=mode) for ch in range(arr.shape[1])]) for img in arr])
    return torch.from_numpy(out).float()


def blur_and_noise(
    clean: torch.Tensor, kernel: np.ndarray, seed: int, sigma255: float = 2.55, mode: str = "reflect"
) -> torch.Tensor:
    """The deblurring protocol: :func:`blur` (boundary ``mode``, default non-circular "reflect"), then
    :func:`add_noise` (``sigma255`` in 0-255 grey levels, ``seed``), clipped to [0, 1]. CPU float32."""
    return add_noise(blur(clean, kernel, mode), sigma255, seed=seed).clamp(0, 1)


def smooth_random(
    b: int = 1, c: int = 3, h: int = 32, w: int = 40, seed: int = 0, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """A synthetic stand-in image: seeded uniform noise ``[b, c, h, w]`` smoothed by a 3x3 mean, in [0.1, 0.9].

    Drawn in float64 on the CPU from ``torch.Generator().manual_seed(seed)``, returned as ``dtype``.
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(b, c, h, w, generator=gen, dtype=torch.float64)
    x = torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    return (0.1 + 0.8 * x).to(dtype)
