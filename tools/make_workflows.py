"""Write the example workflows of ``example_workflows/`` (ComfyUI UI format) and their thumbnails.

Usage: python tools/make_workflows.py [--json-only] [--device cpu|cuda] [--model WEIGHTS] [--icon]

ComfyUI's template browser (Workflow > Browse Templates) lists every ``*.json`` of a custom node
pack's ``example_workflows/`` folder and shows the ``.jpg`` of the same stem as its thumbnail
(``app/custom_node_manager.py`` serves the folder under ``/api/workflow_templates/<pack>/``).
One workflow per family: denoise, deblur, models, enhance, grain, measure.

Each workflow is built from the live operation declarations: a node's socket inputs, widget
inputs and outputs, and its ``widgets_values`` (widget defaults in schema order, required before
optional, with the frontend's extra "control after generate" value after an INT named ``seed``),
so the files stay in step with the schema; ``tests/test_example_workflows.py`` checks them
against the declarations and against what this script writes, so run it after changing a node.

The thumbnails are made by running each workflow's nodes, as wired, on the bundled sample image
(``restorekit/data``), degraded the way the family expects (noise for denoising, blur for
deblurring, low contrast for enhancement), and saving what reaches the workflow's main Preview
Image node. The models workflow needs a weights file for that (``--model``); without one its
thumbnail shows the input beside the node chain. ``--icon`` also writes ``docs/icon.png``, the
pack's 400x400 Comfy Registry icon (a before/after split of the sample).
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from restorekit.kinds import KINDS  # noqa: E402
from restorekit.params import Operation, all_operations, run  # noqa: E402

FOLDER = REPO / "example_workflows"
ICON = REPO / "docs" / "icon.png"
FAMILIES = ("denoise", "deblur", "models", "enhance", "grain", "measure")
#: Side of the square crop of the sample the thumbnails start from, px.
SIZE = 256
#: Longest side of a thumbnail, px.
THUMBNAIL_SIDE = 512
PACK_ID = "restorekit"  # the Comfy Registry node id ([project] name), shown by ComfyUI-Manager for missing nodes
CONTROL_VALUES = ("fixed", "increment", "decrement", "randomize")

#: ComfyUI core nodes the workflows use: socket inputs (name, type), widgets (name, default) and outputs.
#: ``Note`` is a frontend-only node (a text box); LoadImage's second widget is its upload button.
CORE_NODES: dict[str, dict[str, list[tuple[str, Any]]]] = {
    "LoadImage": {"inputs": [], "widgets": [("image", "example.png"), ("upload", "image")],
                  "outputs": [("IMAGE", "IMAGE"), ("MASK", "MASK")]},
    "PreviewImage": {"inputs": [("images", "IMAGE")], "widgets": [], "outputs": []},
    "SaveImage": {"inputs": [("images", "IMAGE")], "widgets": [("filename_prefix", "restorekit")], "outputs": []},
    "PreviewAny": {"inputs": [("source", "*")], "widgets": [], "outputs": []},
    "Note": {"inputs": [], "widgets": [("text", "")], "outputs": []},
}


def _version() -> str:
    from restorekit import __version__

    return __version__


def operations_by_id() -> dict[str, Operation]:
    return {op.node_id: op for op in all_operations()}


def has_control_widget(p: Any) -> bool:
    """Whether the ComfyUI frontend adds a "control after generate" widget after this input: an INT that
    asks for one (``control_after_generate``) or, when it says nothing, an INT named seed / noise_seed."""
    if p.kind != "int":
        return False
    options = KINDS[p.kind].widget(p, list)
    return bool(options.get("control_after_generate", p.name in ("seed", "noise_seed")))


def socket_inputs(op: Operation) -> list[Any]:
    """Data inputs in the order the node shows them: required, then optional (ComfyUI's input_order)."""
    data = [p for p in op.inputs if p.is_data]
    return [p for p in data if not p.optional] + [p for p in data if p.optional]


def widget_inputs(op: Operation) -> list[Any]:
    """Widget inputs in the order of ``widgets_values``: required, then optional."""
    widgets = [p for p in op.inputs if not p.is_data]
    return [p for p in widgets if not p.optional] + [p for p in widgets if p.optional]


# ---- building a workflow ------------------------------------------------------------------------


@dataclass
class Node:
    id: int
    type: str
    pos: tuple[int, int]
    inputs: list[tuple[str, str]]  # socket (name, type)
    widgets: list[tuple[str, str]]  # widget (name, type) in widgets_values order, control widgets left out
    outputs: list[tuple[str, str]]
    values: dict[str, Any]
    title: str | None = None
    size: tuple[int, int] | None = None
    links_in: dict[str, int] = field(default_factory=dict)
    links_out: dict[str, list[int]] = field(default_factory=dict)


class Workflow:
    """A ComfyUI UI-format graph (``version`` 0.4) under construction."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.ops = operations_by_id()
        self.nodes: list[Node] = []
        self.links: list[list[Any]] = []
        self.thumbnail: int | None = None  # id of the Preview Image node whose image is the thumbnail

    def add(self, node_type: str, pos: tuple[int, int], title: str | None = None,
            size: tuple[int, int] | None = None, **values: Any) -> int:
        """Add a node at ``pos`` (canvas px) with widget ``values`` (the rest take their defaults)."""
        if node_type in self.ops:
            op = self.ops[node_type]
            inputs = [(p.name, KINDS[p.kind].comfy_type) for p in socket_inputs(op)]
            widgets = [(p.name, KINDS[p.kind].comfy_type) for p in widget_inputs(op)]
            defaults = {p.name: p.default for p in widget_inputs(op)}
            outputs = [(o.name, KINDS[o.kind].comfy_type) for o in op.outputs]
        elif node_type in CORE_NODES:
            spec = CORE_NODES[node_type]
            inputs = list(spec["inputs"])
            widgets = [(n, "STRING") for n, _ in spec["widgets"]]
            defaults = dict(spec["widgets"])
            outputs = list(spec["outputs"])
        else:
            raise KeyError(f"{self.name}: unknown node type {node_type!r}")
        unknown = set(values) - set(defaults)
        if unknown:
            raise KeyError(f"{self.name}: {node_type} has no widgets {sorted(unknown)}")
        node = Node(len(self.nodes) + 1, node_type, pos, inputs, widgets, outputs, {**defaults, **values}, title, size)
        self.nodes.append(node)
        return node.id

    def node(self, node_id: int) -> Node:
        return self.nodes[node_id - 1]

    def connect(self, source: int, output: str, target: int, input_name: str) -> None:
        src, dst = self.node(source), self.node(target)
        out_slot = [n for n, _ in src.outputs].index(output)
        in_slot = [n for n, _ in dst.inputs].index(input_name)
        out_type, in_type = src.outputs[out_slot][1], dst.inputs[in_slot][1]
        if in_type not in ("*", out_type):
            raise TypeError(f"{self.name}: {src.type}.{output} ({out_type}) cannot feed {dst.type}.{input_name} ({in_type})")
        if input_name in dst.links_in:
            raise ValueError(f"{self.name}: {dst.type}.{input_name} is connected twice")
        link_id = len(self.links) + 1
        self.links.append([link_id, source, out_slot, target, in_slot, out_type])
        dst.links_in[input_name] = link_id
        src.links_out.setdefault(output, []).append(link_id)

    def note(self, pos: tuple[int, int], text: str, size: tuple[int, int] = (360, 150)) -> int:
        return self.add("Note", pos, size=size, text=text)

    # ---- serialisation ----

    def _order(self) -> dict[int, int]:
        """Execution order (a topological order) as the frontend stores it in each node's ``order``."""
        done: list[int] = []
        pending = [n.id for n in self.nodes]
        while pending:
            for nid in pending:
                sources = {link[1] for link in self.links if link[3] == nid}
                if sources <= set(done):
                    done.append(nid)
                    pending.remove(nid)
                    break
            else:
                raise ValueError(f"{self.name}: the graph has a cycle")
        return {nid: k for k, nid in enumerate(done)}

    def to_json(self) -> dict[str, Any]:
        order = self._order()
        version = _version()
        nodes = []
        for n in self.nodes:
            core = n.type in CORE_NODES
            inputs: list[dict[str, Any]] = []
            for name, kind in n.inputs:
                entry: dict[str, Any] = {"name": name, "type": kind, "link": n.links_in.get(name)}
                if not core and self.ops[n.type].param(name).optional:
                    entry["shape"] = 7  # the frontend's hollow dot for an optional socket
                inputs.append(entry)
            if not core:  # widget inputs are listed too (frontend >= 1.16), unconnected
                inputs += [{"name": name, "type": kind, "widget": {"name": name}, "link": None}
                           for name, kind in n.widgets]
            outputs = [{"name": name, "type": kind, "links": n.links_out.get(name) or None, "slot_index": k}
                       for k, (name, kind) in enumerate(n.outputs)]
            values: list[Any] = []
            for name, _kind in n.widgets:
                values.append(n.values[name])
                if not core and has_control_widget(self.ops[n.type].param(name)):
                    values.append("fixed")  # a seed stays put, so the result can be reproduced
            rows = max(len(n.inputs), len(n.outputs)) + len(values)
            entry = {
                "id": n.id,
                "type": n.type,
                "pos": list(n.pos),
                "size": list(n.size or (320, 46 + 24 * rows)),
                "flags": {},
                "order": order[n.id],
                "mode": 0,
                "inputs": inputs,
                "outputs": outputs,
                "properties": {"cnr_id": "comfy-core" if core else PACK_ID, **({} if core else {"ver": version}),
                               "Node name for S&R": n.type},
                "widgets_values": values,
            }
            if n.type == "Note":
                entry["properties"] = {}
            if n.title:
                entry["title"] = n.title
            nodes.append(entry)
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"restorekit/example_workflows/{self.name}")),
            "revision": 0,
            "last_node_id": len(self.nodes),
            "last_link_id": len(self.links),
            "nodes": nodes,
            "links": self.links,
            "groups": [],
            "config": {},
            "extra": {"ds": {"scale": 0.75, "offset": [40, 40]}},
            "version": 0.4,
        }


