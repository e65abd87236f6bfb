"""NIQE (restorekit.quality.niqe): golden values, batching, shapes, errors, model fitting and saving, no network."""

from __future__ import annotations

import pytest
import support
import torch
import torch.nn.functional as F
from thresholds import ALL_THRESHOLDS

from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.quality import niqe as niqe_module
from restorekit.quality import nr_features
from restorekit.quality.niqe import NiqeModel, fit_niqe_model, niqe

TH = ALL_THRESHOLDS["nr_quality"]

# Golden NIQE values of BasicSR 1.4.2 (basicsr.metrics.niqe.niqe, numpy/scipy, float64, its shipped
# niqe_pris_params.npz) on the full images, given the gray image MATLAB's rgb2gray weights make from them
# (0.298936021293775 R + 0.587043074451121 G + 0.114020904255103 B, not rounded) on the 0-255 scale.
GOLDEN = {
    ("Set12", "01.png"): 4.631437052095652,
    ("Set12", "02.png"): 6.476131601356823,
    ("Set12", "05.png"): 5.368653934044506,
    ("CBSD68", "101085.png"): 2.825126596222936,
    ("CBSD68", "102061.png"): 3.175192071347807,
    ("CBSD68", "108005.png"): 2.3302633352222597,
}


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Every test runs with sockets and urlopen raising, and the shipped parameters read afresh."""
    support.refuse_network(monkeypatch)
    monkeypatch.setattr(niqe_module, "_PRISTINE", [])
    nr_features._shape_table.cache_clear()


def _gauss_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    if sigma == 0:
        return x
    r = int(3 * sigma + 0.5)
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    c = x.shape[1]
    y = F.pad(x, (r, r, r, r), mode="replicate")
    y = F.conv2d(y, g.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(y, g.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)


@pytest.mark.parametrize(("dataset", "name"), list(GOLDEN))
def test_matches_basicsr(dataset, name):
    x = support.load(support.datasets_dir() / dataset / name)
    got = niqe(x)
    assert got.shape == (1,) and got.dtype == torch.float32
    assert got.item() == pytest.approx(GOLDEN[(dataset, name)], rel=TH["niqe_rel"])


def test_batch_equals_loop_and_dtype():
    g = torch.Generator().manual_seed(3)
    x = F.interpolate(torch.rand(3, 3, 50, 60, generator=g), size=(200, 230), mode="bicubic").clamp(0, 1)
    batch = niqe(x)
    loop = torch.cat([niqe(x[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(batch, loop, rtol=1e-6, atol=0)
    d = niqe(x.double())
    assert d.dtype == torch.float64
    torch.testing.assert_close(d.float(), batch, rtol=1e-3, atol=0)
    cl = niqe(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(cl, batch, rtol=1e-6, atol=0)


def test_small_and_odd_sizes():
    g = torch.Generator().manual_seed(4)
    for h, w in [(16, 16), (40, 48), (17, 101), (97, 250)]:
        v = niqe(torch.rand(2, 1, h, w, generator=g))
        assert v.shape == (2,) and torch.isfinite(v).all()
    with pytest.raises(InvalidImageError):
        niqe(torch.rand(1, 3, 15, 64))
    with pytest.raises(InvalidImageError):
        niqe(torch.rand(1, 3, 1, 1))


def test_flat_image_is_nan_and_bad_inputs_raise():
    assert torch.isnan(niqe(torch.full((1, 1, 96, 96), 0.5))).all()
    with pytest.raises(InvalidImageError):
        niqe(torch.full((1, 3, 96, 96), float("nan")))
    with pytest.raises(InvalidParameterError):
        niqe(torch.rand(1, 1, 96, 96), model="pristine")


def test_pristine_model_is_the_published_one():
    m = NiqeModel.pristine()
    assert m.mu.shape == (36,) and m.cov.shape == (36, 36) and m.patch_size == 96
    assert torch.allclose(m.cov, m.cov.T)
    # First features of modelparameters.mat (AGGD shape and scale of pristine MSCN at full resolution).
    assert m.mu[0].item() == pytest.approx(2.6, abs=0.2)


#: Gaussian blur standard deviations (px): sharp, then three blur levels.
BLUR_SIGMAS = (0.0, 1.0, 2.0, 3.0)


def _sharp_images(names: list[str]) -> list[torch.Tensor]:
    return support.load_set("CBSD68", names=names)


def test_fit_save_load_and_blur_monotonic(tmp_path):
    names = support.image_paths("CBSD68")
    # Fit on 60 sharp CBSD68 photographs (default 96 px patches, sharpness threshold 0.75), test on the other 8.
    train = _sharp_images([p.stem for p in names[:60]])
    test = _sharp_images([p.stem for p in names[60:68]])
    model = fit_niqe_model(train)
    assert model.patch_size == 96 and torch.isfinite(model.cov).all()
    for suffix in (".npz", ".safetensors"):
        path = tmp_path / f"model{suffix}"
        model.save(path)
        back = NiqeModel.load(path)
        assert torch.equal(back.mu, model.mu) and torch.equal(back.cov, model.cov)
        assert back.patch_size == model.patch_size
    x = torch.cat([t[..., :320, :320] for t in test])
    scores = torch.stack([niqe(_gauss_blur(x, s), model=model) for s in BLUR_SIGMAS])
    # Every image scores worse at every stronger blur, with the fitted model and with the published one.
    assert (scores.diff(dim=0) > 0).all(), scores
    published = torch.stack([niqe(_gauss_blur(x, s)) for s in BLUR_SIGMAS])
    assert (published.diff(dim=0) > 0).all(), published


def test_fit_accepts_mixed_sizes_and_rejects_bad_input():
    g = torch.Generator().manual_seed(5)
    imgs = [
        F.interpolate(torch.rand(1, 3, 40, 40, generator=g), size=(200, 260), mode="bicubic").clamp(0, 1),
        F.interpolate(torch.rand(3, 50, 30, generator=g)[None], size=(250, 150), mode="bicubic").clamp(0, 1)[0],
    ]
    m = fit_niqe_model(imgs, patch_size=48, sharpness_threshold=0.0)
    assert m.patch_size == 48
    assert torch.isfinite(niqe(imgs[0], model=m)).all()
    with pytest.raises(InvalidParameterError):
        fit_niqe_model(imgs, patch_size=95)
    with pytest.raises(InvalidParameterError):
        fit_niqe_model(imgs, sharpness_threshold=1.5)
    with pytest.raises(InvalidParameterError):
        fit_niqe_model([])
    with pytest.raises(InvalidImageError):
        fit_niqe_model([torch.rand(1, 1, 64, 200)])
    with pytest.raises(InvalidParameterError):
        NiqeModel(torch.zeros(35), torch.eye(35))


def test_imresize_half_matches_matlab_rules():
    # MATLAB imresize(0.5) keeps constants, gives ceil(n/2) samples, and on a linear ramp (interior) gives the
    # midpoint of each pixel pair: output u sits at input position 2u - 0.5 (1-based).
    ramp = torch.arange(20, dtype=torch.float64).view(1, 1, 1, 20).expand(1, 1, 9, 20)
    y = nr_features.imresize_half(ramp)
    assert y.shape == (1, 1, 5, 10)
    torch.testing.assert_close(y[0, 0, :, 2:-2], (torch.arange(2, 8, dtype=torch.float64) * 2 + 0.5).expand(5, 6))
    c = nr_features.imresize_half(torch.full((1, 1, 7, 3), 0.25))
    torch.testing.assert_close(c, torch.full((1, 1, 4, 2), 0.25))
