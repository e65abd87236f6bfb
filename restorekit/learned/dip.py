"""Deep Image Prior denoising (Ulyanov et al. 2018) with early stopping that needs no clean image.

For every image ``y`` of the batch a fresh :class:`~restorekit.learned.skipnet.SkipNet` is fitted,
from a fixed random code ``z`` (uniform in [0, 0.1), a few channels, at image size), to minimise
``mean((f(z + n_t) - y)^2)`` with Adam; ``n_t`` is a small fresh Gaussian perturbation of the
code at every iteration (the paper's ``reg_noise_std``). A convolutional network reproduces the
image structure long before it reproduces the noise, so the outputs of the middle iterations
are denoised images; the difficulty is to know when to stop without the clean image.

Stopping needs no clean image. Default rule ("noise"): Morozov's discrepancy principle on the
averaged output: stop once ``mean((avg_t - y)^2) <= discrepancy * sigma^2``, with ``sigma`` given
or estimated from the image (:func:`restorekit.quality.noise.estimate_sigma`). Because the average
has absorbed some noise by the time it is best, the PSNR peak lies below ``sigma^2``; on Set12
crops at sigma 25 it sat at 0.70-0.74 sigma^2 for widths 32-64 and learning rates 0.01-0.02 (and at
input-noise 1/60), hence the default 0.75, which errs on the early side of a broad peak.

Alternative rule ("variance"): ES-EMV of Wang, Li, Zhuang, Chen, Liang, Sun ("Early stopping for
deep image prior", 2021/2023), the memory-light form of their windowed moving variance (ES-WMV):
``delta = x_t - m_{t-1}; m_t = m_{t-1} + a delta; v_t = (1 - a)(v_{t-1} + a mean(delta^2))`` with
``a = 2 / (window + 1)``; stop when ``v`` has not reached a new minimum for ``patience``
iterations and return the average kept at that minimum. It needs ``input_noise = 0``: with the
paper's code perturbation the outputs jitter by several grey levels from one iteration to the next
and the variance decreases monotonically, hiding its minimum (measured).

Smoothing: the result is the exponential moving average of the outputs (``ema`` = the paper's
0.99), which removes most of the iteration-to-iteration jitter the code perturbation causes.

Whatever the caller's autograd state (ComfyUI runs nodes under ``torch.inference_mode()``), the
fit runs inside :func:`~restorekit.learned.training.gradients_enabled` on a trainable copy of the
input. On CUDA it runs under autocast (bfloat16 where supported, else float16 with a gradient
scaler) in channels_last layout, with fused Adam, and (bfloat16 / float32) each iteration's forward, backward
and Adam step replayed as one CUDA graph: launched op by op from Python, the few hundred small kernels of an
iteration cost ~25 ms of CPU time on an H100 host against ~2.6 ms of GPU work at 256x256 (measured), so
graphs make a 256x256 iteration ~8x faster (2.9 ms). On the CPU it runs eagerly in float32.

When the stop fires: on small images (64-96 px crops) the PSNR peak comes after 400-900 iterations with the
averaged output at 0.70-0.85 sigma^2 from the noisy image. On 256x256 colour crops (width 32, learning rate
0.01, bfloat16 on an H100) the fit is still under-fitting at 3000 iterations (PSNR still rising on 4 of 5
CBSD68 crops, the residual 0.95-1.09 sigma_est^2), so the noise-level rule does not fire there and the
iteration cap decides; bfloat16 is not the cause (same curve in float32 on a 96 px crop).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import torch
from torch.nn import functional as F

from ..errors import AlgorithmError, InvalidParameterError
from ..image import check_image
from ..progress import ProgressCallback, report, scaled
from .skipnet import PADDINGS, SkipNet, padded_size
from .training import autocast_dtype, gradients_enabled, needs_grad_scaler, optimisation_step, trainable_copy

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "float32", "bfloat16", "float16")
STOP_RULES = ("noise", "variance")
_DTYPES = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}
#: Scale of the fixed input code (uniform in [0, CODE_SCALE)), as in the paper.
CODE_SCALE = 0.1
#: Iterations between checks of the stopping rule (one host-device synchronisation each).
CHECK_EVERY = 10
#: The output average spans min(1 / (1 - ema), 1 + iteration / EMA_WARMUP) iterations.
EMA_WARMUP = 5.0
#: Replay each CUDA fit step as one CUDA graph (falls back to eager execution where capture fails).
USE_CUDA_GRAPHS = True
#: Eager iterations before the capture.
GRAPH_WARMUP = 3


@dataclass(frozen=True)
class DipSettings:
    """Everything that defines one fit (validated)."""

    iterations: int
    learning_rate: float
    early_stop: bool
    ema: float
    seed: int
    width: int
    depth: int
    skip_channels: int
    input_channels: int
    input_noise: float
    window: int
    patience: int
    min_iterations: int
    precision: str
    stop_rule: str
    discrepancy: float
    padding: str


def _check(name: str, ok: bool, problem: str, fix: str) -> None:
    if not ok:
        raise InvalidParameterError(name, problem, fix)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_whole(name: str, value: object, lo: int, hi: int, example: int) -> None:
    _check(name, _is_int(value) and lo <= value <= hi, f"expected a whole number from {lo} to {hi}, got {value!r}.",
           f"give e.g. {example}.")


def _is_num(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _validate(s: DipSettings) -> None:
    _check_whole("iterations", s.iterations, 1, 100_000, 3000)
    _check(
        "learning_rate",
        _is_num(s.learning_rate) and 0 < s.learning_rate <= 1,
        f"expected a number in (0, 1], got {s.learning_rate!r}.",
        "give e.g. 0.01.",
    )
    _check(
        "early_stop",
        isinstance(s.early_stop, bool),
        f"expected true/false, got {s.early_stop!r}.",
        "give True or False.",
    )
    _check(
        "ema",
        _is_num(s.ema) and 0 <= s.ema < 1,
        f"expected a number in [0, 1), got {s.ema!r}.",
        "give e.g. 0.99, or 0 to turn averaging off.",
    )
    _check(
        "seed",
        _is_int(s.seed) and 0 <= s.seed < 2**63,
        f"expected a non-negative whole number, got {s.seed!r}.",
        "give e.g. 0.",
    )
    _check_whole("width", s.width, 1, 512, 32)
    _check_whole("depth", s.depth, 1, 8, 5)
    _check_whole("skip_channels", s.skip_channels, 0, 128, 4)
    _check_whole("input_channels", s.input_channels, 1, 128, 32)
    _check(
        "input_noise",
        _is_num(s.input_noise) and 0 <= s.input_noise <= 1,
        f"expected a number in [0, 1], got {s.input_noise!r}.",
        "give e.g. 0.033, or 0 for none.",
    )
    _check_whole("window", s.window, 1, 10_000, 50)
    _check_whole("patience", s.patience, 1, 100_000, 200)
    _check_whole("min_iterations", s.min_iterations, 0, 100_000, 100)
    _check(
        "stop_rule",
        s.stop_rule in STOP_RULES,
        f"{s.stop_rule!r} is not one of {', '.join(STOP_RULES)}.",
        "use 'noise'.",
    )
    _check(
        "discrepancy",
        _is_num(s.discrepancy) and 0 < s.discrepancy <= 4,
        f"expected a number in (0, 4], got {s.discrepancy!r}.",
        "give e.g. 0.75.",
    )
    _check("padding", s.padding in PADDINGS, f"{s.padding!r} is not one of {', '.join(PADDINGS)}.", "use 'reflect'.")
    _check(
        "precision", s.precision in PRECISIONS, f"{s.precision!r} is not one of {', '.join(PRECISIONS)}.", "use 'auto'."
    )


def _seed_for(seed: int) -> int:
    """The torch seed of a fit; the same for every image, so ``f(x)[i] == f(x[i:i+1])``."""
    return (seed * 0x9E3779B97F4A7C15 + 0x2545F4914F6CDD1D) % (2**63)


def _precision(device: torch.device, precision: str) -> torch.dtype | None:
    if precision == "auto":
        return autocast_dtype(device)
    dtype = _DTYPES[precision]
    if dtype is not None and device.type != "cuda":
        raise InvalidParameterError(
            "precision",
            f"{precision} mixed precision is only used on CUDA devices, not {device.type}.",
            "use 'auto' or 'float32' on the CPU.",
        )
    if dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
        raise InvalidParameterError("precision", "this GPU does not support bfloat16.", "use 'auto' or 'float16'.")
    return dtype


@contextlib.contextmanager
def _cudnn_benchmark(device: torch.device) -> Iterator[None]:
    """Let cuDNN pick the fastest convolution algorithms (hundreds of calls on one shape), then restore."""
    if device.type != "cuda":
        yield
        return
    old = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = old


def _capture(step, opt: torch.optim.Optimizer, device: torch.device):
    """Capture one fit step as a CUDA graph; returns ``(graph, (out, loss))``, or ``(None, None)`` where capture
    fails (then the fit goes on eagerly)."""
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    try:
        with torch.cuda.graph(graph):
            static = step(cache=False)
    except Exception as exc:  # noqa: BLE001 - any capture failure: fall back to eager steps
        log.warning("DIP: CUDA graph capture failed (%s); running eagerly", exc)
        torch.cuda.synchronize(device)
        return None, None
    return graph, static


def _build(s: DipSettings, out_channels: int, device: torch.device) -> SkipNet:
    """A freshly initialised net from the seed (built on the CPU, so the same on every device),
    without touching the global random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_seed_for(s.seed))
        net = SkipNet(s.input_channels, out_channels, [s.width] * s.depth, s.skip_channels, padding=s.padding)
    return net.to(device)


