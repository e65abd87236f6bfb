"""The ``restorekit`` command line: list, info, run, batch, demo.

Operations, their parameters, defaults, ranges and help come from :mod:`restorekit.params`,
exactly as in the ComfyUI nodes. Files and option strings become core values through the same
conversion as node inputs (:func:`restorekit.kinds.convert_inputs`), reading files straight into
core tensors.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

import torch

from .errors import InvalidParameterError, RestoreError
from .io import list_images
from .kinds import KINDS, Context, convert_inputs, opaque
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


# ---- run ------------------------------------------------------------------------------

def _option_name(p: Param) -> str:
    return "--" + p.name.replace("_", "-")


def _primary_image(op: Operation) -> str | None:
    """The input that positional files fill: the first image input, when it is required."""
    images = [p for p in op.inputs if p.kind == "image"]
    return images[0].name if images and not images[0].optional else None


def _positional(op: Operation) -> list[Param]:
    """The inputs filled from the positional files: the primary image, or every image of a combining operation."""
    primary = _primary_image(op)
    return [p for p in op.inputs if p.kind == "image" and (op.combine_inputs or p.name == primary)]


def build_run_parser(op: Operation) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"restorekit run {op.name}", description=op.description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    positional = _positional(op)
    parser.add_argument("inputs", nargs="+" if positional else "*", help="image files or folders")
    parser.add_argument("-o", "--output", required=True, help="output file (one input) or folder")
    parser.add_argument("--bit-depth", type=int, choices=(8, 16, 32), help="output bit depth (default: as the input)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--json", action="store_true", help="print numeric and text outputs as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    for p in op.inputs:
        if p in positional:
            continue
        flags = [_option_name(p)] + (["--" + p.name] if "_" in p.name else [])
        kind = KINDS[p.kind]
        if p.is_data:
            parser.add_argument(*flags, dest=p.name, required=not p.optional, help=f"{p.tooltip} Give {kind.cli_help}.")
        else:
            parser.add_argument(*flags, dest=p.name, default=None, choices=p.choices or None,
                                help=f"{p.tooltip} (default: {p.default})")
    return parser


def _output_paths(op: Operation, source: Path, output: Path, many: bool) -> dict[str, Path]:
    """Where each file-written output (image, mask, PSF) goes."""
    written = [o for o in op.outputs if KINDS[o.kind].write is not None]
    pictures = [o for o in written if o.kind != "psf"]
    folder = output if many or not output.suffix else output.parent
    suffix = source.suffix.lower() if source.suffix.lower() in (".png", ".tif", ".tiff") else ".png"
    paths: dict[str, Path] = {}
    for o in written:
        if o.kind == "psf":
            paths[o.name] = folder / f"{source.stem}_{o.name}.tif"
        elif not many and output.suffix:
            # One named output file: the first picture is it, any others are named after it.
            first = o is pictures[0]
            paths[o.name] = output if first else output.with_name(f"{output.stem}_{o.name}{output.suffix}")
        else:
            paths[o.name] = folder / (f"{source.stem}{suffix}" if len(pictures) == 1 else f"{source.stem}_{o.name}{suffix}")
    return paths


def run_command(op: Operation, argv: list[str]) -> int:
    args = build_run_parser(op).parse_args(argv)
    ctx = Context(device=torch.device(args.device) if op.gpu else torch.device("cpu"))
    sources = list_images(args.inputs)
    output = Path(args.output)
    positional = _positional(op)

    # Options (parameters, PSF, model, extra image files) are read and converted once for all jobs.
    options = {p.name: getattr(args, p.name) for p in op.inputs if p not in positional and getattr(args, p.name) is not None}
    fixed, fixed_main = convert_inputs(op, options, ctx, "text", only={p.name for p in op.inputs if p not in positional})

    if op.combine_inputs:
        if len(sources) > len(positional):
            raise InvalidParameterError("inputs", f"{op.name} takes at most {len(positional)} images.", None)
        jobs = [list(zip(positional, sources, strict=False))]
    elif positional:
        jobs = [[(positional[0], s)] for s in sources]
    else:
        if sources:
            raise InvalidParameterError("inputs", f"{op.name} takes no input files.", f"see `restorekit info {op.name}`.")
        jobs = [[]]
    many = len(jobs) > 1 or output.is_dir() or not output.suffix
    results_json: list[dict[str, Any]] = []
    progress = TqdmProgress(op.display_name, enabled=not args.quiet and sys.stderr.isatty())
    for job in jobs:
        files = {slot.name: str(path) for slot, path in job}
        core, main = convert_inputs(op, files, ctx, "text", only={p.name for p in positional})
        if not job:
            main = fixed_main
        results = op.call({**fixed, **core}, progress)
        progress.close()
        source = job[0][1] if job else (output if output.suffix else Path(op.name + ".png"))
        paths = _output_paths(op, source, output, many)
        record: dict[str, Any] = {"input": str(source)}
        notes = ctx.notes
        for spec, value in zip(op.outputs, results, strict=True):
            kind = KINDS[spec.kind]
            if kind.write is not None:
                written = kind.write(paths[spec.name], value, main if spec.alpha else opaque(main), args.bit_depth)
                record.setdefault("written", []).extend(str(w) for w in written)
            elif kind.to_record is not None:
                if spec.name == "report" and notes:
                    value = "\n".join([str(value), *notes])
                record[spec.name] = kind.to_record(value)
        results_json.append(record)
        if not args.json:
            for key, value in record.items():
                if key == "written":
                    for name in value:
                        print(f"wrote {name}")
                elif key != "input":
                    text = str(value)
                    print(f"{key}:\n{text}" if "\n" in text else f"{key}: {text}")
        ctx.notes = []
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


# ---- batch --------------------------------------------------------------------------------

class _StepAction(argparse.Action):
    """``--op`` starts a step and ``--param`` adds to the latest one, keeping their order."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, value: Any,
                 option: str | None = None) -> None:
        steps = getattr(namespace, "steps", None) or []
        if option == "--op":
            steps.append((value, []))
        elif not steps:
            parser.error("--param must follow an --op (or the options of a recipe file go into the file)")
        else:
            steps[-1][1].append(value)
        namespace.steps = steps


