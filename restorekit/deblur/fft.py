"""FFT helpers shared by the deconvolution algorithms.

Conventions
-----------
A PSF kernel is a 2-D tensor ``[h, w]`` with odd sizes whose *origin* is the centre pixel
``(h // 2, w // 2)``. Blurring is true convolution::

    y[i, j] = sum_{a, b} k[a, b] * x[i - (a - h // 2), j - (b - w // 2)]

which is what ``scipy.ndimage.convolve`` computes for odd kernels. :func:`psf_to_otf` turns a
kernel into its optical transfer function (OTF) on an FFT grid by zero-padding it and rolling
the origin to index ``(0, 0)``, so multiplying spectra by the OTF convolves circularly with the
kernel and the phase carries no shift.

All transforms are real (``torch.fft.rfft2`` / ``irfft2``) over the last two dimensions, so a
``[B, C, H, W]`` batch is transformed in one call on any device.

Edge handling
-------------
Frequency-domain deconvolution treats the image as periodic. A photograph is not, and the
jump between the left and right (top and bottom) edges rings across the result. Two remedies
live here:

* :func:`periodic_extension` pads the image by mirroring (or replicating) its edges and then
  cross-fades, inside the padding, from the continuation of one edge to the continuation of
  the opposite edge with a raised-cosine weight. The padded canvas is periodic and smooth, the
  image pixels themselves are untouched, and near each edge the padding is the plain mirror
  image, which is what the blur saw there in most photographs.
* Richardson–Lucy can instead treat the pixels beyond the frame as unknowns (see
  :mod:`restorekit.deblur.richardson_lucy`); it uses :func:`embed` and :func:`fast_size` from
  here.
"""

from __future__ import annotations

import math

import torch

from ..errors import InvalidParameterError

#: Padding modes understood by :func:`pad_indices` / :func:`periodic_extension`.
PAD_MODES = ("reflect", "replicate", "periodic")


def fast_size(n: int) -> int:
    """The smallest integer ``>= n`` whose only prime factors are 2, 3, 5 and 7 (fast FFT sizes)."""
    n = max(int(n), 1)
    while True:
        m = n
        for p in (2, 3, 5, 7):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


