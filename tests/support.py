"""Shared helpers for tests: benchmark images, noise with fixed seeds, PSNR.

The dataset lookup and the protocol (loading, noise, PSNR, blur) live in :mod:`restorekit.datasets`,
shared with ``bench/``; this module re-exports them under the names the tests use and adds the
test-only policy: when the standard sets are missing (see :mod:`restorekit.datasets` for where they
are looked for; override with ``RESTOREKIT_DATASETS``), quality tests skip, unless
``RESTOREKIT_REQUIRE_DATASETS=1`` or ``CI=true`` (set by CI), which turn the skip into a failure.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest
import torch

from restorekit import datasets as _ds
from restorekit.datasets import add_noise, blur, blur_and_noise, psnr, smooth_random
from restorekit.errors import DatasetNotFoundError

__all__ = [
    "REPO",
    "add_noise",
    "blur",
    "blur_and_noise",
    "datasets_dir",
    "image_paths",
    "levin_kernels",
    "load",
    "load_set",
    "psnr",
    "refuse_network",
    "smooth_random",
]

REPO = Path(__file__).resolve().parents[1]

T = TypeVar("T")


def _datasets_required() -> bool:
    return os.environ.get("RESTOREKIT_REQUIRE_DATASETS") == "1" or os.environ.get("CI", "").lower() == "true"


def _or_skip(fn: Callable[..., T], *args, **kwargs) -> T:
    """``fn(*args, **kwargs)``; a missing dataset skips the test (a failure under CI / REQUIRE_DATASETS)."""
    try:
        return fn(*args, **kwargs)
    except DatasetNotFoundError as exc:
        if _datasets_required():
            raise
        pytest.skip(str(exc))


def datasets_dir() -> Path:
    """The folder holding Set12, BSD68, CBSD68, … (see :mod:`restorekit.datasets`)."""
    return _or_skip(_ds.datasets_dir)


def image_paths(set_name: str) -> list[Path]:
    """Sorted image files of a benchmark set (e.g. ``"Set12"``)."""
    return _or_skip(_ds.image_paths, set_name)


def load(path: Path | str, gray: bool | None = None) -> torch.Tensor:
    """An 8-bit image file as a core tensor ``[1, C, H, W]`` float32 in [0, 1] (:func:`restorekit.datasets.load_image`)."""
    return _ds.load_image(path, gray)


def load_set(set_name: str, names: list[str] | None = None, gray: bool | None = None) -> list[torch.Tensor]:
    """Images of a set (all, or those whose file stem is in ``names``)."""
    return _or_skip(_ds.load_set, set_name, names, gray)


def levin_kernels() -> list[np.ndarray]:
    """The 8 Levin et al. (2009) blur kernels, float64, each summing to 1."""
    return _or_skip(_ds.levin_kernels)


def refuse_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every socket and ``urlopen`` call fail the test (for code that must work offline)."""
    import socket
    import urllib.request

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


#: Start of a script that compiles Triton kernels for Hopper (sm_90) without a GPU: it exits printing
#: ``{"skip": why}`` when this Triton has no CUDA backend or assembler. Used with :func:`compile_for_hopper`.
HOPPER_COMPILE_PREAMBLE = r"""
import json
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

try:
    from triton.backends.nvidia.compiler import get_ptxas

    get_ptxas(90)
except Exception as exc:  # noqa: BLE001 - no CUDA backend or assembler in this Triton: nothing to check
    print(json.dumps({"skip": f"{type(exc).__name__}: {exc}"}))
    raise SystemExit(0)
"""


def compile_for_hopper(script: str) -> dict:
    """Run ``HOPPER_COMPILE_PREAMBLE + script`` in a fresh interpreter (no ``TRITON_INTERPRET``) and return the
    JSON object its last line prints; skips the calling test when Triton cannot compile for CUDA here."""
    import json
    import os
    import subprocess
    import sys

    import pytest

    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    run = subprocess.run([sys.executable, "-c", HOPPER_COMPILE_PREAMBLE + script], env=env, capture_output=True,
                         text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    res = json.loads(run.stdout.strip().splitlines()[-1])
    if "skip" in res:
        pytest.skip(f"Triton cannot compile for CUDA here: {res['skip']}")
    return res
