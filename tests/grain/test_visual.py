"""The Grain Analyze visual: shape, range, and the curve drawn where it belongs."""

import pytest
import torch

from restorekit.errors import InvalidParameterError
from restorekit.grain.analysis import analyze_grain
from restorekit.grain.model import GrainModel, ScalingFunction
from restorekit.grain.visual import CURVE, DOTS, SPECTRUM, grain_visual

from .fixtures import CLASSES, labelled_crop


def _near(img: torch.Tensor, color: tuple[float, float, float], tol: float = 0.08) -> torch.Tensor:
    return ((img - torch.tensor(color)[:, None, None]).abs() < tol).all(0)


def test_shape_range_and_something_drawn():
    x = torch.cat([labelled_crop(label, 1, 64) for label in CLASSES])
    models, infos = analyze_grain(x, return_info=True)
    v = grain_visual(models, infos)
    assert v.shape == (4, 3, 256, 512) and v.dtype == torch.float32
    assert torch.isfinite(v).all() and v.min() >= 0 and v.max() <= 1
    for i in range(3):  # the grain crops: a curve and dots on the left, a spectrum on the right
        assert _near(v[i, :, :, :256], CURVE).sum() > 100
        assert _near(v[i, :, :, :256], DOTS).sum() > 20
        assert _near(v[i, :, :, 256:], SPECTRUM).sum() > 100
    assert _near(v[3, :, :, 256:], SPECTRUM).sum() == 0  # clean: no spectrum


def test_curve_at_the_right_height():
    # a constant 5 grey-level scaling: the curve is one horizontal line, the same row in every column
    m = GrainModel(scaling_luma=ScalingFunction.constant(5 / 255), spectrum=(1e-4,) * 16, classification="film_grain")
    v = grain_visual(m, width=400, height=200)[0]
    hit = _near(v[:, :, :200], CURVE)
    rows = hit.any(1).nonzero().flatten()
    assert 0 < rows.numel() <= 4  # a 2 px line
    cols = hit.any(0).nonzero().flatten()
    assert cols.numel() > 100
    # higher grain -> higher up on the plot (smaller row), same axes scale since y max is rounded up alike
    m2 = m.replace(scaling_luma=ScalingFunction(((0.0, 2 / 255), (1.0, 8 / 255))))
    hit2 = _near(grain_visual(m2, width=400, height=200)[0][:, :, :200], CURVE)
    left, right = hit2[:, 60].nonzero().float().mean(), hit2[:, 170].nonzero().float().mean()
    assert right < left  # rising curve


def test_bad_arguments():
    with pytest.raises(InvalidParameterError):
        grain_visual([])
    with pytest.raises(InvalidParameterError):
        grain_visual(GrainModel(), width=50)
    with pytest.raises(InvalidParameterError):
        grain_visual([GrainModel()], analyses=[])
