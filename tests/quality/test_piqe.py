"""PIQE (restorekit.quality.piqe): golden values, batching, sizes, errors, no network."""

from __future__ import annotations

import pytest
import support
import torch
import torch.nn.functional as F
from thresholds import ALL_THRESHOLDS

from restorekit.errors import InvalidImageError
from restorekit.quality.piqe import piqe

TH = ALL_THRESHOLDS["nr_quality"]

# Golden PIQE values of pypiqe 1.2 (numpy/OpenCV port of MATLAB's piqe) on the full images given as the gray
# image of MATLAB's rgb2gray weights, padded by edge replication to whole 16 px blocks and scaled as MATLAB
# does (round(255 * I)); pypiqe's own scaling by the image maximum was replaced by that MATLAB step.
GOLDEN = {
    ("Set12", "01.png"): 31.28933482413795,
    ("Set12", "02.png"): 33.078940973723576,
    ("Set12", "05.png"): 27.239896138030044,
    ("CBSD68", "101085.png"): 43.274041502430904,
    ("CBSD68", "102061.png"): 29.650234690310334,
    ("CBSD68", "108005.png"): 31.0608992627584,
}


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    support.refuse_network(monkeypatch)


@pytest.mark.parametrize(("dataset", "name"), list(GOLDEN))
def test_matches_pypiqe(dataset, name):
    x = support.load(support.datasets_dir() / dataset / name)
    got = piqe(x)
    assert got.shape == (1,) and got.dtype == torch.float32
    assert got.item() == pytest.approx(GOLDEN[(dataset, name)], rel=TH["piqe_rel"])


def test_batch_equals_loop_dtype_layout():
    g = torch.Generator().manual_seed(9)
    x = F.interpolate(torch.rand(3, 3, 20, 25, generator=g), size=(100, 125), mode="bicubic").clamp(0, 1)
    batch = piqe(x)
    loop = torch.cat([piqe(x[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(batch, loop, rtol=1e-6, atol=0)
    assert piqe(x.double()).dtype == torch.float64
    torch.testing.assert_close(piqe(x.contiguous(memory_format=torch.channels_last)), batch, rtol=1e-6, atol=0)


def test_any_size_range_and_flat():
    g = torch.Generator().manual_seed(10)
    for h, w in [(1, 1), (3, 5), (16, 16), (17, 40)]:
        v = piqe(torch.rand(2, 3, h, w, generator=g))
        assert v.shape == (2,) and ((v >= 0) & (v <= 100)).all()
    assert piqe(torch.full((1, 1, 64, 64), 0.3)).item() == 100.0
    with pytest.raises(InvalidImageError):
        piqe(torch.full((1, 1, 8, 8), float("nan")))


def test_noise_scores_worse():
    x = support.load(support.datasets_dir() / "Set12" / "05.png")
    g = torch.Generator().manual_seed(11)
    noisy = (x + 25 / 255 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert piqe(noisy).item() > piqe(x).item() + 10
