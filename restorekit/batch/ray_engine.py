"""The Ray engine of ``restorekit batch``: the same work items, spread over a Ray cluster (or a local Ray).

:class:`RayEngine` runs ``work(item)`` for every item on a pool of Ray actors and yields the
records ``work`` returns as the items finish. ``work`` is the runner's ``process_item``: it reads
the input, computes, writes the outputs atomically and returns the manifest record. The records
travel back to the driver, which alone appends them to the manifest, so a run on a cluster and
a run on one machine share one manifest and can resume each other.

Why Ray Data with an actor pool (``map_batches`` with a callable class), rather than hand-made
actors:

- It is the engine the issue asks for and the one clusters already run: the input list is
  streamed to the workers with back-pressure (a list of a million frames is never materialised
  on the workers at once), and the actor pool is scheduled by Ray across nodes, one actor per GPU
  (``num_gpus=1``) or per CPU worker; an actor lives for the whole run, so whatever ``work``
  caches in its process (loaded model weights, compiled kernels) is loaded once per worker.
- The two things that are awkward with Ray Data are handled here:
  *ordering* — results are wanted as they finish, which is Ray Data's default
  (``preserve_order=False``); every item carries its position, so the caller can re-order;
  *failure isolation* — an exception in ``work`` is caught inside the actor and returned as a
  failed record (one item per batch, so nothing else shares its fate). A worker process that
  dies (segfault, out-of-memory kill) makes Ray retry its item once on a fresh actor; if that
  fails too, the block is dropped (``max_errored_blocks`` unlimited for this run) and the item
  comes back, at the end, as a failed record saying the worker died. The pool never stops.
- Items and records cross Ray as pickled bytes in one column, so Arrow never has to find a
  common schema for records whose fields differ (an error text here, a list of outputs there).

Ray is an optional dependency (``pip install restorekit[ray]``), imported on first use.
``address=None`` starts a private local Ray instance (and shuts it down when the engine is done
with it); ``"auto"`` or ``"ray://host:10001"`` joins a running cluster, which is left running.
"""

from __future__ import annotations

import itertools
import logging
import os
import pickle
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any

from ..errors import InvalidParameterError, MissingDependencyError

Work = Callable[[Any], dict]


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401  (the engine needs Ray Data, a separate extra of ray)
    except ImportError as exc:
        raise MissingDependencyError(
            "engine", "the Ray engine needs ray[data], which is not installed.", "pip install restorekit[ray]"
        ) from exc
    return ray


def _describe(item: Any) -> str:
    """The item's input path (a WorkItem's ``input``/``source``/``path``), or its repr."""
    for name in ("input", "rel", "source", "path", "src"):
        value = getattr(item, name, None)
        if value is not None:
            return str(value)
    return repr(item)


