"""Write README.md's node table and a before/after picture for every node that makes an image.

Usage: python tools/node_gallery.py [--table-only] [--device cpu|cuda] [--model WEIGHTS] [--nodes ID ...]

The table between the ``node-table`` markers of README.md is generated from the operation
declarations (name, id, CLI name, category, description) with a link to ``docs/nodes/<id>.jpg``
where that picture exists. Each picture shows a test input on the left and the node's result at
its default settings on the right. The input is the bundled sample (``restorekit/data``), degraded
the way the node expects: noise for denoisers, blur for deblurring and sharpening, low contrast and
a colour cast for enhancement, film grain for grain removal. ``tests/test_readme.py`` checks that
the table is what this script writes (pictures aside), so run it after adding or changing a node.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from restorekit.params import Operation, all_operations, run  # noqa: E402

README = REPO / "README.md"
PICTURES = REPO / "docs" / "nodes"
START, END = "<!-- node-table:start -->", "<!-- node-table:end -->"
SAMPLE = REPO / "restorekit" / "data" / "astronaut.png"
#: Side of the square crop the pictures show, px.
SIZE = 256


def picture_path(op: Operation) -> Path:
    return PICTURES / f"{op.node_id}.jpg"


def table(ops: list[Operation], pictures: set[str] | None = None) -> str:
    """The Markdown node table; ``pictures``: node ids that have a picture (None = look on disk)."""
    lines = ["| node (id) | CLI name | category | what it does | before / after |", "|---|---|---|---|---|"]
    for op in sorted(ops, key=lambda o: (o.category, o.display_name)):
        has = picture_path(op).is_file() if pictures is None else op.node_id in pictures
        link = f"[picture](docs/nodes/{op.node_id}.jpg)" if has else "—"
        lines.append(f"| {op.display_name} (`{op.node_id}`) | `{op.name}` | {op.category} | {op.description} | {link} |")
    return "\n".join(lines)


def readme_with_table(text: str, new_table: str) -> str:
    """``text`` with the part between the markers replaced by ``new_table``."""
    if START not in text or END not in text:
        raise SystemExit(f"README.md lacks the markers {START} ... {END}")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{new_table}\n{END}{tail}"


# ---- pictures ---------------------------------------------------------------------------------


def sample_crop(device: str, size: int = SIZE) -> torch.Tensor:
    """The bundled sample's centred square crop, resized to ``size`` px, RGB ``[1, 3, size, size]`` on ``device``."""
    from restorekit.io import load_image

    image, _ = load_image(SAMPLE, device)
    x = image.pixels[:, :3] if image.pixels.shape[1] >= 3 else image.pixels.expand(-1, 3, -1, -1)
    h, w = x.shape[-2:]
    side = min(h, w)
    x = x[..., (h - side) // 2 : (h - side) // 2 + side, (w - side) // 2 : (w - side) // 2 + side]
    return torch.nn.functional.interpolate(x, size=(size, size), mode="area").clamp(0, 1)


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    from restorekit.sharpen.unsharp import gaussian_blur

    return gaussian_blur(x, sigma)


def _degrade(op: Operation, clean: torch.Tensor) -> torch.Tensor:
    """The input a node's picture starts from."""
    gen = torch.Generator(device=clean.device).manual_seed(0)
    noise = torch.randn(clean.shape, generator=gen, device=clean.device)
    if op.category == "denoise":
        return (clean + noise * 25 / 255).clamp(0, 1)
    if op.category == "deblur" or op.category == "sharpen":
        return (_blur(clean, 2.0 if op.category == "deblur" else 1.5) + noise * 1 / 255).clamp(0, 1)
    if op.category == "enhance":
        cast = torch.tensor([1.08, 1.0, 0.85], device=clean.device).view(1, 3, 1, 1)
        return (0.15 + 0.55 * clean * cast).clamp(0, 1)
    if op.name in ("grain_remove", "grain_analyze"):
        return _grainy(clean, noise)
    if op.category == "pipeline":
        soft = 0.2 + 0.6 * _blur(clean, 1.2)
        return (soft + noise * 12 / 255).clamp(0, 1)
    return clean


def _grainy(clean: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """``clean`` with film-like grain: slightly correlated, strongest in the mid-tones (std up to 10 levels)."""
    grain = _blur(noise, 0.8)
    grain = grain / grain.std() * 10 / 255
    return (clean + grain * (4 * clean * (1 - clean))).clamp(0, 1)


def _inputs(op: Operation, image: torch.Tensor, clean: torch.Tensor, model: str | None) -> dict[str, Any] | None:
    """Values for the node's data inputs, or None when the picture cannot be made."""
    values: dict[str, Any] = {}
    for p in op.inputs:
        if p.kind == "image":
            if p.name in ("image", "image_1", "target"):
                values[p.name] = image
            elif p.name in ("reference", "clean"):
                values[p.name] = clean
            elif not p.optional:
                values[p.name] = clean
        elif p.kind in ("psf", "model", "model_file") and p.optional:
            continue  # the node's own default (estimate the blur, no model) is what the picture shows
        elif p.kind == "psf":
            values[p.name] = run("make_psf", shape="gaussian", sigma=2.0)["psf"]
        elif p.kind == "model":
            if model is None:
                return None
            values[p.name] = run("load_restoration_model", model_file=model)["model"]
        elif p.kind == "model_file":
            if model is None:
                return None
            values[p.name] = model
    return values


def _side_by_side(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    after = after[:1, :3] if after.shape[1] >= 3 else after[:1].expand(-1, 3, -1, -1)
    if after.shape[-2:] != before.shape[-2:]:
        scale = before.shape[-2] / after.shape[-2]
        size = (before.shape[-2], max(1, round(after.shape[-1] * scale)))
        after = torch.nn.functional.interpolate(after, size=size, mode="area")
    gap = torch.ones(1, 3, before.shape[-2], 4, device=before.device)
    return torch.cat([before[:1], gap, after.to(before.device).clamp(0, 1)], dim=-1)


def make_pictures(ops: list[Operation], device: str, model: str | None) -> set[str]:
    """Render every picture that can be made; the node ids that have one."""
    from PIL import Image

    PICTURES.mkdir(parents=True, exist_ok=True)
    clean = sample_crop(device)
    done = set()
    for op in ops:
        if not any(o.kind == "image" for o in op.outputs) or not any(p.kind == "image" for p in op.inputs):
            continue
        image = _degrade(op, clean)
        values = _inputs(op, image, clean, model)
        if values is not None and op.name == "grain_match":
            # Grain Match puts a grainy reference's grain onto the clean picture.
            gen = torch.Generator(device=clean.device).manual_seed(1)
            values["reference"] = _grainy(clean, torch.randn(clean.shape, generator=gen, device=clean.device))
        if values is None:
            print(f"{op.node_id}: skipped (needs a weights file: --model)")
            continue
        outputs = run(op.name, device=device, **values)
        result = next(v for o, v in zip(op.outputs, outputs.values(), strict=True) if o.kind == "image")
        grid = _side_by_side(image, result)
        array = (grid[0].permute(1, 2, 0).cpu().numpy() * 255 + 0.5).clip(0, 255).astype("uint8")
        Image.fromarray(array).save(picture_path(op), quality=88)
        done.add(op.node_id)
        print(f"{op.node_id}: {picture_path(op).relative_to(REPO)}")
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table-only", action="store_true", help="rewrite the table, make no pictures")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", help="a weights file for the model nodes' pictures")
    parser.add_argument("--nodes", nargs="*", help="node ids or CLI names to draw (default: all)")
    args = parser.parse_args(argv)
    ops = all_operations()
    if not args.table_only:
        chosen = [op for op in ops if not args.nodes or op.node_id in args.nodes or op.name in args.nodes]
        make_pictures(chosen, args.device, args.model)
    README.write_text(readme_with_table(README.read_text(encoding="utf-8"), table(ops)), encoding="utf-8")
    print(f"README.md: table of {len(ops)} nodes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
