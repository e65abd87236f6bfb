"""V3 (``comfy_api.latest``) node classes, generated from the same declarations as V1.

Only imported when the installed ComfyUI offers ``comfy_api.latest``.
"""

from __future__ import annotations

from typing import Any

from comfy_api.latest import ComfyExtension, io

from ..restorekit.params import Operation, Param, all_operations
from .model_files import model_file_choices
from .v1 import execute_in_comfy

_PSF = io.Custom("RK_PSF")
_MODEL = io.Custom("RK_RESTORATION_MODEL")


def _input(p: Param) -> io.Input:
    common = {"optional": p.optional, "tooltip": p.tooltip}
    if p.kind == "image":
        return io.Image.Input(p.name, **common)
    if p.kind == "mask":
        return io.Mask.Input(p.name, **common)
    if p.kind == "psf":
        return _PSF.Input(p.name, **common)
    if p.kind == "model":
        return _MODEL.Input(p.name, **common)
    if p.kind == "model_file":
        return io.Combo.Input(p.name, options=model_file_choices(), **common)
    if p.kind == "float":
        return io.Float.Input(p.name, default=p.default, min=p.min, max=p.max, step=p.step or 0.01, round=False, **common)
    if p.kind == "int":
        return io.Int.Input(
            p.name, default=p.default, min=p.min, max=p.max, step=p.step, control_after_generate=p.name == "seed" or None,
            **common,
        )
    if p.kind == "bool":
        return io.Boolean.Input(p.name, default=bool(p.default), **common)
    if p.kind == "choice":
        return io.Combo.Input(p.name, options=list(p.choices), default=p.default, **common)
    return io.String.Input(p.name, default=p.default or "", multiline=p.multiline, **common)


_OUTPUTS = {"image": io.Image, "mask": io.Mask, "psf": _PSF, "model": _MODEL, "float": io.Float, "int": io.Int, "string": io.String}


def make_node_class(op: Operation) -> type[io.ComfyNode]:
    """Build the V3 node class of one operation."""

    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id=op.node_id,
            display_name=op.display_name,
            category=op.full_category,
            description=op.description,
            inputs=[_input(p) for p in op.inputs],
            # V3 wants output ids distinct from input ids; the shown name stays the declared one.
            outputs=[_OUTPUTS[o.kind].Output(f"out_{o.name}", display_name=o.name, tooltip=o.help) for o in op.outputs],
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
