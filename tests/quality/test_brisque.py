"""BRISQUE (restorekit.quality.brisque): golden values, batching, sizes, errors, no network."""

from __future__ import annotations

import pytest
import support
import torch
import torch.nn.functional as F
from thresholds import ALL_THRESHOLDS

from restorekit.errors import InvalidImageError
from restorekit.quality import brisque as brisque_module
from restorekit.quality import nr_features
from restorekit.quality.brisque import brisque, brisque_features

TH = ALL_THRESHOLDS["nr_quality"]

# Golden BRISQUE values of pyiqa 0.1.16 (pyiqa.archs.brisque_arch.brisque, version 'original', float64) with
# the LIVE model (sv_coef, sv) read from a local file made from LIVE's `allmodel` (the same numbers we ship),
# its Gaussian window kept in float64 (pyiqa rounds it to float32), on the full images given as the gray
# image of MATLAB's rgb2gray weights (not rounded).
GOLDEN = {
    ("Set12", "01.png"): 3.962097814233175,
    ("Set12", "02.png"): 22.36024555856386,
    ("Set12", "05.png"): 14.676000732046646,
    ("CBSD68", "101085.png"): 12.587113552736128,
    ("CBSD68", "102061.png"): 1.627363952057408,
    ("CBSD68", "108005.png"): 13.271838611318117,
}


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    support.refuse_network(monkeypatch)
    monkeypatch.setattr(brisque_module, "_MODEL", {})
    nr_features._shape_table.cache_clear()


@pytest.mark.parametrize(("dataset", "name"), list(GOLDEN))
def test_matches_pyiqa(dataset, name):
    x = support.load(support.datasets_dir() / dataset / name)
    got = brisque(x)
    assert got.shape == (1,) and got.dtype == torch.float32
    assert got.item() == pytest.approx(GOLDEN[(dataset, name)], rel=TH["brisque_rel"])


def test_batch_equals_loop_dtype_and_layout():
    g = torch.Generator().manual_seed(7)
    x = F.interpolate(torch.rand(3, 3, 30, 40, generator=g), size=(120, 150), mode="bicubic").clamp(0, 1)
    batch = brisque(x)
    loop = torch.cat([brisque(x[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(batch, loop, rtol=1e-6, atol=0)
    d = brisque(x.double())
    assert d.dtype == torch.float64
    torch.testing.assert_close(d.float(), batch, rtol=1e-2, atol=0)
    torch.testing.assert_close(brisque(x.contiguous(memory_format=torch.channels_last)), batch, rtol=1e-6, atol=0)
    assert brisque_features(x).shape == (3, 36)


def test_sizes_and_errors():
    g = torch.Generator().manual_seed(8)
    for h, w in [(16, 16), (17, 33), (48, 40)]:
        v = brisque(torch.rand(2, 1, h, w, generator=g))
        assert v.shape == (2,) and torch.isfinite(v).all()
    for h, w in [(1, 1), (3, 5), (15, 64)]:
        with pytest.raises(InvalidImageError):
            brisque(torch.rand(1, 3, h, w))
    with pytest.raises(InvalidImageError):
        brisque(torch.full((1, 1, 32, 32), float("inf")))


def test_blur_scores_worse():
    x = torch.cat([t[..., :256, :256] for t in support.load_set("CBSD68", names=["101085", "102061", "108005"])])
    scores = [brisque(x)]
    for sigma in (1.0, 2.0, 3.0):
        r = int(3 * sigma + 0.5)
        t = torch.arange(-r, r + 1, dtype=x.dtype)
        k = torch.exp(-(t**2) / (2 * sigma**2))
        k = (k[:, None] * k[None, :] / k.sum() ** 2).expand(3, 1, -1, -1)
        scores.append(brisque(F.conv2d(F.pad(x, (r, r, r, r), mode="replicate"), k, groups=3)))
    s = torch.stack(scores)
    assert (s.diff(dim=0) > 0).all(), s
