"""Recipes: files and command-line steps, checked against the declared operations."""

from __future__ import annotations

import json

import pytest

from restorekit.batch.recipe import Recipe, load_recipe, recipe_from_args
from restorekit.errors import InvalidParameterError


def test_json_and_yaml_files_give_the_same_recipe(tmp_path):
    data = {"pipeline": [{"op": "wavelet_denoise", "params": {"sigma": 15}},
                         {"op": "unsharp_mask", "params": {"amount": 0.5}}]}
    (tmp_path / "r.json").write_text(json.dumps(data))
    (tmp_path / "r.yaml").write_text("pipeline:\n  - op: wavelet_denoise\n    params: {sigma: 15}\n"
                                     "  - op: unsharp_mask\n    params: {amount: 0.5}\n")
    a, b = load_recipe(tmp_path / "r.json"), load_recipe(tmp_path / "r.yaml")
    assert a == b and a.to_dict() == data and a.hash() == b.hash()
    assert [s.op for s in a.steps] == ["wavelet_denoise", "unsharp_mask"]


def test_command_line_steps_parse_values_and_hash_like_files():
    cli = recipe_from_args([("unsharp_mask", ["amount=1", "luminance_only=false"])])
    data = Recipe.from_dict({"op": "unsharp_mask", "params": {"amount": 1.0, "luminance_only": False}})
    assert cli.steps[0].params == {"amount": 1.0, "luminance_only": False}
    assert cli.hash() == data.hash()
    # Defaults are part of the hash: giving the default explicitly changes nothing, another value does.
    assert Recipe.from_dict({"op": "unsharp_mask", "params": {"radius": 1.0}}).hash() == \
        Recipe.from_dict({"op": "unsharp_mask"}).hash()
    assert Recipe.from_dict({"op": "unsharp_mask", "params": {"radius": 2}}).hash() != \
        Recipe.from_dict({"op": "unsharp_mask"}).hash()
    assert cli.hash({"bit_depth": 16}) != cli.hash({"bit_depth": 8})


@pytest.mark.parametrize(("data", "words"), [
    ({"op": "no_such_op"}, "restorekit list"),
    ({"op": "unsharp_mask", "params": {"radious": 2}}, "radius"),
    ({"op": "unsharp_mask", "params": {"amount": 99}}, "allowed range"),
    ({"op": "unsharp_mask", "params": {"amount": "lots"}}, "cannot read"),
    ({"op": "unsharp_mask", "params": {"image": "x.png"}}, "image each item fills"),
    ({"op": "make_psf"}, "takes no image"),
    ({"pipeline": []}, "non-empty"),
    ({"op": "unsharp_mask", "extra": 1}, "unexpected keys"),
    ({"pipeline": [{"op": "quality_metrics"}, {"op": "unsharp_mask"}]}, "no image output"),
])
def test_bad_recipes_say_what_to_fix(data, words):
    with pytest.raises(InvalidParameterError) as caught:
        Recipe.from_dict(data)
    assert words in str(caught.value) and "Fix:" in str(caught.value)


def test_bad_files(tmp_path):
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(InvalidParameterError, match="not valid JSON"):
        load_recipe(tmp_path / "bad.json")
    with pytest.raises(InvalidParameterError, match="not a file"):
        load_recipe(tmp_path / "missing.json")
    with pytest.raises(InvalidParameterError, match="key=value"):
        recipe_from_args([("unsharp_mask", ["amount"])])