# ---- the six workflows --------------------------------------------------------------------------

X = (40, 420, 800, 1180, 1560)  # column positions, px


def denoise() -> Workflow:
    w = Workflow("denoise")
    load = w.add("LoadImage", (X[0], 120), size=(320, 360))
    analyze = w.add("RK_AnalyzeNoise", (X[1], 40))
    auto = w.add("RK_AutoDenoise", (X[1], 220))
    wavelet = w.add("RK_WaveletDenoise", (X[1], 440))
    compare = w.add("RK_Compare", (X[2], 40), labels="input, Auto-Denoise, Wavelet Denoise", columns=3,
                    crop_size=0.3, crop_x=0.45, crop_y=0.35)
    preview = w.add("PreviewImage", (X[3], 40), size=(520, 300))
    noise_report = w.add("PreviewAny", (X[2], 640), title="Noise analysis", size=(360, 200))
    auto_report = w.add("PreviewAny", (X[3], 400), title="What Auto-Denoise did", size=(420, 240))
    for node in (analyze, auto, wavelet):
        w.connect(load, "IMAGE", node, "image")
    w.connect(load, "IMAGE", compare, "image_1")
    w.connect(auto, "image", compare, "image_2")
    w.connect(wavelet, "image", compare, "image_3")
    w.connect(compare, "image", preview, "images")
    w.connect(analyze, "report", noise_report, "source")
    w.connect(auto, "report", auto_report, "source")
    w.note((X[0], 520), "Load a noisy photo. Analyze Noise says what kind of noise it has; Auto-Denoise picks a "
           "denoiser for it and reports why; Wavelet Denoise (sigma 0 = estimated) is a fast alternative. Compare "
           "shows them side by side with an enlarged crop.")
    w.thumbnail = preview
    return w


