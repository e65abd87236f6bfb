"""The ``restorekit`` command line: list, info, run, demo.

Operations, their parameters, defaults, ranges and help come from :mod:`restorekit.params`,
exactly as in the ComfyUI nodes. Files go through the same boundary as node inputs
(:func:`restorekit.image.from_comfy` / :func:`~restorekit.image.to_comfy`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import torch

from .errors import InvalidParameterError, RestoreError
from .image import alpha_for, from_comfy, mask_from_comfy, to_comfy
from .io import IMAGE_SUFFIXES, list_images, output_bit_depth, read_image, write_image
from .params import Operation, Param, all_operations, get_operation

log = logging.getLogger("restorekit")


# ---- progress ---------------------------------------------------------------------------

class TqdmProgress:
    """A progress callback drawing a tqdm bar on stderr (silent when stderr is not a terminal
    unless ``always`` is set)."""

    def __init__(self, description: str, enabled: bool = True) -> None:
        self.description = description
        self.enabled = enabled
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if self.bar is None or self.bar.total != total:
            self.close()
            self.bar = tqdm(total=total, desc=self.description, leave=False, file=sys.stderr)
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# ---- file <-> node values ---------------------------------------------------------------

def load_as_comfy(path: Path) -> tuple[torch.Tensor, int]:
    """An image file as a ComfyUI-layout tensor ``[1, H, W, C]`` and its bit depth."""
    loaded = read_image(path)
    return torch.from_numpy(loaded.pixels).unsqueeze(0), loaded.bit_depth


def parse_psf(spec: str, device: torch.device) -> Any:
    """A PSF from ``shape,key=value,…`` (e.g. ``motion,length=15,angle=30``) or an image file."""
    make_psf = get_operation("make_psf")
    values: dict[str, Any] = {}
    if Path(spec).suffix.lower() in IMAGE_SUFFIXES and not Path(spec).is_file():
        raise InvalidParameterError("--psf", f"kernel file {spec} not found.", "check the path.")
    if Path(spec).is_file():
        values["shape"] = "custom"
        values["custom"] = from_comfy(load_as_comfy(Path(spec))[0], spec, device).pixels
    else:
        head, *pairs = [s.strip() for s in spec.split(",") if s.strip()]
        values["shape"] = head
        for pair in pairs:
            if "=" not in pair:
                raise InvalidParameterError("--psf", f"cannot read {pair!r}.", "write key=value, e.g. sigma=2.")
            key, text = pair.split("=", 1)
            try:
                p = make_psf.param(key.strip())
            except KeyError:
                names = ", ".join(p.name for p in make_psf.inputs if not p.is_data)
                raise InvalidParameterError("--psf", f"unknown PSF parameter {key!r}.", f"use {names}.") from None
            values[p.name] = p.parse(text)
    core = {p.name: (values.get(p.name) if p.is_data else p.to_core(values.get(p.name, p.default))) for p in make_psf.inputs}
    return make_psf.call(core)[0]


def load_model_file(path: str, device: torch.device) -> Any:
    """Load a restoration model from a weights file for a ``model`` input."""
    from .models.loader import load_model

    return load_model(path, device=device)


def _option_name(p: Param) -> str:
    return "--" + p.name.replace("_", "-")


def _primary_image(op: Operation) -> str | None:
    """The input that positional files fill: the first image input, when it is required."""
    images = [p for p in op.inputs if p.kind == "image"]
    return images[0].name if images and not images[0].optional else None


def build_run_parser(op: Operation) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"restorekit run {op.name}", description=op.description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    primary = _primary_image(op)
    parser.add_argument("inputs", nargs="+" if primary or op.combine_inputs else "*", help="image files or folders")
    parser.add_argument("-o", "--output", required=True, help="output file (one input) or folder")
    parser.add_argument("--bit-depth", type=int, choices=(8, 16, 32), help="output bit depth (default: as the input)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--json", action="store_true", help="print numeric and text outputs as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    for p in op.inputs:
        if p.is_data and (p.name == primary or op.combine_inputs and p.kind == "image"):
            continue
        flags = [_option_name(p)]
        if "_" in p.name:
            flags.append("--" + p.name)
        if p.kind == "psf":
            parser.add_argument(*flags, dest=p.name, required=not p.optional,
                                help=p.tooltip + " Give shape,key=value,… (see `restorekit info make_psf`) or a kernel image file.")
        elif p.kind == "model":
            parser.add_argument(*flags, dest=p.name, required=not p.optional,
                                help=p.tooltip + " Give a weights file (.pth, .pt, .ckpt, .safetensors).")
        elif p.is_data:
            parser.add_argument(*flags, dest=p.name, required=not p.optional, help=p.tooltip + " (an image file)")
        else:
            kwargs: dict[str, Any] = {"dest": p.name, "default": None, "help": f"{p.tooltip} (default: {p.default})"}
            if p.kind == "choice":
                kwargs["choices"] = p.choices
            parser.add_argument(*flags, **kwargs)
    return parser


def _output_paths(op: Operation, source: Path, output: Path, many: bool) -> dict[str, Path]:
    """Where each image-like output goes. A PSF is written as a float32 TIFF of its kernel, which
    ``--psf FILE`` reads back exactly."""
    images = [o for o in op.outputs if o.kind in ("image", "mask")]
    paths: dict[str, Path] = {}
    folder = output if many or not output.suffix else output.parent
    if not many and output.suffix and len(images) == 1:
        paths[images[0].name] = output
    else:
        suffix = source.suffix.lower() if source.suffix.lower() in (".png", ".tif", ".tiff") else ".png"
        for o in images:
            paths[o.name] = folder / (f"{source.stem}{suffix}" if len(images) == 1 else f"{source.stem}_{o.name}{suffix}")
    for o in op.outputs:
        if o.kind == "psf":
            paths[o.name] = folder / f"{source.stem}_{o.name}.tif"
    return paths


def run_command(op: Operation, argv: list[str]) -> int:
    args = build_run_parser(op).parse_args(argv)
    device = torch.device(args.device)
    sources = list_images(args.inputs)
    output = Path(args.output)
    data_inputs = [p for p in op.inputs if p.is_data]
    image_slots = [p for p in data_inputs if p.kind == "image"]

    # Parameters: parse the command-line strings, validate and convert to core units once.
    fixed: dict[str, Any] = {}
    for p in op.inputs:
        if p.is_data:
            continue
        text = getattr(args, p.name)
        fixed[p.name] = p.to_core(p.default if text is None else p.parse(text))
    for p in data_inputs:
        text = getattr(args, p.name, None)
        if p.kind == "psf":
            fixed[p.name] = parse_psf(text, device) if text else None
        elif p.kind == "model":
            fixed[p.name] = load_model_file(text, device) if text else None
        elif text is not None:
            tensor = load_as_comfy(Path(text))[0]
            fixed[p.name] = (mask_from_comfy(tensor[..., 0], p.name, device) if p.kind == "mask"
                             else from_comfy(tensor, p.name, device).pixels)
        else:
            fixed[p.name] = None  # optional and not given; positional images are filled per job below

    if op.combine_inputs:
        if len(sources) > len(image_slots):
            raise InvalidParameterError("inputs", f"{op.name} takes at most {len(image_slots)} images.", None)
        jobs = [list(zip(image_slots, sources, strict=False))]
    elif _primary_image(op):
        jobs = [[(image_slots[0], s)] for s in sources]
    else:
        if sources:
            raise InvalidParameterError("inputs", f"{op.name} takes no input files.", f"see `restorekit info {op.name}`.")
        jobs = [[]]
    many = len(jobs) > 1 or output.is_dir() or not output.suffix
    results_json: list[dict[str, Any]] = []
    progress = TqdmProgress(op.display_name, enabled=not args.quiet and sys.stderr.isatty())
    for job in jobs:
        values = dict(fixed)
        alpha = None
        depth = 8
        for slot, path in job:
            tensor, file_depth = load_as_comfy(path)
            split = from_comfy(tensor, str(path), device if op.gpu else "cpu")
            values[slot.name] = split.pixels
            if alpha is None and slot is job[0][0]:
                alpha, depth = split.alpha, file_depth
        for p in image_slots:
            values.setdefault(p.name, None)
        if not op.gpu:
            values = {k: (v.cpu() if isinstance(v, torch.Tensor) else v) for k, v in values.items()}
        results = op.call(values, progress)
        progress.close()
        source = job[0][1] if job else (output if output.suffix else Path(op.name + ".png"))
        paths = _output_paths(op, source, output, many)
        record: dict[str, Any] = {"input": str(source)}
        for spec, value in zip(op.outputs, results, strict=True):
            if spec.kind in ("image", "mask"):
                if spec.kind == "mask":
                    value = value.expand(-1, 1, -1, -1)
                comfy = to_comfy(value, alpha_for(alpha, value) if spec.kind == "image" else None, "cpu", name=spec.name)
                target = paths[spec.name]
                bits = output_bit_depth(target, args.bit_depth, depth)
                for i in range(comfy.shape[0]):
                    name = target if comfy.shape[0] == 1 else target.with_name(f"{target.stem}_{i}{target.suffix}")
                    write_image(name, comfy[i].numpy(), bits)
                    record.setdefault("written", []).append(str(name))
            elif spec.kind == "psf":
                target = paths[spec.name]
                write_image(target, (value.kernel / value.kernel.max()).cpu().numpy()[:, :, None], 32)
                record.setdefault("written", []).append(str(target))
            elif spec.kind in ("float", "int", "string"):
                record[spec.name] = value
            elif spec.kind == "model":
                record[spec.name] = value.summary()
        results_json.append(record)
        if not args.json:
            for key, value in record.items():
                if key == "written":
                    for name in value:
                        print(f"wrote {name}")
                elif key != "input":
                    text = str(value)
                    print(f"{key}:\n{text}" if "\n" in text else f"{key}: {text}")
    if args.json:
        print(json.dumps(results_json, indent=2, default=str))
    return 0


# ---- list / info ------------------------------------------------------------------------

def list_command(markdown: bool = False) -> int:
    ops = all_operations()
    if markdown:
        print("| node (id) | CLI name | category | what it does |")
        print("|---|---|---|---|")
        for op in ops:
            print(f"| {op.display_name} (`{op.node_id}`) | `{op.name}` | {op.category} | {op.description} |")
        return 0
    width = max(len(op.name) for op in ops)
    for category in sorted({op.category for op in ops}):
        print(f"{category}:")
        for op in (o for o in ops if o.category == category):
            summary = op.description.split(". ")[0].rstrip(".")
            print(f"  {op.name:<{width}}  {op.display_name} ({op.node_id}) — {summary}")
    return 0


def info_command(name: str) -> int:
    op = get_operation(name)
    print(f"{op.display_name}  (CLI: {op.name}, node: {op.node_id}, category: {op.full_category})")
    print(op.description)
    print("\ninputs:")
    for p in op.inputs:
        if p.kind == "choice":
            kind = "one of " + "|".join(p.choices)
        else:
            kind = p.kind
        default = "" if p.is_data else f" = {p.default!r}"
        extra = " (optional)" if p.optional else ""
        extra += " (advanced)" if p.advanced else ""
        print(f"  {p.name}: {kind}{default}{extra}\n      {p.tooltip}")
    print("\noutputs:")
    for o in op.outputs:
        print(f"  {o.name}: {o.kind} — {o.help}")
    return 0


# ---- entry point ------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(prog="restorekit", description="Image restoration: denoise, deblur, enhance, measure.")
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="list the operations")
    listing.add_argument("--markdown", action="store_true", help="print a Markdown table (as in README.md)")
    info = sub.add_parser("info", help="describe one operation and its parameters")
    info.add_argument("operation")
    run = sub.add_parser("run", help="run an operation on files: restorekit run OP INPUT... -o OUT --param value", add_help=False)
    run.add_argument("operation")
    from .models.weights import add_cli as add_weights_cli

    add_weights_cli(sub)
    demo = sub.add_parser("demo", help="restore the bundled sample image and write before/after images and a report")
    demo.add_argument("-o", "--output", default="restorekit-demo", help="output folder")
    demo.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    try:
        if argv[:1] == ["run"]:
            if len(argv) < 2 or argv[1].startswith("-"):
                parser.parse_args(["run", "--help"] if len(argv) > 1 else ["run"])
            return run_command(get_operation(argv[1]), argv[2:])
        args = parser.parse_args(argv)
        if args.command == "list":
            return list_command(args.markdown)
        if args.command == "info":
            return info_command(args.operation)
        if args.command == "weights":
            return args.weights_handler(args)
        from .demo import run_demo

        run_demo(Path(args.output), device=args.device)
        return 0
    except RestoreError as err:
        print(f"restorekit: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
