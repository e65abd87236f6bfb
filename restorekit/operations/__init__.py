"""The declared operations. Importing this package registers every one of them."""

from . import enhance, quality, sharpen, wavelet  # noqa: F401
