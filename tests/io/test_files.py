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
