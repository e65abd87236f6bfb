"""The declared operations. Importing this package registers every one of them."""

from . import deblur, enhance, nlm, quality, sharpen, wavelet  # noqa: F401
