"""Progress reporting shared by the core, the ComfyUI nodes and the CLI.

A progress callback is ``callback(done: int, total: int) -> None``. The core calls it
between steps (images, tiles, iterations). Inside ComfyUI the callback drives the
progress bar and raises when the user interrupts; in the CLI it drives tqdm.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

ProgressCallback = Callable[[int, int], None]
T = TypeVar("T")


def report(progress: ProgressCallback | None, done: int, total: int) -> None:
    """Call ``progress(done, total)`` when a callback is given."""
    if progress is not None:
        progress(done, total)


def track(items: Iterable[T], total: int, progress: ProgressCallback | None) -> Iterator[T]:
    """Yield ``items`` and report ``(i + 1, total)`` after each one is consumed."""
    for i, item in enumerate(items):
        yield item
        report(progress, i + 1, total)


def scaled(progress: ProgressCallback | None, start: int, span: int, total: int) -> ProgressCallback | None:
    """A callback mapping a sub-task's ``(done, sub_total)`` onto ``[start, start + span]`` of ``total``.

    Used when an operation runs several sub-steps (e.g. one image of a batch) that report
    their own progress.
    """
    if progress is None:
        return None

    def sub(done: int, sub_total: int) -> None:
        progress(start + round(span * done / max(sub_total, 1)), total)

    return sub
