"""The one conversion between outside values and core values (restorekit.kinds)."""

import pytest
import torch

from restorekit.errors import InvalidImageError, InvalidParameterError
from restorekit.kinds import KINDS, Context, convert_inputs, convert_outputs, format_number
from restorekit.operations.common import seed_param
from restorekit.params import Param, all_operations, get_operation, run


def test_numbers_read_the_way_people_write_them():
    assert format_number(2**31 - 1) == "2,147,483,647"
    assert format_number(1e-7) == "0.0000001"
    assert format_number(2.5) == "2.5" and format_number(-360.0) == "-360" and format_number(0) == "0"
    assert "Range 0 to 2,147,483,647." in seed_param().tooltip
    assert "e+" not in seed_param().tooltip and "e-0" not in Param("k", "float", 0.01, min=1e-7, max=10.0, help="h").tooltip


def test_no_tooltip_of_any_node_prints_exponents():
    for op in all_operations():
        for p in op.inputs:
            assert "e+" not in p.tooltip and "e-0" not in p.tooltip, (op.name, p.name, p.tooltip)


def test_every_declared_kind_is_in_the_table():
    for op in all_operations():
        assert all(p.kind in KINDS for p in op.inputs)
        assert all(o.kind in KINDS for o in op.outputs)


def test_all_zero_optional_mask_counts_as_not_connected_and_the_report_says_so():
    op = get_operation("restore_with_model")
    ctx = Context()
    values = {"image": torch.rand(1, 32, 32, 3), "noise_map": torch.zeros(1, 64, 64)}
    core, main = convert_inputs(op, values, ctx, "node", only={"image", "noise_map"})
    assert core["noise_map"] is None
    assert any("all zero" in note for note in ctx.notes)
    report = convert_outputs(op, (torch.rand(1, 3, 32, 32), "Restore with model: x"), main, ctx)[1]
    assert "all zero" in report and report.startswith("Restore with model: x")


def test_a_real_mask_is_kept_and_a_required_missing_input_is_an_error():
    op = get_operation("restore_with_model")
    ctx = Context()
    mask = torch.full((1, 32, 32), 0.1)
    core, _ = convert_inputs(op, {"image": torch.rand(1, 32, 32, 3), "noise_map": mask}, ctx, "node",
                             only={"image", "noise_map"})
    assert core["noise_map"].shape == (1, 1, 32, 32) and not ctx.notes
    with pytest.raises(InvalidImageError, match="nothing is connected"):
        convert_inputs(op, {}, Context(), "node", only={"image"})


def test_text_python_and_node_sources_agree():
    op = get_operation("unsharp_mask")
    image = torch.rand(1, 3, 8, 8)
    from_python, _ = convert_inputs(op, {"image": image, "radius": 2.0, "threshold": 25.5}, Context(), "python")
    from_node, _ = convert_inputs(op, {"image": image.permute(0, 2, 3, 1), "radius": 2.0, "threshold": 25.5},
                                  Context(), "node")
    from_text, _ = convert_inputs(op, {"radius": "2", "threshold": "25.5"}, Context(), "text",
                                  only={"radius", "threshold", "amount", "luminance_only"})
    for name in ("radius", "threshold", "amount", "luminance_only"):
        assert from_python[name] == from_node[name] == from_text[name]
    assert from_python["threshold"] == pytest.approx(0.1)
    assert torch.equal(from_python["image"], from_node["image"])
    with pytest.raises(InvalidParameterError, match="cannot read"):
        convert_inputs(op, {"radius": "two"}, Context(), "text", only={"radius"})
    with pytest.raises(InvalidParameterError, match="unexpected inputs"):
        convert_inputs(op, {"radius_px": 2.0}, Context(), "python")


def test_run_from_python_uses_user_units_and_returns_outputs_by_name():
    x = torch.rand(2, 1, 16, 16)
    out = run("unsharp_mask", image=x, radius=1.0, amount=0.5)
    assert set(out) == {"image"} and out["image"].shape == x.shape
    with pytest.raises(InvalidParameterError, match="outside the allowed range"):
        run("unsharp_mask", image=x, amount=50.0)
