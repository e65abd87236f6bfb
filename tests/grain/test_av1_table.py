"""AV1 film-grain tables: aomenc's format, lossless round trips, range rules, amplitude convention."""

import pytest
import torch

from restorekit.errors import InvalidParameterError
from restorekit.grain.av1_table import (
    av1_exportable,
    format_av1_table,
    model_to_av1,
    parse_av1_table,
    read_av1_table,
    validate_av1_params,
    write_av1_table,
)
from restorekit.grain.model import GrainModel, ScalingFunction
from restorekit.grain.synthesis import grain_model

# Written by hand in the layout aomenc's grain_table.c writes (tab-indented parameter lines, a double
# space after the sY count), lag 1 (4 luma coefficients, 5 per chroma plane), two entries, the second
# without updated parameters.
AOMENC_SAMPLE = """filmgrn1
E 0 3503500 1 4263 1
\tp 1 7 0 10 0 1 128 192 256 128 192 256
\tsY 4  0 20 64 40 160 36 255 18
\tsCb 2 0 10 255 12
\tsCr 0
\tcY 4 -8 30 12
\tcCb 2 0 5 1 40
\tcCr 0 0 0 0 0
E 3503500 7007000 1 8103 0
"""


def test_parses_an_aomenc_table(tmp_path):
    p = tmp_path / "grain.tbl"
    p.write_text(AOMENC_SAMPLE)
    models = read_av1_table(p)
    assert len(models) == 2
    m = models[0]
    assert m.ar_lag == 1 and len(m.ar_luma) == 4 and len(m.ar_cb) == 5
    assert m.ar_luma == pytest.approx((4 / 128, -8 / 128, 30 / 128, 12 / 128))
    assert m.scaling_luma.points[1][0] == pytest.approx(64 / 255)
    assert m.scaling_cr.is_zero and not m.scaling_cb.is_zero
    assert m.av1["random_seed"] == 4263 and m.av1["scaling_shift"] == 10 and m.av1["end_time"] == 3503500
    assert models[1].av1["update_parameters"] == 0
    # field-identical (and here byte-identical) export
    out = tmp_path / "again.tbl"
    write_av1_table(out, models)
    assert parse_av1_table(out.read_text()) == parse_av1_table(AOMENC_SAMPLE)
    assert out.read_text() == AOMENC_SAMPLE


def test_amplitude_convention():
    # white luma grain (lag 0), scaling value 64 at scaling_shift 8: std = 64/256 * 32 / 255 in [0, 1] units.
    text = "filmgrn1\nE 0 10 1 1 1\n\tp 0 7 0 8 0 0 128 192 256 128 192 256\n\tsY 2  0 64 255 64\n\tsCb 0\n\tsCr 0\n\tcY\n\tcCb 0\n\tcCr 0\n"
    (e,) = parse_av1_table(text)
    from restorekit.grain.av1_table import av1_to_model

    m = av1_to_model(e)
    assert m.scaling_luma(torch.tensor([0.5])).item() == pytest.approx(64 / 256 * 32 / 255)
    assert format_av1_table([model_to_av1(m)]) == text


@pytest.mark.parametrize("color", [False, True])
def test_write_read_round_trip_is_lossless(tmp_path, color):
    m = grain_model(7 / 255, 1.2, "ar", color=color)
    assert av1_exportable(m)
    p = write_av1_table(tmp_path / "a.tbl", [m])
    text = p.read_text()
    back = read_av1_table(p)[0]
    assert write_av1_table(tmp_path / "b.tbl", [back]).read_text() == text
    # the conversion keeps the amplitude to 8-bit quantisation
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    assert (back.scaling_luma(t) - m.scaling_luma(t)).abs().max() < 0.01 * m.scaling_luma(t).max() + 2e-4
    (e,) = parse_av1_table(text)
    assert validate_av1_params(e) == []


def test_range_rules():
    many = ScalingFunction(tuple((i / 19, 0.02) for i in range(20)))
    e = model_to_av1(GrainModel(scaling_luma=many, scaling_cb=many, scaling_cr=many))
    assert len(e["scaling_points_y"]) <= 14 and len(e["scaling_points_cb"]) <= 10
    assert validate_av1_params(e) == []
    bad = dict(e, ar_coeff_shift=5, scaling_points_y=[[10, 5], [10, 6]])
    assert len(validate_av1_params(bad)) == 2
    assert not av1_exportable(grain_model(8 / 255, 1.0, "gaussian"))
    assert not av1_exportable("grain")


def test_bad_files(tmp_path):
    p = tmp_path / "x.tbl"
    p.write_text("filmgrn2\n")
    with pytest.raises(InvalidParameterError):
        read_av1_table(p)
    p.write_text("filmgrn1\nE 0 10 1 1 1\n\tp 0 7 0 8\n")
    with pytest.raises(InvalidParameterError):
        read_av1_table(p)
    with pytest.raises(InvalidParameterError):
        read_av1_table(tmp_path / "missing.tbl")