def failed_record(item: Any, error: BaseException | str) -> dict:
    """A failed manifest record for ``item``: the runner's own (``runner.failed_record``) for its
    ``WorkItem``, else ``{"input": ..., "status": "failed", "error": "Type: message"}``."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    try:
        from . import runner
    except ImportError:
        runner = None
    work_item = getattr(runner, "WorkItem", None)
    if work_item is not None and isinstance(item, work_item) and hasattr(runner, "failed_record"):
        return runner.failed_record(item, text)
    return {"input": _describe(item), "status": "failed", "error": text}


class _Worker:
    """The actor of the pool: holds ``work`` (and whatever it caches in this process) for the run."""

    def __init__(self, work: Work) -> None:
        self.work = work

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        records = []
        for blob in batch["item"]:
            item = pickle.loads(blob)
            try:
                record = self.work(item)
            except Exception as exc:  # one item's failure is its record, never the pool's end
                record = failed_record(item, exc)
            records.append(pickle.dumps(record))
        out = np.empty(len(records), dtype=object)
        out[:] = records
        return {"pos": np.asarray(batch["pos"]), "record": out}


class RayEngine:
    """Runs work items over Ray Data with a pool of ``num_workers`` actors.

    ``address``: None starts a local Ray instance with enough CPUs for the pool (shut down when the
    engine is closed, or at the end of :meth:`map` when it is not used as a context manager);
    ``"auto"`` or a ``ray://`` address joins that cluster. ``num_workers``: actors in the pool
    (items processed at once). ``use_gpu``: each actor takes one GPU (``num_gpus=1``), so the pool
    is one model-holding actor per GPU; else one CPU per actor.
    ``max_retries``: times an item whose worker process died is retried on a new actor (1).
    ``chunk_size``: items taken from the input at a time (one Ray dataset each; bounds the memory
    of items that carry pixels, such as decoded video frames).
    """

    def __init__(
        self,
        address: str | None = None,
        num_workers: int = 1,
        use_gpu: bool = False,
        *,
        max_retries: int = 1,
        chunk_size: int = 512,
    ) -> None:
        if not isinstance(num_workers, int) or num_workers < 1:
            raise InvalidParameterError("workers", f"must be a whole number >= 1, got {num_workers!r}.", "use e.g. 2.")
        if max_retries < 0:
            raise InvalidParameterError("max_retries", f"must be >= 0, got {max_retries}.", "use 1.")
        if chunk_size < 1:
            raise InvalidParameterError("chunk_size", f"must be >= 1, got {chunk_size}.", "use 512.")
        self.address = address
        self.num_workers = num_workers
        self.use_gpu = use_gpu
        self.max_retries = max_retries
        self.chunk_size = chunk_size
        self._started = False
        self._entered = False

    # ---- Ray's lifetime ---------------------------------------------------------------------------

    def start(self) -> None:
        """Connect to Ray (or start a local instance) unless this process is already connected."""
        ray = _ray()
        if ray.is_initialized():
            return
        if self.address is None:
            ray.init(
                num_cpus=max(self.num_workers, os.cpu_count() or 1),
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
            self._started = True
        else:
            ray.init(address=self.address, log_to_driver=False, logging_level=logging.WARNING)
        logging.getLogger("ray.data").setLevel(logging.WARNING)

    def close(self) -> None:
        """Shut Ray down if this engine started it (a joined cluster keeps running)."""
        if self._started:
            ray = _ray()
            ray.shutdown()
            self._started = False

    def __enter__(self) -> RayEngine:
        self._entered = True
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._entered = False
        self.close()

    # ---- the work -------------------------------------------------------------------------------

    def map(self, work: Work, items: Iterable[Any]) -> Iterator[dict]:
        """Yield ``work(item)`` for every item, in the order they finish (each record once).

        ``work`` must be picklable by reference (a top-level function of an importable module,
        such as ``restorekit.batch.runner.process_item``) and so must the items. An item whose
        ``work`` raises, or whose worker process dies twice, yields a failed record
        (:func:`failed_record`); the others go on. ``items`` is consumed lazily, ``chunk_size``
        items at a time (one Ray dataset each), so a generator of decoded video frames is never
        held in memory whole.
        """
        ray = _ray()
        iterator = iter(items)
        chunk = list(itertools.islice(iterator, self.chunk_size))
        if not chunk:
            return
        self.start()
        try:
            while chunk:
                yield from self._map_chunk(ray, work, chunk)
                chunk = list(itertools.islice(iterator, self.chunk_size))
        finally:
            if not self._entered:
                self.close()

    def _map_chunk(self, ray: Any, work: Work, items: list[Any]) -> Iterator[dict]:
        ctx = ray.data.DataContext.get_current()
        saved = (ctx.max_errored_blocks, ctx.enable_progress_bars)
        ctx.max_errored_blocks = -1  # a block whose worker died twice is dropped, not fatal; reported below
        ctx.enable_progress_bars = False
        seen: set[int] = set()
        try:
            rows = [{"pos": i, "item": pickle.dumps(item)} for i, item in enumerate(items)]
            ds = ray.data.from_items(rows, override_num_blocks=len(rows))
            remote: dict[str, Any] = {"num_gpus": 1} if self.use_gpu else {"num_cpus": 1}
            results = ds.map_batches(
                _Worker,
                fn_constructor_args=(work,),
                batch_size=1,
                compute=ray.data.ActorPoolStrategy(size=self.num_workers),
                max_restarts=-1,
                max_task_retries=self.max_retries,
                **remote,
            )
            for row in results.iter_rows():
                pos = int(row["pos"])
                if pos in seen:  # a retried item whose first attempt did report after all
                    continue
                seen.add(pos)
                yield pickle.loads(row["record"])
        finally:
            ctx.max_errored_blocks, ctx.enable_progress_bars = saved
        for pos, item in enumerate(items):
            if pos not in seen:
                yield failed_record(
                    item,
                    f"the Ray worker process died while processing it ({self.max_retries + 1} attempts); "
                    "it may have run out of memory — retry with fewer workers or a smaller batch.",
                )
