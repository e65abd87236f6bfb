"""ComfyUI entry point of the restorekit node pack: hands over the nodes, nothing else."""

from .restorekit_nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS, comfy_entrypoint

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
if comfy_entrypoint is not None:
    __all__.append("comfy_entrypoint")