def psf_to_otf(kernel: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """The OTF of ``kernel`` ``[h, w]`` on an FFT grid of ``shape`` (real-FFT half spectrum).

    Returns a complex tensor ``[shape[0], shape[1] // 2 + 1]`` on the kernel's device. The kernel's
    centre pixel is rolled to index ``(0, 0)`` so the transfer function has no linear phase.
    A kernel larger than ``shape`` is folded (wrapped) onto the grid, which is what circular
    convolution with it means.
    """
    h, w = kernel.shape
    hh, ww = shape
    k = kernel
    if h > hh or w > ww:
        # Fold the kernel onto the smaller grid: every tap lands on its index modulo the size.
        rows = (torch.arange(h, device=k.device) - h // 2) % hh
        cols = (torch.arange(w, device=k.device) - w // 2) % ww
        grid = torch.zeros((hh, ww), dtype=k.dtype, device=k.device)
        grid.index_put_((rows[:, None].expand(h, w), cols[None, :].expand(h, w)), k, accumulate=True)
        return torch.fft.rfft2(grid)
    grid = torch.zeros((hh, ww), dtype=k.dtype, device=k.device)
    grid[:h, :w] = k
    grid = torch.roll(grid, shifts=(-(h // 2), -(w // 2)), dims=(0, 1))
    return torch.fft.rfft2(grid)


def gradient_transfer(shape: tuple[int, int], device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``|Dx|^2 + |Dy|^2`` of the forward-difference operators on an FFT grid (real-FFT half spectrum).

    Equals ``4 sin^2(pi u / H) + 4 sin^2(pi v / W)``: 0 at DC, 8 at the Nyquist corner.
    """
    hh, ww = shape
    fy = torch.fft.fftfreq(hh, device=device, dtype=dtype)[:, None]
    fx = torch.fft.rfftfreq(ww, device=device, dtype=dtype)[None, :]
    return 4 * torch.sin(math.pi * fy) ** 2 + 4 * torch.sin(math.pi * fx) ** 2


def laplacian_transfer(
    shape: tuple[int, int], device: torch.device, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """``|L|^2`` of the 5-point Laplacian on an FFT grid: the square of :func:`gradient_transfer`."""
    return gradient_transfer(shape, device, dtype) ** 2


def pad_indices(n: int, before: int, after: int, mode: str, device: torch.device) -> torch.Tensor:
    """Source indices of a length-``n`` axis padded by ``before``/``after`` samples.

    ``reflect`` mirrors about the edge *between* samples (``c b a | a b c | c b a``, like
    ``scipy.ndimage`` mode ``reflect``), ``replicate`` repeats the edge sample and ``periodic``
    wraps around. Any pad width works, also wider than the axis.
    """
    idx = torch.arange(-before, n + after, device=device)
    if mode == "reflect":
        period = 2 * n
        idx = idx % period
        idx = torch.where(idx >= n, period - 1 - idx, idx)
    elif mode == "replicate":
        idx = idx.clamp(0, n - 1)
    elif mode == "periodic":
        idx = idx % n
    else:
        raise InvalidParameterError(
            "edges", f"unknown padding mode {mode!r}.", f"choose one of: {', '.join(PAD_MODES)}."
        )
    return idx


def pad(x: torch.Tensor, margins: tuple[int, int, int, int], mode: str) -> torch.Tensor:
    """Pad the last two dimensions of ``x`` by ``(top, bottom, left, right)`` samples with ``mode``."""
    top, bottom, left, right = margins
    h, w = x.shape[-2:]
    rows = pad_indices(h, top, bottom, mode, x.device)
    cols = pad_indices(w, left, right, mode, x.device)
    return x.index_select(-2, rows).index_select(-1, cols)


def _crossfade_axis(x: torch.Tensor, n: int, before: int, after: int, mode: str, dim: int) -> torch.Tensor:
    """Pad axis ``dim`` (length ``n``) by ``before + after`` and make it periodic by cross-fading.

    The band of ``after + before`` padded samples (which follow one another across the wrap) is
    a raised-cosine blend of the continuation past the far edge (weight 1 next to that edge)
    and the continuation before the near edge (weight 1 next to the near edge).
    """
    band = before + after
    if band == 0:
        return x
    device = x.device
    # Continuation past the far edge: positions n .. n + band - 1.
    far = pad_indices(n, 0, band, mode, device)[n:]
    # Continuation before the near edge, for the same band positions: -band .. -1.
    near = pad_indices(n, band, 0, mode, device)[:band]
    a = x.index_select(dim, far)
    b = x.index_select(dim, near)
    t = (torch.arange(band, device=device, dtype=x.dtype) + 0.5) / band
    wgt = 0.5 * (1 + torch.cos(math.pi * t))  # 1 next to the far edge, 0 next to the near edge
    shape = [1] * x.dim()
    shape[dim] = band
    wgt = wgt.view(shape)
    blend = b + wgt * (a - b)  # exact where both continuations agree (e.g. a constant image)
    tail = blend.narrow(dim, 0, after)
    head = blend.narrow(dim, after, before)
    return torch.cat([head, x, tail], dim=dim)


def periodic_extension(x: torch.Tensor, margins: tuple[int, int, int, int], mode: str = "reflect") -> torch.Tensor:
    """Pad ``x`` ``[..., H, W]`` by ``(top, bottom, left, right)`` into a smooth periodic canvas.

    ``mode`` (``reflect`` / ``replicate``) says how the edges are continued; inside the padding
    the two continuations of opposite edges are cross-faded (raised cosine) so that the canvas
    wraps around without a jump. ``periodic`` pads by wrapping, without any blending. The
    original pixels sit unchanged at ``[top:top + H, left:left + W]``. A constant image stays
    exactly constant.
    """
    top, bottom, left, right = margins
    if mode == "periodic":
        return pad(x, margins, "periodic")
    if mode not in PAD_MODES:
        raise InvalidParameterError(
            "edges", f"unknown padding mode {mode!r}.", f"choose one of: {', '.join(PAD_MODES)}."
        )
    h, w = x.shape[-2:]
    y = _crossfade_axis(x, h, top, bottom, mode, x.dim() - 2)
    return _crossfade_axis(y, w, left, right, mode, x.dim() - 1)


def embed(x: torch.Tensor, shape: tuple[int, int], offset: tuple[int, int]) -> torch.Tensor:
    """Place ``x`` ``[..., h, w]`` into zeros of size ``shape`` at ``offset`` (top, left)."""
    out = x.new_zeros((*x.shape[:-2], *shape))
    top, left = offset
    out[..., top : top + x.shape[-2], left : left + x.shape[-1]] = x
    return out


def deconvolution_canvas(
    image_shape: tuple[int, int], kernel_shape: tuple[int, int], margin_factor: float = 1.0
) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """FFT canvas size and ``(top, bottom, left, right)`` margins for padded deconvolution.

    Each side gets at least ``margin_factor`` times the kernel size (and at least 8 pixels), and
    the canvas is rounded up to a fast FFT size; the extra goes to the bottom/right margins.
    """
    h, w = image_shape
    kh, kw = kernel_shape
    mh = max(int(math.ceil(margin_factor * kh)), 8)
    mw = max(int(math.ceil(margin_factor * kw)), 8)
    hh = fast_size(h + 2 * mh)
    ww = fast_size(w + 2 * mw)
    return (hh, ww), (mh, hh - h - mh, mw, ww - w - mw)