def effective_depth(h: int, w: int, depth: int) -> int:
    """The depth used for an ``h`` x ``w`` image: at most ``log2(min(h, w))`` levels (at least 1), so that a
    tiny image is not fitted on a canvas many times its size."""
    return max(1, min(depth, int(math.log2(min(h, w)))))


def _fit_one(
    y: torch.Tensor,
    s: DipSettings,
    amp: torch.dtype | None,
    noise_var: float,
    progress: ProgressCallback | None,
    trace=None,
) -> tuple[torch.Tensor, dict]:
    """Fit one image ``y`` ``[1, C, H, W]`` (float32, trainable copy, on its device).

    ``trace(it, output, ema, var)``, when given, is called after every iteration (for studies only).
    """
    device = y.device
    _, c, h, w = y.shape
    depth = effective_depth(h, w, s.depth)
    if depth != s.depth:
        s = replace(s, depth=depth)
    hp, wp = padded_size(h, depth), padded_size(w, depth)
    top, left = (hp - h) // 2, (wp - w) // 2
    fmt = torch.channels_last if device.type == "cuda" else torch.contiguous_format

    net = _build(s, c, device).to(memory_format=fmt)
    net.train()
    gen = torch.Generator().manual_seed(_seed_for(s.seed) + 1)
    # Under autocast the code is kept in the half dtype (the first convolutions would cast it anyway):
    # half the memory traffic for the per-iteration perturbation at full resolution.
    z = (torch.rand(1, s.input_channels, hp, wp, generator=gen) * CODE_SCALE).to(device, amp or torch.float32)
    z = z.contiguous(memory_format=fmt)
    noise_gen = torch.Generator(device=device).manual_seed(_seed_for(s.seed) + 2)

    cuda = device.type == "cuda"
    # On CUDA: fused Adam, capturable so that the whole step can be replayed as one CUDA graph.
    opt = torch.optim.Adam(
        net.parameters(), lr=s.learning_rate, **({"fused": True, "capturable": True} if cuda else {})
    )
    scaler = torch.amp.GradScaler(device.type) if needs_grad_scaler(amp) else None
    z_in = torch.empty_like(z) if s.input_noise > 0 else z

    def step(cache: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None, cache_enabled=cache):
            o = net(z_in)[:, :, top : top + h, left : left + w]
            lo = F.mse_loss(o.float(), y)
        optimisation_step(lo, opt, scaler)
        return o.detach(), lo.detach()

    # The network is a few hundred small kernels per iteration: launched one by one from Python they cost
    # far more than they compute. After GRAPH_WARMUP eager iterations (on a side stream, as CUDA graph
    # capture requires; cuDNN picks its algorithms there) the step is captured once and replayed.
    use_graph = cuda and scaler is None and USE_CUDA_GRAPHS
    graph = static = None
    side = torch.cuda.Stream(device) if use_graph else None
    if side is not None:
        side.wait_stream(torch.cuda.current_stream(device))

    alpha = 2.0 / (s.window + 1)
    ema_len = 1.0 / (1.0 - s.ema)
    ema = mean = best_img = None
    var = torch.zeros((), device=device)
    best_var = torch.full((), float("inf"), device=device)
    best_it = torch.zeros((), device=device, dtype=torch.long)
    stop_reason = "max iterations"
    it = 0
    loss = torch.zeros((), device=device)
    variance_rule = s.early_stop and s.stop_rule == "variance"
    for it in range(1, s.iterations + 1):
        if s.input_noise > 0:
            torch.add(z, z_in.normal_(0.0, s.input_noise, generator=noise_gen), out=z_in)
        if graph is not None:
            graph.replay()
            out, loss = static
        elif use_graph and it > GRAPH_WARMUP:
            torch.cuda.current_stream(device).wait_stream(side)
            graph, static = _capture(step, opt, device)
            if graph is None:
                use_graph = False
                out, loss = step()
            else:
                graph.replay()
                out, loss = static
        elif side is not None:
            side.wait_stream(torch.cuda.current_stream(device))
            with torch.cuda.stream(side):
                out, loss = step()
            torch.cuda.current_stream(device).wait_stream(side)
        else:
            out, loss = step()

        with torch.no_grad():
            x = out.detach().float()
            if ema is None:
                ema = x.clone()
                mean = x.clone() if variance_rule else None
            else:
                # Averaging length grows with the iteration count up to 1 / (1 - ema), so that the
                # average never drags along the poor outputs of the first iterations.
                ema.lerp_(x, 1.0 / min(ema_len, 1.0 + it / EMA_WARMUP))
                if variance_rule:
                    delta = x - mean
                    mean.add_(delta, alpha=alpha)
                    var = (1.0 - alpha) * (var + alpha * delta.square().mean())
            if variance_rule and it >= max(s.window, s.min_iterations, 2):
                # Keep the (averaged) output at the variance minimum, without a host-device sync.
                improved = var < best_var
                best_var = torch.where(improved, var, best_var)
                best_it = torch.where(improved, torch.full_like(best_it, it), best_it)
                best_img = ema.clone() if best_img is None else torch.where(improved, ema, best_img)
            if trace is not None:
                trace(it, x, ema, var)

        # Progress every iteration (an interruption must land within 0.5 s); the stop check, which
        # syncs with the device, only every CHECK_EVERY iterations.
        report(progress, it, s.iterations)
        if it % CHECK_EVERY == 0 or it == s.iterations:
            if s.early_stop and it >= s.min_iterations:
                if variance_rule:
                    if best_img is not None and it - int(best_it) >= s.patience:
                        stop_reason = "early stop (output variance)"
                        break
                elif float(F.mse_loss(ema, y)) <= s.discrepancy * noise_var:
                    stop_reason = "early stop (noise level reached)"
                    break

    result = best_img if (variance_rule and best_img is not None) else ema
    info = {
        "iterations": it,
        "stop_reason": stop_reason,
        "result_iteration": int(best_it) if (variance_rule and best_img is not None) else it,
        "final_loss": float(loss.detach()),
        "depth": depth,
    }
    report(progress, s.iterations, s.iterations)
    return result.detach(), info


