"""The folders that hold restoration weights, as the application running restorekit configures them.

The core does not know which application hosts it. An application that keeps model files in
folders of its own (the ComfyUI node pack: ``ComfyUI/models/restorekit`` and whatever
``extra_model_paths.yaml`` adds) hands them over with :func:`set_model_dirs` when it loads;
:func:`default_model_dir` then answers the first of them. Without configured folders (the command
line, a script) it is the folder in the ``RESTOREKIT_MODEL_DIR`` environment variable, else
``~/.cache/restorekit/models``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["ENV_MODEL_DIR", "default_model_dir", "model_dirs", "set_model_dirs"]

ENV_MODEL_DIR = "RESTOREKIT_MODEL_DIR"

_model_dirs: tuple[Path, ...] = ()


def set_model_dirs(dirs: Iterable[str | os.PathLike[str]]) -> None:
    """Set the model folders of the host application, most preferred first (replaces any earlier list).

    An empty list clears them, so :func:`default_model_dir` falls back to the environment
    variable / home-folder default. Duplicates and empty entries are dropped; ``~`` is expanded.
    The folders need not exist yet.
    """
    if isinstance(dirs, (str, os.PathLike)):
        dirs = [dirs]
    seen: list[Path] = []
    for d in dirs:
        text = os.fspath(d).strip()
        if not text:
            continue
        path = Path(text).expanduser()
        if path not in seen:
            seen.append(path)
    global _model_dirs
    _model_dirs = tuple(seen)


def model_dirs() -> tuple[Path, ...]:
    """The model folders set with :func:`set_model_dirs` (empty when none were set)."""
    return _model_dirs


def default_model_dir() -> Path:
    """Where fetched weights go when no destination is given.

    The first folder set with :func:`set_model_dirs` (inside ComfyUI: the first ``restorekit``
    model folder, ``ComfyUI/models/restorekit`` unless ``extra_model_paths.yaml`` adds another).
    Otherwise the ``RESTOREKIT_MODEL_DIR`` environment variable, else ``~/.cache/restorekit/models``.
    """
    if _model_dirs:
        return _model_dirs[0]
    env = os.environ.get(ENV_MODEL_DIR, "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "restorekit" / "models"
