"""The declared operations. Importing this package registers every one of them."""

from . import enhance, quality, sharpen  # noqa: F401