def deblur() -> Workflow:
    w = Workflow("deblur")
    load = w.add("LoadImage", (X[0], 40), size=(320, 360))
    psf = w.add("RK_MakePsf", (X[0], 440), shape="gaussian", sigma=2.0)
    rl = w.add("RK_RichardsonLucy", (X[1], 40))
    wiener = w.add("RK_WienerDeconvolution", (X[1], 400))
    compare = w.add("RK_Compare", (X[2], 40), labels="input, Richardson-Lucy, Wiener", columns=3)
    preview = w.add("PreviewImage", (X[3], 40), size=(520, 300))
    kernel = w.add("PreviewImage", (X[2], 420), title="Blur kernel (PSF)", size=(240, 260))
    report = w.add("PreviewAny", (X[3], 400), title="Richardson-Lucy report", size=(420, 200))
    w.connect(load, "IMAGE", rl, "image")
    w.connect(load, "IMAGE", wiener, "image")
    w.connect(psf, "psf", rl, "psf")
    w.connect(psf, "psf", wiener, "psf")
    w.connect(psf, "preview", kernel, "images")
    w.connect(load, "IMAGE", compare, "image_1")
    w.connect(rl, "image", compare, "image_2")
    w.connect(wiener, "image", compare, "image_3")
    w.connect(compare, "image", preview, "images")
    w.connect(rl, "report", report, "source")
    w.note((X[1], 760), "Set Make PSF to the blur of your photo (Gaussian, motion, defocus...). Richardson-Lucy "
           "iterates with total-variation regularisation; Wiener deconvolution is one fast step. Both estimate the "
           "noise when sigma is 0.")
    w.thumbnail = preview
    return w


