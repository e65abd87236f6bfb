"""Denoisers that learn from the image itself: Noise2Void, Deep Image Prior."""
