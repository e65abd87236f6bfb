"""Pipeline operations (mirrors :mod:`restorekit.pipelines`)."""

from . import restore_pipeline, smart_restore  # noqa: F401  (registers them)
