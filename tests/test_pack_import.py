"""The pack and the core import without ComfyUI; the core never imports ComfyUI."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

BLOCK_COMFY = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "comfy" or name.startswith(("comfy.", "comfy_api", "folder_paths")):
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
"""


def _run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", BLOCK_COMFY + code], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_core_imports_without_comfy():
    out = _run("import restorekit.params as p; print(len(p.all_operations()))")
    assert int(out) >= 10


def test_pack_loads_like_comfyui_without_comfy():
    out = _run(
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('rk_pack', r'{REPO / '__init__.py'}')\n"
        "m = importlib.util.module_from_spec(spec); sys.modules['rk_pack'] = m; spec.loader.exec_module(m)\n"
        "print(len(m.NODE_CLASS_MAPPINGS), m.comfy_entrypoint)\n"
    )
    count, entry = out.split()
    assert int(count) >= 10 and entry == "None"


def test_core_has_no_comfy_import():
    for path in (REPO / "restorekit").rglob("*.py"):
        text = path.read_text()
        assert "import comfy" not in text and "from comfy" not in text, path
