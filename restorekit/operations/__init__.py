"""The declared operations. Importing this package registers every one of them."""

from . import (  # noqa: F401
    auto_denoise,
    bm3d,
    deblur,
    dip,
    enhance,
    models,
    n2v,
    nlm,
    quality,
    sharpen,
    wavelet,
)
