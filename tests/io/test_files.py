import numpy as np
import pytest

from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.io import list_images, output_bit_depth, read_image, write_image


@pytest.mark.parametrize(
    "suffix, depth, channels",
    [(".png", 8, 3), (".png", 16, 3), (".png", 16, 1), (".png", 8, 4), (".tif", 16, 3), (".tif", 32, 3),
     (".tif", 8, 1), (".tif", 16, 4), (".bmp", 8, 3)],
)
def test_round_trip_keeps_bit_depth(tmp_path, suffix, depth, channels):
    rng = np.random.default_rng(0)
    pixels = rng.random((9, 7, channels), dtype=np.float32)
    path = write_image(tmp_path / f"x{suffix}", pixels, depth)
    loaded = read_image(path)
    assert loaded.bit_depth == depth
    assert loaded.pixels.shape == (9, 7, channels) and loaded.pixels.dtype == np.float32
    tolerance = {8: 0.5 / 255, 16: 0.5 / 65535, 32: 0}[depth] + 1e-7
    assert np.abs(loaded.pixels - pixels).max() <= tolerance


def test_rgb_order_is_kept(tmp_path):
    red = np.zeros((2, 2, 3), np.float32)
    red[..., 0] = 1
    for suffix in (".png", ".tif", ".jpg"):
        assert read_image(write_image(tmp_path / f"r{suffix}", red, 8)).pixels[0, 0].argmax() == 0


def test_jpeg_cannot_hold_16_bits(tmp_path):
    with pytest.raises(InvalidParameterError, match="cannot store 16-bit"):
        write_image(tmp_path / "x.jpg", np.zeros((2, 2, 3), np.float32), 16)
    assert output_bit_depth("a.jpg", None, 16) == 8
    assert output_bit_depth("a.png", None, 32) == 16
    assert output_bit_depth("a.tif", None, 32) == 32


def test_errors_for_missing_and_broken_files(tmp_path):
    with pytest.raises(InvalidImageError, match="not found"):
        read_image(tmp_path / "missing.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(InvalidImageError, match="decoded"):
        read_image(broken)
    with pytest.raises(InvalidImageError, match="unsupported file type"):
        read_image(tmp_path.joinpath("x.txt").write_text("x") and tmp_path / "x.txt")


def test_list_images_expands_folders(tmp_path):
    for name in ("b.png", "a.png"):
        write_image(tmp_path / name, np.zeros((2, 2, 1), np.float32), 8)
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in list_images([tmp_path])] == ["a.png", "b.png"]
    with pytest.raises(InvalidImageError):
        list_images([tmp_path / "nope"])


# ---- bit-exact samples, 16-bit headers, metadata, atomic writes ------------------------------------

import json  # noqa: E402
import os  # noqa: E402

import torch  # noqa: E402

from restorekit.io import (  # noqa: E402
    atomic_write,
    load_image,
    png_header,
    quantize,
    read_array,
    read_metadata,
    save_images,
    write_array,
)


def _samples(channels: int, dtype, seed: int = 0, h: int = 11, w: int = 13) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == np.float32:
        return rng.random((h, w, channels), dtype=np.float32)
    top = np.iinfo(dtype).max
    arr = rng.integers(0, top + 1, size=(h, w, channels), dtype=np.int64).astype(dtype)
    arr.flat[:2] = (0, top)  # both ends of the range
    return arr


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("suffix, dtype", [(".png", np.uint16), (".png", np.uint8), (".tif", np.uint16),
                                           (".tif", np.uint8), (".tif", np.float32)])
def test_samples_round_trip_bit_exact(tmp_path, suffix, dtype, channels):
    data = _samples(channels, dtype, seed=channels)
    back, depth = read_array(write_array(tmp_path / f"x{suffix}", data))
    assert depth == {np.uint8: 8, np.uint16: 16, np.float32: 32}[dtype]
    assert back.dtype == data.dtype and back.shape == data.shape
    assert np.array_equal(back, data)


def test_16_bit_png_header_is_honoured_even_when_values_fit_8_bits(tmp_path):
    data = (np.arange(60, dtype=np.uint16).reshape(5, 4, 3) * 257)  # 8-bit values stored in 16 bits
    path = write_array(tmp_path / "wide.png", data)
    assert png_header(path.read_bytes())[2] == 16
    back, depth = read_array(path)
    assert depth == 16 and back.dtype == np.uint16 and np.array_equal(back, data)


def test_16_bit_files_from_pillow_and_tifffile_are_read_as_16_bit(tmp_path):
    import tifffile
    from PIL import Image

    gray = _samples(1, np.uint16, 3)[:, :, 0]
    Image.fromarray(gray.astype(np.uint16)).save(tmp_path / "pil.png")
    back, depth = read_array(tmp_path / "pil.png")
    assert depth == 16 and np.array_equal(back[:, :, 0], gray)
    planar = _samples(3, np.uint16, 4).transpose(2, 0, 1).copy()
    tifffile.imwrite(tmp_path / "planar.tif", planar, photometric="rgb", planarconfig="separate")
    back, depth = read_array(tmp_path / "planar.tif")
    assert depth == 16 and np.array_equal(back, planar.transpose(1, 2, 0))


