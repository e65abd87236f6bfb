"""Enhancement operations (mirrors :mod:`restorekit.enhance`)."""

from . import clahe  # noqa: F401  (registers it)
