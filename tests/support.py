"""Shared helpers for tests and benchmarks: benchmark images, noise with fixed seeds, PSNR.

The standard sets live in ``../shared/datasets`` next to the repository (override with the
environment variable ``RESTOREKIT_DATASETS``). When they are missing, quality tests skip,
unless ``RESTOREKIT_REQUIRE_DATASETS=1`` or ``CI=true`` (set by CI), which turn the skip into a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def datasets_dir() -> Path:
    """The folder holding Set12, BSD68, CBSD68, … (see module docstring)."""
    env = os.environ.get("RESTOREKIT_DATASETS")
    candidates = [Path(env)] if env else []
    candidates += [REPO.parent / "shared" / "datasets", REPO / ".data"]
    for path in candidates:
        if (path / "Set12").is_dir():
            return path
    message = f"benchmark datasets not found (looked in {', '.join(map(str, candidates))})"
    if os.environ.get("RESTOREKIT_REQUIRE_DATASETS") == "1" or os.environ.get("CI", "").lower() == "true":
        raise FileNotFoundError(message)
    pytest.skip(message)


def image_paths(set_name: str) -> list[Path]:
    """Sorted image files of a benchmark set (e.g. ``"Set12"``)."""
    folder = datasets_dir() / set_name
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".bmp", ".tif", ".jpg"))


def load(path: Path | str, gray: bool | None = None) -> torch.Tensor:
    """An 8-bit image file as a core tensor ``[1, C, H, W]`` float32 in [0, 1].

    ``gray=True`` converts to one channel (BT.601 luma, rounded like Pillow), ``False`` to RGB.
    """
    im = Image.open(path)
    if gray is True:
        im = im.convert("L")
    elif gray is False or im.mode not in ("L", "RGB"):
        im = im.convert("RGB")
    arr = np.asarray(im, dtype=np.float32) / 255.0
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous()


def load_set(set_name: str, names: list[str] | None = None, gray: bool | None = None) -> list[torch.Tensor]:
    """Images of a set (all, or those whose file stem is in ``names``)."""
    paths = image_paths(set_name)
    if names is not None:
        paths = [p for p in paths if p.stem in names]
    return [load(p, gray) for p in paths]


def add_noise(clean: torch.Tensor, sigma255: float, seed: int = 0) -> torch.Tensor:
    """Clean image plus white Gaussian noise of std ``sigma255 / 255``, from a fixed seed.

    Not clipped, as in the standard (KAIR/DPIR) protocol; clip before handing the result
    to an operation that requires [0, 1] input.
    """
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(clean.shape, generator=gen, dtype=torch.float32) * (sigma255 / 255.0)
    return clean + noise.to(clean.device)


def psnr(result: torch.Tensor, clean: torch.Tensor) -> float:
    """PSNR in dB of a result against the clean image, after clipping and 8-bit quantisation."""
    a = (result.detach().float().cpu().clamp(0, 1) * 255).round()
    b = (clean.detach().float().cpu().clamp(0, 1) * 255).round()
    mse = torch.mean((a - b) ** 2).item()
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def levin_kernels() -> list[np.ndarray]:
    """The 8 Levin et al. (2009) blur kernels, float64, each summing to 1."""
    import h5py

    out = []
    with h5py.File(datasets_dir() / "DeblurKernels" / "Levin09.mat", "r") as f:
        refs = f["kernels"]
        for ref in np.asarray(refs).ravel():
            k = np.asarray(f[ref], dtype=np.float64).T
            out.append(k / k.sum())
    return out


def smooth_random(b: int = 1, c: int = 3, h: int = 32, w: int = 40, seed: int = 0,
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A seeded random batch ``[b, c, h, w]``, lightly smoothed (3x3 mean) and kept inside [0.1, 0.9]."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(b, c, h, w, generator=gen, dtype=torch.float64)
    x = torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    return (0.1 + 0.8 * x).to(dtype)


def blur(x: torch.Tensor, kernel: np.ndarray, mode: str = "reflect") -> torch.Tensor:
    """Reference blur: ``scipy.ndimage.convolve`` of every image and channel (float64) with ``kernel``.

    ``mode`` is scipy's boundary rule ("reflect", "nearest", "wrap", …).
    """
    import scipy.ndimage as ndi

    arr = x.double().numpy()
    out = np.stack([np.stack([ndi.convolve(img[ch], kernel, mode=mode) for ch in range(arr.shape[1])]) for img in arr])
    return torch.from_numpy(out).float()


def blur_and_noise(clean: torch.Tensor, kernel: np.ndarray, seed: int, sigma255: float = 2.55) -> torch.Tensor:
    """The deblurring protocol of the tests: non-circular ("reflect") blur, white noise, clipped to [0, 1]."""
    return add_noise(blur(clean, kernel, "reflect"), sigma255, seed=seed).clamp(0, 1)