@pytest.mark.parametrize("suffix, depth", [(".png", 16), (".tif", 16), (".tif", 32), (".png", 8)])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_tensor_file_tensor_error_within_half_a_step(tmp_path, suffix, depth, channels):
    x = torch.rand(2, channels, 17, 19, generator=torch.Generator().manual_seed(channels), dtype=torch.float32)
    x[0, 0, 0, :3] = torch.tensor([0.0, 1.0, 0.5])
    pixels = x[:, :3] if channels == 4 else x
    alpha = x[:, 3:] if channels == 4 else None
    paths = save_images(tmp_path / f"t{suffix}", pixels, alpha, depth)
    for i, path in enumerate(paths):
        split, got_depth = load_image(path)
        assert got_depth == depth
        back = split.pixels if split.alpha is None else torch.cat([split.pixels, split.alpha], 1)
        step = {8: 255.0, 16: 65535.0}.get(depth)
        # half a step, plus the float32 rounding of k / 65535 itself (below 3e-8)
        limit = 0.5 / step + 3e-8 if step else 0.0
        assert (back[0].double() - x[i].double()).abs().max().item() <= limit


def test_float_to_16_bit_rounds_to_nearest_step():
    x = np.array([0.0, 1.0, 0.5, 1.6 / 65535, 2.4999 / 65535, -0.1, 1.2], dtype=np.float32)
    assert quantize(x.reshape(1, -1, 1), 16).ravel().tolist() == [0, 65535, 32768, 2, 2, 0, 65535]
    with pytest.raises(InvalidImageError, match="NaN"):
        quantize(np.array([[[np.nan]]], np.float32), 16)


def test_png_text_chunks_are_readable_by_pillow(tmp_path):
    from PIL import Image

    meta = {"prompt": json.dumps({"1": {"class_type": "RK_Difference"}}), "workflow": '{"nodes": []}',
            "comment": "Grün ✓"}
    path = write_image(tmp_path / "m.png", np.zeros((4, 4, 3), np.float32), 16, metadata=meta)
    assert read_metadata(path) == meta
    with Image.open(path) as im:
        assert im.text == meta  # a tEXt chunk for Latin-1 text, iTXt for the rest
    assert read_array(path)[1] == 16


def test_tiff_description(tmp_path):
    import tifffile

    path = write_image(tmp_path / "m.tif", np.zeros((4, 4, 1), np.float32), 32, metadata={"workflow": "{}"})
    assert read_metadata(path) == {"description": "{}"}
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].description == "{}"
    both = write_image(tmp_path / "b.tif", np.zeros((4, 4, 1), np.float32), 16, metadata={"a": "1", "b": "2"})
    assert json.loads(read_metadata(both)["description"]) == {"a": "1", "b": "2"}
    assert read_metadata(write_image(tmp_path / "n.tif", np.zeros((2, 2, 1), np.float32), 16)) == {}


def test_compressed_files_are_smaller_and_identical(tmp_path):
    data = np.tile(np.arange(64, dtype=np.uint16)[None, :, None] * 1000, (64, 1, 3))
    for suffix in (".png", ".tif"):
        plain = write_array(tmp_path / f"p{suffix}", data)
        small = write_array(tmp_path / f"s{suffix}", data, compress=True)
        assert small.stat().st_size < plain.stat().st_size
        assert np.array_equal(read_array(small)[0], data)


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_atomic_write_keeps_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "keep.png"
    old = write_array(target, _samples(3, np.uint16)).read_bytes()

    def half_then_fail(fh):
        fh.write(b"\x89PNG half a file")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, half_then_fail)
    assert target.read_bytes() == old and _leftovers(tmp_path) == []


def test_write_interrupted_inside_the_encoder_leaves_old_file(tmp_path, monkeypatch):
    import tifffile

    target = tmp_path / "keep.tif"
    old = write_array(target, _samples(1, np.uint16)).read_bytes()
    real = tifffile.imwrite

    def dies_midway(fh, data, **kwargs):
        real(fh, data[: data.shape[0] // 2], **kwargs)
        raise KeyboardInterrupt  # e.g. the user stopped the run

    monkeypatch.setattr(tifffile, "imwrite", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        write_image(target, np.ones((8, 8, 1), np.float32), 16)
    assert target.read_bytes() == old and _leftovers(tmp_path) == []
    monkeypatch.setattr(tifffile, "imwrite", real)
    with pytest.raises(KeyboardInterrupt):  # no old file: none afterwards either
        atomic_write(tmp_path / "new.png", lambda fh: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert not (tmp_path / "new.png").exists() and _leftovers(tmp_path) == []


def test_written_files_get_normal_permissions(tmp_path):
    path = write_array(tmp_path / "p.png", _samples(1, np.uint8))
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_write_array_rejects_bad_samples(tmp_path):
    with pytest.raises(InvalidParameterError, match="cannot store 32-bit"):
        write_array(tmp_path / "f.png", np.zeros((2, 2, 1), np.float32))
    with pytest.raises(InvalidImageError, match="sample type"):
        write_array(tmp_path / "f.tif", np.zeros((2, 2, 1), np.int32))
    with pytest.raises(InvalidImageError, match="layout"):
        write_array(tmp_path / "f.tif", np.zeros((2, 2, 5), np.uint8))
