"""The declared operations. Importing this package registers every one of them."""

from . import (  # noqa: F401
    deblur,
    enhance,
    models,
    n2v,
    nlm,
    quality,
    sharpen,
    wavelet,
)