def models() -> Workflow:
    w = Workflow("models")
    loader = w.add("RK_LoadRestorationModel", (X[0], 40), model_name="drunet_color.pth")
    load = w.add("LoadImage", (X[0], 200), size=(320, 360))
    restore = w.add("RK_RestoreWithModel", (X[1], 40))
    compare = w.add("RK_Compare", (X[2], 40), labels="input, restored", columns=2)
    preview = w.add("PreviewImage", (X[3], 40), size=(520, 300))
    save = w.add("SaveImage", (X[2], 420), size=(320, 300), filename_prefix="restorekit/restored")
    info = w.add("PreviewAny", (X[1], 440), title="Model", size=(320, 160))
    report = w.add("PreviewAny", (X[3], 400), title="Restore report", size=(420, 200))
    w.connect(loader, "model", restore, "model")
    w.connect(load, "IMAGE", restore, "image")
    w.connect(load, "IMAGE", compare, "image_1")
    w.connect(restore, "image", compare, "image_2")
    w.connect(compare, "image", preview, "images")
    w.connect(restore, "image", save, "images")
    w.connect(loader, "info", info, "source")
    w.connect(restore, "report", report, "source")
    w.note((X[0], 600), "Put a weights file into ComfyUI/models/restorekit (e.g. `restorekit weights fetch "
           "drunet-color`) and pick it in Load Restoration Model. Restore With Model estimates the noise level for "
           "networks that take one, and tiles large images.")
    w.thumbnail = preview
    return w