def _noise_variances(x: torch.Tensor, sigma: float | torch.Tensor | None) -> list[float]:
    """Per image, the mean over channels of the noise variance ([0, 1] units squared)."""
    b, c = x.shape[:2]
    if sigma is None:
        from ..quality.noise import estimate_sigma

        with torch.no_grad():
            sig = estimate_sigma(x.float())
    elif isinstance(sigma, torch.Tensor):
        sig = sigma.detach().float()
        if sig.dim() == 0:
            sig = sig.expand(b, c)
        elif sig.dim() == 1 and sig.shape[0] in (1, b):
            sig = sig.reshape(-1, 1).expand(b, c)
        elif sig.dim() == 2 and sig.shape[0] in (1, b) and sig.shape[1] in (1, c):
            sig = sig.expand(b, c)
        else:
            raise InvalidParameterError(
                "sigma",
                f"expected a number or a tensor of shape [B] or [B, C], got {tuple(sig.shape)}.",
                "give one value, one per image, or one per image and channel.",
            )
    elif _is_num(sigma):
        sig = torch.full((b, c), float(sigma))
    else:
        raise InvalidParameterError("sigma", f"expected a number, a tensor or None, got {sigma!r}.", None)
    if not bool(torch.isfinite(sig).all()) or bool((sig < 0).any()) or bool((sig > 1).any()):
        raise InvalidParameterError(
            "sigma", "noise sigma must lie in [0, 1] (image units).", "give e.g. 25/255 for sigma 25 grey levels."
        )
    return [float(v) for v in sig.square().mean(dim=1).cpu()]


