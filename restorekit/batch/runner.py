"""The work of ``restorekit batch``: one item read, computed and written, and the local engine that
overlaps these stages over many items.

An item is one image file of the input folder, or one frame of a video. :class:`WorkItem` (small,
picklable) says where it comes from and where its outputs go; :func:`process_item` does the whole
item in one call and returns its manifest record (or a failed record with the error) — it is what
the Ray engine runs on its workers. The local engine (:func:`run_local`) runs the same three stages
as a pipeline so the compute device stays busy:

    decode (thread pool: read, hash, check against the manifest, convert)
      -> compute (the calling thread, one device; same-size images optionally batched)
      -> write (thread pool: encode to a hidden pending file; then, under one lock, rename it to its
         name and append the record to the manifest, fsynced)

Queues between the stages are bounded, so memory stays flat however many items there are.
Because the rename and the record happen together under one lock, at any moment at most one item
has a finished output that the manifest does not know of yet: a kill costs at most that one item
being recomputed by ``--resume`` (plus the items that were still in flight, whose outputs did not
exist yet). A failure of one item (a corrupt file, a wrong image mode, an error of the operation)
becomes its failed record and the run goes on, unless ``fail_fast``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import queue
import threading
import time
import traceback
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InvalidImageError
from ..io import IMAGE_SUFFIXES, read_array
from ..io.files import _fsync_folder
from ..kinds import KINDS, Context, MainImage, convert_inputs, opaque
from .manifest import Manifest
from .recipe import Recipe, image_output_of, load_recipe, primary_image

__all__ = ["BatchSummary", "WorkItem", "failed_record", "item_is_done", "process_item", "run_local"]

_log = logging.getLogger("restorekit")

#: Marks the hidden file an output is encoded to before it is renamed to its name.
PENDING = ".rk-pending"


@dataclass
class WorkItem:
    """One item of a batch, as the engines pass it around (picklable).

    ``input``: the item's name in the manifest, relative to the input folder (``"scans/a.png"``, or
    ``"clip.mp4#frame=000123"`` for a video frame). ``source``: the absolute path of the file read
    (the video, for a frame). ``outputs``: output name -> absolute path of the file it is written to
    (grain models may add a ``.tbl`` beside their ``.json``). ``root``: the output folder, which the
    record's paths are relative to. ``recipe``: :meth:`Recipe.to_dict`. ``options``: ``device``
    (torch device string), ``bit_depth`` (8/16/32, None = as the input), ``recipe_hash``, ``run`` (run
    id). ``frame``: the frame index of a video frame, else None. ``overrides``: per-step parameter values
    for this item, ``{step index: {name: user value}}`` (a video frame's seed and shot sigma).
    ``pixels``: the decoded frame (``H×W×3`` uint8/uint16) when the driver decoded it, else None.
    """

    input: str
    source: str
    outputs: dict[str, str]
    root: str
    recipe: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)
    frame: int | None = None
    overrides: dict[int, dict[str, Any]] = field(default_factory=dict)
    pixels: np.ndarray | None = None

    def relative(self, path: str | Path) -> str:
        """``path`` relative to the output folder, with ``/`` separators (as the manifest stores it)."""
        return Path(os.path.relpath(path, self.root)).as_posix()


# ---- records ----------------------------------------------------------------------------------


def _error_text(error: BaseException | str) -> str:
    return error if isinstance(error, str) else f"{type(error).__name__}: {error}"


def failed_record(item: WorkItem, error: BaseException | str, *, sha: str | None = None,
                  seconds: float = 0.0) -> dict[str, Any]:
    """The manifest record of an item that failed, with its error as ``Type: message``."""
    record: dict[str, Any] = {
        "input": item.input, "recipe": item.options.get("recipe_hash"), "outputs": [], "status": "failed",
        "error": _error_text(error), "seconds": round(seconds, 4), "run": item.options.get("run"),
    }
    if sha is not None:
        record["input_sha256"] = sha
    return record


def _decodes(path: Path) -> bool:
    """An output file exists and is whole: images decode, other files (JSON, tables) are non-empty."""
    try:
        if path.suffix.lower() in IMAGE_SUFFIXES:
            read_array(path)
            return True
        return path.stat().st_size > 0
    except (OSError, ValueError):
        return False


def item_is_done(item: WorkItem, record: dict[str, Any] | None, sha: str) -> bool:
    """Whether ``record`` (the manifest's last record of this item) shows the item done with this input
    (sha256 ``sha``) and recipe, with every output present and decodable — what ``--resume`` skips."""
    if not record or record.get("status") != "ok":
        return False
    if record.get("input_sha256") != sha or record.get("recipe") != item.options.get("recipe_hash"):
        return False
    outputs = record.get("outputs") or []
    if not {item.relative(p) for p in item.outputs.values()} <= set(outputs):
        return False
    return all(_decodes(Path(item.root) / rel) for rel in outputs)


# ---- the recipe, compiled once per process --------------------------------------------------


@dataclass
class _Step:
    op: Any
    primary: str
    fixed: dict[str, Any]
    ctx: Context
    passes: str | None  # the image output handed to the next step


class _Compiled:
    """A recipe with its fixed parameters converted to core values once (weights loaded, PSFs built)."""

    def __init__(self, recipe: Recipe, device: str) -> None:
        self.recipe = recipe
        self.steps: list[_Step] = []
        self.notes: list[str] = []
        for step in recipe.steps:
            op = step.operation
            primary = primary_image(op)
            ctx = Context(device=torch.device(device) if op.gpu else torch.device("cpu"))
            options = {k: v if isinstance(v, str) else _as_text(v) for k, v in step.params.items()}
            # The same conversion as `restorekit run`: option strings -> core values.
            fixed, _ = convert_inputs(op, options, ctx, "text", only={p.name for p in op.inputs if p is not primary})
            self.notes.extend(ctx.notes)
            ctx.notes = []
            self.steps.append(_Step(op, primary.name, fixed, ctx, image_output_of(op)))
        self.last = self.steps[-1].op
        self.batchable = not recipe.has_seed and all(
            o.kind in ("image", "mask") for s in self.steps for o in s.op.outputs
        )

    def overrides(self, index: int, values: dict[str, Any]) -> dict[str, Any]:
        step = self.steps[index]
        names = {p.name for p in step.op.inputs}
        given = {k: _as_text(v) for k, v in values.items() if k in names}
        if not given:
            return {}
        core, _ = convert_inputs(step.op, given, step.ctx, "text", only=set(given))
        return core


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)


_COMPILED: dict[tuple[str, str], _Compiled] = {}
_COMPILED_LOCK = threading.Lock()


def _compiled(item: WorkItem) -> _Compiled:
    """The item's recipe compiled for its device, cached per process (a Ray actor loads weights once)."""
    device = str(item.options.get("device") or "cpu")
    key = (str(item.options.get("recipe_hash")), device)
    with _COMPILED_LOCK:
        found = _COMPILED.get(key)
        if found is None:
            found = _COMPILED[key] = _Compiled(load_recipe(item.recipe), device)
        return found


# ---- the three stages -----------------------------------------------------------------------


@dataclass
class _Decoded:
    item: WorkItem
    pixels: torch.Tensor  # [1, C, H, W] float32 on the CPU
    main: MainImage
    sha: str
    started: float
    notes: list[str] = field(default_factory=list)


@dataclass
class _Skipped:
    item: WorkItem
    record: dict[str, Any]


def _frame_sha(pixels: np.ndarray) -> str:
    digest = hashlib.sha256(f"{pixels.dtype.str}{pixels.shape}".encode())
    digest.update(np.ascontiguousarray(pixels).data)
    return digest.hexdigest()


def _input_sha(item: WorkItem) -> str:
    if item.pixels is not None:
        return _frame_sha(item.pixels)
    path = Path(item.source)
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    if size == 0:
        raise InvalidImageError(item.input, "the file is empty (0 bytes).", "copy it again from its source.")
    return digest.hexdigest()


def _decode(item: WorkItem, compiled: _Compiled, previous: dict[str, Any] | None, pin: bool) -> _Decoded | _Skipped:
    """Hash the input, skip it when the manifest shows it done, else convert it to a core image."""
    started = time.perf_counter()
    sha = _input_sha(item)
    if previous is not None and item_is_done(item, previous, sha):
        return _Skipped(item, previous)
    step = compiled.steps[0]
    ctx = Context(device="cpu")
    if item.pixels is not None:
        frame = np.asarray(item.pixels)
        from .video import frame_tensor

        tensor = frame_tensor(frame)
        core, main = convert_inputs(step.op, {step.primary: tensor}, ctx, "python", only={step.primary})
        main.bit_depth = 16 if frame.dtype == np.uint16 else 8
    else:
        core, main = convert_inputs(step.op, {step.primary: item.source}, ctx, "text", only={step.primary})
    pixels = core[step.primary]
    if pin and torch.cuda.is_available():
        pixels = pixels.pin_memory()
    return _Decoded(item, pixels, main, sha, started, list(ctx.notes))


@dataclass
class _Computed:
    decoded: _Decoded
    values: tuple  # the last step's outputs, on the CPU
    results: dict[str, Any]  # numbers and text of every step (for the record)


def _compute(compiled: _Compiled, batch: list[_Decoded]) -> list[_Computed]:
    """Run the recipe on a batch of decoded items (same size and channels when more than one)."""
    device = compiled.steps[0].ctx.device
    x = batch[0].pixels if len(batch) == 1 else torch.cat([d.pixels for d in batch])
    x = x.to(device, non_blocking=True)
    results: dict[str, Any] = {}
    outputs: tuple = ()
    with torch.inference_mode():
        for i, step in enumerate(compiled.steps):
            values = dict(step.fixed)
            for d in batch[:1]:  # per-item overrides only exist unbatched (seeded or video recipes)
                values.update(compiled.overrides(i, d.item.overrides.get(i, {})))
            if i:
                core, _ = convert_inputs(step.op, {step.primary: x}, step.ctx, "python", only={step.primary})
                x = core[step.primary]
            values[step.primary] = x.to(step.ctx.device)
            outputs = step.op.call(values)
            for spec, value in zip(step.op.outputs, outputs, strict=True):
                kind = KINDS[spec.kind]
                if kind.write is None and kind.to_record is not None:
                    key = spec.name if len(compiled.steps) == 1 else f"{i + 1}.{step.op.name}.{spec.name}"
                    results[key] = kind.to_record(value)
            if step.passes is not None:
                x = outputs[[o.name for o in step.op.outputs].index(step.passes)]
        outputs = tuple(v.cpu() if isinstance(v, torch.Tensor) else v for v in outputs)
    if len(batch) == 1:
        return [_Computed(batch[0], outputs, results)]
    return [
        _Computed(d, tuple(v[j : j + 1] if isinstance(v, torch.Tensor) else v for v in outputs), results)
        for j, d in enumerate(batch)
    ]


def _pending_name(final: Path) -> Path:
    return final.with_name(f".{final.stem}{PENDING}{final.suffix}")


def _write(compiled: _Compiled, done: _Computed) -> tuple[list[tuple[Path, Path]], dict[str, Any]]:
    """Encode the outputs to pending files; return (pending, final) pairs and the record to commit."""
    d = done.decoded
    item = d.item
    bits = item.options.get("bit_depth")
    moves: list[tuple[Path, Path]] = []
    try:
        for spec, value in zip(compiled.last.outputs, done.values, strict=True):
            kind = KINDS[spec.kind]
            if kind.write is None:
                continue
            final = Path(item.outputs[spec.name])
            pending = _pending_name(final)
            pending.parent.mkdir(parents=True, exist_ok=True)
            stem = pending.stem
            for written in kind.write(pending, value, d.main if spec.alpha else opaque(d.main), bits):
                written = Path(written)
                moves.append((written, final.with_name(final.stem + written.name[len(stem):])))
    except BaseException:
        for pending, _ in moves:
            with contextlib.suppress(FileNotFoundError):
                pending.unlink()
        raise
    record: dict[str, Any] = {
        "input": item.input, "input_sha256": d.sha, "recipe": item.options.get("recipe_hash"),
        "outputs": sorted(item.relative(final) for _, final in moves), "status": "ok",
        "seconds": round(time.perf_counter() - d.started, 4), "run": item.options.get("run"),
    }
    if done.results:
        record["results"] = done.results
    notes = compiled.notes + d.notes
    if notes:
        record["notes"] = notes
    return moves, record


def _move(moves: list[tuple[Path, Path]]) -> None:
    for pending, final in moves:
        os.replace(pending, final)
    for folder in {final.parent for _, final in moves}:
        _fsync_folder(folder)


def process_item(item: WorkItem) -> dict[str, Any]:
    """Read, compute and write one item (outputs atomically under their names) and return its
    manifest record; any error becomes a failed record. This is what Ray workers run."""
    started = time.perf_counter()
    sha = None
    try:
        compiled = _compiled(item)
        decoded = _decode(item, compiled, None, pin=False)
        assert isinstance(decoded, _Decoded)
        sha = decoded.sha
        moves, record = _write(compiled, _compute(compiled, [decoded])[0])
        _move(moves)
        return record
    except Exception as err:
        return failed_record(item, err, sha=sha, seconds=time.perf_counter() - started)


# ---- the summary ------------------------------------------------------------------------------


@dataclass
class BatchSummary:
    """What a batch run did: items ``done`` (computed now), ``skipped`` (done by an earlier run,
    ``--resume``), ``failed`` (with ``failures``: (input, error) pairs), ``recomputed`` (items whose
    output an interrupted run had written but not yet recorded, so they were done again), wall-clock
    ``seconds``, and whether the run was ``interrupted``."""

    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    recomputed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    manifest: str = ""
    engine: str = "local"
    interrupted: bool = False

    @property
    def items_per_second(self) -> float:
        """Items computed per second of the run (skipped ones not counted)."""
        return self.done / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not self.interrupted and self.done + self.skipped == self.total

    def count(self, record: dict[str, Any], skipped: bool) -> None:
        if skipped:
            self.skipped += 1
        elif record.get("status") == "ok":
            self.done += 1
        else:
            self.failed += 1
            self.failures.append((record["input"], str(record.get("error"))))

    def text(self) -> str:
        """The summary as printed at the end of a run."""
        head = "interrupted" if self.interrupted else "finished"
        lines = [
            f"batch {head}: {self.total} items: {self.done} done, {self.skipped} skipped (done before), "
            f"{self.failed} failed, {self.recomputed} recomputed; {self.seconds:.1f} s, "
            f"{self.items_per_second:.2f} items/s ({self.engine} engine); manifest {self.manifest}"
        ]
        if self.failures:
            lines.append("failed items:")
            lines.extend(f"  {name}: {error}" for name, error in self.failures)
        return "\n".join(lines)


# ---- the local engine ---------------------------------------------------------------------------


class _Committer:
    """Renames finished outputs, records them in the manifest and advances the progress bar: one
    item at a time, under one lock (see the module docstring)."""

    def __init__(self, manifest: Manifest, summary: BatchSummary, bar: Any, fail_fast: bool,
                 stop: threading.Event) -> None:
        self.manifest = manifest
        self.summary = summary
        self.bar = bar
        self.fail_fast = fail_fast
        self.stop = stop
        self.lock = threading.Lock()

    def __call__(self, record: dict[str, Any], moves: list[tuple[Path, Path]] = (), skipped: bool = False) -> None:
        with self.lock:
            if moves:
                _move(moves)
            if not skipped:
                self.manifest.append(record)
            self.summary.count(record, skipped)
            if record.get("status") != "ok":
                _log.warning("failed: %s: %s", record["input"], record.get("error"))
                if self.fail_fast:
                    self.stop.set()
            if self.bar is not None:
                self.bar.update(1)
                if self.summary.failed:
                    self.bar.set_postfix(failed=self.summary.failed, refresh=False)


def with_frames(items: Iterable[WorkItem]) -> Iterator[tuple[WorkItem, BaseException | None]]:
    """The items, video frames with their pixels decoded (one pass over each video, in order); an
    item whose frame cannot be had comes with the error."""
    from . import video

    current: str | None = None
    frames: Iterator[tuple[int, np.ndarray]] | None = None
    at: tuple[int, np.ndarray] | None = None
    failed: BaseException | None = None
    for item in items:
        if item.frame is None or item.pixels is not None:
            yield item, None
            continue
        if item.source != current:
            current, frames, at, failed = item.source, video.iter_frames(item.source), None, None
        try:
            while failed is None and (at is None or at[0] < item.frame):
                at = next(frames)
        except StopIteration:
            failed = InvalidImageError(item.input, "the video ended before this frame.", "check the file is complete.")
        except Exception as err:
            failed = err
        if at is not None and at[0] == item.frame:
            yield replace(item, pixels=at[1]), None
        else:
            yield item, failed or InvalidImageError(item.input, "frame not found.", "check the file.")


def _failed_future(record: dict[str, Any]) -> Future:
    future: Future = Future()
    future.set_result(record)
    return future


def run_local(
    items: list[WorkItem],
    manifest: Manifest,
    summary: BatchSummary,
    *,
    previous: dict[str, dict[str, Any]] | None = None,
    workers: int = 2,
    batch_size: int = 1,
    fail_fast: bool = False,
    bar: Any = None,
) -> BatchSummary:
    """Run ``items`` through the pipeline of the module docstring, appending records to ``manifest``
    (open) and counting into ``summary``. ``previous``: the manifest's last record per input, for
    ``--resume`` (None: compute everything). On KeyboardInterrupt the items in flight finish writing
    and are recorded, the manifest stays valid, and the interrupt is raised again."""
    if not items:
        return summary
    previous = previous or {}
    compiled = _compiled(items[0])
    if batch_size > 1 and not compiled.batchable:
        _log.info("batch size %d ignored: the recipe has a seed or outputs that are not images, so items run "
                  "one at a time.", batch_size)
        batch_size = 1
    stop = threading.Event()
    commit = _Committer(manifest, summary, bar, fail_fast, stop)
    pin = str(items[0].options.get("device", "cpu")).startswith("cuda")
    decoders = ThreadPoolExecutor(max(1, workers), thread_name_prefix="rk-decode")
    writers = ThreadPoolExecutor(max(1, workers), thread_name_prefix="rk-write")
    inflight = threading.BoundedSemaphore(max(2, 2 * workers))
    decoded: queue.Queue[Future | None] = queue.Queue(maxsize=2 * workers + batch_size)

    def put(future: Future) -> bool:
        while not stop.is_set():
            try:
                decoded.put(future, timeout=0.1)
                return True
            except queue.Full:
                continue
        future.cancel()
        return False

    def feed() -> None:
        try:
            for item, error in with_frames(items):
                if stop.is_set():
                    break
                if error is not None:
                    future = _failed_future(failed_record(item, error))
                else:
                    future = decoders.submit(_decode, item, compiled, previous.get(item.input), pin)
                future.item = item  # type: ignore[attr-defined]
                if not put(future):
                    break
        except BaseException as err:  # an error of the feeder itself: stop the run, say why
            _log.error("batch: reading the inputs stopped: %s", _error_text(err))
            stop.set()
        finally:
            while True:
                try:
                    decoded.put(None, timeout=0.1)
                    break
                except queue.Full:
                    if stop.is_set():
                        with contextlib.suppress(queue.Empty):
                            decoded.get_nowait()

    def write(done: _Computed) -> None:
        try:
            try:
                moves, record = _write(compiled, done)
            except Exception as err:
                commit(failed_record(done.decoded.item, err, sha=done.decoded.sha))
                return
            commit(record, moves)
        except BaseException as err:
            _log.error("batch: recording %s failed: %s", done.decoded.item.input, _error_text(err))
            stop.set()
        finally:
            inflight.release()

    def flush(batch: list[_Decoded]) -> None:
        try:
            computed = _compute(compiled, batch)
        except Exception as err:
            if len(batch) > 1:  # find the item that fails; the others are fine alone
                for d in batch:
                    flush([d])
                return
            _log.debug("compute failed for %s:\n%s", batch[0].item.input, traceback.format_exc())
            commit(failed_record(batch[0].item, err, sha=batch[0].sha,
                                 seconds=time.perf_counter() - batch[0].started))
            return
        for done in computed:
            inflight.acquire()
            writers.submit(write, done)

    feeder = threading.Thread(target=feed, name="rk-feed", daemon=True)
    feeder.start()
    batch: list[_Decoded] = []
    try:
        while not stop.is_set():
            future = decoded.get()
            if future is None:
                break
            try:
                out = future.result()
            except Exception as err:
                commit(failed_record(future.item, err))  # type: ignore[attr-defined]
                continue
            if isinstance(out, dict):
                commit(out)
            elif isinstance(out, _Skipped):
                commit(out.record, skipped=True)
            else:
                if batch and (len(batch) >= batch_size or out.pixels.shape != batch[0].pixels.shape
                              or out.item.overrides != batch[0].item.overrides):
                    flush(batch)
                    batch = []
                batch.append(out)
                if batch_size == 1 or decoded.empty():
                    flush(batch)
                    batch = []
        if batch and not stop.is_set():
            flush(batch)
    except KeyboardInterrupt:
        summary.interrupted = True
        raise
    finally:
        stop.set()
        feeder.join(timeout=5)
        decoders.shutdown(wait=True, cancel_futures=True)
        writers.shutdown(wait=True)  # writes in flight finish and are recorded: whole files, valid manifest
    return summary


def make_run_id() -> str:
    return hashlib.sha256(f"{os.getpid()}-{time.time_ns()}".encode()).hexdigest()[:12]

