"""A compact U-Net for self-supervised denoisers (Noise2Void and friends).

Encoder-decoder with skip connections (Ronneberger et al. 2015) in the small form used by
Noise2Void (Krull et al. 2019): ``depth`` down-sampling levels, ``width`` feature channels at the
first level doubling at each level, two 3x3 convolutions per level, a 1x1 output convolution and a
residual output (the network predicts a correction added to its input). No normalisation layers,
so a tile and the whole image are processed identically.

Any image size works: the input is padded to a multiple of ``2**depth`` (mirror padding, or edge
replication where the image is too small to mirror) and the output cropped back.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

MAX_DEPTH = 5


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.LeakyReLU(0.1, inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.LeakyReLU(0.1, inplace=True),
    )


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad ``x`` [B,C,H,W] at the bottom/right so H and W are multiples of ``multiple``.

    Mirror padding where the image is large enough, edge replication otherwise. Returns the padded
    tensor and the original (H, W) to crop back to.
    """
    h, w = x.shape[-2:]
    ph = (-h) % multiple
    pw = (-w) % multiple
    if ph == 0 and pw == 0:
        return x, (h, w)
    mode = "reflect" if (ph < h and pw < w) else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode), (h, w)


class UNet(nn.Module):
    """U-Net with ``depth`` levels, ``width`` channels at full resolution, residual output.

    ``forward(x)`` maps ``[B, channels, H, W]`` to the same shape for any H, W >= 1.
    Weights are initialised from ``generator`` (a CPU ``torch.Generator``) when given, so the
    same seed gives the same network on every device.
    """

    def __init__(
        self,
        channels: int = 1,
        *,
        width: int = 32,
        depth: int = 2,
        residual: bool = True,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if not 1 <= depth <= MAX_DEPTH:
            raise ValueError(f"depth must be in [1, {MAX_DEPTH}], got {depth}")
        if width < 1 or channels < 1:
            raise ValueError("width and channels must be positive")
        self.channels = channels
        self.width = width
        self.depth = depth
        self.residual = residual
        widths = [width * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList()
        cin = channels
        for i in range(depth):
            self.down.append(_block(cin, widths[i]))
            cin = widths[i]
        self.bottom = _block(widths[depth - 1], widths[depth])
        self.up = nn.ModuleList()
        self.fuse = nn.ModuleList()
        for i in reversed(range(depth)):
            self.up.append(nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2))
            self.fuse.append(_block(2 * widths[i], widths[i]))
        self.head = nn.Conv2d(widths[0], channels, 1)
        self.reset_parameters(generator)

    @property
    def multiple(self) -> int:
        """Spatial sizes the network takes without padding are multiples of this."""
        return 2**self.depth

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """He-normal-like uniform initialisation (LeakyReLU gain), zero biases; a small output layer.

        The output layer starts at 1/10 of its usual scale so that the untrained residual network is
        close to the identity.
        """
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_uniform_(m.weight, a=0.1, nonlinearity="leaky_relu", generator=generator)
                if isinstance(m, nn.ConvTranspose2d):
                    # init computed fan_in as out_channels * k * k; an output pixel of a transposed
                    # convolution actually sums in_channels * k * k / stride**2 terms
                    taps = m.kernel_size[0] * m.kernel_size[1]
                    true_fan_in = m.in_channels * taps / (m.stride[0] * m.stride[1])
                    m.weight.mul_(math.sqrt(m.out_channels * taps / true_fan_in))
                if m.bias is not None:
                    m.bias.zero_()
        self.head.weight.mul_(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp, (h, w) = pad_to_multiple(x, self.multiple)
        skips = []
        y = xp
        for block in self.down:
            y = block(y)
            skips.append(y)
            y = F.max_pool2d(y, 2)
        y = self.bottom(y)
        for up, fuse, skip in zip(self.up, self.fuse, reversed(skips), strict=True):
            y = fuse(torch.cat([up(y), skip], dim=1))
        y = self.head(y)
        if self.residual:
            # in float32 even under autocast: the input's precision is kept, only the correction is low precision
            y = xp.float() + y.float()
        return y[..., :h, :w]