def deep_image_prior(
    x: torch.Tensor,
    *,
    iterations: int = 3000,
    learning_rate: float = 0.01,
    early_stop: bool = True,
    ema: float = 0.99,
    seed: int = 0,
    width: int = 32,
    depth: int = 5,
    skip_channels: int = 4,
    input_channels: int = 32,
    input_noise: float = 1 / 30,
    sigma: float | torch.Tensor | None = None,
    stop_rule: str = "noise",
    discrepancy: float = 0.75,
    padding: str = "reflect",
    window: int = 50,
    patience: int = 200,
    min_iterations: int = 100,
    precision: str = "auto",
    return_info: bool = False,
    progress: ProgressCallback | None = None,
) -> torch.Tensor | tuple[torch.Tensor, dict]:
    """Denoise every image of ``x`` ``[B, C, H, W]`` (C = 1 or 3, values in [0, 1]) with Deep Image Prior.

    Each image gets its own network, fitted from scratch with the same ``seed``, so
    ``f(x)[i] == f(x[i:i+1])`` (exactly on the CPU; up to GPU non-determinism on CUDA).

    Fitting: ``iterations`` is the most Adam steps per image (default 3000: on 256x256 colour crops at sigma 25
    the PSNR still rose between 2000 and 3000 iterations, +0.6 dB on average, and the noise-level stop does
    not fire before; on small images the stop ends the fit much sooner), ``learning_rate`` the Adam step size,
    ``input_noise`` the std of the Gaussian perturbation of the input code at every iteration
    (code values lie in [0, 0.1); the paper's 1/30). The result is the moving average of the
    outputs over ``1 / (1 - ema)`` iterations (fewer during the first ``5 / (1 - ema)``
    iterations); ``ema = 0`` returns the last output.

    Early stopping (``early_stop``), never before ``min_iterations``:

    - ``stop_rule="noise"`` (default): stop once the averaged output is as far from the noisy image
      as the noise itself allows, ``mean((avg - y)^2) <= discrepancy * sigma^2`` (Morozov's
      discrepancy principle; the average keeps some noise, so the PSNR peak lies below sigma^2,
      at about 0.7 sigma^2 in our measurements). ``sigma`` is the noise std in [0, 1] units
      (a number, or a tensor [B] or [B, C]); None estimates it from each image.
    - ``stop_rule="variance"``: ES-EMV (Wang et al.): stop when the exponential moving variance of
      successive outputs (``window`` iterations) has not reached a new minimum for ``patience``
      iterations, and return the average kept at that minimum. Meant for ``input_noise = 0``: the
      code perturbation makes outputs jitter and hides the variance minimum.

    Network: ``width`` feature channels at every one of ``depth`` levels (fewer for images under
    ``2 ** depth`` pixels, see :func:`effective_depth`), ``skip_channels`` per
    skip branch, ``input_channels`` channels of the fixed random code, ``padding`` "reflect" (the
    paper's) or "zeros" (cheaper on GPUs). ``precision``: "auto"
    (bfloat16 autocast on GPUs that support it, float16 with loss scaling on older GPUs, float32
    on the CPU) or a fixed "float32" / "bfloat16" / "float16".

    ``progress`` is called every few iterations as ``(done, total)`` over all images; an
    exception it raises (an interruption) propagates.

    Returns the denoised batch (same shape, dtype and device as ``x``). With ``return_info=True``
    (keyword-only, default False), returns ``(denoised, report)`` instead, ``report`` a dict with
    lists (one entry per image) ``iterations``, ``stop_reason``, ``result_iteration``,
    ``final_loss``, ``depth``, ``noise_sigma`` (0-1 units) and ``seconds`` (total), ``device``, ``precision``,
    ``settings``.
    """
    check_image(x, "image")
    s = DipSettings(
        iterations,
        learning_rate,
        early_stop,
        ema,
        seed,
        width,
        depth,
        skip_channels,
        input_channels,
        input_noise,
        window,
        patience,
        min_iterations,
        precision,
        stop_rule,
        discrepancy,
        padding,
    )
    _validate(s)
    device = x.device
    amp = _precision(device, precision)
    b = x.shape[0]
    noise_vars = _noise_variances(x, sigma) if (early_stop and stop_rule == "noise") else [0.0] * b
    total = b * s.iterations
    start = time.perf_counter()
    infos: list[dict] = []
    outs: list[torch.Tensor] = []
    with gradients_enabled(), _cudnn_benchmark(device):
        for i in range(b):
            y = trainable_copy(x[i : i + 1].float())
            out, info = _fit_one(y, s, amp, noise_vars[i], scaled(progress, i * s.iterations, s.iterations, total))
            outs.append(out)
            infos.append(info)
            log.debug("DIP image %d: %s", i, info)
    result = torch.cat(outs, dim=0)
    if not torch.isfinite(result).all():
        raise AlgorithmError(
            "image",
            "Deep Image Prior produced NaN or infinite values.",
            "lower the learning rate or use precision 'float32'; please report the image size and settings.",
        )
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    rep = {
        "iterations": [d["iterations"] for d in infos],
        "stop_reason": [d["stop_reason"] for d in infos],
        "result_iteration": [d["result_iteration"] for d in infos],
        "final_loss": [d["final_loss"] for d in infos],
        "depth": [d["depth"] for d in infos],
        "noise_sigma": [math.sqrt(v) for v in noise_vars] if (early_stop and stop_rule == "noise") else None,
        "seconds": seconds,
        "device": str(device),
        "precision": {
            None: "float32",
            torch.bfloat16: "bfloat16 autocast",
            torch.float16: "float16 autocast + loss scaling",
        }[amp],
        "settings": {k: getattr(s, k) for k in s.__dataclass_fields__},
    }
    result = result.to(dtype=x.dtype)
    return (result, rep) if return_info else result
