"""Batch work that survives a crash: one recipe over a folder of images or a video's frames.

:func:`run` is the Python interface of ``restorekit batch RECIPE IN OUT``. Every finished item is
recorded in a JSON Lines manifest in the output folder (:mod:`.manifest`) and every output is
written atomically, so a run killed at any moment leaves whole files and a valid manifest, and
``resume=True`` skips what is done (same input bytes, same recipe, output present and decodable)
and redoes the rest. The local engine overlaps decoding, compute and writing (:mod:`.runner`);
``engine="ray"`` spreads the same items over a Ray cluster (:mod:`.ray_engine`) with the same
manifest, so either can resume the other's run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InvalidParameterError, RestoreError
from .manifest import MANIFEST_NAME, Manifest, read_manifest
from .recipe import Recipe, Step, load_recipe, recipe_from_args
from .runner import BatchSummary, WorkItem, failed_record, item_is_done, make_run_id, process_item, run_local

__all__ = [
    "MANIFEST_NAME", "BatchSummary", "Manifest", "Recipe", "Step", "WorkItem", "failed_record", "load_recipe",
    "process_item", "read_manifest", "recipe_from_args", "run",
]

_log = logging.getLogger("restorekit")


def _clean_pending(root: Path) -> None:
    """Remove hidden half-written files an interrupted run left (never a finished output)."""
    if not root.is_dir():
        return
    for path in root.rglob(".*"):
        if path.is_file() and (".rk-pending" in path.name or path.name.endswith(".part")):
            with contextlib.suppress(OSError):
                path.unlink()


def run(
    recipe: str | Path | Mapping[str, Any] | Recipe,
    inputs: str | Path,
    output: str | Path,
    *,
    glob: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    fail_fast: bool = False,
    workers: int | None = None,
    device: str = "cpu",
    engine: str = "local",
    address: str | None = None,
    bit_depth: int | None = None,
    suffix: str | None = None,
    every_nth: int = 1,
    batch_size: int = 1,
    manifest: str | Path | None = None,
    progress: bool | None = None,
) -> BatchSummary:
    """Run ``recipe`` over ``inputs`` (a folder, an image or a video) into the folder ``output``.

    ``resume``: skip items the manifest shows done; without it an existing manifest is an error
    unless ``overwrite`` (start again). ``fail_fast``: stop at the first failed item (else failures
    are recorded and the rest goes on). ``workers``: decode/write threads (local) or Ray actors.
    ``device``: torch device for the operations that run on torch. ``bit_depth``: 8, 16 or 32
    (None: as the input; video frames 16). ``suffix``: output format (.png/.tif). ``every_nth``: take
    every n-th item/frame. ``batch_size``: same-size images computed together (recipes without a
    seed). ``manifest``: its path (default ``OUTPUT/restorekit-manifest.jsonl``). ``progress``: a
    tqdm bar on stderr (default: when stderr is a terminal). Returns the :class:`BatchSummary`.
    """
    from .items import collect_items

    started = time.perf_counter()
    recipe = load_recipe(recipe)
    if engine not in ("local", "ray"):
        raise InvalidParameterError("--engine", f"unknown engine {engine!r}.", "use local or ray.")
    if bit_depth not in (None, 8, 16, 32):
        raise InvalidParameterError("--bit-depth", f"must be 8, 16 or 32, got {bit_depth!r}.", "use 8 or 16.")
    workers = workers or min(4, os.cpu_count() or 1)
    if workers < 1 or batch_size < 1:
        raise InvalidParameterError("--workers", "workers and batch size must be at least 1.", "use e.g. --workers 2.")
    root = Path(output).expanduser().resolve()
    manifest_path = Path(manifest) if manifest else root / MANIFEST_NAME
    book = Manifest(manifest_path)
    previous = book.latest() if manifest_path.exists() else {}
    if previous and not resume and not overwrite:
        raise InvalidParameterError(
            "output", f"{manifest_path} already records {len(previous)} items of an earlier run.",
            "add --resume to continue that run, or --overwrite to start again.",
        )
    recipe_hash = recipe.hash({"bit_depth": bit_depth})
    options = {"device": device, "bit_depth": bit_depth, "recipe_hash": recipe_hash, "run": make_run_id()}
    items = collect_items(recipe, inputs, root, glob=glob, suffix=suffix, every_nth=every_nth, options=options)
    summary = BatchSummary(total=len(items), manifest=str(manifest_path), engine=engine)
    if resume:
        # A finished output the manifest does not know of: the kill fell between writing and recording it.
        summary.recomputed = sum(
            1 for item in items
            if (previous.get(item.input) or {}).get("status") != "ok"
            and all(Path(p).exists() for p in item.outputs.values()) and item.outputs
        )
        _log.info("resume: %d of %d items recorded in the manifest; %d written but not recorded "
                  "(will be recomputed).", sum(1 for i in items if i.input in previous), len(items),
                  summary.recomputed)
    else:
        previous = {}
    _clean_pending(root)
    _log.info("batch: %d items, %s, %s engine, %d workers, device %s", len(items), recipe.describe(), engine,
              workers, device)
    bar = None
    if progress or (progress is None and sys.stderr.isatty()):
        from tqdm import tqdm

        bar = tqdm(total=len(items), unit="item", file=sys.stderr, dynamic_ncols=True)
    book.open(truncate=not resume)
    try:
        if engine == "local":
            run_local(items, book, summary, previous=previous, workers=workers, batch_size=batch_size,
                      fail_fast=fail_fast, bar=bar)
        else:
            _run_ray(items, book, summary, previous, address, workers, device, fail_fast, bar)
    except KeyboardInterrupt:
        summary.interrupted = True
        raise
    finally:
        book.close()
        if bar is not None:
            bar.close()
        summary.seconds = time.perf_counter() - started
        if summary.interrupted:
            print(summary.text(), file=sys.stderr)
    return summary


def _run_ray(items: list[WorkItem], book: Manifest, summary: BatchSummary, previous: dict[str, Any],
             address: str | None, workers: int, device: str, fail_fast: bool, bar: Any) -> None:
    """The Ray engine: the driver decides what is done, Ray workers compute and write, the driver records."""
    from .ray_engine import RayEngine
    from .runner import _input_sha, with_frames

    todo = []
    for item, error in with_frames(items):
        if error is not None:
            record = failed_record(item, error)
            book.append(record)
            summary.count(record, False)
            continue
        record = previous.get(item.input)
        if record is not None:
            try:
                if item_is_done(item, record, _input_sha(item)):
                    summary.count(record, True)
                    if bar is not None:
                        bar.update(1)
                    continue
            except (OSError, RestoreError):  # unreadable or empty input: the worker records the error
                pass
        todo.append(item)
    with RayEngine(address, workers, use_gpu=device.startswith("cuda")) as engine:
        for record in engine.map(process_item, todo):
            book.append(record)
            summary.count(record, False)
            if bar is not None:
                bar.update(1)
            if fail_fast and record.get("status") != "ok":
                break
