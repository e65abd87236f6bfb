import math

import pytest

from restorekit.errors import InvalidParameterError
from restorekit.operations.common import sigma_param
from restorekit.params import Operation, Output, Param, all_operations, get_operation


def test_sigma_is_converted_once_and_zero_means_auto():
    p = sigma_param()
    assert p.to_core(0.0) is None
    assert math.isclose(p.to_core(25.0), 25 / 255)
    with pytest.raises(InvalidParameterError, match="outside the allowed range"):
        p.to_core(300.0)
    with pytest.raises(InvalidParameterError, match="finite"):
        p.to_core(float("nan"))


def test_value_validation():
    i = Param("levels", "int", 3, min=1, max=8, help="x")
    assert i.to_core(4) == 4 and isinstance(i.to_core(4.0), int)
    with pytest.raises(InvalidParameterError):
        i.to_core(2.5)
    c = Param("mode", "choice", "soft", choices=("soft", "hard"), help="x")
    with pytest.raises(InvalidParameterError, match="soft, hard"):
        c.to_core("medium")
    b = Param("flag", "bool", True, help="x")
    assert b.parse("yes") is True and b.parse("0") is False
    with pytest.raises(InvalidParameterError):
        b.parse("maybe")


def test_declaration_errors_are_caught_early():
    with pytest.raises(ValueError, match="help"):
        Param("x", "float", 1.0)
    with pytest.raises(ValueError, match="default"):
        Param("x", "choice", "c", choices=("a", "b"), help="h")
    with pytest.raises(ValueError, match="outside"):
        Param("x", "float", 5.0, min=0.0, max=1.0, help="h")


def test_signature_must_match_inputs():
    def func(image, amount):
        return image

    op = Operation("t", "T", "test", "A test operation.", (Param("image", "image", help="h"),),
                   (Output("image", "image", "h"),), func)
    with pytest.raises(TypeError, match="do not match"):
        op.check_signature()


def test_lookup_by_name_and_node_id():
    ops = all_operations()
    assert ops
    op = ops[0]
    assert get_operation(op.name) is op
    assert get_operation(op.node_id) is op
    assert get_operation(op.name.replace("_", "-")) is op
    with pytest.raises(InvalidParameterError, match="restorekit list"):
        get_operation("no_such_operation")
