"""Tests for restorekit.grain.match (match_grain) and the Grain Match operation."""

from __future__ import annotations

import pytest
import torch

from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.grain.analysis import analyze_grain
from restorekit.grain.match import match_grain
from restorekit.grain.model import GrainModel
from restorekit.params import run
from tests.thresholds import ALL_THRESHOLDS

from .fixtures import (
    AR3_LUMA,
    apply_luma_grain,
    ar_coefficients,
    ar_pattern,
    film_scaling,
    gaussian_pattern,
    luma_of,
    smooth_content,
)

T = ALL_THRESHOLDS["grain_match"]
S = 160


def _std(model: GrainModel, x: torch.Tensor) -> float:
    return float(model.scaling_luma(luma_of(x.double())).square().mean().sqrt())


def _reference(seed: int, ar: bool = False) -> torch.Tensor:
    clean = smooth_content(S, S, channels=3, seed=seed)
    pattern = ar_pattern(S, S, ar_coefficients(AR3_LUMA), seed=seed) if ar else gaussian_pattern(S, S, 1.2, seed=seed)
    return apply_luma_grain(clean, pattern, film_scaling(9 / 255)).float()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matched_grain_std_and_size(seed: int) -> None:
    ref = _reference(seed)
    target = smooth_content(S, S, channels=3, seed=seed + 10).float()
    out, used = match_grain(target, ref, seed=seed, synthesis="gaussian")
    mr, mo = analyze_grain(ref)[0], analyze_grain(out)[0]
    assert abs(_std(mo, target) / _std(mr, target) - 1) <= T["std_rel_err"]
    assert abs(mo.grain_size / mr.grain_size - 1) <= T["size_rel_err"]
    assert used[0].synthesis == "gaussian" and len(used) == 1


def test_auto_synthesis_std() -> None:
    ref = _reference(2, ar=True)
    target = smooth_content(S, S, channels=3, seed=12).float()
    out, _ = match_grain(target, ref, seed=2)
    mr, mo = analyze_grain(ref)[0], analyze_grain(out)[0]
    assert abs(_std(mo, target) / _std(mr, target) - 1) <= T["std_rel_err"]


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double() - a.double().mean(), b.double() - b.double().mean()
    return float((a * b).mean() / (a.std() * b.std()))


@pytest.mark.slow
def test_remove_existing_takes_the_targets_grain_off() -> None:
    ref = _reference(0)
    clean = smooth_content(S, S, channels=3, seed=10)
    own = gaussian_pattern(S, S, 0.7, seed=20)
    target = apply_luma_grain(clean, own, film_scaling(6 / 255)).float()
    clean = clean.float()
    kept, _ = match_grain(target, ref, seed=0)
    gone, _ = match_grain(target, ref, seed=0, remove_existing=True)
    assert _corr(luma_of(kept) - luma_of(clean), own) >= T["kept_grain_min_corr"]
    assert _corr(luma_of(gone) - luma_of(clean), own) <= T["removed_grain_max_corr"]
    # what is left on the clean image is the reference's grain, of the reference's std
    mr = analyze_grain(ref)[0]
    left = float((luma_of(gone) - luma_of(clean)).std())
    assert abs(left / _std(mr, clean) - 1) <= 0.2


def test_batches_and_determinism() -> None:
    refs = torch.cat([_reference(0)[:, :, :64, :64], _reference(1)[:, :, :64, :64]])
    targets = torch.cat([smooth_content(48, 56, channels=3, seed=s).float() for s in (5, 6)])
    one_for_all, used = match_grain(targets, refs[:1], seed=3)
    assert one_for_all.shape == targets.shape and len(used) == 2
    per_image, used2 = match_grain(targets, refs, seed=3)
    again, _ = match_grain(targets, refs, seed=3)
    assert torch.equal(per_image, again)
    first, _ = match_grain(targets[:1], refs[:1], seed=3)
    torch.testing.assert_close(per_image[:1], first)
    torch.testing.assert_close(one_for_all[:1], first)
    assert not torch.equal(one_for_all[1], one_for_all[0])
    gray, _ = match_grain(targets[:, :1], refs[:1], seed=3)
    assert gray.shape == (2, 1, 48, 56) and 0 <= float(gray.min()) <= float(gray.max()) <= 1


def test_bad_inputs() -> None:
    targets = torch.rand(3, 3, 16, 16)
    with pytest.raises(InvalidImageError):
        match_grain(targets, torch.rand(2, 3, 16, 16))
    with pytest.raises(InvalidParameterError):
        match_grain(targets, targets[:1], strength=3.0)
    with pytest.raises(InvalidParameterError):
        match_grain(targets, targets[:1], synthesis="perlin")
    with pytest.raises(InvalidParameterError):
        match_grain(targets, targets[:1], removal_method="model")


def test_operation_report() -> None:
    ref = _reference(1)[:, :, :96, :96]
    target = smooth_content(64, 64, channels=3, seed=9).float()
    out = run("grain_match", image=target, reference=ref, seed=1)
    assert out["image"].shape == target.shape
    assert isinstance(out["grain"], GrainModel)
    assert "Reference grain" in out["report"] and "before" in out["report"]
