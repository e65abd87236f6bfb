"""Out of memory (issue 23, item 7): a CUDA out-of-memory error escaping an operation reaches the user as one
restorekit error (what ran out, the image size, how to fix it), on the library path and the node path.

Simulated on the CPU: the operation's function is replaced by one that raises ``torch.cuda.OutOfMemoryError``
(or the plain RuntimeError older torch versions raise).
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from pack import v1_classes

from restorekit.errors import AlgorithmError, RestoreError
from restorekit.params import OPERATIONS, get_operation, run

CUDA_MESSAGE = "CUDA out of memory. Tried to allocate 24.50 GiB (GPU 0; 79.19 GiB total capacity)"


def _raising(error: BaseException):
    def func(**kwargs):
        raise error

    return func


@pytest.fixture
def patched(monkeypatch):
    """Replace ``unsharp_mask``'s function (in the library's and the pack's registry) by one raising ``error``."""

    def patch(error: BaseException) -> None:
        op = get_operation("unsharp_mask")
        monkeypatch.setitem(OPERATIONS, op.name, dataclasses.replace(op, func=_raising(error), bind={}))
        cls = v1_classes()["RK_UnsharpMask"]
        pack_ops = type(cls.OPERATION).__module__
        import sys

        registry = sys.modules[pack_ops].OPERATIONS
        new = dataclasses.replace(cls.OPERATION, func=_raising(error), bind={})
        monkeypatch.setitem(registry, op.name, new)
        monkeypatch.setattr(cls, "OPERATION", new)

    return patch


@pytest.mark.parametrize(
    "error", [torch.cuda.OutOfMemoryError(CUDA_MESSAGE), RuntimeError(CUDA_MESSAGE)], ids=["OutOfMemoryError", "text"]
)
def test_library_path_turns_oom_into_one_clear_error(patched, error) -> None:
    patched(error)
    image = torch.rand(2, 3, 40, 48)
    with pytest.raises(AlgorithmError) as info:
        run("unsharp_mask", image=image)
    message = str(info.value)
    assert info.value.subject == "Unsharp Mask"
    assert "ran out of GPU memory" in message
    assert "2 image(s) of 48x40 px" in message and "3 channel(s)" in message
    assert "Tried to allocate 24.50 GiB" in message  # what ran out, from torch's own message
    assert "tile" in info.value.fix and "CPU" in info.value.fix and "free memory" in info.value.fix
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no tensors kept alive by a chain


def test_node_path_turns_oom_into_one_clear_error(patched) -> None:
    patched(torch.cuda.OutOfMemoryError(CUDA_MESSAGE))
    cls = v1_classes()["RK_UnsharpMask"]
    spec = cls.INPUT_TYPES()["required"]
    values = {n: o.get("default") for n, (k, o) in spec.items() if k != "IMAGE"}
    values["image"] = torch.rand(1, 40, 48, 3)
    # the pack is imported as ComfyUI imports it, with its own copy of restorekit's classes: compare by name
    with torch.inference_mode(), pytest.raises(Exception) as info:
        getattr(cls(), cls.FUNCTION)(**values)
    assert type(info.value).__name__ == "AlgorithmError" and type(info.value).__module__ == "restorekit"
    assert "RestoreError" in [c.__name__ for c in type(info.value).__mro__]
    assert "ran out of GPU memory" in str(info.value) and "1 image(s) of 48x40 px" in str(info.value)


def test_other_errors_pass_unchanged(patched) -> None:
    class Interrupted(Exception):
        pass

    patched(Interrupted("stop"))
    with pytest.raises(Interrupted):
        run("unsharp_mask", image=torch.rand(1, 3, 8, 8))
    patched(RuntimeError("some other failure"))
    with pytest.raises(RuntimeError, match="some other failure") as info:
        run("unsharp_mask", image=torch.rand(1, 3, 8, 8))
    assert not isinstance(info.value, RestoreError)


def test_oom_inside_a_backoff_is_still_recovered(monkeypatch) -> None:
    """The boundary sees only what escapes: an operation's own OOM back-off (tiling) still retries first."""
    from restorekit.tiling import run_with_oom_backoff

    sizes = []

    def attempt(tile: int) -> int:
        sizes.append(tile)
        if tile > 64:
            raise torch.cuda.OutOfMemoryError(CUDA_MESSAGE)
        return tile

    assert run_with_oom_backoff(attempt, 256, minimum=32) == 64
    assert sizes == [256, 128, 64]
