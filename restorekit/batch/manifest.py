"""The batch manifest: a JSON Lines file with one record per finished item.

A record says what was done to one item and lets a later run decide whether to skip it::

    {"input": "scans/a.png", "input_sha256": "…", "recipe": "…", "outputs": ["scans/a.png"],
     "status": "ok", "seconds": 0.41, "run": "3f2a…"}

(``status`` "failed" records carry ``error`` instead of outputs; reports and numbers of the operation
go into ``results``). Paths are relative to the output folder, with ``/`` separators, so the output
folder can be moved or shared between machines.

Crash safety: each record is one line, written with a single ``write`` and flushed and fsynced
before the next item is recorded, so a kill loses at most the line being written. Such a torn last
line (no newline at the end, or not valid JSON) is ignored when the manifest is read, and cut off
before the next run appends, so the file stays one valid record per line. Only the driver of a run
writes the manifest (local threads and Ray workers hand their records to it).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from ..errors import InvalidParameterError

__all__ = ["MANIFEST_NAME", "Manifest", "read_manifest"]

_log = logging.getLogger("restorekit")

#: The manifest's file name inside the output folder (unless another path is given).
MANIFEST_NAME = "restorekit-manifest.jsonl"


def _parse_lines(data: bytes) -> tuple[list[dict[str, Any]], int, int]:
    """The records of a manifest's bytes, the number of bad lines, and the length of the valid prefix
    (up to the end of the last complete, valid line)."""
    records: list[dict[str, Any]] = []
    bad = 0
    valid_end = 0
    pos = 0
    while pos < len(data):
        end = data.find(b"\n", pos)
        complete = end >= 0
        line = data[pos : end if complete else len(data)]
        nxt = end + 1 if complete else len(data)
        record = None
        if complete and line.strip():
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                record = None
        if record is not None and isinstance(record, dict) and isinstance(record.get("input"), str):
            records.append(record)
            valid_end = nxt
        elif complete and not line.strip():
            valid_end = nxt
        else:
            bad += 1
        pos = nxt
    return records, bad, valid_end


def read_manifest(path: str | Path) -> list[dict[str, Any]]:
    """Every valid record of the manifest at ``path`` in file order (a missing file: none).

    A torn or garbled line is skipped with a warning; it never stops the read.
    """
    path = Path(path)
    if not path.is_file():
        return []
    records, bad, _ = _parse_lines(path.read_bytes())
    if bad:
        _log.warning("manifest %s: %d incomplete or unreadable line(s) ignored (an interrupted write).", path, bad)
    return records


class Manifest:
    """Appends records to a manifest file; see the module docstring. Thread-safe.

    Use :meth:`latest` to read what earlier runs recorded and :meth:`open` before :meth:`append`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fh: Any = None
        self._lock = threading.Lock()

    def exists(self) -> bool:
        """True when the file holds at least one record."""
        return bool(read_manifest(self.path))

    def latest(self) -> dict[str, dict[str, Any]]:
        """The last record of every input (later runs supersede earlier ones)."""
        return {r["input"]: r for r in read_manifest(self.path)}

    def open(self, *, truncate: bool = False) -> Manifest:
        """Open for appending (creating folders and file); ``truncate`` starts an empty manifest.

        A torn tail left by a kill is cut off first, so the next record starts on a line of its own.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if truncate or not self.path.exists():
            fh = open(self.path, "wb")
        else:
            data = self.path.read_bytes()
            _, bad, valid_end = _parse_lines(data)
            fh = open(self.path, "r+b")
            if valid_end < len(data):
                _log.warning("manifest %s: cut off %d byte(s) of an interrupted last record.", self.path,
                             len(data) - valid_end)
                fh.truncate(valid_end)
            elif bad:
                _log.warning("manifest %s: %d unreadable line(s) kept but ignored.", self.path, bad)
            fh.seek(0, os.SEEK_END)
        self._fh = fh
        return self

    def append(self, record: dict[str, Any]) -> None:
        """Write one record as one line, then flush and fsync it (durable before the next item)."""
        if not isinstance(record.get("input"), str):
            raise InvalidParameterError("record", "has no 'input'.", "every manifest record names its input.")
        line = (json.dumps(record, sort_keys=True, default=str, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            if self._fh is None:
                raise InvalidParameterError("manifest", "is not open.", "call open() before append().")
            self._fh.write(line)
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    def __enter__(self) -> Manifest:
        if self._fh is None:
            self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
