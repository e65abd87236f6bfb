"""The items of a batch: which inputs, in which order, and where their outputs go.

The input is a folder (searched recursively; hidden files and folders and the output folder are
left out; ``glob`` filters relative paths, e.g. ``*.png`` or ``scans/*.tif``), one image file, or a
video file (one item per frame). Items are sorted by relative path, so every run sees the same
order. Outputs mirror the input tree under the output folder: ``IN/a/b.jpg`` -> ``OUT/a/b.png``
(the input's suffix is kept for PNG and TIFF, else PNG, unless ``suffix`` is given); a video
``IN/clip.mp4`` gives ``OUT/clip/frame_000000.png`` … (16-bit unless ``bit_depth`` says otherwise).
An operation with several file outputs writes ``stem_<output>.ext`` for each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InvalidImageError, InvalidParameterError
from ..io import IMAGE_SUFFIXES
from ..kinds import KINDS
from .recipe import Recipe
from .runner import WorkItem

__all__ = ["collect_items", "output_paths"]

OUTPUT_SUFFIXES = (".png", ".tif", ".tiff")


def _is_video(path: Path) -> bool:
    try:
        from .video import is_video
    except ImportError:
        return False
    return is_video(path)


def output_paths(recipe: Recipe, folder: Path, stem: str, suffix: str) -> dict[str, str]:
    """Where each file output of the recipe's last operation goes, for one item."""
    written = [o for o in recipe.last.outputs if KINDS[o.kind].write is not None]
    pictures = [o for o in written if o.kind in ("image", "mask")]
    paths = {}
    for o in written:
        if o.kind == "psf":
            paths[o.name] = folder / f"{stem}_{o.name}.tif"
        elif o.kind == "grain":
            paths[o.name] = folder / f"{stem}_{o.name}.json"
        elif len(pictures) == 1:
            paths[o.name] = folder / f"{stem}{suffix}"
        else:
            paths[o.name] = folder / f"{stem}_{o.name}{suffix}"
    return {k: str(v) for k, v in paths.items()}


def _check_suffix(suffix: str | None) -> str | None:
    if suffix is None:
        return None
    suffix = suffix if suffix.startswith(".") else "." + suffix
    if suffix.lower() not in OUTPUT_SUFFIXES:
        raise InvalidParameterError("--suffix", f"{suffix!r} is not an output format.", "use .png, .tif or .tiff.")
    return suffix.lower()


def _frames(recipe: Recipe, video: Path, rel: Path, root: Path, suffix: str, every_nth: int,
            options: dict[str, Any]) -> list[WorkItem]:
    from . import video as v

    info = v.probe(video)
    folder = root / rel.parent / rel.stem
    overrides_of = _per_frame(recipe, video)
    items = []
    for index in range(0, info.frames, every_nth):
        items.append(WorkItem(
            input=f"{rel.as_posix()}#frame={index:06d}", source=str(video),
            outputs=output_paths(recipe, folder, f"frame_{index:06d}", suffix), root=str(root),
            recipe=recipe.to_dict(), options=options, frame=index, overrides=overrides_of(index),
        ))
    return items


def _per_frame(recipe: Recipe, video: Path):
    """Per-frame parameters that keep a clip consistent: a seed per frame index, and one noise sigma
    per shot for steps whose sigma is automatic (so the estimate does not flicker)."""
    from . import video as v

    seeds = {}
    auto_sigma = []
    for i, step in enumerate(recipe.steps):
        names = {p.name: p for p in step.operation.inputs}
        if "seed" in names:
            seeds[i] = int(step.params.get("seed", names["seed"].default))
        p = names.get("sigma")
        if p is not None and p.zero_is_auto and not step.params.get("sigma", p.default):
            auto_sigma.append((i, p))
    plan = v.analyse_shots(video) if auto_sigma and hasattr(v, "analyse_shots") else None

    def overrides(index: int) -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        for i, seed in seeds.items():
            out.setdefault(i, {})["seed"] = v.frame_seed(seed, index)
        if plan is not None:
            for i, p in auto_sigma:
                sigma = min(float(p.max), round(plan.sigma(index) * 255.0, 4))
                if sigma > 0:
                    out.setdefault(i, {})["sigma"] = sigma
        return out

    return overrides


def collect_items(
    recipe: Recipe,
    source: str | Path,
    output: str | Path,
    *,
    glob: str | None = None,
    suffix: str | None = None,
    every_nth: int = 1,
    options: dict[str, Any] | None = None,
) -> list[WorkItem]:
    """The work items for ``source`` (folder, image or video) written under the folder ``output``;
    see the module docstring. ``options`` go into every item (device, bit depth, recipe hash, run id)."""
    source = Path(source).expanduser().resolve()
    root = Path(output).expanduser().resolve()
    suffix = _check_suffix(suffix)
    if not isinstance(every_nth, int) or every_nth < 1:
        raise InvalidParameterError("--every-nth", f"must be a whole number >= 1, got {every_nth!r}.", "use 1 (all).")
    options = dict(options or {})
    items: list[WorkItem] = []
    if source.is_file():
        files, base = [source], source.parent
    elif source.is_dir():
        base = source
        files = []
        for path in sorted(source.rglob("*")):
            rel = path.relative_to(source)
            if any(part.startswith(".") for part in rel.parts) or not path.is_file():
                continue
            if root == path or root in path.parents:
                continue
            if path.suffix.lower() not in IMAGE_SUFFIXES and not _is_video(path):
                continue
            if glob and not rel.match(glob):
                continue
            files.append(path)
        files = files[::every_nth] if not any(_is_video(f) for f in files) else files
    else:
        raise InvalidImageError(str(source), "no such file or folder.", "give a folder of images, an image or a video.")
    for path in files:
        rel = path.relative_to(base)
        if _is_video(path):
            video_options = {**options, "bit_depth": options.get("bit_depth") or 16}
            items.extend(_frames(recipe, path, rel, root, suffix or ".png", every_nth, video_options))
            continue
        out_suffix = suffix or (path.suffix.lower() if path.suffix.lower() in OUTPUT_SUFFIXES else ".png")
        items.append(WorkItem(
            input=rel.as_posix(), source=str(path),
            outputs=output_paths(recipe, root / rel.parent, rel.stem, out_suffix), root=str(root),
            recipe=recipe.to_dict(), options=options,
        ))
    if not items and source.is_dir():
        raise InvalidImageError(str(source), "holds no image or video files" + (f" matching {glob!r}" if glob else "")
                                + ".", "check the folder and the --glob pattern.")
    seen: dict[str, str] = {}
    for item in items:
        for path in item.outputs.values():
            if path in seen:
                raise InvalidParameterError(
                    "inputs", f"{seen[path]} and {item.input} would both be written to {path}.",
                    "rename one of them, or give --suffix .tif/.png so names stay apart.",
                )
            seen[path] = item.input
    return items
