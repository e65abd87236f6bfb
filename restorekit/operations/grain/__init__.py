"""Film-grain operations (mirrors :mod:`restorekit.grain`)."""

from . import add, analyze, match, remove  # noqa: F401  (registers them)
