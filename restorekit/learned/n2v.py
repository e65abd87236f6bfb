"""Noise2Void: a blind-spot U-Net trained on the noisy image itself (Krull, Buchholz, Jug, CVPR 2019).

No clean image and no noise level are needed. Training sees random patches of the input batch in
which a sparse, stratified set of pixels has been replaced by a random neighbour (never the pixel
itself); the loss compares the network's output with the original noisy values at those pixels
only. Because the network never sees a pixel's own noise when predicting it, and pixel-wise
independent noise cannot be predicted from the neighbours, the best it can do is predict the
signal: it learns to denoise. The trained network is then applied to the whole image (tiled for
large images).

Colour images use one network with three channels. A masked pixel is replaced in all its channels
at once (by the same neighbour), so the blind spot covers the whole pixel: camera noise is usually
correlated between channels (demosaicking, colour matrices, JPEG's chroma), and a per-channel blind
spot would let the network read a channel's noise from the other two and learn the identity.
``mask_mode="channel"`` (independent blind spots per channel) is available for noise known to be
independent between channels, where the other channels of the pixel carry useful signal.

Training recipe: the batch is normalised per channel (mean 0, std 1); each step draws
``patches_per_step`` patches at random positions of random images of the batch, each flipped and/or
transposed at random (8-fold augmentation); masked pixels are stratified (one random pixel per cell
of about ``1/mask_ratio`` pixels) and take the value of a random pixel of the surrounding 5x5 window
other than themselves; Adam with a linear warm-up and a cosine decay to 1% of the learning rate;
mean squared error on the masked pixels only. On CUDA, bfloat16 (or float16 with loss scaling)
autocast with float32 weights, loss and residual path, channels-last tensors. Inference averages
the outputs for the 8 flips / rotations of the image (self-ensemble) unless switched off.

All randomness (initial weights, patch positions, augmentation, masks, neighbours) comes from
``seed``: initial weights from a CPU generator (identical on every device), sampling from a
generator on the input's device. The same seed gives the same result on the same device.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report, scaled
from ..tiling import auto_tile_size, free_memory_bytes, run_with_oom_backoff, tiled_apply
from .training import autocast_dtype, gradients_enabled, needs_grad_scaler, optimisation_step, trainable_copy
from .unet import MAX_DEPTH, UNet

log = logging.getLogger(__name__)

MASK_MODES = ("pixel", "channel")

#: Neighbourhood the replacement values are drawn from: a (2r+1) x (2r+1) window without its centre.
NEIGHBOUR_RADIUS = 2


def _check_int(name: str, value: Any, lo: int, hi: int, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidParameterError(name, f"must be a whole number in [{lo}, {hi}], got {value!r}.", fix)
    return value


def _check_float(name: str, value: Any, lo: float, hi: float, fix: str, *, open_low: bool = True) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > lo if open_low else value >= lo) and value <= hi
    if not ok:
        bracket = "(" if open_low else "["
        raise InvalidParameterError(name, f"must be a number in {bracket}{lo:g}, {hi:g}], got {value!r}.", fix)
    return float(value)


def _neighbour(i: torch.Tensor, offset: torch.Tensor, n: int) -> torch.Tensor:
    """``i + offset``, or ``i - offset`` where that leaves [0, n); clamped for patches narrower than the window.

    Mirroring the offset (not the position) never maps a pixel onto itself when ``offset != 0``
    and the patch is at least 3 pixels wide.
    """
    j = i + offset
    j = torch.where((j < 0) | (j >= n), i - offset, j)
    return j.clamp(0, n - 1)


class _Sampler:
    """Draws training batches: patches with 8-fold augmentation, stratified masks, neighbour values."""

    def __init__(self, data_hwc: torch.Tensor, *, patch: int, count: int, mask_ratio: float, mask_mode: str,
                 generator: torch.Generator) -> None:
        self.data = data_hwc  # [B, H, W, C]
        b, h, w, c = data_hwc.shape
        self.b, self.h, self.w, self.c = b, h, w, c
        self.ph, self.pw = min(patch, h), min(patch, w)
        self.count = count
        self.mode = mask_mode
        self.gen = generator
        dev = data_hwc.device
        # stratified sampling: one masked pixel in every cell_h x cell_w cell of the patch (area ~ 1 / mask_ratio)
        self.cell_h = max(1, round(1.0 / math.sqrt(mask_ratio)))
        self.cell_w = max(1, round(1.0 / (mask_ratio * self.cell_h)))
        cy = torch.arange(0, self.ph, self.cell_h, device=dev)
        cx = torch.arange(0, self.pw, self.cell_w, device=dev)
        grid_y, grid_x = torch.meshgrid(cy, cx, indexing="ij")
        self.cell_y = grid_y.reshape(-1)
        self.cell_x = grid_x.reshape(-1)
        self.extent_y = (self.ph - self.cell_y).clamp(max=self.cell_h)
        self.extent_x = (self.pw - self.cell_x).clamp(max=self.cell_w)
        self.masked_per_patch = self.cell_y.numel()
        self.ar_y = torch.arange(self.ph, device=dev)
        self.ar_x = torch.arange(self.pw, device=dev)

    @property
    def effective_ratio(self) -> float:
        return self.masked_per_patch / (self.ph * self.pw)

    def patches(self) -> torch.Tensor:
        """``count`` random patches ``[N, C, ph, pw]`` with a random flip / transpose each."""
        n, ph, pw, g, dev = self.count, self.ph, self.pw, self.gen, self.data.device
        bi = torch.randint(self.b, (n,), generator=g, device=dev)
        y0 = torch.randint(self.h - ph + 1, (n,), generator=g, device=dev)
        x0 = torch.randint(self.w - pw + 1, (n,), generator=g, device=dev)
        flips = torch.randint(2, (3, n), generator=g, device=dev).bool()
        ry = torch.where(flips[0, :, None], ph - 1 - self.ar_y, self.ar_y)  # [N, ph]
        rx = torch.where(flips[1, :, None], pw - 1 - self.ar_x, self.ar_x)  # [N, pw]
        if ph == pw:
            # transposed patches: patch[i, j] = image[y0 + ry[j], x0 + rx[i]]
            t = flips[2, :, None, None]
            yy = torch.where(t, ry[:, None, :], ry[:, :, None]) + y0[:, None, None]
            xx = torch.where(t, rx[:, :, None], rx[:, None, :]) + x0[:, None, None]
        else:
            yy = (ry + y0[:, None])[:, :, None].expand(n, ph, pw)
            xx = (rx + x0[:, None])[:, None, :].expand(n, ph, pw)
        return self.data[bi[:, None, None], yy, xx].permute(0, 3, 1, 2)  # channels-last strides

    def masks(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Flat indices of masked pixels and of their replacement neighbours, ``[N, K, M]`` each.

        K = C for per-channel masks, 1 for per-pixel masks (broadcast over channels).
        """
        n, g, dev = self.count, self.gen, self.data.device
        k = self.c if self.mode == "channel" else 1
        m = self.masked_per_patch
        u = torch.rand((2, n, k, m), generator=g, device=dev)
        my = self.cell_y + torch.minimum((u[0] * self.extent_y).long(), self.extent_y - 1)
        mx = self.cell_x + torch.minimum((u[1] * self.extent_x).long(), self.extent_x - 1)
        side = 2 * NEIGHBOUR_RADIUS + 1
        centre = side * side // 2
        choice = torch.randint(side * side - 1, (n, k, m), generator=g, device=dev)
        choice = choice + (choice >= centre).long()  # skip the pixel itself
        ny = _neighbour(my, choice // side - NEIGHBOUR_RADIUS, self.ph)
        nx = _neighbour(mx, choice % side - NEIGHBOUR_RADIUS, self.pw)
        return my * self.pw + mx, ny * self.pw + nx


def _blind_spot_input(patches: torch.Tensor, masked: torch.Tensor, neighbours: torch.Tensor) -> tuple[
        torch.Tensor, torch.Tensor]:
    """Replace masked pixels by their neighbours; returns (network input [N,C,ph,pw], flat masked index [N,C,M])."""
    n, c, ph, pw = patches.shape
    flat = patches.reshape(n, c, ph * pw)
    masked = masked.expand(n, c, masked.shape[-1])
    neighbours = neighbours.expand(n, c, neighbours.shape[-1])
    inp = flat.scatter(2, masked, flat.gather(2, neighbours))
    return inp.view(n, c, ph, pw), masked


@contextlib.contextmanager
def _deterministic_cudnn(active: bool) -> Iterator[None]:
    """Deterministic cuDNN algorithms (and no timing-based choice) for the enclosed block, restored after."""
    if not active:
        yield
        return
    cudnn = torch.backends.cudnn
    old = cudnn.deterministic, cudnn.benchmark
    cudnn.deterministic, cudnn.benchmark = True, False
    try:
        yield
    finally:
        cudnn.deterministic, cudnn.benchmark = old


def _inference_bytes_per_pixel(width: int) -> float:
    """Peak inference memory of the U-Net per input pixel: about 6 float32 maps of ``width`` channels."""
    return 6.0 * width * 4


def _auto_tile(x: torch.Tensor, width: int, multiple: int, requested: int) -> int:
    """Tile side for inference: ``requested`` when > 0; 0 (untiled) when one image fits in free memory."""
    if requested > 0:
        return requested
    h, w = x.shape[-2:]
    free = free_memory_bytes(x.device)
    per_pixel = _inference_bytes_per_pixel(width)
    if h * w * per_pixel <= 0.6 * free:
        return 0
    return auto_tile_size(free, per_pixel, multiple_of=multiple, minimum=128)


def noise2void(
    x: torch.Tensor,
    *,
    steps: int = 2000,
    patch_size: int = 64,
    patches_per_step: int = 64,
    mask_ratio: float = 0.05,
    learning_rate: float = 2e-3,
    width: int = 32,
    depth: int = 2,
    mask_mode: str = "pixel",
    seed: int = 0,
    tile: int = 0,
    self_ensemble: bool = True,
    allow_half: bool = True,
    deterministic: bool = True,
    return_info: bool = False,
    progress: ProgressCallback | None = None,
) -> torch.Tensor | tuple[torch.Tensor, dict[str, Any]]:
    """Denoise ``x`` with a Noise2Void network trained on ``x`` itself.

    Args:
        x: ``[B, C, H, W]`` float in [0, 1], C = 1 or 3, any device. One network is trained on
            patches drawn from every image of the batch, then applied to each image.
        steps: optimisation steps (Adam, cosine learning-rate decay after a short warm-up).
        patch_size: side in pixels of the square training patches (reduced to the image size).
        patches_per_step: patches in each training batch.
        mask_ratio: fraction of the pixels of a patch that are masked (stratified: one random pixel
            in each cell of about ``1/mask_ratio`` pixels), in (0, 0.25].
        learning_rate: peak Adam learning rate.
        width: feature channels of the U-Net's first level (doubling at each level).
        depth: down-sampling levels of the U-Net.
        mask_mode: ``"pixel"`` (blind spot over all channels of a pixel; robust to noise correlated
            between channels) or ``"channel"`` (independent blind spots per channel). Gray: same thing.
        seed: random seed; the same seed gives the same result on the same device.
        tile: inference tile side in pixels; 0 = automatic (whole image when it fits in memory).
        self_ensemble: average the network's outputs over the 8 flips / 90-degree rotations of the
            input at inference (a few tenths of a dB better; costs 8 inference passes, which is
            still small next to training).
        allow_half: on CUDA, train and infer under bfloat16 (or float16 with loss scaling) autocast.
        deterministic: on CUDA, use deterministic cuDNN algorithms so that the same seed gives the same
            result (the flags are restored afterwards); False may be a little faster.
        return_info: also return the training report (see Returns).
        progress: called with ``(done, total)`` after each training step and each inference tile;
            an exception raised by it (ComfyUI's interruption) propagates.

    Returns:
        The denoised batch (shape, dtype and device of ``x``, values in [0, 1]). With
        ``return_info=True``, ``(denoised, report)`` with ``report`` a dict: ``steps``,
        ``initial_loss`` / ``final_loss`` (masked MSE in [0, 1]^2 units over the first / last
        few steps), ``loss_curve`` (list of (step, loss)),
        ``seconds`` (total), ``train_seconds``, ``inference_seconds``, ``device``, ``precision``,
        ``patches`` (per step), ``patch_size`` ((h, w)), ``masked_per_patch``, ``mask_ratio``
        (effective), ``mask_mode``, ``width``, ``depth``, ``parameters``, ``tile`` (0 = untiled),
        ``self_ensemble``.

    Works whatever the caller's autograd state (also under ``torch.inference_mode()``).
    """
    check_image(x, "image")
    steps = _check_int("steps", steps, 1, 1_000_000, "use at least 1 step (a few hundred to a few thousand).")
    patch_size = _check_int("patch_size", patch_size, 4, 1024, "use a patch size between 4 and 1024 pixels (64 is usual).")
    patches_per_step = _check_int("patches_per_step", patches_per_step, 1, 4096, "use 1 to 4096 patches per step.")
    mask_ratio = _check_float("mask_ratio", mask_ratio, 0.0, 0.25, "use a small fraction such as 0.02-0.06.")
    learning_rate = _check_float("learning_rate", learning_rate, 0.0, 1.0, "use a learning rate such as 2e-3.")
    width = _check_int("width", width, 1, 512, "use 8 to 64 feature channels (32 is usual).")
    depth = _check_int("depth", depth, 1, MAX_DEPTH, f"use 1 to {MAX_DEPTH} levels (2 is usual).")
    seed = _check_int("seed", seed, 0, 2**63 - 1, "use a non-negative whole number.")
    tile = _check_int("tile", tile, 0, 1 << 20, "use 0 (automatic) or a tile side in pixels.")
    if tile and tile < 2**depth:
        raise InvalidParameterError("tile", f"{tile} pixels is smaller than the network's {2**depth}-pixel grid.",
                                    f"use 0 (automatic) or at least {max(64, 2**depth)} pixels.")
    if mask_mode not in MASK_MODES:
        raise InvalidParameterError("mask_mode", f"unknown mode {mask_mode!r}.", f"use one of {', '.join(MASK_MODES)}.")

    t_start = time.perf_counter()
    device = x.device
    cuda = device.type == "cuda"
    amp = autocast_dtype(device, allow_half)
    precision = "float32" if amp is None else f"{str(amp).removeprefix('torch.')} autocast"
    if needs_grad_scaler(amp):
        precision += " + loss scaling"
    with _deterministic_cudnn(cuda and deterministic):
        out, info = _run(x, steps=steps, patch_size=patch_size, patches_per_step=patches_per_step,
                         mask_ratio=mask_ratio, learning_rate=learning_rate, width=width, depth=depth,
                         mask_mode=mask_mode, seed=seed, tile=tile, self_ensemble=bool(self_ensemble), amp=amp,
                         precision=precision, progress=progress, t_start=t_start)
    return (out, info) if return_info else out


def _run(x: torch.Tensor, *, steps: int, patch_size: int, patches_per_step: int, mask_ratio: float,
         learning_rate: float, width: int, depth: int, mask_mode: str, seed: int, tile: int, self_ensemble: bool,
         amp: torch.dtype | None,
         precision: str, progress: ProgressCallback | None, t_start: float) -> tuple[torch.Tensor, dict[str, Any]]:
    device = x.device
    b, c, h, w = x.shape
    cuda = device.type == "cuda"
    fmt = torch.channels_last if cuda else torch.contiguous_format
    scaler_needed = needs_grad_scaler(amp)

    def autocast() -> contextlib.AbstractContextManager:
        if amp is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=amp)

    with gradients_enabled():
        data = trainable_copy(x).float()
        mean = data.mean(dim=(0, 2, 3), keepdim=True)
        std = data.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-3) if data[0, 0].numel() * b > 1 else None
        if std is None:
            std = torch.ones_like(mean)
        norm = (data - mean) / std
        del data
        loss_unit = float((std**2).mean())  # normalised-space MSE -> [0, 1]^2 units

        net = UNet(c, width=width, depth=depth, generator=torch.Generator().manual_seed(seed))
        net = net.to(device=device, memory_format=fmt)
        gen = torch.Generator(device=device).manual_seed(seed)
        sampler = _Sampler(norm.permute(0, 2, 3, 1).contiguous(), patch=patch_size, count=patches_per_step,
                           mask_ratio=mask_ratio, mask_mode=mask_mode, generator=gen)
        opt_kwargs: dict[str, Any] = {"fused": True} if cuda else {}
        opt = torch.optim.Adam(net.parameters(), lr=learning_rate, **opt_kwargs)
        warmup = min(100, max(1, steps // 20))

        def lr_factor(i: int) -> float:
            if i < warmup:
                return (i + 1) / warmup
            t = (i - warmup) / max(1, steps - warmup)
            return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * t))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
        scaler = torch.amp.GradScaler(device.type) if scaler_needed else None
        losses = torch.zeros(steps, device=device)

        total = steps + b  # training steps, then one unit per image at inference
        net.train()
        for i in range(steps):
            patches = sampler.patches()
            masked, neighbours = sampler.masks()
            inp, idx = _blind_spot_input(patches, masked, neighbours)
            target = patches.reshape(patches.shape[0], c, -1).gather(2, idx)
            inp = inp.contiguous(memory_format=fmt)
            with autocast():
                out = net(inp)
            pred = out.float().reshape(out.shape[0], c, -1).gather(2, idx)
            loss = F.mse_loss(pred, target)
            optimisation_step(loss, opt, scaler)
            sched.step()
            losses[i] = loss.detach()
            report(progress, i + 1, total)
        losses_cpu = (losses.cpu() * loss_unit).tolist()
        t_trained = time.perf_counter()

    net.eval()
    tile_used = _auto_tile(x, width, net.multiple, tile)
    # the U-Net's receptive radius is about 6 * 2**depth pixels; the blend keeps a quarter of the overlap exact
    radius = 6 * 2**depth

    at = {"image": 0}

    def apply(t: torch.Tensor) -> torch.Tensor:
        transforms = [(k, flip) for k in range(4) for flip in (False, True)] if self_ensemble else [(0, False)]
        acc = None
        for k, flip in transforms:
            u = t.rot90(k, (-2, -1))
            u = u.flip(-1) if flip else u
            with autocast():
                y = net(u.contiguous(memory_format=fmt)).float()
            y = y.flip(-1) if flip else y
            y = y.rot90(-k, (-2, -1))
            acc = y if acc is None else acc + y
            # re-report the current position after every pass: a whole image's 8 passes take seconds on a CPU,
            # and the callback is where an interruption (ComfyUI's Cancel) is raised
            report(progress, steps + at["image"], total)
        return acc / len(transforms)

    def infer(side: int) -> torch.Tensor:
        nonlocal tile_used
        tile_used = side
        overlap = min(4 * radius, max(0, side // 4)) if side > 0 else 0
        parts = []
        for i in range(b):
            at["image"] = i
            sub = scaled(progress, steps + i, 1, total)
            parts.append(tiled_apply(apply, norm[i : i + 1].detach(), tile=side, overlap=overlap,
                                     multiple_of=net.multiple, progress=sub))
        return torch.cat(parts)

    with torch.no_grad():
        out = run_with_oom_backoff(infer, tile_used, minimum=64, full_size=max(h, w), what="Noise2Void")
        out = out * std + mean
    out = out.clamp(0, 1).to(dtype=x.dtype).contiguous()
    if cuda:
        torch.cuda.synchronize(device)
    t_end = time.perf_counter()

    k = max(1, min(50, steps // 10))
    n_points = min(10, steps)
    edges = [round(j * steps / n_points) for j in range(n_points + 1)]
    curve = [(edges[j + 1], sum(losses_cpu[edges[j]:edges[j + 1]]) / max(1, edges[j + 1] - edges[j]))
             for j in range(n_points)]
    info = {
        "steps": steps,
        "initial_loss": sum(losses_cpu[:k]) / k,
        "final_loss": sum(losses_cpu[-k:]) / k,
        "loss_curve": curve,
        "seconds": t_end - t_start,
        "train_seconds": t_trained - t_start,
        "inference_seconds": t_end - t_trained,
        "device": str(device) if not cuda else f"{device} ({torch.cuda.get_device_name(device)})",
        "precision": precision,
        "patches": patches_per_step,
        "patch_size": (sampler.ph, sampler.pw),
        "masked_per_patch": sampler.masked_per_patch * (c if mask_mode == "channel" else 1),
        "mask_ratio": sampler.effective_ratio,
        "mask_mode": mask_mode,
        "width": width,
        "depth": depth,
        "parameters": sum(p.numel() for p in net.parameters()),
        "tile": tile_used,
        "self_ensemble": self_ensemble,
    }
    log.debug("noise2void: %s", info)
    return out, info

