"""Errors raised by restorekit.

Every error names the input it is about, what is wrong, and how to fix it, so that
ComfyUI (which shows the message to the user) and the CLI can print it as is.
Nothing in restorekit catches these to return the input unchanged.

Every class reports its module as ``restorekit`` (where the package exports it), so ComfyUI,
which prints the error's full type name, shows ``restorekit.InvalidImageError`` rather than
the path of the custom-node folder.
"""

from __future__ import annotations


class RestoreError(Exception):
    """Base class: ``what`` went wrong with ``subject``, and ``fix`` says what to do."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.__module__ = "restorekit"

    def __init__(self, subject: str, problem: str, fix: str | None = None) -> None:
        self.subject = subject
        self.problem = problem
        self.fix = fix
        message = f"{subject}: {problem}"
        if fix:
            message += f" Fix: {fix}"
        super().__init__(message)


class InvalidImageError(RestoreError, ValueError):
    """An image has the wrong shape, dtype, size, or contains NaN/Inf."""


class InvalidParameterError(RestoreError, ValueError):
    """A parameter is out of range, of the wrong type, or inconsistent with another."""


class MissingDependencyError(RestoreError, ImportError):
    """An optional package needed by the chosen option is not installed."""


class AlgorithmError(RestoreError, RuntimeError):
    """An algorithm produced an invalid result (NaN, wrong shape); never hidden."""


class ModelLoadError(RestoreError, RuntimeError):
    """A weights file is missing, unreadable, or of an unknown architecture."""


class DatasetNotFoundError(RestoreError, FileNotFoundError):
    """A benchmark dataset (Set12, BSD68, …) is not in any of the folders searched; the message lists them."""


RestoreError.__module__ = "restorekit"
