"""Run gradient-based fitting whatever autograd state the caller left.

ComfyUI calls every node under ``torch.inference_mode()``. Tensors created there are
"inference tensors": they can never join an autograd graph, and code inside that mode records
no gradients at all. Fitting a network inside a node therefore has to leave inference mode
explicitly *and* work on copies of the inputs made outside it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def gradients_enabled() -> Iterator[None]:
    """Leave inference mode and turn gradient recording on for the enclosed block."""
    with torch.inference_mode(False), torch.enable_grad():
        yield


def trainable_copy(x: torch.Tensor) -> torch.Tensor:
    """A normal (non-inference) copy of ``x`` that may take part in autograd.

    Call it inside :func:`gradients_enabled`; an inference tensor cannot be used in a graph,
    but a clone made outside inference mode can.
    """
    with torch.inference_mode(False):
        return x.detach().clone()


def autocast_dtype(device: torch.device, allow_half: bool = True) -> torch.dtype | None:
    """The mixed-precision dtype worth using for training on ``device``, or None for float32.

    bfloat16 where the GPU supports it (no loss scaling needed), else float16 (needs a
    ``torch.amp.GradScaler``); None on CPU, where autocast to bfloat16 is slower than float32
    for small convolutional networks.
    """
    if not allow_half or device.type != "cuda":
        return None
    if torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def needs_grad_scaler(dtype: torch.dtype | None) -> bool:
    """True when training under ``dtype`` autocast needs dynamic loss scaling (float16 only)."""
    return dtype == torch.float16


def optimisation_step(
    loss: torch.Tensor, optimiser: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None = None
) -> None:
    """Back-propagate ``loss`` and step ``optimiser``, through ``scaler`` when training in float16."""
    optimiser.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        optimiser.step()
        return
    scaler.scale(loss).backward()
    scaler.step(optimiser)
    scaler.update()
