"""What every benchmark script in ``bench/`` shares: devices, timing, datasets and the noise protocol, output.

The scripts import it as ``import common`` (Python puts a script's own folder first on ``sys.path``)
and nothing from ``tests/``. The datasets and the protocol come from :mod:`restorekit.datasets`, the
same code the quality tests use, so a benchmark's figures are comparable with the tests' thresholds:

- images ``[1, C, H, W]`` float32 in [0, 1] (:func:`load_image`, :func:`load_set`, :func:`image_paths`);
- white Gaussian noise of std ``sigma255 / 255`` from a fixed seed, unclipped (:func:`add_noise`;
  :func:`noisy_images` applies it to a list with seed = ``seed0 +`` image index, optionally clipped);
- PSNR in dB after clipping and 8-bit quantisation (:func:`psnr`);
- the deblurring protocol (:func:`blur`, :func:`blur_and_noise`, :func:`levin_kernels`).

Timing: :func:`timed` (one call) and :func:`time_repeats` (warm-up, then ``repeat`` calls; median,
best, peak GPU memory) read the clock only after ``torch.cuda.synchronize`` on CUDA devices.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch

REPO = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("restorekit") is None:  # a checkout without `pip install -e .`
    sys.path.insert(0, str(REPO))

from restorekit.datasets import (  # noqa: E402
    add_noise,
    blur,
    blur_and_noise,
    image_paths,
    levin_kernels,
    load_image,
    load_set,
    psnr,
    smooth_random,
)
from restorekit.errors import DatasetNotFoundError  # noqa: E402

__all__ = [
    "REPO",
    "Timing",
    "add_device_argument",
    "add_noise",
    "add_threads_argument",
    "blur",
    "blur_and_noise",
    "device_name",
    "fmt",
    "fmt_ratio",
    "get_device",
    "have_modules",
    "image_paths",
    "levin_kernels",
    "load_image",
    "load_set",
    "noisy_images",
    "peak_memory_gib",
    "print_table",
    "psnr",
    "ratio",
    "reset_peak_memory",
    "run",
    "set_threads",
    "smooth_random",
    "sync",
    "time_repeats",
    "timed",
]

T = TypeVar("T")

# --------------------------------------------------------------------------------------------- devices


def add_device_argument(parser: argparse.ArgumentParser, default: str = "cpu", help: str | None = None) -> None:
    """``--device cpu|cuda`` (``default="auto"``: CUDA when available)."""
    if default == "auto":
        default = "cuda" if torch.cuda.is_available() else "cpu"
    parser.add_argument("--device", default=default, choices=("cpu", "cuda"), help=help or f"default {default}")


def add_threads_argument(parser: argparse.ArgumentParser, default: int = 0, help: str | None = None) -> None:
    """``--threads N``: torch intra-op CPU threads (0 = torch's default); apply with :func:`set_threads`."""
    parser.add_argument(
        "--threads", type=int, default=default, help=help or "torch CPU threads (0 = torch's default)"
    )


def set_threads(n: int) -> None:
    """``torch.set_num_threads(n)`` when ``n > 0``; 0 keeps torch's default."""
    if n > 0:
        torch.set_num_threads(n)


def get_device(name: str | torch.device) -> torch.device:
    """``torch.device(name)``; exits with a message when CUDA is asked for and not available."""
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("CUDA is not available; run with --device cpu")
    return device


def device_name(device: torch.device | str) -> str:
    """The GPU's name, or ``"CPU, N torch threads (M cores)"``."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU, {torch.get_num_threads()} torch threads ({os.cpu_count()} cores)"


def sync(device: torch.device | str | None = None) -> None:
    """Wait for the GPU's queued work when ``device`` is a CUDA device (no-op on the CPU and for None)."""
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def have_modules(*names: str) -> bool:
    """Whether every named (optional) package can be found, without importing it."""
    return all(importlib.util.find_spec(n) is not None for n in names)


def reset_peak_memory(device: torch.device | str) -> None:
    """Start a new peak-memory window on a CUDA device (no-op on the CPU)."""
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_gib(device: torch.device | str) -> float:
    """Peak GPU memory allocated by torch since :func:`reset_peak_memory`, GiB; NaN on the CPU."""
    if torch.device(device).type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return float("nan")


# --------------------------------------------------------------------------------------------- timing


def timed(fn: Callable[..., T], *args: Any, device: torch.device | str | None = None, **kwargs: Any) -> tuple[T, float]:
    """``(fn(*args, **kwargs), seconds)``, one call, synchronised before and after on a CUDA ``device``."""
    sync(device)
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    sync(device)
    return out, time.perf_counter() - start


@dataclass
class Timing:
    """The result of :func:`time_repeats`: the last call's return value and every timed run (seconds)."""

    result: Any
    times: list[float]
    peak_bytes: int | None = None

    @property
    def median(self) -> float:
        """Median of the timed runs, seconds."""
        return statistics.median(self.times)

    @property
    def best(self) -> float:
        """Fastest timed run, seconds."""
        return min(self.times)

    @property
    def median_ms(self) -> float:
        """Median of the timed runs, milliseconds."""
        return 1000 * self.median

    @property
    def peak_gib(self) -> float:
        """Peak GPU memory during the timed runs, GiB (NaN when not measured, e.g. on the CPU)."""
        return float("nan") if self.peak_bytes is None else self.peak_bytes / 2**30


def time_repeats(
    fn: Callable[[], Any],
    device: torch.device | str | None = None,
    repeat: int = 3,
    warmup: int = 1,
    memory: bool = False,
) -> Timing:
    """Call ``fn()`` ``warmup`` times untimed, then ``repeat`` times (at least once) timed.

    Each timed call is synchronised before and after on a CUDA ``device``; pass the device the work
    runs on (None or a CPU device for CPU references). ``memory=True`` also records torch's peak GPU
    memory over the timed calls (CUDA only).
    """
    result = None
    for _ in range(warmup):
        result = fn()
    sync(device)
    cuda = device is not None and torch.device(device).type == "cuda"
    if memory and cuda:
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(max(1, repeat)):
        result, seconds = timed(fn, device=device)
        times.append(seconds)
    peak = torch.cuda.max_memory_allocated(device) if memory and cuda else None
    return Timing(result, times, peak)


# --------------------------------------------------------------------------------------------- data


def noisy_images(
    cleans: Sequence[torch.Tensor], sigma255: float, *, clip: bool, seed0: int = 0
) -> list[torch.Tensor]:
    """:func:`add_noise` of each image (``sigma255`` in 0-255 grey levels) with seed ``seed0 + index``.

    ``clip=False`` is the standard protocol (values may leave [0, 1]); ``clip=True`` clips to [0, 1]
    for methods that require [0, 1] input (and as a ComfyUI image would be).
    """
    out = [add_noise(c, sigma255, seed=seed0 + i) for i, c in enumerate(cleans)]
    return [y.clamp(0, 1) for y in out] if clip else out


# --------------------------------------------------------------------------------------------- output


def ratio(num: float | None, den: float | None) -> float:
    """``num / den``; NaN when either is missing or NaN or ``den`` is 0."""
    if num is None or den is None or math.isnan(num) or math.isnan(den) or den == 0:
        return float("nan")
    return num / den


def fmt(value: float | None, spec: str = ".2f", missing: str = "n/a") -> str:
    """``format(value, spec)``, or ``missing`` for None / NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return missing
    return format(value, spec)


def fmt_ratio(num: float | None, den: float | None, spec: str = ".2f", suffix: str = "x") -> str:
    """:func:`ratio` formatted with ``spec`` and ``suffix`` (e.g. ``"3.20x"``), ``"n/a"`` when undefined."""
    r = ratio(num, den)
    return "n/a" if math.isnan(r) else format(r, spec) + suffix


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Right-aligned columns as wide as their longest cell."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)))


def run(main: Callable[[], int | None]) -> None:
    """Run a script's ``main``; a missing benchmark set ends it with the lookup message instead of a traceback."""
    try:
        code = main()
    except DatasetNotFoundError as exc:
        sys.exit(f"error: {exc}")
    sys.exit(code or 0)
