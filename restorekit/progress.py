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


class CallbackRelay:
    """Wraps a progress callback and remembers what it raised.

    Code that turns the core's failures into its own error (a pipeline stage, for example) must let the
    callback's own exception through unchanged, since that is ComfyUI's interruption. Pass
    :attr:`callback` to the core; in the handler, re-raise when :meth:`raised_by_callback` is true.
    """

    def __init__(self, progress: ProgressCallback | None) -> None:
        self._progress = progress
        self._raised: BaseException | None = None

    @property
    def callback(self) -> ProgressCallback | None:
        return None if self._progress is None else self._call

    def _call(self, done: int, total: int) -> None:
        try:
            self._progress(done, total)
        except BaseException as exc:
            self._raised = exc
            raise

    def raised_by_callback(self, exc: BaseException) -> bool:
        """True when ``exc`` is the exception the callback raised."""
        return self._raised is not None and exc is self._raised