def enhance() -> Workflow:
    w = Workflow("enhance")
    load = w.add("LoadImage", (X[0], 120), size=(320, 360))
    adaptive = w.add("RK_AdaptiveEnhance", (X[1], 40))
    clahe = w.add("RK_CLAHE", (X[1], 260))
    sharpen = w.add("RK_SmartSharpen", (X[1], 500))
    compare = w.add("RK_Compare", (X[2], 40), labels="input, Adaptive Enhance, CLAHE, Smart Sharpen", columns=2)
    preview = w.add("PreviewImage", (X[3], 40), size=(420, 420))
    report = w.add("PreviewAny", (X[3], 500), title="What Adaptive Enhance did", size=(420, 200))
    for node in (adaptive, clahe, sharpen):
        w.connect(load, "IMAGE", node, "image")
    w.connect(load, "IMAGE", compare, "image_1")
    w.connect(adaptive, "image", compare, "image_2")
    w.connect(clahe, "image", compare, "image_3")
    w.connect(sharpen, "image", compare, "image_4")
    w.connect(compare, "image", preview, "images")
    w.connect(adaptive, "report", report, "source")
    w.note((X[0], 520), "Adaptive Enhance measures noise, blur and contrast and only corrects what they call for. "
           "CLAHE raises local contrast; Smart Sharpen sharpens edges without halos or amplified noise.")
    w.thumbnail = preview
    return w


def grain() -> Workflow:
    w = Workflow("grain")
    load = w.add("LoadImage", (X[0], 40), size=(320, 360))
    add = w.add("RK_GrainAdd", (X[1], 40))
    compare = w.add("RK_Compare", (X[2], 40), labels="input, with grain", columns=2, crop_size=0.3, crop_x=0.45,
                    crop_y=0.35)
    preview = w.add("PreviewImage", (X[3], 40), size=(520, 300))
    report = w.add("PreviewAny", (X[2], 420), title="Grain Add report", size=(380, 180))
    w.connect(load, "IMAGE", add, "image")
    w.connect(load, "IMAGE", compare, "image_1")
    w.connect(add, "image", compare, "image_2")
    w.connect(compare, "image", preview, "images")
    w.connect(add, "report", report, "source")
    if "RK_GrainAnalyze" in w.ops:  # measures the grain that was added (a round trip of the grain model)
        analyze_op = w.ops["RK_GrainAnalyze"]
        analyze = w.add("RK_GrainAnalyze", (X[1], 460))
        image_in = next(p.name for p in socket_inputs(analyze_op) if p.kind == "image")
        w.connect(add, "image", analyze, image_in)
        if any(o.name == "report" for o in analyze_op.outputs):
            found = w.add("PreviewAny", (X[3], 400), title="Grain Analyze report", size=(420, 200))
            w.connect(analyze, "report", found, "source")
    w.note((X[0], 440), "Grain Add makes luminance-dependent film grain from intensity and size (or from a grain "
           "model, connected from Grain Analyze or Grain Match). Keep the seed fixed to get the same grain again.")
    w.thumbnail = preview
    return w


def measure() -> Workflow:
    w = Workflow("measure")
    load = w.add("RK_LoadImage16bit", (X[0], 40))
    process = w.add("RK_UnsharpMask", (X[0], 220), title="Processing to measure (Unsharp Mask)")
    metrics = w.add("RK_QualityMetrics", (X[1], 40))
    diff = w.add("RK_Difference", (X[1], 480))
    compare = w.add("RK_Compare", (X[2], 40), labels="original, processed, difference, heat map", columns=2)
    preview = w.add("PreviewImage", (X[3], 40), size=(420, 420))
    save = w.add("RK_SaveImage16bit", (X[2], 520))
    report = w.add("PreviewAny", (X[3], 500), title="Quality Metrics report", size=(420, 260))
    w.connect(load, "image", process, "image")
    w.connect(process, "image", metrics, "image")
    w.connect(load, "image", metrics, "reference")
    w.connect(load, "image", diff, "image_a")
    w.connect(process, "image", diff, "image_b")
    w.connect(load, "image", compare, "image_1")
    w.connect(process, "image", compare, "image_2")
    w.connect(diff, "signed", compare, "image_3")
    w.connect(diff, "heat_map", compare, "image_4")
    w.connect(compare, "image", preview, "images")
    w.connect(process, "image", save, "image")
    w.connect(load, "mask", save, "mask")
    w.connect(metrics, "report", report, "source")
    w.note((X[0], 480), "Load Image 16-bit keeps every bit of 16-bit PNG/TIFF files (the default path is the bundled "
           "sample). Replace Unsharp Mask with the processing you want to judge: Quality Metrics measures it against "
           "the original, Difference shows where it changed the image, Save Image 16-bit writes it without loss.")
    w.thumbnail = preview
    return w


