"""The network of restorekit's built-in denoiser: a slim, noise-level-conditional U-Net.

The layout follows the idea of DRUNet (Zhang et al., "Plug-and-Play Image Restoration with Deep
Denoiser Prior", TPAMI 2021): the noisy image and a per-pixel noise-level map go in together, an
encoder of residual blocks (conv–ReLU–conv, no normalisation, no bias) halves the resolution with
2×2 stride-2 convolutions, a decoder doubles it with 2×2 transposed convolutions, and skips are
added rather than concatenated. It is made small enough to ship inside the package (about 2.1 M
parameters, 4.3 MB in float16) by narrower levels and fewer blocks, and it predicts the noise
(a global residual), which trains faster at this size.

One network serves colour and gray: it always sees three channels; a gray image is repeated to
three channels and the three outputs are averaged. The noise map is in [0, 1] units (σ/255).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["BUILTIN_CONFIG", "BuiltinDenoiserNet"]

BUILTIN_CONFIG: dict = {"widths": (32, 64, 128, 160), "blocks": (2, 2, 1), "body_blocks": 2}
"""The configuration of the shipped weights (stored in the safetensors metadata as well)."""


class _ResBlock(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(x), inplace=True))


class BuiltinDenoiserNet(nn.Module):
    """Slim conditional U-Net; ``forward(x, sigma_map)`` returns the denoised image.

    ``x``: [B, 3, H, W] in [0, 1]; ``sigma_map``: [B, 1, H, W] noise standard deviation in [0, 1]
    units. Any H, W: the input is padded by reflection (replicate for tiny sizes) to a multiple of
    ``2 ** (levels - 1)`` and cropped back.
    """

    def __init__(
        self,
        widths: tuple[int, ...] = BUILTIN_CONFIG["widths"],
        blocks: tuple[int, ...] = BUILTIN_CONFIG["blocks"],
        body_blocks: int = BUILTIN_CONFIG["body_blocks"],
    ) -> None:
        super().__init__()
        if len(blocks) != len(widths) - 1:
            raise ValueError(f"blocks needs one count per level above the body: {len(widths) - 1}, got {len(blocks)}")
        self.widths = tuple(int(w) for w in widths)
        self.blocks = tuple(int(b) for b in blocks)
        self.body_blocks = int(body_blocks)
        self.head = nn.Conv2d(4, widths[0], 3, padding=1, bias=False)
        self.encoders = nn.ModuleList(nn.Sequential(*[_ResBlock(w) for _ in range(n)]) for w, n in zip(widths[:-1], blocks, strict=True))
        self.downs = nn.ModuleList(
            nn.Conv2d(widths[i], widths[i + 1], 2, stride=2, bias=False) for i in range(len(blocks))
        )
        self.body = nn.Sequential(*[_ResBlock(widths[-1]) for _ in range(body_blocks)])
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2, bias=False) for i in range(len(blocks))
        )
        self.decoders = nn.ModuleList(nn.Sequential(*[_ResBlock(w) for _ in range(n)]) for w, n in zip(widths[:-1], blocks, strict=True))
        self.tail = nn.Conv2d(widths[0], 3, 3, padding=1, bias=False)

    @property
    def multiple(self) -> int:
        """The size multiple the U-Net needs (inputs are padded to it)."""
        return 2 ** len(self.blocks)

    def forward(self, x: Tensor, sigma_map: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        m = self.multiple
        ph, pw = (-h) % m, (-w) % m
        inp = torch.cat([x, sigma_map.to(x.dtype).expand(x.shape[0], 1, h, w)], dim=1)
        if ph or pw:
            mode = "reflect" if (ph < h and pw < w) else "replicate"
            inp = F.pad(inp, (0, pw, 0, ph), mode=mode)
        y = self.head(inp)
        skips = []
        for enc, down in zip(self.encoders, self.downs, strict=True):
            y = enc(y)
            skips.append(y)
            y = down(y)
        y = self.body(y)
        for i in reversed(range(len(self.ups))):
            y = self.decoders[i](self.ups[i](y) + skips[i])
        noise = self.tail(y)
        return x - noise[..., :h, :w]
