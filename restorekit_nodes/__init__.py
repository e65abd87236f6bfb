"""The ComfyUI layer of restorekit: node classes generated from :mod:`restorekit.params`.

With a ComfyUI that offers the V3 API (``comfy_api.latest``) the pack exports
``comfy_entrypoint``; otherwise (or with ``RESTOREKIT_COMFY_API=v1``) the classic
``NODE_CLASS_MAPPINGS``. ComfyUI ignores the entry point when the mappings are also
exported, so exactly one of the two is set. The V1 classes are always available from
:mod:`.v1` (tests use them).
"""

from __future__ import annotations

import os

from .comfy_bridge import hand_over_folders
from .model_files import register_model_folder
from .v1 import node_mappings

register_model_folder()
hand_over_folders()


def _v3_available() -> bool:
    if os.environ.get("RESTOREKIT_COMFY_API", "").lower() == "v1":
        return False
    try:
        from comfy_api.latest import ComfyExtension, io  # noqa: F401
    except ImportError:
        return False
    return True


if _v3_available():
    from .v3 import comfy_entrypoint

    NODE_CLASS_MAPPINGS = None
    NODE_DISPLAY_NAME_MAPPINGS = None
else:
    comfy_entrypoint = None
    NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = node_mappings()

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "comfy_entrypoint", "node_mappings"]
