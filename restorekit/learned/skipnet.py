"""The skip encoder-decoder of Deep Image Prior (Ulyanov, Vedaldi, Lempitsky, CVPR 2018).

A U-Net-like hourglass: ``depth`` levels, each halving the resolution with a strided 3x3
convolution and doubling it back with bilinear upsampling; a 1x1 "skip" branch at every level
carries a few channels of the finer features across to the decoder. Every convolution uses
reflection padding (optionally zero padding) and is followed by a normalisation and LeakyReLU(0.2). The output layer is
a 1x1 convolution and a sigmoid, so outputs lie in (0, 1).

The head (last 1x1 convolution + sigmoid) always runs in float32, also under autocast: in
bfloat16 a sigmoid output in [0.5, 1] is quantised in steps of 1/256, about one grey level,
which would cap the achievable precision and perturb the loss gradient.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

NORMS = ("batch", "none")
PADDINGS = ("reflect", "zeros")


def _norm(kind: str, channels: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if kind == "batch" else nn.Identity()


class _ReflectPad1(torch.autograd.Function):
    """Reflection padding by one pixel that keeps the channels_last layout.

    ``F.pad(mode="reflect")`` works on NCHW-contiguous memory: on a channels_last tensor it costs two layout
    conversions forward and backward besides the padding itself. Here: one copy into the padded canvas
    plus four thin edge copies; backward folds the edge gradients back (same values as ``F.pad``).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        n, c, h, w = x.shape
        out = torch.empty((n, c, h + 2, w + 2), dtype=x.dtype, device=x.device, memory_format=torch.channels_last)
        out[:, :, 1:-1, 1:-1] = x
        out[:, :, 0, 1:-1] = x[:, :, 1]
        out[:, :, -1, 1:-1] = x[:, :, -2]
        out[:, :, :, 0] = out[:, :, :, 2]
        out[:, :, :, -1] = out[:, :, :, -3]
        return out

    @staticmethod
    def backward(ctx, g: torch.Tensor) -> torch.Tensor:  # noqa: D102
        g = g.clone(memory_format=torch.channels_last)
        g[:, :, :, 2] += g[:, :, :, 0]
        g[:, :, :, -3] += g[:, :, :, -1]
        g[:, :, 2, 1:-1] += g[:, :, 0, 1:-1]
        g[:, :, -3, 1:-1] += g[:, :, -1, 1:-1]
        return g[:, :, 1:-1, 1:-1]


class _Conv(nn.Conv2d):
    """A convolution whose reflection padding by one pixel keeps channels_last inputs in that layout."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (
            self.padding_mode == "reflect"
            and self.padding == (1, 1)
            and x.dim() == 4
            and x.is_contiguous(memory_format=torch.channels_last)
            and not x.is_contiguous()
        ):
            return F.conv2d(_ReflectPad1.apply(x), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return super().forward(x)


def _conv_block(c_in: int, c_out: int, kernel: int, stride: int, norm: str, padding: str) -> nn.Sequential:
    """Convolution (reflection or zero padding) -> normalisation -> LeakyReLU(0.2).

    A 1x1 convolution has no padding: it is declared with zero padding, since ``padding_mode="reflect"``
    would still copy its input through ``F.pad`` (a no-op padding).
    """
    mode = padding if kernel > 1 else "zeros"
    return nn.Sequential(
        _Conv(c_in, c_out, kernel, stride=stride, padding=kernel // 2, padding_mode=mode, bias=norm == "none"),
        _norm(norm, c_out),
        nn.LeakyReLU(0.2, inplace=True),
    )


class _Level(nn.Module):
    """One level of the hourglass: skip branch, down path, the coarser levels, up path."""

    def __init__(self, c_in: int, channels: list[int], skips: list[int], norm: str, padding: str) -> None:
        super().__init__()
        c, s = channels[0], skips[0]
        self.skip = _conv_block(c_in, s, 1, 1, norm, padding) if s > 0 else None
        self.down = nn.Sequential(_conv_block(c_in, c, 3, 2, norm, padding), _conv_block(c, c, 3, 1, norm, padding))
        self.inner = _Level(c, channels[1:], skips[1:], norm, padding) if len(channels) > 1 else None
        c_deep = channels[1] if len(channels) > 1 else c
        self.merge_norm = _norm(norm, s + c_deep)
        self.up = nn.Sequential(_conv_block(s + c_deep, c, 3, 1, norm, padding), _conv_block(c, c, 1, 1, norm, padding))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        deep = self.down(x)
        if self.inner is not None:
            deep = self.inner(deep)
        deep = F.interpolate(deep, size=x.shape[-2:], mode="bilinear", align_corners=False)
        if self.skip is not None:
            deep = torch.cat([self.skip(x), deep], dim=1)
        return self.up(self.merge_norm(deep))


class SkipNet(nn.Module):
    """Skip encoder-decoder mapping a noise code ``[N, in_channels, H, W]`` to an image ``[N, out_channels, H, W]``.

    ``channels``: feature channels per level, finest first (its length is the depth);
    ``skip_channels``: channels of each level's 1x1 skip branch (an int for all levels, 0 = none);
    ``norm``: "batch" (the paper's BatchNorm) or "none"; ``padding``: "reflect" (the paper's) or
    "zeros" (folded into the convolution: cheaper on GPUs, where reflection padding is a separate
    copy of every convolution input). H and W must be multiples of
    ``2 ** depth`` and at least ``2 ** (depth + 1)`` (see :func:`padded_size`).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        channels: list[int] | tuple[int, ...] = (128, 128, 128, 128, 128),
        skip_channels: int | list[int] | tuple[int, ...] = 4,
        norm: str = "batch",
        padding: str = "reflect",
    ) -> None:
        super().__init__()
        channels = [int(c) for c in channels]
        skips = (
            [int(skip_channels)] * len(channels) if isinstance(skip_channels, int) else [int(s) for s in skip_channels]
        )
        if not channels or min(channels) < 1 or len(skips) != len(channels) or min(skips) < 0:
            raise ValueError(f"bad SkipNet configuration: channels={channels}, skip_channels={skips}")
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
        self.depth = len(channels)
        self.body = _Level(in_channels, channels, skips, norm, padding)
        self.head = nn.Conv2d(channels[0], out_channels, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        feat = self.body(z)
        with torch.autocast(device_type=feat.device.type, enabled=False):
            return torch.sigmoid(self.head(feat.float()))


def padded_size(size: int, depth: int) -> int:
    """Smallest canvas side >= ``size`` that a depth-``depth`` SkipNet accepts.

    A multiple of ``2 ** depth`` (every level halves it exactly) and at least ``2 ** (depth + 1)``
    (the coarsest level keeps 2 pixels, which reflection padding needs).
    """
    m = 2**depth
    return max(-(-size // m) * m, 2 * m)
