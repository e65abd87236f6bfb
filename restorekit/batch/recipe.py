"""Batch recipes: one operation with its parameters, or a pipeline of operations, as data.

A recipe is what ``restorekit batch`` runs on every item. It comes from a small JSON or YAML file::

    {"op": "wavelet_denoise", "params": {"sigma": 15, "wavelet": "db4"}}
    {"pipeline": [{"op": "wavelet_denoise", "params": {"sigma": 15}},
                  {"op": "unsharp_mask", "params": {"amount": 0.5}}]}

or from the command line (``--op NAME --param key=value ...``, ``--op`` repeated for a pipeline).
Parameters are in the units of the nodes and ``restorekit run`` (noise sigma in 0-255 grey levels,
0 = automatic) and are checked against the declarations of :mod:`restorekit.params` when the
recipe is made, so a typo fails before the first item, not after the thousandth.

Each step takes the previous step's image output as its image input; the last step's file outputs
(images, masks, PSFs, grain models) are what the batch writes, and its numbers and text (reports)
go into the manifest. Values reach the core through the same conversion as ``restorekit run``
(:func:`restorekit.kinds.convert_inputs` on the option strings).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidParameterError, MissingDependencyError
from ..kinds import KINDS
from ..params import Operation, Param, get_operation

__all__ = ["Recipe", "Step", "load_recipe", "parse_param", "primary_image", "recipe_from_args"]

#: Version of the recipe hash: bump when what the hash covers changes, so old manifests are redone.
HASH_VERSION = 1


def primary_image(op: Operation) -> Param | None:
    """The image input an item fills: the first image input, when it is required (as in ``restorekit run``)."""
    images = [p for p in op.inputs if p.kind == "image"]
    return images[0] if images and not images[0].optional else None


def _user_value(op: Operation, p: Param, value: Any, where: str) -> Any:
    """``value`` checked against ``p`` and normalised to its user-level type (floats as floats, so that
    ``1`` and ``1.0`` give the same recipe hash)."""
    if p.is_data:
        if not isinstance(value, str) or not value.strip():
            raise InvalidParameterError(
                f"{where}{p.name}", f"expected {KINDS[p.kind].cli_help}, got {value!r}.",
                f"give it as text (see `restorekit info {op.name}`).",
            )
        return value
    kind = KINDS[p.kind]
    try:
        if isinstance(value, str) and p.kind not in ("string", "choice", "model_file"):
            value = p.parse(value)
        kind.check(p, value)
    except InvalidParameterError as err:
        raise InvalidParameterError(f"{where}{p.name}", err.problem, err.fix) from None
    if p.kind == "float":
        return float(value)
    if p.kind == "int":
        return int(value)
    return value


@dataclass(frozen=True)
class Step:
    """One operation of a recipe and its parameters as given (user units), checked."""

    op: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def operation(self) -> Operation:
        return get_operation(self.op)


@dataclass(frozen=True)
class Recipe:
    """One operation or a pipeline of operations with their parameters; see the module docstring.

    Build it with :meth:`from_dict`, :func:`load_recipe` or :func:`recipe_from_args`, which check it.
    """

    steps: tuple[Step, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recipe:
        """A recipe from ``{"op": ..., "params": {...}}`` or ``{"pipeline": [{"op": ..., "params": ...}, ...]}``."""
        if not isinstance(data, Mapping):
            raise InvalidParameterError(
                "recipe", f"expected an object, got {type(data).__name__}.",
                'write {"op": "NAME", "params": {...}} or {"pipeline": [...]}.',
            )
        keys = set(data)
        if "pipeline" in keys:
            if keys - {"pipeline"}:
                raise InvalidParameterError("recipe", f"unexpected keys {sorted(keys - {'pipeline'})} beside 'pipeline'.",
                                            "put op and params inside each pipeline entry.")
            entries = data["pipeline"]
            if not isinstance(entries, list) or not entries:
                raise InvalidParameterError("recipe.pipeline", "must be a non-empty list of steps.",
                                            'write "pipeline": [{"op": "NAME", "params": {...}}, ...].')
        else:
            entries = [data]
        return cls.of(entries)

    @classmethod
    def of(cls, entries: Iterable[Mapping[str, Any]]) -> Recipe:
        """A recipe from a list of ``{"op": ..., "params": {...}}`` steps, checked."""
        steps = []
        for i, entry in enumerate(entries):
            where = f"recipe step {i + 1}"
            if not isinstance(entry, Mapping) or "op" not in entry:
                raise InvalidParameterError(where, f"expected {{'op': NAME, 'params': {{...}}}}, got {entry!r}.",
                                            "run `restorekit list` for the operation names.")
            unknown = set(entry) - {"op", "params"}
            if unknown:
                raise InvalidParameterError(where, f"unexpected keys {sorted(unknown)}.", "a step has only 'op' and 'params'.")
            params = entry.get("params") or {}
            if not isinstance(params, Mapping):
                raise InvalidParameterError(f"{where} params", f"expected an object, got {type(params).__name__}.",
                                            'write "params": {"name": value, ...}.')
            steps.append(_checked_step(str(entry["op"]), params, i))
        recipe = cls(tuple(steps))
        recipe._check_chain()
        return recipe

    def _check_chain(self) -> None:
        if not self.steps:
            raise InvalidParameterError("recipe", "has no operation.", "give --op NAME or a recipe file.")
        for i, step in enumerate(self.steps[:-1]):
            if image_output_of(step.operation) is None:
                nxt = self.steps[i + 1].op
                raise InvalidParameterError(
                    f"recipe step {i + 1} ({step.op})", f"has no image output to pass on to {nxt}.",
                    "put operations that output an image first, or end the pipeline with this one.",
                )

    def to_dict(self) -> dict[str, Any]:
        """The recipe as a file holds it (the inverse of :meth:`from_dict`)."""
        steps = [{"op": s.op, "params": dict(s.params)} for s in self.steps]
        return steps[0] if len(steps) == 1 else {"pipeline": steps}

    def resolved(self) -> list[dict[str, Any]]:
        """Every step with all its parameters: the given ones and the defaults of the others."""
        out = []
        for step in self.steps:
            op = step.operation
            primary = primary_image(op)
            values = {p.name: step.params.get(p.name, p.default) for p in op.inputs if p is not primary}
            out.append({"op": op.name, "params": values})
        return out

    def hash(self, extra: Mapping[str, Any] | None = None) -> str:
        """sha256 (hex) of everything that decides the outputs: operations, all parameter values (defaults
        included, so a changed default redoes items), the content of parameter files (weights, PSF
        images, grain tables), and ``extra`` (output options such as bit depth)."""
        files = {}
        for step in self.resolved():
            for value in step["params"].values():
                if isinstance(value, str) and len(value) < 4096:
                    path = Path(value).expanduser()
                    if path.is_file():
                        files[value] = _file_sha256(path)
        payload = {"version": HASH_VERSION, "steps": self.resolved(), "files": files, "extra": dict(extra or {})}
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def last(self) -> Operation:
        return self.steps[-1].operation

    @property
    def has_seed(self) -> bool:
        return any(p.name == "seed" for s in self.steps for p in s.operation.inputs)

    def describe(self) -> str:
        """One line: ``op(k=v, ...) -> op(...)``."""
        return " -> ".join(f"{s.op}({', '.join(f'{k}={v}' for k, v in s.params.items())})" for s in self.steps)


def image_output_of(op: Operation) -> str | None:
    """The name of the first image output of ``op`` (what a pipeline passes on), or None."""
    return next((o.name for o in op.outputs if o.kind == "image"), None)


def _checked_step(name: str, params: Mapping[str, Any], index: int) -> Step:
    op = get_operation(name)
    where = f"{op.name}." if index == 0 else f"step {index + 1} {op.name}."
    primary = primary_image(op)
    if primary is None:
        raise InvalidParameterError(
            f"recipe {op.name}", "takes no image to process, so it cannot run over a folder or a video.",
            "choose an operation that takes an image (`restorekit list`).",
        )
    names = {p.name: p for p in op.inputs if p is not primary}
    checked = {}
    for key, value in params.items():
        key = str(key).replace("-", "_")
        if key not in names:
            raise InvalidParameterError(
                f"{where}{key}", f"is not a parameter of {op.name}" + (" (it is the image each item fills)"
                                                                      if primary.name == key else "") + ".",
                f"use one of: {', '.join(names) or 'none'} (see `restorekit info {op.name}`).",
            )
        if value is None:
            continue
        checked[key] = _user_value(op, names[key], value, where)
    missing = [p.name for p in names.values() if p.is_data and not p.optional and p.name not in checked]
    if missing:
        raise InvalidParameterError(
            f"recipe {op.name}", f"needs {', '.join(missing)}, which the recipe does not give.",
            f"add them as parameters (see `restorekit info {op.name}`).",
        )
    return Step(op.name, checked)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def parse_param(text: str) -> tuple[str, str]:
    """``key=value`` from the command line as ``(key, value)``."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise InvalidParameterError("--param", f"cannot read {text!r}.", "write --param key=value, e.g. --param sigma=15.")
    return key.strip(), value.strip()


