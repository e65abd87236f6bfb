"""Kill test: a 200-image run killed with SIGKILL at three points and resumed ends exactly like an
uninterrupted run (outputs byte-identical, manifest equal), redoing at most one finished item per kill."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from restorekit import batch
from restorekit.batch.manifest import MANIFEST_NAME, read_manifest
from restorekit.io import read_array, write_image

N = 200
ARGS = ["--op", "unsharp_mask", "--param", "amount=0.7", "--param", "radius=1.5", "--workers", "2", "--quiet"]


def _inputs(folder: Path) -> None:
    rng = np.random.default_rng(21)
    for i in range(N):
        write_image(folder / f"part{i % 3}" / f"img{i:03d}.png", rng.random((32, 32, 3)).astype(np.float32), 8)


def _comparable(records: list[dict]) -> list[dict]:
    return sorted(({k: v for k, v in r.items() if k not in ("seconds", "run")} for r in records),
                  key=lambda r: r["input"])


def _outputs(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*.png") if not p.name.startswith(".")}


def _start(src: Path, out: Path, extra: list[str], log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "restorekit.cli", "batch", *ARGS, *extra, str(src), str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(log, "wb"), env=env,
                            cwd=Path(__file__).resolve().parents[2])


@pytest.mark.slow
def test_killed_three_times_and_resumed_equals_an_uninterrupted_run(tmp_path):
    src, ref, out = tmp_path / "in", tmp_path / "ref", tmp_path / "out"
    _inputs(src)
    summary = batch.run({"op": "unsharp_mask", "params": {"amount": 0.7, "radius": 1.5}}, src, ref, workers=2,
                        progress=False)
    assert summary.ok and summary.done == N
    reference = _outputs(ref)
    assert len(reference) == N

    kills = sorted(random.Random(21).sample(range(15, N - 15), 3))
    manifest = out / MANIFEST_NAME
    recomputed_seen = []
    for attempt, k in enumerate(kills):
        log = tmp_path / f"run{attempt}.log"
        proc = _start(src, out, ["--resume"] if attempt else [], log)
        deadline = time.monotonic() + 60
        while len(read_manifest(manifest)) < k and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        assert proc.poll() is None, f"the run ended before the kill at {k} items:\n{log.read_text()}"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        recorded = {r["input"] for r in read_manifest(manifest)}
        finished = _outputs(out)
        # Whole files only: every output under its name decodes and is the reference's bytes.
        for name, data in finished.items():
            assert data == reference[name], name
            read_array(out / name)
        # At most one finished output the manifest does not know of: at most one item recomputed.
        assert len(set(finished) - recorded) <= 1
        if attempt:
            recomputed_seen.append(_recomputed(log))
    log = tmp_path / "final.log"
    proc = _start(src, out, ["--resume"], log)
    assert proc.wait(timeout=120) == 0, log.read_text()
    recomputed_seen.append(_recomputed(log))
    print(f"kills after {kills} recorded items; recomputed per resume: {recomputed_seen}")
    assert all(n <= 1 for n in recomputed_seen)

    assert _outputs(out) == reference
    final = read_manifest(manifest)
    assert len(final) == N  # nothing recorded twice
    assert _comparable(final) == _comparable(read_manifest(ref / MANIFEST_NAME))
    assert not [p for p in out.rglob(".*") if p.is_file()]  # no pending files left


def _recomputed(log: Path) -> int:
    match = re.search(r"(\d+) written but not recorded", log.read_text())
    assert match, log.read_text()
    return int(match.group(1))


def test_manifest_lines_are_json(tmp_path):
    src = tmp_path / "in"
    write_image(src / "a.png", np.full((5, 3, 3), 0.5, np.float32), 8)
    batch.run({"op": "unsharp_mask"}, src, tmp_path / "out", progress=False)
    line = (tmp_path / "out" / MANIFEST_NAME).read_text().splitlines()[0]
    assert json.loads(line)["outputs"] == ["a.png"]


@pytest.mark.slow
def test_ctrl_c_leaves_a_valid_manifest_and_exit_code_130(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    _inputs(src)
    log = tmp_path / "int.log"
    proc = _start(src, out, [], log)
    deadline = time.monotonic() + 60
    while len(read_manifest(out / MANIFEST_NAME)) < 20 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130, log.read_text()
    assert "interrupted" in log.read_text()
    data = (out / MANIFEST_NAME).read_bytes()
    assert data.endswith(b"\n") and all(json.loads(line) for line in data.splitlines())
    recorded = {r["input"] for r in read_manifest(out / MANIFEST_NAME)}
    assert set(_outputs(out)) == recorded  # in-flight items finished writing and were recorded
    summary = batch.run({"op": "unsharp_mask", "params": {"amount": 0.7, "radius": 1.5}}, src, out, resume=True,
                        workers=2, progress=False)
    assert summary.ok and summary.skipped == len(recorded) and summary.done == N - len(recorded)
