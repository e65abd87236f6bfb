"""Self-supervised denoisers that learn from the image itself (mirrors :mod:`restorekit.learned`)."""

from . import dip, n2v  # noqa: F401  (registers them)
