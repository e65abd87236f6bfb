"""The declared operations, one module each, laid out like the core packages they expose.

Importing this package registers every operation. Shared parameter factories and report
helpers are in :mod:`.common`.
"""

from . import deblur, denoise, enhance, grain, io, learned, models, pipelines, quality, sharpen  # noqa: F401  (registers them)
