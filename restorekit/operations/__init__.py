"""The declared operations. Importing this package registers every one of them."""

from . import enhance, nlm, quality, sharpen, wavelet  # noqa: F401
