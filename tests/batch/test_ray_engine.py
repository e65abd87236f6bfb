"""The Ray engine on a local Ray instance: every item comes back once, failures come back failed.

Ray is started once for the module (start-up takes seconds on a small machine) with 2 workers.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from restorekit.batch.ray_engine import RayEngine, failed_record  # noqa: E402
from restorekit.errors import InvalidParameterError, MissingDependencyError  # noqa: E402

# The work functions below live in this test module, which Ray's worker processes cannot import:
# ship them by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@dataclass(frozen=True)
class _Item:
    input: str
    n: int
    crash: bool = False


def _work(item: _Item) -> dict:
    """Squares ``item.n``; n = 3 raises, n = 7 (with ``crash``) kills its worker process."""
    if item.n == 3:
        raise ValueError("item three is bad")
    if item.n == 7 and item.crash:
        os._exit(3)
    return {"input": item.input, "status": "ok", "value": item.n**2, "pid": os.getpid()}


@pytest.fixture(scope="module")
def engine():
    with RayEngine(num_workers=2) as eng:
        yield eng


def test_every_item_once_and_a_raising_item_comes_back_failed(engine):
    items = [_Item(f"item{n}", n, crash=True) for n in range(12)]
    records = list(engine.map(_work, items))
    assert len(records) == 12
    by_input = {r["input"]: r for r in records}
    assert len(by_input) == 12  # each item exactly once
    assert by_input["item3"]["status"] == "failed"
    assert "ValueError: item three is bad" in by_input["item3"]["error"]
    # The worker died on item 7 (twice: the first try and the retry); it is reported, the pool went on.
    assert by_input["item7"]["status"] == "failed" and "died" in by_input["item7"]["error"]
    ok = [r for r in records if r["status"] == "ok"]
    assert sorted(r["value"] for r in ok) == sorted(n * n for n in range(12) if n not in (3, 7))
    assert len({r["pid"] for r in ok}) >= 2  # two actors shared the work (3 when the crashed one was replaced)
    assert ray.is_initialized()  # inside `with`, Ray stays up between maps


def test_a_generator_is_taken_in_chunks(engine):
    chunked = RayEngine(num_workers=2, chunk_size=5)  # joins the module's Ray, leaves it running
    items = (_Item(f"item{n}", n) for n in range(8, 20))
    records = list(chunked.map(_work, items))
    assert sorted(r["value"] for r in records) == [n * n for n in range(8, 20)]
    assert ray.is_initialized()


def test_an_empty_list_yields_nothing(engine):
    assert list(engine.map(_work, [])) == []


def test_process_item_of_the_runner(engine, tmp_path):
    """The runner's own work items through Ray: outputs written, a corrupt file comes back failed."""
    np = pytest.importorskip("numpy")
    runner = pytest.importorskip("restorekit.batch.runner")
    from restorekit.batch import load_recipe
    from restorekit.batch.items import collect_items
    from restorekit.io import read_array, write_image

    src = tmp_path / "in"
    rng = np.random.default_rng(0)
    for i in range(11):
        write_image(src / f"img_{i:02d}.png", rng.random((24, 32, 3), dtype=np.float32))
    (src / "img_99.png").write_bytes(b"\x89PNG but cut short")
    recipe = load_recipe({"op": "unsharp_mask", "params": {}})
    options = {"device": "cpu", "bit_depth": None, "recipe_hash": recipe.hash({"bit_depth": None}), "run": "t"}
    items = collect_items(recipe, src, tmp_path / "out", options=options)
    assert len(items) == 12
    records = {r["input"]: r for r in engine.map(runner.process_item, items)}
    assert len(records) == 12
    assert records["img_99.png"]["status"] == "failed" and records["img_99.png"]["error"]
    ok = [r for name, r in records.items() if name != "img_99.png"]
    assert all(r["status"] == "ok" and len(r["outputs"]) == 1 for r in ok)
    for item in items[:11]:
        arr, depth = read_array(next(iter(item.outputs.values())))
        assert arr.shape == (24, 32, 3) and depth == 8
    # The same item run here gives the same record (apart from timing and nothing else).
    again = runner.process_item(items[0])
    ray_rec = records[items[0].input]
    assert {k: v for k, v in again.items() if k != "seconds"} == {k: v for k, v in ray_rec.items() if k != "seconds"}


def test_failed_record_names_the_item():
    rec = failed_record(_Item("a/b.png", 1), ValueError("boom"))
    assert rec["status"] == "failed" and "ValueError: boom" in rec["error"] and "a/b.png" in rec["input"]


def test_bad_worker_count_is_refused():
    with pytest.raises(InvalidParameterError, match="workers"):
        RayEngine(num_workers=0)


def test_missing_ray_says_how_to_install(monkeypatch):
    from restorekit.batch import ray_engine

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingDependencyError, match=r"restorekit\[ray\]"):
        ray_engine._ray()
