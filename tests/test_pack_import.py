"""The core knows nothing of ComfyUI: it imports and runs every operation with ComfyUI's modules blocked.

ComfyUI's top-level modules (``comfy``, ``comfy_api*``, ``folder_paths``, ``server``, ``nodes``) are
blocked in a fresh interpreter; the core is imported there and every registered operation is run
once on a tiny input, and no attempt to import a blocked module may have been made. The pack also
loads there (it probes for ComfyUI and falls back). A static check finds import statements of those
modules anywhere in ``restorekit/``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: Top-level names of ComfyUI's own modules; ``comfy_api`` also covers ``comfy_api_nodes`` etc.
BLOCKED_EXACT = ("comfy", "folder_paths", "server", "nodes")
BLOCKED_PREFIX = "comfy_api"

BLOCK_COMFY = f"""
import sys
BLOCKED_EXACT = {BLOCKED_EXACT!r}
BLOCKED_PREFIX = {BLOCKED_PREFIX!r}
ATTEMPTS = []
class Block:
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in BLOCKED_EXACT or top.startswith(BLOCKED_PREFIX):
            ATTEMPTS.append(name)
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
"""

#: Runs every registered operation once, on core values built from each Param's default.
RUN_ALL = r"""
import json, time
import torch
sys.path.insert(0, {models_tests!r})
import model_factory
from restorekit.params import all_operations, get_operation

torch.manual_seed(0)
torch.set_num_threads(1)  # tiny inputs: one thread is faster than two spin-waiting ones

#: Operations that train or search: their defaults are sized for real images, so a small budget here.
SMALL = {{
    "noise2void": {{"steps": 4, "patches_per_step": 2, "patch_size": 16, "width": 8}},
    "deep_image_prior": {{"iterations": 4, "width": 8, "depth": 2, "input_channels": 8, "min_iterations": 1}},
}}

base = torch.rand(1, 3, 16, 16)
image = torch.nn.functional.avg_pool2d(base, 3, 1, 1).clamp(0, 1)
mask = torch.full((1, 1, 16, 16), 0.05)
model_file = str(model_factory.make_file("FFDNet", {tmp!r}, "safetensors"))


def core_values(op, **given):
    values = {{}}
    for p in op.inputs:
        if p.name in given:
            values[p.name] = given[p.name]
        elif p.kind == "image":
            values[p.name] = None if p.optional else image.clone()
        elif p.kind == "mask":
            values[p.name] = mask.clone()
        elif p.kind == "psf":
            values[p.name] = psf
        elif p.kind == "model":
            values[p.name] = model
        elif p.kind == "model_file":
            values[p.name] = p.to_core(model_file)
        else:
            values[p.name] = p.to_core(SMALL.get(op.name, {{}}).get(p.name, p.default))
    return values


psf = model = None
psf = get_operation("make_psf").call(core_values(get_operation("make_psf")))[0]
model = get_operation("load_restoration_model").call(core_values(get_operation("load_restoration_model")))[0]
report = {{}}
for op in all_operations():
    start = time.perf_counter()
    outputs = op.call(core_values(op))
    assert len(outputs) == len(op.outputs), op.name
    for spec, value in zip(op.outputs, outputs):
        if spec.kind in ("image", "mask"):
            assert torch.is_tensor(value) and value.dim() == 4 and torch.isfinite(value).all(), (op.name, spec.name)
        elif spec.kind in ("float", "int"):
            assert value == value, (op.name, spec.name)
    report[op.name] = round(time.perf_counter() - start, 2)
print(json.dumps({{"ran": report, "attempts": ATTEMPTS}}))
"""


def _run(code: str, timeout: float = 120) -> str:
    result = subprocess.run([sys.executable, "-c", BLOCK_COMFY + code], cwd=REPO, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_core_imports_without_comfy():
    out = _run("import restorekit.params as p, restorekit.cli, restorekit.cli_weights, restorekit.models.weights\n"
               "import json; print(json.dumps([len(p.all_operations()), ATTEMPTS]))")
    count, attempts = json.loads(out)
    assert count >= 10
    assert attempts == [], f"the core tried to import ComfyUI modules: {attempts}"


def test_core_runs_every_operation_without_comfy(tmp_path):
    pytest.importorskip("spandrel")
    code = RUN_ALL.format(models_tests=str(REPO / "tests" / "models"), tmp=str(tmp_path))
    report = json.loads(_run(code, timeout=300).splitlines()[-1])
    from restorekit.params import all_operations

    assert sorted(report["ran"]) == sorted(op.name for op in all_operations())
    assert report["attempts"] == [], f"the core tried to import ComfyUI modules: {report['attempts']}"


def test_pack_loads_like_comfyui_without_comfy():
    out = _run(
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('rk_pack', r'{REPO / '__init__.py'}')\n"
        "m = importlib.util.module_from_spec(spec); sys.modules['rk_pack'] = m; spec.loader.exec_module(m)\n"
        "print(len(m.NODE_CLASS_MAPPINGS), m.comfy_entrypoint, 'folder_paths' in ATTEMPTS)\n"
    )
    count, entry, probed = out.split()
    assert int(count) >= 10 and entry == "None"
    assert probed == "True"  # the pack looked for ComfyUI and met the block


# ---- static check ---------------------------------------------------------------------------

def _blocked(module: str | None) -> bool:
    top = (module or "").split(".")[0]
    return top in BLOCKED_EXACT or top.startswith(BLOCKED_PREFIX)


def comfy_imports(source: str) -> list[str]:
    """Absolute imports of ComfyUI modules in ``source``: import statements, ``importlib.import_module``
    and ``__import__`` calls with a literal name. Relative imports (``from .nodes import x``) are not."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name}" for a in node.names if _blocked(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and _blocked(node.module):
            found.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str) \
                    and _blocked(node.args[0].value):
                found.append(f"line {node.lineno}: {name}({node.args[0].value!r})")
    return found


@pytest.mark.parametrize(("source", "flagged"), [
    ("import comfy.utils", True),
    ("from comfy_api.latest import io", True),
    ("import folder_paths", True),
    ("from server import PromptServer", True),
    ("import nodes", True),
    ("def f():\n    import nodes as n", True),
    ("import importlib\nimportlib.import_module('folder_paths')", True),
    ("__import__('server')", True),
    ("import restorekit_nodes", False),
    ("from .nodes import x", False),
    ("import comfyui_helpers", False),
    ("import servers", False),
    ("x = 'import comfy'", False),
])
def test_static_check_finds_comfy_imports(source, flagged):
    assert bool(comfy_imports(source)) is flagged


def test_core_has_no_comfy_import():
    files = sorted((REPO / "restorekit").rglob("*.py"))
    assert len(files) > 10
    problems = {str(p.relative_to(REPO)): found for p in files if (found := comfy_imports(p.read_text()))}
    assert problems == {}, f"the core imports ComfyUI modules: {problems}"
