"""What the Triton-kernel paths (BM3D, Richardson–Lucy) share: telling Triton's own failures from the rest."""

from __future__ import annotations


def raised_in_triton(exc: BaseException) -> bool:
    """True when ``exc`` was raised inside Triton (building or launching a kernel: no C compiler, an unsupported
    GPU, ...), judged from its traceback; such a failure lets the caller use its torch path instead, while an
    error from anywhere else must propagate."""
    tb = exc.__traceback__
    while tb is not None:
        if "/triton/" in tb.tb_frame.f_code.co_filename.replace("\\", "/"):
            return True
        tb = tb.tb_next
    return False
