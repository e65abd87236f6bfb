"""Classic (V1) ComfyUI node classes, generated from the operation declarations."""

from __future__ import annotations

from typing import Any

from ..restorekit.kinds import KINDS
from ..restorekit.params import Operation, Param, all_operations
from .comfy_bridge import devices, progress_callback
from .model_files import model_file_choices
from .runner import run_operation
from .search_aliases import aliases_for


def input_spec(p: Param) -> tuple:
    """The ``INPUT_TYPES`` entry of one parameter: (type or list of choices, options)."""
    kind = KINDS[p.kind]
    options = {"tooltip": p.tooltip, **kind.widget(p, model_file_choices)}
    if p.advanced:
        options["advanced"] = True
    choices = options.pop("options", None)
    return (kind.comfy_type if choices is None else choices, options)


def input_types(op: Operation) -> dict[str, dict[str, tuple]]:
    required = {p.name: input_spec(p) for p in op.inputs if not p.optional}
    optional = {p.name: input_spec(p) for p in op.inputs if p.optional}
    return {"required": required, "optional": optional}


def execute_in_comfy(op: Operation, values: dict[str, Any]) -> tuple:
    """Run ``op`` with ComfyUI's devices and progress bar (plain defaults without ComfyUI)."""
    compute, output = devices()
    return run_operation(op, values, device=compute, output_device=output, progress=progress_callback())


def make_node_class(op: Operation) -> type:
    """Build the V1 node class of one operation."""

    def execute(self, **kwargs: Any) -> tuple:
        return execute_in_comfy(op, kwargs)

    return type(
        op.node_id,
        (),
        {
            "__doc__": op.description,
            "INPUT_TYPES": classmethod(lambda cls: input_types(op)),
            "RETURN_TYPES": tuple(KINDS[o.kind].comfy_type for o in op.outputs),
            "RETURN_NAMES": tuple(o.name for o in op.outputs),
            "OUTPUT_TOOLTIPS": tuple(o.help for o in op.outputs),
            "FUNCTION": "execute",
            "CATEGORY": op.full_category,
            "DESCRIPTION": op.description,
            "OUTPUT_NODE": op.output_node,
            "SEARCH_ALIASES": list(aliases_for(op.node_id)),
            "OPERATION": op,
            "execute": execute,
        },
    )


def node_mappings() -> tuple[dict[str, type], dict[str, str]]:
    """``NODE_CLASS_MAPPINGS`` and ``NODE_DISPLAY_NAME_MAPPINGS`` for every operation."""
    classes = {op.node_id: make_node_class(op) for op in all_operations()}
    names = {op.node_id: op.display_name for op in all_operations()}
    return classes, names