BUILDERS: dict[str, Callable[[], Workflow]] = {
    "denoise": denoise, "deblur": deblur, "models": models, "enhance": enhance, "grain": grain, "measure": measure,
}


def build_all() -> dict[str, dict[str, Any]]:
    """Every example workflow as the JSON object written to ``example_workflows/<family>.json``."""
    return {name: BUILDERS[name]().to_json() for name in FAMILIES}


def dumps(workflow: dict[str, Any]) -> str:
    return json.dumps(workflow, indent=2, ensure_ascii=False) + "\n"


# ---- thumbnails: run the graph ------------------------------------------------------------------


def _sample(device: str) -> torch.Tensor:
    from node_gallery import sample_crop  # tools/ is on sys.path when this script runs

    return sample_crop(device, SIZE)


def degraded(family: str, clean: torch.Tensor) -> torch.Tensor:
    """The image a family's thumbnail starts from (fixed seed)."""
    from restorekit.sharpen.unsharp import gaussian_blur

    gen = torch.Generator(device=clean.device).manual_seed(0)
    noise = torch.randn(clean.shape, generator=gen, device=clean.device)
    if family in ("denoise", "models"):
        return (clean + noise * 25 / 255).clamp(0, 1)
    if family == "deblur":
        return (gaussian_blur(clean, 2.0) + noise / 255).clamp(0, 1)
    if family == "enhance":
        cast = torch.tensor([1.08, 1.0, 0.85], device=clean.device).view(1, 3, 1, 1)
        return (0.15 + 0.55 * gaussian_blur(clean, 0.8) * cast).clamp(0, 1)
    return clean


def run_graph(workflow: Workflow, source: torch.Tensor, device: str, model: str | None) -> torch.Tensor | None:
    """The image that reaches the workflow's thumbnail node when its nodes run on ``source``.

    Image loaders (Load Image, Load Image 16-bit) hand out ``source``; the other nodes run through
    :func:`restorekit.run` with the workflow's widget values. None when a node needs a weights file
    and ``model`` is None.
    """
    results: dict[int, dict[str, Any]] = {}

    def outputs_of(node_id: int) -> dict[str, Any] | None:
        if node_id in results:
            return results[node_id]
        node = workflow.node(node_id)
        inputs: dict[str, Any] = {}
        for link in workflow.links:
            if link[3] == node_id:
                upstream = outputs_of(link[1])
                if upstream is None:
                    return None
                inputs[node.inputs[link[4]][0]] = upstream[workflow.node(link[1]).outputs[link[2]][0]]
        if node.type == "LoadImage":
            out: dict[str, Any] = {"IMAGE": source, "MASK": torch.zeros_like(source[:, :1])}
        elif node.type == "RK_LoadImage16bit":
            out = {"image": source, "mask": torch.zeros_like(source[:, :1]), "bit_depth": 8}
        elif node.type in CORE_NODES:
            out = inputs
        else:
            values = {name: node.values[name] for name, _ in node.widgets}
            if any(KINDS[p.kind].name == "model_file" for p in workflow.ops[node.type].inputs):
                if model is None:
                    return None
                values = {**values, **{p.name: model for p in workflow.ops[node.type].inputs if p.kind == "model_file"}}
            out = run(workflow.ops[node.type].name, device=device, **values, **inputs)
        results[node_id] = out
        return out

    shown = outputs_of(workflow.thumbnail)
    return None if shown is None else shown["images"]


