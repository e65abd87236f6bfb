"""The manifest: one fsynced line per record; a torn last line is ignored and cut off before appending."""

from __future__ import annotations

import json

from restorekit.batch.manifest import Manifest, read_manifest


def _record(i: int) -> dict:
    return {"input": f"img{i}.png", "status": "ok", "outputs": [f"img{i}.png"], "seconds": 0.1}


def test_append_read_and_latest_wins(tmp_path):
    path = tmp_path / "m.jsonl"
    with Manifest(path).open() as m:
        for i in range(3):
            m.append(_record(i))
        m.append({**_record(1), "status": "failed", "error": "x"})
    lines = path.read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(line)["input"] for line in lines)
    latest = Manifest(path).latest()
    assert sorted(latest) == ["img0.png", "img1.png", "img2.png"] and latest["img1.png"]["status"] == "failed"


def test_a_torn_last_line_is_ignored_and_cut_off(tmp_path):
    path = tmp_path / "m.jsonl"
    with Manifest(path).open() as m:
        m.append(_record(0))
        m.append(_record(1))
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"input": "img2.png", "sta')  # a kill in the middle of a write
    assert [r["input"] for r in read_manifest(path)] == ["img0.png", "img1.png"]
    with Manifest(path).open() as m:
        m.append(_record(3))
    assert [r["input"] for r in read_manifest(path)] == ["img0.png", "img1.png", "img3.png"]
    assert path.read_bytes().startswith(whole) and path.read_bytes().endswith(b"\n")


def test_a_garbled_middle_line_is_skipped_not_fatal(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(_record(0)) + "\nnot json\n" + json.dumps(_record(1)) + "\n")
    assert [r["input"] for r in read_manifest(path)] == ["img0.png", "img1.png"]
    with Manifest(path).open() as m:
        m.append(_record(2))
    assert len(read_manifest(path)) == 3


def test_truncate_starts_again(tmp_path):
    path = tmp_path / "m.jsonl"
    with Manifest(path).open() as m:
        m.append(_record(0))
    with Manifest(path).open(truncate=True) as m:
        m.append(_record(5))
    assert [r["input"] for r in read_manifest(path)] == ["img5.png"]
    assert read_manifest(tmp_path / "none.jsonl") == []
