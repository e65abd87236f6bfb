"""V3 (``comfy_api.latest``) node classes, generated from the same declarations as V1.

Only imported when the installed ComfyUI offers ``comfy_api.latest``.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

from comfy_api.latest import ComfyExtension, io

from ..restorekit.kinds import KINDS, Kind
from ..restorekit.params import Operation, Param, all_operations
from .model_files import model_file_choices
from .search_aliases import aliases_for
from .v1 import execute_in_comfy

# Newer ComfyUI versions (0.10+) know search aliases and advanced inputs; older ones reject the keywords.
_SCHEMA_FIELDS = {f.name for f in dataclasses.fields(io.Schema)} if dataclasses.is_dataclass(io.Schema) else set()
_HAS_ALIASES = "search_aliases" in _SCHEMA_FIELDS
_HAS_ADVANCED = "advanced" in inspect.signature(io.Input.__init__).parameters


def _io_type(kind: Kind) -> Any:
    """The ``comfy_api.latest.io`` class of a kind (custom socket types by their name)."""
    return io.Custom(kind.comfy_type) if kind.v3_class == "Custom" else getattr(io, kind.v3_class)


def _input(p: Param) -> io.Input:
    kind = KINDS[p.kind]
    extra = {"advanced": True} if p.advanced and _HAS_ADVANCED else {}
    return _io_type(kind).Input(
        p.name, optional=p.optional, tooltip=p.tooltip, **kind.widget(p, model_file_choices), **extra
    )


def make_node_class(op: Operation) -> type[io.ComfyNode]:
    """Build the V3 node class of one operation."""

    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id=op.node_id,
            display_name=op.display_name,
            category=op.full_category,
            description=op.description,
            is_output_node=op.output_node,
            **({"search_aliases": list(aliases_for(op.node_id))} if _HAS_ALIASES else {}),
            inputs=[_input(p) for p in op.inputs],
            # V3 wants output ids distinct from input ids; the shown name stays the declared one.
            outputs=[
                _io_type(KINDS[o.kind]).Output(f"out_{o.name}", display_name=o.name, tooltip=o.help) for o in op.outputs
            ],
        )

    def execute(cls, **kwargs: Any) -> io.NodeOutput:
        return io.NodeOutput(*execute_in_comfy(op, kwargs))

    return type(
        op.node_id,
        (io.ComfyNode,),
        {
            "__doc__": op.description,
            "OPERATION": op,
            "define_schema": classmethod(define_schema),
            "execute": classmethod(execute),
        },
    )


class RestoreKitExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return [make_node_class(op) for op in all_operations()]


async def comfy_entrypoint() -> RestoreKitExtension:
    return RestoreKitExtension()