def _chain_picture(workflow: Workflow, source: torch.Tensor) -> torch.Tensor:
    """Without a weights file: the input beside the names of the workflow's restorekit nodes."""
    from restorekit.quality.compare import text_mask

    h = source.shape[-2]
    panel = torch.full((1, 3, h, h), 0.13, device=source.device)
    names = [workflow.ops[n.type].display_name for n in workflow.nodes if n.type in workflow.ops]
    lines = [line for name in names for line in (name, "|")][:-1] + ["(needs a weights file)"]
    step = h // (len(lines) + 1)
    for k, text in enumerate(lines):
        mask = torch.from_numpy(text_mask(text, h, max(12, step * 2 // 3))).to(source.device)
        y = (k + 1) * step - mask.shape[0] // 2
        panel[0, :, y : y + mask.shape[0], :] = torch.maximum(panel[0, :, y : y + mask.shape[0], :], mask * 0.92)
    gap = torch.ones(1, 3, h, 4, device=source.device)
    return torch.cat([source[:1], gap, panel], dim=-1)


def _save_jpeg(image: torch.Tensor, path: Path, side: int) -> None:
    from PIL import Image

    image = image[:1, :3] if image.shape[1] >= 3 else image[:1].expand(-1, 3, -1, -1)
    h, w = image.shape[-2:]
    scale = side / max(h, w)
    if scale < 1:
        image = torch.nn.functional.interpolate(image, size=(round(h * scale), round(w * scale)), mode="area")
    array = (image[0].permute(1, 2, 0).float().cpu().numpy() * 255 + 0.5).clip(0, 255).astype("uint8")
    Image.fromarray(array).save(path, quality=88)


def make_thumbnails(device: str, model: str | None) -> None:
    clean = _sample(device)
    for name in FAMILIES:
        workflow = BUILDERS[name]()
        source = degraded(name, clean)
        image = run_graph(workflow, source, device, model)
        if image is None:
            image = _chain_picture(workflow, source)
            print(f"{name}: thumbnail without a model run (give --model WEIGHTS for a real one)")
        _save_jpeg(image, FOLDER / f"{name}.jpg", THUMBNAIL_SIDE)
        print(f"{name}: {(FOLDER / f'{name}.jpg').relative_to(REPO)}")


def make_icon(device: str) -> None:
    """docs/icon.png: 400x400, the degraded sample on the left half and the Auto-Denoise result on the right."""
    from PIL import Image

    clean = _sample(device)
    noisy = degraded("denoise", clean)
    restored = run("auto_denoise", device=device, image=noisy)["image"]
    split = noisy.clone()
    half = SIZE // 2
    split[..., half:] = restored[..., half:]
    split[..., half - 1 : half + 1] = 1.0  # a thin white divider
    big = torch.nn.functional.interpolate(split, size=(400, 400), mode="bicubic", align_corners=False).clamp(0, 1)
    array = (big[0].permute(1, 2, 0).cpu().numpy() * 255 + 0.5).clip(0, 255).astype("uint8")
    ICON.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(ICON, optimize=True)
    print(f"icon: {ICON.relative_to(REPO)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json-only", action="store_true", help="write the workflows, not the thumbnails")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", help="a weights file for the models workflow's thumbnail")
    parser.add_argument("--icon", action="store_true", help="also write docs/icon.png")
    args = parser.parse_args(argv)
    FOLDER.mkdir(exist_ok=True)
    for name, workflow in build_all().items():
        (FOLDER / f"{name}.json").write_text(dumps(workflow), encoding="utf-8")
        print(f"{name}: {(FOLDER / f'{name}.json').relative_to(REPO)} ({len(workflow['nodes'])} nodes)")
    if not args.json_only:
        make_thumbnails(args.device, args.model)
    if args.icon:
        make_icon(args.device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
