"""Tests for restorekit.quality.no_reference: perceptual blur, entropy, colourfulness, GLCM texture."""

from __future__ import annotations

import numpy as np
import pytest
import support
import torch
from thresholds import ALL_THRESHOLDS

from restorekit.color import luma
from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.quality import metrics as M
from restorekit.quality import no_reference as NR

THRESHOLDS = ALL_THRESHOLDS.get("no_reference", {})
ANGLES = [0, np.pi / 4, np.pi / 2, 3 * np.pi / 4]


def _images(b=2, c=3, h=40, w=36, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(b, c, h, w, generator=gen)


def _sk_glcm_props(x: torch.Tensor, levels: int, distance: int = 1) -> dict[str, float]:
    from skimage.feature import graycomatrix, graycoprops

    y = luma(x)[0, 0].double().numpy()
    q = np.floor(np.round(np.clip(y, 0, 1) * 255) * levels / 256).astype(np.uint16)
    # Our diagonals step (d, d) as Haralick's; scikit-image rounds (d/sqrt2, d/sqrt2), so the
    # diagonals are asked of it at distance d*sqrt2 (the same offsets) and the axes at d.
    p = graycomatrix(q, [distance, distance * np.sqrt(2)], ANGLES, levels=levels, symmetric=True, normed=True)
    return {k: float(np.mean([graycoprops(p, k)[0 if a % 2 == 0 else 1, a] for a in range(4)])) for k in NR.GLCM_PROPERTIES}


def _real_images() -> list[torch.Tensor]:
    gray = support.load_set("Set12", ["01", "04"])
    colour = [support.load(p)[..., :160, :200] for p in support.image_paths("CBSD68")[:2]]
    return gray + colour


# ---- blur ------------------------------------------------------------------------------------


@pytest.mark.quality
@pytest.mark.parametrize("size", [9, 11])
def test_blur_matches_skimage(size):
    from skimage.measure import blur_effect as sk_blur

    for img in _real_images() + [_images(1, 1, 7, 9)]:
        expected = sk_blur(luma(img)[0, 0].double().numpy(), h_size=size)
        assert NR.blur_effect(img, size=size).item() == pytest.approx(expected, abs=THRESHOLDS["blur_vs_skimage_abs"])


@pytest.mark.quality
def test_blur_grows_with_blur():
    clean = support.load_set("Set12", ["05"])[0]
    values = [NR.blur_effect(clean).item()]
    for sigma in (1.0, 2.0, 4.0):
        r = int(3 * sigma)
        t = np.arange(-r, r + 1)
        g = np.exp(-0.5 * (t / sigma) ** 2)
        values.append(NR.blur_effect(support.blur(clean, np.outer(g, g) / np.outer(g, g).sum())).item())
    assert values == sorted(values) and values[0] < 0.4 and values[-1] > 0.6, values


def test_blur_values_and_sizes():
    assert NR.blur_effect(torch.full((1, 3, 16, 16), 0.3)).item() == pytest.approx(1.0)  # flat: nothing to lose
    for hw in [(1, 1), (1, 7), (6, 1), (3, 5), (40, 33)]:
        out = NR.blur_effect(_images(2, 1, *hw))
        assert out.shape == (2,) and torch.isfinite(out).all() and (out >= 0).all() and (out <= 1 + 1e-6).all()
    assert NR.blur_effect(_images(1, 1, 1, 1)).item() == 1.0


@pytest.mark.parametrize("size", [2, 4, 1, 65, 11.0, True])
def test_blur_bad_size(size):
    with pytest.raises(InvalidParameterError, match="size"):
        NR.blur_effect(_images(1, 1, 8, 8), size=size)


# ---- GLCM ------------------------------------------------------------------------------------


@pytest.mark.quality
@pytest.mark.parametrize(("levels", "distance"), [(32, 1), (8, 2), (256, 1)])
def test_glcm_matches_skimage(levels, distance):
    pytest.importorskip("skimage")
    for img in _real_images():
        ours = NR.glcm_texture(img, levels=levels, distance=distance)
        theirs = _sk_glcm_props(img, levels, distance)
        for k in NR.GLCM_PROPERTIES:
            assert ours[k].item() == pytest.approx(theirs[k], rel=THRESHOLDS["glcm_vs_skimage_rel"], abs=1e-6), k


def test_glcm_small_random_matches_skimage():
    img = _images(1, 1, 7, 9, seed=3)
    ours = NR.glcm_texture(img, levels=16)
    for k, v in _sk_glcm_props(img, 16).items():
        assert ours[k].item() == pytest.approx(v, rel=1e-5, abs=1e-6), k


def test_glcm_matrix_is_symmetric_and_normalised():
    p = NR.glcm(_images(2, 3, 20, 24), levels=16)
    assert p.shape == (2, 4, 16, 16)
    assert torch.allclose(p, p.transpose(-1, -2))
    assert torch.allclose(p.sum(dim=(-2, -1)), torch.ones(2, 4), atol=1e-6)


def test_glcm_known_values():
    flat = torch.full((1, 1, 8, 8), 0.5)
    t = NR.glcm_texture(flat)
    assert [t[k].item() for k in NR.GLCM_PROPERTIES] == [0.0, 1.0, 1.0, 1.0]
    stripes = torch.zeros(1, 1, 8, 8)
    stripes[..., ::2] = 1.0  # vertical stripes, levels 0 and 31
    t = NR.glcm_texture(stripes)
    # horizontal and both diagonals: always 0 next to 31; vertical: always equal
    assert t["contrast"].item() == pytest.approx(3 / 4 * 31**2, rel=1e-5)
    assert t["homogeneity"].item() == pytest.approx(3 / 4 / (1 + 31**2) + 1 / 4, rel=1e-5)
    assert t["correlation"].item() == pytest.approx((3 * -1.0 + 1.0) / 4, abs=1e-5)


def test_glcm_sizes_batch_and_device(device):
    for hw in [(1, 1), (1, 5), (4, 1), (3, 5), (33, 20)]:
        t = NR.glcm_texture(_images(3, 3, *hw))
        for k, v in t.items():
            assert v.shape == (3,) and torch.isfinite(v).all(), (hw, k)
    x = _images(3, 3, 24, 30, seed=5)
    full = NR.glcm_texture(x.to(device))
    for i in range(3):
        single = NR.glcm_texture(x[i : i + 1])
        for k in NR.GLCM_PROPERTIES:
            assert full[k].device.type == device.type and full[k].dtype == torch.float32
            assert torch.allclose(full[k][i : i + 1].cpu(), single[k], atol=1e-6), k


def test_one_pixel_lines_use_the_directions_they_have():
    row = _images(1, 1, 1, 12, seed=6)
    t = NR.glcm_texture(row, levels=16)
    p = NR.glcm(row, levels=16)
    assert p[0, 0].sum() > 0 and p[0, 1:].sum() == 0  # only the horizontal direction has pairs
    i = torch.arange(16.0)
    expected = (p[0, 0] * (i.view(-1, 1) - i.view(1, -1)) ** 2).sum()
    assert t["contrast"].item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize(("kw", "name"), [({"levels": 1}, "levels"), ({"levels": 300}, "levels"),
                                          ({"distance": 0}, "distance"), ({"levels": 8.0}, "levels")])
def test_glcm_bad_parameters(kw, name):
    with pytest.raises(InvalidParameterError, match=name):
        NR.glcm_texture(_images(1, 1, 8, 8), **kw)


# ---- entropy, colourfulness, common checks ---------------------------------------------------


def test_entropy_and_colourfulness_are_the_metrics_ones():
    x = _images(2, 3, 16, 16)
    assert torch.equal(NR.entropy(x), M.entropy(x))
    assert torch.equal(NR.colourfulness(x), M.colorfulness(x))
    assert NR.colorfulness is NR.colourfulness


def test_batch_matches_per_image_and_dtype():
    x = _images(3, 3, 30, 28, seed=7)
    full = NR.blur_effect(x)
    for i in range(3):
        assert torch.allclose(full[i : i + 1], NR.blur_effect(x[i : i + 1]), atol=1e-6)
    assert NR.blur_effect(x.double()).dtype == torch.float64
    assert torch.allclose(NR.blur_effect(x.double()).float(), full, atol=1e-5)
    assert torch.allclose(NR.blur_effect(x.to(memory_format=torch.channels_last)), full, atol=1e-6)


@pytest.mark.parametrize("bad", [torch.rand(3, 8, 8), torch.rand(1, 2, 8, 8), torch.full((1, 1, 8, 8), float("nan")),
                                 torch.zeros(1, 3, 0, 4), torch.randint(0, 255, (1, 3, 8, 8))])
def test_bad_images_rejected(bad):
    with pytest.raises(InvalidImageError):
        NR.blur_effect(bad)
    with pytest.raises(InvalidImageError):
        NR.glcm_texture(bad)
