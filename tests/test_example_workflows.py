"""The example workflows of example_workflows/ against the live node declarations (no ComfyUI needed).

Checks what the ComfyUI frontend relies on when it loads a UI-format workflow: node types that
exist, sockets and widgets named and ordered as the schema says, ``widgets_values`` of the right
count, order and type (numbers in range, choices among the options, booleans as booleans, the
extra "control after generate" value after a seed), links from an output to an input of the same
type, and a ``.jpg`` thumbnail of the same stem (what the template browser shows).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from restorekit.kinds import KINDS
from restorekit.params import all_operations

REPO = Path(__file__).resolve().parents[1]
FOLDER = REPO / "example_workflows"
FAMILIES = ("denoise", "deblur", "models", "enhance", "grain", "measure")
CONTROL_VALUES = {"fixed", "increment", "decrement", "randomize"}

#: ComfyUI core nodes: socket inputs (name, type), widgets (name, python type), outputs (name, type).
CORE = {
    "LoadImage": ([], [("image", str), ("upload", str)], [("IMAGE", "IMAGE"), ("MASK", "MASK")]),
    "PreviewImage": ([("images", "IMAGE")], [], []),
    "SaveImage": ([("images", "IMAGE")], [("filename_prefix", str)], []),
    "PreviewAny": ([("source", "*")], [], []),
    "Note": ([], [("text", str)], []),
}

OPS = {op.node_id: op for op in all_operations()}
WORKFLOWS = sorted(FOLDER.glob("*.json"))


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _ordered(params: list) -> list:
    return [p for p in params if not p.optional] + [p for p in params if p.optional]


def _control_after(p) -> bool:
    if p.kind != "int":
        return False
    return bool(KINDS[p.kind].widget(p, list).get("control_after_generate", p.name in ("seed", "noise_seed")))


def widget_problems(node: dict) -> list[str]:
    """What is wrong with a node of ours: its sockets, widget inputs, outputs and widgets_values."""
    op = OPS[node["type"]]
    problems = []
    sockets = [(p.name, KINDS[p.kind].comfy_type) for p in _ordered([p for p in op.inputs if p.is_data])]
    widgets = _ordered([p for p in op.inputs if not p.is_data])
    shown_sockets = [(i["name"], i["type"]) for i in node["inputs"] if "widget" not in i]
    shown_widgets = [i["name"] for i in node["inputs"] if "widget" in i]
    if shown_sockets != sockets:
        problems.append(f"sockets {shown_sockets}, the schema has {sockets}")
    if shown_widgets and shown_widgets != [p.name for p in widgets]:
        problems.append(f"widget inputs {shown_widgets}, the schema has {[p.name for p in widgets]}")
    for entry in node["inputs"]:
        if "widget" in entry and entry["widget"].get("name") != entry["name"]:
            problems.append(f"widget input {entry['name']} names widget {entry['widget']}")
    outputs = [(o.name, KINDS[o.kind].comfy_type) for o in op.outputs]
    if [(o["name"], o["type"]) for o in node["outputs"]] != outputs:
        problems.append(f"outputs {[(o['name'], o['type']) for o in node['outputs']]}, the schema has {outputs}")
    values = list(node.get("widgets_values", []))
    expected = sum(2 if _control_after(p) else 1 for p in widgets)
    if len(values) != expected:
        return [*problems, f"{len(values)} widgets_values, the schema has {expected} ({[p.name for p in widgets]})"]
    for p in widgets:
        value = values.pop(0)
        kind = KINDS[p.kind]
        if kind.numeric:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            ok = ok and (p.kind != "int" or float(value).is_integer())
            ok = ok and (p.min is None or value >= p.min) and (p.max is None or value <= p.max)
        elif p.kind == "bool":
            ok = isinstance(value, bool)
        elif p.kind == "choice":
            ok = value in p.choices
        else:  # string, model_file (a file name; the options are the user's files)
            ok = isinstance(value, str)
        if not ok:
            problems.append(f"{p.name} = {value!r} does not fit the schema ({p.kind}, {p.min}..{p.max} {p.choices})")
        if _control_after(p):
            control = values.pop(0)
            if control not in CONTROL_VALUES:
                problems.append(f"{p.name}: control after generate {control!r} is not one of {sorted(CONTROL_VALUES)}")
    return problems


def test_every_family_has_a_workflow():
    assert sorted(p.stem for p in WORKFLOWS) == sorted(FAMILIES)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_workflow_format(path: Path):
    wf = _load(path)
    assert wf["version"] == 0.4
    assert isinstance(wf["nodes"], list) and isinstance(wf["links"], list) and wf["nodes"]
    ids = [n["id"] for n in wf["nodes"]]
    assert len(set(ids)) == len(ids), "node ids repeat"
    assert wf["last_node_id"] >= max(ids)
    assert not wf["links"] or wf["last_link_id"] >= max(link[0] for link in wf["links"])
    for node in wf["nodes"]:
        for key in ("id", "type", "pos", "size", "flags", "order", "mode", "inputs", "outputs", "properties"):
            assert key in node, f"node {node.get('id')} lacks {key}"
        assert len(node["pos"]) == 2 and len(node["size"]) == 2
        assert node["type"] in OPS or node["type"] in CORE, f"{node['type']} is neither ours nor a known core node"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_widgets_match_the_schema(path: Path):
    problems = []
    for node in _load(path)["nodes"]:
        if node["type"] in OPS:
            problems += [f"node {node['id']} ({node['type']}): {p}" for p in widget_problems(node)]
        else:
            sockets, widgets, _ = CORE[node["type"]]
            values = node.get("widgets_values", [])
            if [(i["name"], i["type"]) for i in node["inputs"] if "widget" not in i] != sockets:
                problems.append(f"node {node['id']} ({node['type']}): sockets {node['inputs']}")
            if node["type"] != "PreviewAny" and (
                len(values) != len(widgets) or any(not isinstance(v, t) for v, (_, t) in zip(values, widgets, strict=False))
            ):
                problems.append(f"node {node['id']} ({node['type']}): widgets_values {values}, expected {widgets}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_links_connect_outputs_to_inputs_of_their_type(path: Path):
    wf = _load(path)
    nodes = {n["id"]: n for n in wf["nodes"]}
    seen = set()
    for link_id, src, src_slot, dst, dst_slot, kind in wf["links"]:
        assert link_id not in seen, f"link {link_id} repeats"
        seen.add(link_id)
        out = nodes[src]["outputs"][src_slot]
        inp = nodes[dst]["inputs"][dst_slot]
        assert out["type"] == kind, f"link {link_id}: output {out['name']} is {out['type']}, the link says {kind}"
        assert inp["type"] in (kind, "*"), f"link {link_id}: {kind} into {nodes[dst]['type']}.{inp['name']} ({inp['type']})"
        assert inp["link"] == link_id, f"link {link_id}: {nodes[dst]['type']}.{inp['name']} says link {inp['link']}"
        assert link_id in (out["links"] or []), f"link {link_id}: not listed by {nodes[src]['type']}.{out['name']}"
    for node in wf["nodes"]:
        for inp in node["inputs"]:
            assert inp["link"] is None or inp["link"] in seen, f"{node['type']}.{inp['name']}: unknown link {inp['link']}"
            if node["type"] in OPS and "widget" not in inp and inp["link"] is None:
                assert OPS[node["type"]].param(inp["name"]).optional, f"{node['type']}.{inp['name']} is required"
        for out in node["outputs"]:
            assert all(link in seen for link in out["links"] or []), f"{node['type']}.{out['name']}: unknown links"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_every_workflow_has_a_thumbnail(path: Path):
    thumb = path.with_suffix(".jpg")
    assert thumb.is_file(), f"{thumb.name} missing: run tools/make_workflows.py"
    data = thumb.read_bytes()
    assert data[:3] == b"\xff\xd8\xff" and len(data) > 2000, f"{thumb.name} is not a JPEG picture"


def test_workflows_are_what_the_tool_writes():
    """The committed files are the tool's output for the current declarations (defaults included)."""
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import make_workflows
    finally:
        sys.path.remove(str(REPO / "tools"))
    for name, workflow in make_workflows.build_all().items():
        committed = (FOLDER / f"{name}.json").read_text(encoding="utf-8")
        assert committed == make_workflows.dumps(workflow), f"{name}.json is stale: run tools/make_workflows.py"


