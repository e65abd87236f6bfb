"""restorekit: image restoration on torch tensors — denoise, deblur, enhance, sharpen, measure.

Core functions take ``[B, C, H, W]`` float tensors in [0, 1] (C = 1 or 3) on any device.
See :mod:`restorekit.params` for the declared operations that the CLI and the ComfyUI nodes share.
"""

__version__ = "0.1.0"