def recipe_from_args(steps: list[tuple[str, list[str]]]) -> Recipe:
    """A recipe from ``[(op, ["key=value", ...]), ...]`` as given by ``--op`` / ``--param``."""
    return Recipe.of([{"op": op, "params": dict(parse_param(t) for t in params)} for op, params in steps])


def load_recipe(source: str | Path | Mapping[str, Any] | Recipe) -> Recipe:
    """A recipe from a ``.json``/``.yaml``/``.yml`` file, a dict, or a :class:`Recipe` (returned as is)."""
    if isinstance(source, Recipe):
        return source
    if isinstance(source, Mapping):
        return Recipe.from_dict(source)
    path = Path(source)
    if not path.is_file():
        raise InvalidParameterError("recipe", f"{path} is not a file.",
                                    "give a .json or .yaml recipe file, or --op NAME --param key=value.")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as err:
            raise MissingDependencyError("recipe", "reading a YAML recipe needs PyYAML.",
                                         "pip install pyyaml, or write the recipe as JSON.") from err
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise InvalidParameterError("recipe", f"{path} is not valid YAML ({err}).", "fix the file.") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise InvalidParameterError(
                "recipe", f"{path} is not valid JSON ({err.msg} at line {err.lineno}).",
                "fix the file (a YAML recipe needs the .yaml suffix).",
            ) from None
    return Recipe.from_dict(data)
