"""restorekit.datasets: finding the benchmark sets, loading, the noise protocol, 8-bit PSNR."""

from __future__ import annotations

import math

import numpy as np
import pytest
import support
import torch
from PIL import Image

from restorekit import datasets
from restorekit.errors import DatasetNotFoundError, RestoreError


@pytest.fixture
def fake_root(tmp_path):
    """A datasets root with a tiny gray set and a tiny RGB set (plus a file that is not an image)."""
    gray = tmp_path / "Set12"
    gray.mkdir()
    rng = np.random.default_rng(0)
    for name in ("02", "01"):
        Image.fromarray(rng.integers(0, 256, (6, 5), dtype=np.uint8), "L").save(gray / f"{name}.png")
    (gray / "README.txt").write_text("not an image")
    rgb = tmp_path / "CBSD68"
    rgb.mkdir()
    Image.fromarray(rng.integers(0, 256, (4, 7, 3), dtype=np.uint8), "RGB").save(rgb / "a.png")
    return tmp_path


def test_missing_set_raises_clear_error(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        datasets.image_paths("Set12", root=tmp_path)
    err = info.value
    assert isinstance(err, RestoreError) and isinstance(err, FileNotFoundError)
    assert str(tmp_path / "Set12") in str(err)
    assert datasets.ENV_VAR in str(err)


def test_missing_set_lists_every_place_searched(tmp_path, monkeypatch):
    monkeypatch.setenv(datasets.ENV_VAR, str(tmp_path))
    candidates = datasets.candidate_dirs()
    assert candidates[0] == tmp_path and len(candidates) == 3
    with pytest.raises(DatasetNotFoundError) as info:
        datasets.datasets_dir("NoSuchSet")
    for place in candidates:
        assert str(place / "NoSuchSet") in str(info.value)


def test_environment_variable_comes_first(fake_root, monkeypatch):
    monkeypatch.setenv(datasets.ENV_VAR, str(fake_root))
    assert datasets.datasets_dir("Set12") == fake_root
    assert [p.name for p in datasets.image_paths("Set12")] == ["01.png", "02.png"]


def test_explicit_root_is_the_only_place_searched(fake_root, tmp_path_factory):
    assert datasets.candidate_dirs(fake_root) == [fake_root]
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(DatasetNotFoundError):
        datasets.datasets_dir("Set12", root=empty)


def test_load_shapes_and_values(fake_root):
    gray = datasets.load_set("Set12", root=fake_root)
    assert [tuple(x.shape) for x in gray] == [(1, 1, 6, 5), (1, 1, 6, 5)]
    x = gray[0]
    assert x.dtype == torch.float32 and x.is_contiguous()
    raw = np.asarray(Image.open(fake_root / "Set12" / "01.png"), dtype=np.float32) / 255.0
    assert torch.equal(x[0, 0], torch.from_numpy(raw))
    assert tuple(datasets.load_set("Set12", gray=False, root=fake_root)[0].shape) == (1, 3, 6, 5)
    assert [x.shape for x in datasets.load_set("Set12", names=["02"], root=fake_root)] == [(1, 1, 6, 5)]

    path = fake_root / "CBSD68" / "a.png"
    rgb = datasets.load_image(path)
    assert tuple(rgb.shape) == (1, 3, 4, 7) and 0 <= float(rgb.min()) and float(rgb.max()) <= 1
    luma = datasets.load_image(path, gray=True)
    expected = np.asarray(Image.open(path).convert("L"), dtype=np.float32) / 255.0  # Pillow's rounded luma
    assert tuple(luma.shape) == (1, 1, 4, 7) and torch.equal(luma[0, 0], torch.from_numpy(expected))


def test_noise_is_deterministic_and_bit_identical_to_the_protocol():
    clean = datasets.smooth_random(2, 3, 9, 11, seed=3)
    a = datasets.add_noise(clean, 25, seed=7)
    assert torch.equal(a, datasets.add_noise(clean, 25, seed=7))
    assert not torch.equal(a, datasets.add_noise(clean, 25, seed=8))
    gen = torch.Generator().manual_seed(7)
    direct = clean + torch.randn(clean.shape, generator=gen, dtype=torch.float32) * (25 / 255.0)
    assert torch.equal(a, direct)
    assert abs(float((a - clean).std()) - 25 / 255) < 0.01
    assert float(datasets.add_noise(torch.zeros(1, 1, 8, 8), 25).min()) < 0  # not clipped


def test_psnr_8bit():
    x = datasets.smooth_random(1, 3, 16, 16)
    assert datasets.psnr(x, x) == math.inf
    y = (x * 255).round() / 255
    assert datasets.psnr(y + 0.4 / 255, y) == math.inf  # equal after 8-bit quantisation
    one_level = (y + 1 / 255).clamp(0, 1)
    assert datasets.psnr(one_level, y) == pytest.approx(20 * math.log10(255), abs=1e-9)


def test_blur_and_noise_protocol():
    x = datasets.smooth_random(1, 1, 12, 12)
    kernel = np.full((3, 3), 1 / 9)
    y = datasets.blur_and_noise(x, kernel, seed=1, sigma255=2.55, mode="wrap")
    expected = datasets.add_noise(datasets.blur(x, kernel, "wrap"), 2.55, seed=1).clamp(0, 1)
    assert torch.equal(y, expected)


def test_support_delegates_to_the_core_module():
    assert support.add_noise is datasets.add_noise and support.psnr is datasets.psnr


@pytest.mark.quality
def test_standard_sets_are_found():
    paths = support.image_paths("Set12")
    assert [p.stem for p in paths] == [f"{i:02d}" for i in range(1, 13)]
    assert len(support.image_paths("BSD68")) == 68
    kernels = support.levin_kernels()
    assert len(kernels) == 8 and all(abs(k.sum() - 1) < 1e-12 for k in kernels)