def add_batch_parser(sub: Any) -> None:
    batch = sub.add_parser(
        "batch", help="run a recipe over a folder or a video, resumably: restorekit batch RECIPE IN OUT",
        description="Run one operation or a pipeline (RECIPE: a .json/.yaml file, or --op NAME --param key=value) "
        "over IN (a folder, searched recursively, or a video) into the folder OUT. Each finished item is recorded "
        "in OUT/restorekit-manifest.jsonl and outputs are written atomically; --resume skips what is done.",
    )
    batch.add_argument("paths", nargs="+", metavar="PATH", help="RECIPE IN OUT: recipe file (left out with --op), input, output folder")
    batch.add_argument("--op", action=_StepAction, dest="steps", default=None, metavar="NAME", help="operation (repeat for a pipeline)")
    batch.add_argument("--param", action=_StepAction, dest="steps", metavar="KEY=VALUE", help="key=value for the preceding --op")
    batch.add_argument("--glob", help="only inputs whose relative path matches, e.g. '*.png'")
    batch.add_argument("--resume", action="store_true", help="skip the items the manifest shows done")
    batch.add_argument("--overwrite", action="store_true", help="start again although OUT has a manifest")
    batch.add_argument("--fail-fast", action="store_true", help="stop at the first failed item")
    batch.add_argument("--workers", type=int, default=None, help="decode/write threads, or Ray workers (default: up to 4)")
    batch.add_argument("--batch-size", type=int, default=1, help="same-size images computed together (default 1)")
    batch.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    batch.add_argument("--engine", choices=("local", "ray"), default="local", help="local (default) or a Ray cluster")
    batch.add_argument("--address", default=None, help="Ray cluster address (auto, ray://host:10001); none: local Ray")
    batch.add_argument("--bit-depth", type=int, choices=(8, 16, 32), default=None,
                       help="output bit depth (default: as the input; video frames 16)")
    batch.add_argument("--suffix", default=None, help="output format: .png or .tif (default: as the input, else .png)")
    batch.add_argument("--every-nth", type=int, default=1, help="take every n-th input or frame (default 1: all)")
    batch.add_argument("--manifest", default=None, help="manifest path (default OUT/restorekit-manifest.jsonl)")
    batch.add_argument("--quiet", action="store_true", help="no progress bar")


def batch_command(args: argparse.Namespace) -> int:
    import signal

    from . import batch
    from .batch.recipe import recipe_from_args

    paths = list(args.paths)
    if args.steps:
        if len(paths) != 2:
            raise InvalidParameterError("batch", f"with --op give IN and OUT, got {len(paths)} paths.",
                                        "restorekit batch --op NAME --param k=v IN OUT")
        recipe: Any = recipe_from_args(args.steps)
    else:
        if len(paths) != 3:
            raise InvalidParameterError("batch", f"expected RECIPE IN OUT, got {len(paths)} paths.",
                                        "restorekit batch recipe.json IN OUT, or --op NAME IN OUT.")
        recipe = paths.pop(0)
    # SIGTERM (a scheduler stopping the job) ends the run like Ctrl-C: in-flight items are recorded.
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        summary = batch.run(
            recipe, paths[0], paths[1], glob=args.glob, resume=args.resume, overwrite=args.overwrite,
            fail_fast=args.fail_fast, workers=args.workers, device=args.device, engine=args.engine,
            address=args.address, bit_depth=args.bit_depth, suffix=args.suffix, every_nth=args.every_nth,
            batch_size=args.batch_size, manifest=args.manifest, progress=False if args.quiet else None,
        )
    except KeyboardInterrupt:
        return 130
    print(summary.text())
    return 0 if summary.failed == 0 else 1


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
    from .cli_weights import add_cli as add_weights_cli

    add_weights_cli(sub)
    add_batch_parser(sub)
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
        if args.command == "batch":
            return batch_command(args)
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
