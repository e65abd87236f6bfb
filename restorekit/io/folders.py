"""Where image files are read from and written to when a name is not an absolute path.

The core does not know which application hosts it. An application with folders of its own (the
ComfyUI node pack: ``ComfyUI/input`` and ``ComfyUI/output``) hands them over with
:func:`set_input_dir` and :func:`set_output_dir` when it loads. Otherwise the folders come from the
``RESTOREKIT_INPUT_DIR`` / ``RESTOREKIT_OUTPUT_DIR`` environment variables (read at each call, so
tests and scripts can point them elsewhere), else the current folder for input and
``./restorekit-output`` for output.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import InvalidParameterError

__all__ = [
    "ENV_INPUT_DIR",
    "ENV_OUTPUT_DIR",
    "input_dir",
    "next_numbered_paths",
    "output_dir",
    "resolve_input",
    "resolve_output_prefix",
    "set_input_dir",
    "set_output_dir",
]

ENV_INPUT_DIR = "RESTOREKIT_INPUT_DIR"
ENV_OUTPUT_DIR = "RESTOREKIT_OUTPUT_DIR"
DEFAULT_OUTPUT_DIR = "restorekit-output"

_dirs: dict[str, Path | None] = {"input": None, "output": None}


def _as_dir(folder: str | os.PathLike[str] | None) -> Path | None:
    if folder is None or not os.fspath(folder).strip():
        return None
    return Path(os.fspath(folder).strip()).expanduser()


def set_output_dir(folder: str | os.PathLike[str] | None) -> None:
    """Set the host application's output folder (None or "" clears it). It need not exist yet."""
    _dirs["output"] = _as_dir(folder)


def set_input_dir(folder: str | os.PathLike[str] | None) -> None:
    """Set the host application's input folder (None or "" clears it)."""
    _dirs["input"] = _as_dir(folder)


def output_dir() -> Path:
    """The folder relative output names are resolved against (see the module docstring)."""
    return _dirs["output"] or _as_dir(os.environ.get(ENV_OUTPUT_DIR)) or Path.cwd() / DEFAULT_OUTPUT_DIR


def input_dir() -> Path:
    """The folder relative input names are resolved against (see the module docstring)."""
    return _dirs["input"] or _as_dir(os.environ.get(ENV_INPUT_DIR)) or Path.cwd()


def resolve_input(name: str | os.PathLike[str], extra_dirs: tuple[Path, ...] = ()) -> Path:
    """An input file or folder: an absolute path as is, a relative one inside :func:`input_dir`,
    else inside the first of ``extra_dirs`` that has it. Raises when none exists."""
    text = os.fspath(name).strip()
    if not text:
        raise InvalidParameterError("path", "no file was given.", "give an image file or a folder of images.")
    path = Path(text).expanduser()
    if path.is_absolute():
        candidates = [path]
    else:
        candidates = [input_dir() / path, *(d / path for d in extra_dirs)]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise InvalidParameterError(
        "path", f"{text} was not found (looked in {', '.join(str(c.parent) for c in candidates)}).",
        "give an absolute path or a name inside the input folder.",
    )


def resolve_output_prefix(prefix: str) -> tuple[Path, str]:
    """Split a ``folder/name`` prefix into an output folder (inside :func:`output_dir`) and a file stem.

    Like ComfyUI's Save Image, the result must stay inside the output folder: absolute paths and
    ``..`` that leave it are refused. An empty name part becomes ``image``.
    """
    text = prefix.strip().replace("\\", "/")
    if not text:
        text = "image"
    rel = Path(text)
    if rel.is_absolute() or rel.drive:
        raise InvalidParameterError(
            "filename_prefix", f"{prefix!r} is an absolute path.",
            f"give a folder/name relative to the output folder ({output_dir()}).",
        )
    base = output_dir().resolve()
    target = (base / rel).resolve() if not text.endswith("/") else (base / rel / "image").resolve()
    if target != base and base not in target.parents:
        raise InvalidParameterError(
            "filename_prefix", f"{prefix!r} leads outside the output folder {base}.", "remove the '..' parts."
        )
    if target == base:
        return base, "image"
    return target.parent, target.name


def next_numbered_paths(folder: Path, stem: str, suffix: str, count: int) -> list[Path]:
    """``count`` new file names ``stem_00001_.ext``, … (ComfyUI's numbering), after the highest
    number already used in ``folder`` for this stem (with any image suffix)."""
    pattern = re.compile(re.escape(stem) + r"_(\d{5,})_\.[A-Za-z0-9]+$")
    highest = 0
    if folder.is_dir():
        for entry in folder.iterdir():
            match = pattern.match(entry.name)
            if match:
                highest = max(highest, int(match.group(1)))
    return [folder / f"{stem}_{highest + i:05d}_{suffix}" for i in range(1, count + 1)]
