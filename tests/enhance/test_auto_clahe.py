"""Tests for restorekit.enhance.auto_clahe and the Auto CLAHE operation."""

from __future__ import annotations

import math

import pytest
import support
import torch
from thresholds import ALL_THRESHOLDS

from restorekit.enhance.auto_clahe import (
    CLIP_SWEEP,
    REFERENCE_TILES,
    TILE_SWEEP,
    auto_clahe,
    knee_index,
    output_entropy,
)
from restorekit.enhance.clahe import clahe
from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.operations import enhance as _enhance_ops  # noqa: F401  (registers the operation)
from restorekit.params import get_operation

THRESHOLDS = ALL_THRESHOLDS["auto_clahe"]
LOG_CLIPS = [math.log2(c) for c in CLIP_SWEEP]
LOG_TILES = [math.log2(n) for n in TILE_SWEEP]


def _rand(b=1, c=3, h=40, w=48, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.avg_pool2d(torch.rand(b, c, h, w, generator=gen, dtype=torch.float64), 3, 1, 1,
                                       count_include_pad=False)
    return ((x - x.amin()) / (x.amax() - x.amin()).clamp(min=1e-6)).to(dtype)


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 3, 5), (3, 1, 33, 20), (1, 3, 64, 64)])
def test_shapes_range_and_info(shape):
    x = _rand(*shape)
    y, info = auto_clahe(x, return_info=True)
    assert y.shape == x.shape and y.dtype == x.dtype and torch.isfinite(y).all() and 0 <= y.min() and y.max() <= 1
    assert len(info) == shape[0]
    assert all(c.clip_limit in CLIP_SWEEP and c.tiles in TILE_SWEEP for c in info)


def test_flat_image_gets_the_mildest_setting():
    _, (c,) = auto_clahe(torch.full((1, 1, 32, 32), 0.3), return_info=True)
    assert c.clip_limit == CLIP_SWEEP[0] and c.tiles == TILE_SWEEP[0]


def test_applies_its_choice():
    x = _rand(1, 3, 64, 64, seed=2)
    y, (c,) = auto_clahe(x, return_info=True, color_space="oklab")
    assert torch.equal(y, clahe(x, clip_limit=c.clip_limit, tiles=c.tiles, color_space="oklab"))


def test_batch_consistency_and_dtype():
    x = torch.cat([_rand(1, 3, 48, 40, seed=s) * (0.3 + 0.3 * s) for s in range(3)])
    y, info = auto_clahe(x, return_info=True)
    for i in range(3):
        yi, (ci,) = auto_clahe(x[i : i + 1], return_info=True)
        assert ci == info[i]
        assert torch.allclose(y[i : i + 1], yi, rtol=0, atol=1e-6)
    y64 = auto_clahe(x.double())
    assert y64.dtype == torch.float64 and (y64 - y.double()).abs().max() < 1e-4


def test_strength_and_progress():
    x = _rand(2, 1, 32, 32)
    assert torch.equal(auto_clahe(x, strength=0.0), x)
    calls = []
    auto_clahe(x, progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 2) and calls[-1] == (2, 2)


def test_device(device):
    x = _rand(2, 3, 40, 52).to(device)
    y, info = auto_clahe(x, return_info=True)
    ref, ref_info = auto_clahe(x.cpu(), return_info=True)
    assert y.device == x.device and [(c.clip_limit, c.tiles) for c in info] == [(c.clip_limit, c.tiles) for c in ref_info]
    assert (y.cpu() - ref).abs().max() < 1e-4


def test_bad_inputs():
    with pytest.raises(InvalidImageError):
        auto_clahe(torch.rand(1, 2, 16, 16))
    for kwargs in ({"analysis_size": 100}, {"analysis_size": 0}, {"strength": 2.0}, {"color_space": "rgb"},
                   {"mapping": "nearest"}):
        with pytest.raises(InvalidParameterError):
            auto_clahe(_rand(1, 3, 16, 16), **kwargs)


def test_knee_of_a_saturating_curve():
    # E = 1 - exp(-x / 0.2) on [0, 1]: normalised slope 1/sqrt(2) (maximum curvature) at x = 0.2 ln(7.07) = 0.39.
    x = torch.linspace(0, 1, 11)
    e = 1 - torch.exp(-x / 0.2)
    assert int(knee_index(e.view(1, -1), x.tolist())[0]) == 4
    assert int(knee_index(e.flip(0).view(1, -1), x.tolist())[0]) == 6  # mirrored curve, mirrored knee
    assert int(knee_index(torch.zeros(1, 11), x.tolist())[0]) == 0


def test_output_entropy():
    assert output_entropy(torch.linspace(0, 1, 64 * 10).view(1, -1)).item() == pytest.approx(6.0, abs=1e-5)
    assert output_entropy(torch.full((1, 100), 0.5)).item() == 0.0


# ---- quality: the analysis copy agrees with a full-resolution sweep -------------------------------


def _full_resolution_choice(x: torch.Tensor) -> tuple[int, int]:
    """The same criterion swept with clahe() on the full image: (clip index, tiles index)."""
    e = torch.stack([output_entropy(clahe(x, clip_limit=c, tiles=REFERENCE_TILES).flatten(1)) for c in CLIP_SWEEP], -1)
    ci = int(knee_index(e, LOG_CLIPS)[0])
    e = torch.stack([output_entropy(clahe(x, clip_limit=CLIP_SWEEP[ci], tiles=n).flatten(1)) for n in TILE_SWEEP], -1)
    return ci, int(knee_index(e, LOG_TILES)[0])


@pytest.mark.quality
def test_matches_full_resolution_sweep_on_set12():
    names = ["03", "04", "08", "10", "11"]  # two 256x256, three 512x512
    images = support.load_set("Set12", names=names, gray=True)
    steps = []
    for x in images:
        _, (c,) = auto_clahe(x, return_info=True)
        ci, ti = _full_resolution_choice(x)
        steps.append((abs(CLIP_SWEEP.index(c.clip_limit) - ci), abs(TILE_SWEEP.index(c.tiles) - ti)))
    assert max(max(s) for s in steps) <= THRESHOLDS["auto_clahe_vs_full_sweep_max_steps"], steps


@pytest.mark.quality
def test_low_contrast_gets_a_higher_clip_limit():
    images = support.load_set("Set12", names=["03", "05"], gray=True)
    for x in images:
        low = torch.round((0.4 + 0.2 * x) * 255) / 255  # a fifth of the range, still 8-bit
        high = ((x - 0.5) * 1.5 + 0.5).clamp(0, 1)
        _, (c_low,) = auto_clahe(low, return_info=True)
        _, (c_high,) = auto_clahe(high, return_info=True)
        assert c_low.clip_limit > c_high.clip_limit
        assert c_low.entropy_input < c_high.entropy_input


# ---- operation --------------------------------------------------------------------------------


def test_operation():
    op = get_operation("auto_clahe")
    assert op.node_id == "RK_AutoClahe" and op.display_name == "Auto CLAHE" and op.category == "enhance"
    x = _rand(2, 3, 40, 40)
    defaults = {p.name: p.to_core(p.default) for p in op.inputs if not p.is_data}
    with torch.inference_mode():
        out, text = op.call({"image": x, **defaults})
    ref, info = auto_clahe(x, return_info=True)
    assert torch.equal(out, ref)
    assert "clip limit" in text and f"{info[1].tiles}x{info[1].tiles}" in text and len(text.splitlines()) == 4
