"""Load the repository as ComfyUI loads a custom-node folder (for the node tests)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACK_MODULE = "restorekit_pack_under_test"


def load_pack():
    """Import ``<repo>/__init__.py`` as a package, the way ComfyUI's ``load_custom_node`` does."""
    if PACK_MODULE in sys.modules:
        return sys.modules[PACK_MODULE]
    spec = importlib.util.spec_from_file_location(PACK_MODULE, REPO / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACK_MODULE] = module
    spec.loader.exec_module(module)
    return module


def v1_classes() -> dict[str, type]:
    """The generated V1 node classes (whatever API the entry point picked)."""
    load_pack()
    return sys.modules[PACK_MODULE + ".restorekit_nodes.v1"].node_mappings()[0]
