"""Load Image 16-bit and Save Image 16-bit through the operation layer (restorekit.params.run)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import restorekit.operations.io  # noqa: F401  (registers the operations)
from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.io import folders, read_array, read_metadata, write_array
from restorekit.params import get_operation, run


@pytest.fixture(autouse=True)
def output_folder(tmp_path, monkeypatch):
    """Every test writes into its own folder, never into the checkout."""
    monkeypatch.setattr(folders, "_dirs", {"input": tmp_path / "in", "output": tmp_path / "out"})
    (tmp_path / "in").mkdir()
    return tmp_path / "out"


def _image(c: int, b: int = 1, h: int = 12, w: int = 10, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("fmt, step", [("png16", 65535.0), ("tiff16", 65535.0), ("tiff32f", None)])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("with_alpha", [False, True])
def test_save_then_load_keeps_precision_and_alpha(fmt, step, channels, with_alpha):
    image = _image(channels, b=2, seed=channels)
    alpha = _image(1, b=2, seed=9)
    mask = 1.0 - alpha if with_alpha else None
    paths = run("save_image_16bit", image=image, mask=mask, format=fmt)["paths"].splitlines()
    assert len(paths) == 2
    for i, path in enumerate(paths):
        out = run("load_image_16bit", path=path)
        assert out["bit_depth"] == (32 if step is None else 16)
        assert out["image"].shape == (1, channels, 12, 10) and out["image"].dtype == torch.float32
        limit = 0.5 / step + 3e-8 if step else 0.0
        assert (out["image"][0].double() - image[i].double()).abs().max().item() <= limit
        expected_mask = mask[i] if with_alpha else torch.zeros(1, 12, 10)
        assert (out["mask"][0].double() - expected_mask.double()).abs().max().item() <= limit + 1e-7


def test_file_samples_survive_load_and_save_bit_exactly(output_folder):
    rng = np.random.default_rng(1)
    samples = rng.integers(0, 65536, size=(9, 7, 4), dtype=np.int64).astype(np.uint16)
    source = write_array(output_folder.parent / "in" / "src.png", samples)
    loaded = run("load_image_16bit", path="src.png")  # relative: looked up in the input folder
    for fmt in ("png16", "tiff16"):
        (path,) = run("save_image_16bit", image=loaded["image"], mask=loaded["mask"], format=fmt)["paths"].splitlines()
        back, depth = read_array(path)
        assert depth == 16 and np.array_equal(back, samples), fmt
    assert source.exists()


def test_numbering_continues_and_prefix_folders(output_folder):
    first = run("save_image_16bit", image=_image(3, b=2), filename_prefix="shots/run")["paths"].splitlines()
    second = run("save_image_16bit", image=_image(3), filename_prefix="shots/run", format="tiff16")["paths"]
    assert [p.rsplit("/", 1)[1] for p in first] == ["run_00001_.png", "run_00002_.png"]
    assert second.endswith("shots/run_00003_.tif")
    assert all(p.startswith(str(output_folder.resolve())) for p in [*first, second])


@pytest.mark.parametrize("prefix", ["../escape", "/tmp/abs", "a/../../x"])
def test_prefix_must_stay_inside_the_output_folder(prefix):
    with pytest.raises(InvalidParameterError, match="filename_prefix"):
        run("save_image_16bit", image=_image(3), filename_prefix=prefix)


def test_workflow_metadata_like_comfyui(output_folder):
    meta = {"prompt": {"3": {"class_type": "RK_SaveImage16bit"}}, "workflow": {"nodes": [1]}}
    (png,) = run("save_image_16bit", image=_image(3), metadata=json.dumps(meta))["paths"].splitlines()
    text = read_metadata(png)
    assert json.loads(text["prompt"]) == meta["prompt"] and json.loads(text["workflow"]) == meta["workflow"]
    (tif,) = run("save_image_16bit", image=_image(3), metadata=json.dumps(meta), format="tiff32f")["paths"].splitlines()
    assert json.loads(read_metadata(tif)["description"]) == {k: json.dumps(v) for k, v in meta.items()}
    for bad in ("{not json", "[1, 2]"):
        with pytest.raises(InvalidParameterError, match="metadata"):
            run("save_image_16bit", image=_image(3), metadata=bad)


def test_mask_of_another_size_is_rejected():
    with pytest.raises(InvalidImageError, match="mask"):
        run("save_image_16bit", image=_image(3), mask=torch.rand(1, 1, 5, 5))


def test_load_folder_as_batch_and_mixed_files(output_folder):
    folder = output_folder.parent / "in" / "seq"
    write_array(folder / "b.tif", np.full((6, 5, 1), 40000, np.uint16))
    write_array(folder / "a.png", np.full((6, 5, 4), 200, np.uint8))
    out = run("load_image_16bit", path=str(folder))
    assert out["image"].shape == (2, 3, 6, 5) and out["bit_depth"] == 16
    assert torch.allclose(out["image"][0], torch.full((3, 6, 5), 200 / 255))  # a.png first (name order)
    assert torch.allclose(out["image"][1], torch.full((3, 6, 5), 40000 / 65535))  # gray shown as RGB in the batch
    assert torch.allclose(out["mask"][0], torch.full((1, 6, 5), 1 - 200 / 255)) and not out["mask"][1].any()
    write_array(folder / "c.png", np.zeros((3, 3, 3), np.uint8))
    with pytest.raises(InvalidImageError, match="different sizes"):
        run("load_image_16bit", path=str(folder))


def test_load_errors_and_bundled_sample():
    with pytest.raises(InvalidParameterError, match="not found"):
        run("load_image_16bit", path="missing.png")
    with pytest.raises(InvalidParameterError, match="no file"):
        run("load_image_16bit", path="  ")
    sample = run("load_image_16bit")  # the default name falls back to the bundled sample
    assert sample["image"].shape[:2] == (1, 3) and sample["bit_depth"] == 8


def test_output_folder_setting_and_environment(tmp_path, monkeypatch):
    monkeypatch.setattr(folders, "_dirs", {"input": None, "output": None})
    monkeypatch.setenv(folders.ENV_OUTPUT_DIR, str(tmp_path / "env"))
    assert folders.output_dir() == tmp_path / "env"
    folders.set_output_dir(tmp_path / "set")
    assert folders.output_dir() == tmp_path / "set"
    folders.set_output_dir(None)
    monkeypatch.delenv(folders.ENV_OUTPUT_DIR)
    monkeypatch.chdir(tmp_path)
    assert folders.output_dir() == tmp_path / "restorekit-output"


def test_declarations():
    load, save = get_operation("RK_LoadImage16bit"), get_operation("RK_SaveImage16bit")
    assert [o.name for o in load.outputs] == ["image", "mask", "bit_depth"]
    assert [o.kind for o in load.outputs] == ["image", "mask", "int"]
    assert [o.name for o in save.outputs] == ["paths"] and save.param("format").choices == ("png16", "tiff16", "tiff32f")
    assert save.param("metadata").advanced and save.param("mask").optional
    assert load.category == save.category == "io" and not load.gpu and not save.gpu
