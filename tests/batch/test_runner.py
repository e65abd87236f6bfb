"""The local engine, items and the `restorekit batch` command."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from restorekit import batch
from restorekit.batch.items import collect_items
from restorekit.batch.manifest import MANIFEST_NAME, read_manifest
from restorekit.batch.recipe import Recipe
from restorekit.batch.runner import WorkItem, process_item
from restorekit.cli import main
from restorekit.errors import InvalidParameterError
from restorekit.io import read_array, read_image, write_image

UNSHARP = {"op": "unsharp_mask", "params": {"amount": 0.8}}


@pytest.fixture
def tree(tmp_path):
    rng = np.random.default_rng(0)
    src = tmp_path / "in"
    write_image(src / "a.png", rng.random((24, 20, 3)).astype(np.float32), 8)
    write_image(src / "deep" / "b.png", rng.random((24, 20, 3)).astype(np.float32), 16)
    write_image(src / "deep" / "c.tif", rng.random((17, 9, 1)).astype(np.float32), 16)
    write_image(src / "d.png", rng.random((24, 20, 4)).astype(np.float32), 8)  # RGBA
    (src / "notes.txt").write_text("not an image")
    (src / ".hidden.png").write_bytes(b"")
    return src


def _bad_items(src):
    (src / "bad").mkdir()
    (src / "bad" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    (src / "bad" / "empty.png").write_bytes(b"")
    tifffile.imwrite(src / "bad" / "five.tif", np.zeros((8, 8, 5), np.uint8), photometric="minisblack",
                     planarconfig="contig")
    tifffile.imwrite(src / "bad" / "int32.tif", np.zeros((8, 8), np.int32))


def test_folder_tree_is_mirrored_with_depth_alpha_and_a_record_per_item(tree, tmp_path):
    out = tmp_path / "out"
    summary = batch.run(UNSHARP, tree, out, workers=2, progress=False)
    assert summary.ok and (summary.done, summary.skipped, summary.failed) == (4, 0, 0)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "a.png", "d.png", "deep/b.png", "deep/c.tif", MANIFEST_NAME]
    assert read_image(out / "deep" / "b.png").bit_depth == 16
    assert read_array(out / "deep" / "c.tif")[0].shape == (17, 9, 1)
    rgba_in, rgba_out = read_array(tree / "d.png")[0], read_array(out / "d.png")[0]
    assert np.array_equal(rgba_in[..., 3], rgba_out[..., 3])  # alpha passes through
    assert not np.array_equal(rgba_in[..., :3], rgba_out[..., :3])
    records = read_manifest(out / MANIFEST_NAME)
    assert sorted(r["input"] for r in records) == ["a.png", "d.png", "deep/b.png", "deep/c.tif"]
    assert all(r["status"] == "ok" and len(r["input_sha256"]) == 64 and r["outputs"] for r in records)


def test_same_result_as_restorekit_run(tree, tmp_path):
    batch.run(UNSHARP, tree, tmp_path / "out", progress=False)
    assert main(["run", "unsharp_mask", str(tree / "a.png"), "-o", str(tmp_path / "one.png"), "--amount", "0.8",
                 "--quiet"]) == 0
    assert (tmp_path / "one.png").read_bytes() == (tmp_path / "out" / "a.png").read_bytes()


def test_bad_items_are_reported_and_the_others_complete(tree, tmp_path, capsys):
    _bad_items(tree)
    out = tmp_path / "out"
    code = main(["batch", "--op", "unsharp_mask", "--param", "amount=0.8", str(tree), str(out), "--quiet"])
    assert code == 1
    text = capsys.readouterr().out
    assert "4 done" in text and "4 failed" in text
    failures = {r["input"]: r["error"] for r in read_manifest(out / MANIFEST_NAME) if r["status"] == "failed"}
    assert set(failures) == {"bad/corrupt.png", "bad/empty.png", "bad/five.tif", "bad/int32.tif"}
    assert "0 bytes" in failures["bad/empty.png"] and "Fix:" in failures["bad/five.tif"]
    assert "int32" in failures["bad/int32.tif"]
    assert all(name in text for name in failures)
    assert (out / "a.png").is_file() and not (out / "bad").exists()


def test_fail_fast_stops(tree, tmp_path):
    _bad_items(tree)
    summary = batch.run(UNSHARP, tree, tmp_path / "out", workers=1, fail_fast=True, progress=False)
    assert summary.failed >= 1 and summary.done + summary.failed < summary.total


def test_resume_skips_done_and_redoes_failed_changed_and_missing(tree, tmp_path):
    out = tmp_path / "out"
    batch.run(UNSHARP, tree, out, progress=False)
    with pytest.raises(InvalidParameterError, match="--resume"):
        batch.run(UNSHARP, tree, out, progress=False)
    (out / "a.png").unlink()                                            # output lost
    write_image(tree / "deep" / "b.png", np.zeros((24, 20, 3), np.float32), 16)  # input changed
    (out / "d.png").write_bytes(b"\x89PNG broken")                     # output damaged
    summary = batch.run(UNSHARP, tree, out, resume=True, progress=False)
    assert (summary.done, summary.skipped) == (3, 1)
    assert read_image(out / "d.png").pixels.shape == (24, 20, 4)
    # Another recipe redoes everything; --overwrite starts a fresh manifest.
    other = {"op": "unsharp_mask", "params": {"amount": 0.3}}
    assert batch.run(other, tree, out, resume=True, progress=False).done == 4
    assert batch.run(other, tree, out, overwrite=True, progress=False).done == 4
    assert len(read_manifest(out / MANIFEST_NAME)) == 4


def test_glob_every_nth_suffix_and_bit_depth(tree, tmp_path):
    out = tmp_path / "out"
    summary = batch.run(UNSHARP, tree, out, glob="*.png", suffix=".tif", bit_depth=16, progress=False)
    assert summary.done == 3
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.tif")) == ["a.tif", "d.tif", "deep/b.tif"]
    assert read_image(out / "a.tif").bit_depth == 16
    items = collect_items(Recipe.from_dict(UNSHARP), tree, out, every_nth=2)
    assert [i.input for i in items] == ["a.png", "deep/b.png"]
    with pytest.raises(InvalidParameterError, match="--suffix"):
        collect_items(Recipe.from_dict(UNSHARP), tree, out, suffix=".jpg")


def test_pipeline_records_reports_and_batching_gives_the_same_files(tmp_path):
    rng = np.random.default_rng(1)
    src = tmp_path / "in"
    for i in range(5):
        write_image(src / f"n{i}.png", np.clip(0.5 + rng.normal(0, 0.1, (32, 32, 3)), 0, 1).astype(np.float32), 8)
    recipe = {"pipeline": [{"op": "tv_denoise", "params": {"sigma": 20}}, {"op": "unsharp_mask"}]}
    one = batch.run(recipe, src, tmp_path / "one", progress=False)
    many = batch.run(recipe, src, tmp_path / "many", batch_size=4, progress=False)
    assert one.done == many.done == 5
    for i in range(5):
        assert (tmp_path / "one" / f"n{i}.png").read_bytes() == (tmp_path / "many" / f"n{i}.png").read_bytes()
    record = read_manifest(tmp_path / "one" / MANIFEST_NAME)[0]
    assert record["status"] == "ok"


def test_process_item_returns_records_for_ray(tree, tmp_path):
    recipe = Recipe.from_dict(UNSHARP)
    options = {"device": "cpu", "bit_depth": None, "recipe_hash": recipe.hash({"bit_depth": None}), "run": "r"}
    items = collect_items(recipe, tree, tmp_path / "out", options=options)
    assert all(isinstance(i, WorkItem) for i in items)
    good = process_item(items[0])
    assert good["status"] == "ok" and (tmp_path / "out" / good["outputs"][0]).is_file()
    bad = WorkItem(input="x.png", source=str(tree / "notes.txt"), outputs={"image": str(tmp_path / "x.png")},
                   root=str(tmp_path / "out"), recipe=recipe.to_dict(), options=options)
    record = process_item(bad)
    assert record["status"] == "failed" and "unsupported file type" in record["error"]


def test_cli_recipe_file_and_errors(tree, tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("op: unsharp_mask\nparams:\n  amount: 0.8\n")
    assert main(["batch", str(recipe), str(tree), str(tmp_path / "out"), "--quiet", "--workers", "1"]) == 0
    assert "4 done" in capsys.readouterr().out
    assert main(["batch", str(recipe), str(tree), str(tmp_path / "out"), "--quiet"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["batch", "--op", "unsharp_mask", "--param", "nope=1", str(tree), str(tmp_path / "o2")]) == 2
    assert "radius" in capsys.readouterr().err


def test_video_frames_are_items_with_per_frame_seeds(tmp_path):
    video = pytest.importorskip("restorekit.batch.video")
    pytest.importorskip("av")
    clip = tmp_path / "in" / "clip.mkv"
    clip.parent.mkdir()
    with video.VideoEncoder(clip, 5, 32, 24, codec="ffv1", crf=None) as enc:
        for i in range(6):
            enc.write(np.full((24, 32, 3), 40 * i, np.uint8))
    out = tmp_path / "out"
    summary = batch.run({"op": "grain_add", "params": {"seed": 7}}, clip.parent, out, progress=False)
    assert summary.done == 6, summary.text()
    frames = sorted(p.name for p in (out / "clip").glob("*.png"))
    assert frames == [f"frame_{i:06d}.png" for i in range(6)]
    assert read_image(out / "clip" / frames[0]).bit_depth == 16
    records = sorted(read_manifest(out / MANIFEST_NAME), key=lambda r: r["input"])
    assert records[3]["input"] == "clip.mkv#frame=000003"
    again = batch.run({"op": "grain_add", "params": {"seed": 7}}, clip.parent, out, resume=True, progress=False)
    assert again.skipped == 6
    # Per-frame seeds: two identical frames get different grain; a rerun reproduces the same bytes.
    a = read_array(out / "clip" / "frame_000001.png")[0].astype(np.int64)
    b = batch.run({"op": "grain_add", "params": {"seed": 7}}, clip.parent, tmp_path / "again", progress=False)
    assert b.done == 6
    assert (tmp_path / "again" / "clip" / "frame_000001.png").read_bytes() == (out / "clip" / "frame_000001.png").read_bytes()
    assert a.std() > 0