def test_a_renamed_input_is_caught():
    """The schema check notices a node whose widget was renamed or removed since the workflow was saved."""
    node = next(n for n in _load(FOLDER / "denoise.json")["nodes"] if n["type"] == "RK_WaveletDenoise")
    assert widget_problems(node) == []
    renamed = json.loads(json.dumps(node))
    entry = next(i for i in renamed["inputs"] if i.get("widget", {}).get("name") == "method")
    entry["name"] = entry["widget"]["name"] = "shrinkage"
    assert widget_problems(renamed)
    removed = json.loads(json.dumps(node))
    removed["widgets_values"] = removed["widgets_values"][:-1]
    assert widget_problems(removed)
    wrong = json.loads(json.dumps(node))
    wrong["widgets_values"][1] = "not-a-method"
    assert widget_problems(wrong)


def _alias_table():
    import importlib.util

    spec = importlib.util.spec_from_file_location("rk_search_aliases", REPO / "restorekit_nodes" / "search_aliases.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_node_has_search_aliases():
    table = _alias_table()
    missing = [node_id for node_id in OPS if not table.SEARCH_ALIASES.get(node_id)]
    assert not missing, f"nodes without search aliases in restorekit_nodes/search_aliases.py: {missing}"
    unknown = [node_id for node_id in table.SEARCH_ALIASES if node_id not in OPS and node_id not in table.PENDING]
    assert not unknown, f"search aliases for nodes that do not exist: {unknown}"
    for node_id, aliases in table.SEARCH_ALIASES.items():
        assert isinstance(aliases, tuple) and all(isinstance(a, str) and a and a == a.strip().lower() for a in aliases)
        assert len(set(aliases)) == len(aliases), f"{node_id}: repeated aliases"
    assert table.aliases_for("RK_UnsharpMask")[0] == "usm" and table.aliases_for("RK_Nothing") == []
