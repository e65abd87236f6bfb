"""AV1 film-grain tables: the ``filmgrn1`` text that libaom's ``aomenc --film-grain-table`` reads and writes.

Format (one header line ``filmgrn1``, then per entry)::

    E <start> <end> <apply_grain> <random_seed> <update_parameters>
    \\tp <ar_coeff_lag> <ar_coeff_shift> <grain_scale_shift> <scaling_shift> <chroma_scaling_from_luma>
       <overlap_flag> <cb_mult> <cb_luma_mult> <cb_offset> <cr_mult> <cr_luma_mult> <cr_offset>
    \\tsY <n> <x0> <y0> ...      (then sCb, sCr alike)
    \\tcY <2 lag (lag + 1) coefficients>   (then cCb, cCr with one more each: the luma coefficient)

(the ``p`` .. ``cCr`` lines only when ``update_parameters`` is 1). Times are in the encoder's
timestamp units (10 MHz ticks in aomenc).

Amplitude convention (AV1 spec, 8-bit): the white grain is ``Gaussian_Sequence >> (4 +
grain_scale_shift)`` (the sequence has std ~512, so std ``32 / 2^grain_scale_shift`` grey levels),
the AR filter ``a_k = c_k / 2^ar_coeff_shift`` multiplies that std by the rms gain
``G = sqrt(mean |1 / (1 - A(f))|^2)`` and the grain added is ``scaling(Y) * grain >> scaling_shift``.
So a scaling value ``v`` at 8-bit intensity ``x`` means a grain std, in [0, 1] units, of::

    std(x / 255) = v * 2^-scaling_shift * 32 * 2^-grain_scale_shift * G / 255

(chroma: ``G`` of the chroma AR with its luma term; our models keep the luma coefficient relative
to the unit-variance luma pattern and convert, see :func:`av1_to_model`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from ..errors import InvalidParameterError
from .model import GrainModel, ScalingFunction, ar_coefficient_count
from .synthesis import _full_mean, ar_transfer

MAGIC = "filmgrn1"
GAUSS_STD = 512.0
_N = 64  # grid of the AR gain computation
P_FIELDS = ("ar_coeff_lag", "ar_coeff_shift", "grain_scale_shift", "scaling_shift", "chroma_scaling_from_luma",
            "overlap_flag", "cb_mult", "cb_luma_mult", "cb_offset", "cr_mult", "cr_luma_mult", "cr_offset")
_DEFAULTS = {"start_time": 0, "end_time": 9223372036854775807, "apply_grain": 1, "random_seed": 7391,
             "update_parameters": 1, "ar_coeff_shift": 7, "grain_scale_shift": 0, "scaling_shift": 8,
             "overlap_flag": 1, "cb_mult": 128, "cb_luma_mult": 192, "cb_offset": 256, "cr_mult": 128,
             "cr_luma_mult": 192, "cr_offset": 256, "clip_to_restricted_range": 0}
_MAX_POINTS = {"y": 14, "cb": 10, "cr": 10}


# ---- text -------------------------------------------------------------------------------------

def parse_av1_table(text: str) -> list[dict[str, Any]]:
    """The entries of a table's text as AV1 parameter dicts (integers as in the file)."""
    tokens = text.split()
    if not tokens or tokens[0] != MAGIC:
        raise InvalidParameterError("grain table", f"the file does not start with {MAGIC!r}.",
                                    "give an AV1 film-grain table (aomenc --film-grain-table).")
    pos = 1
    entries: list[dict[str, Any]] = []

    def take(n: int, what: str) -> list[int]:
        nonlocal pos
        if pos + n > len(tokens):
            raise InvalidParameterError("grain table", f"entry {len(entries)}: the file ends inside {what}.",
                                        "check the table.")
        try:
            vals = [int(t) for t in tokens[pos:pos + n]]
        except ValueError as e:
            raise InvalidParameterError("grain table", f"entry {len(entries)}: {what} is not integer: {e}.",
                                        "check the table.") from None
        pos += n
        return vals

    def expect(tag: str) -> None:
        nonlocal pos
        if pos >= len(tokens) or tokens[pos] != tag:
            got = tokens[pos] if pos < len(tokens) else "the end of the file"
            raise InvalidParameterError("grain table", f"entry {len(entries)}: expected {tag!r}, got {got!r}.",
                                        "check the table.")
        pos += 1

    while pos < len(tokens):
        expect("E")
        e: dict[str, Any] = dict(zip(("start_time", "end_time", "apply_grain", "random_seed", "update_parameters"),
                                     take(5, "the E line"), strict=True))
        if e["update_parameters"]:
            expect("p")
            e.update(zip(P_FIELDS, take(12, "the p line"), strict=True))
            for tag, plane in (("sY", "y"), ("sCb", "cb"), ("sCr", "cr")):
                expect(tag)
                (n,) = take(1, f"{tag} count")
                flat = take(2 * n, f"{tag} points")
                e[f"scaling_points_{plane}"] = [flat[2 * i: 2 * i + 2] for i in range(n)]
            n_y = ar_coefficient_count(e["ar_coeff_lag"])
            for tag, plane, n in (("cY", "y", n_y), ("cCb", "cb", n_y + 1), ("cCr", "cr", n_y + 1)):
                expect(tag)
                e[f"ar_coeffs_{plane}"] = take(n, f"{tag} coefficients")
        entries.append(e)
    return entries


def format_av1_table(entries: list[dict[str, Any]]) -> str:
    """The text of a table (libaom's layout: tab-indented parameter lines, ``\\n`` line ends)."""
    lines = [MAGIC]
    for e in entries:
        lines.append("E {} {} {} {} {}".format(*(int(e[k]) for k in ("start_time", "end_time", "apply_grain",
                                                                      "random_seed", "update_parameters"))))
        if e["update_parameters"]:
            lines.append("\tp " + " ".join(str(int(e[k])) for k in P_FIELDS))
            lines.append(f"\tsY {len(e['scaling_points_y'])} " + "".join(f" {x} {y}" for x, y in e["scaling_points_y"]))
            for tag, plane in (("sCb", "cb"), ("sCr", "cr")):
                pts = e[f"scaling_points_{plane}"]
                lines.append(f"\t{tag} {len(pts)}" + "".join(f" {x} {y}" for x, y in pts))
            for tag, plane in (("cY", "y"), ("cCb", "cb"), ("cCr", "cr")):
                lines.append(f"\t{tag}" + "".join(f" {c}" for c in e[f"ar_coeffs_{plane}"]))
    return "\n".join(lines) + "\n"


def validate_av1_params(e: dict[str, Any]) -> list[str]:
    """What breaks AV1's range rules in an entry (empty = valid)."""
    bad = []
    if not e.get("update_parameters"):
        return bad

    def rng(name: str, lo: int, hi: int) -> None:
        if not lo <= int(e[name]) <= hi:
            bad.append(f"{name} = {e[name]} outside [{lo}, {hi}]")

    rng("ar_coeff_lag", 0, 3)
    rng("ar_coeff_shift", 6, 9)
    rng("grain_scale_shift", 0, 3)
    rng("scaling_shift", 8, 11)
    rng("random_seed", 0, 65535)
    for k in ("cb_mult", "cb_luma_mult", "cr_mult", "cr_luma_mult"):
        rng(k, 0, 255)
    for k in ("cb_offset", "cr_offset"):
        rng(k, 0, 511)
    for plane, most in _MAX_POINTS.items():
        pts = e[f"scaling_points_{plane}"]
        if len(pts) > most:
            bad.append(f"{len(pts)} {plane} scaling points (at most {most})")
        xs = [p[0] for p in pts]
        if any(b <= a for a, b in zip(xs, xs[1:], strict=False)):
            bad.append(f"{plane} scaling x not strictly increasing")
        if any(not (0 <= v <= 255) for p in pts for v in p):
            bad.append(f"{plane} scaling points outside 0..255")
    for plane in ("y", "cb", "cr"):
        if any(not -128 <= c <= 127 for c in e[f"ar_coeffs_{plane}"]):
            bad.append(f"{plane} AR coefficients outside [-128, 127]")
    if e["chroma_scaling_from_luma"] and (e["scaling_points_cb"] or e["scaling_points_cr"]):
        bad.append("chroma_scaling_from_luma with chroma points")
    return bad


# ---- conversion -------------------------------------------------------------------------------

def _gain2(coeffs: list[float], lag: int) -> tuple[torch.Tensor, float]:
    t = ar_transfer(tuple(coeffs), lag, _N, _N, torch.device("cpu"), torch.float64)
    return t, float(_full_mean(t.abs().square(), _N, _N))


def _amplitude(e: dict[str, Any]) -> float:
    """``std / (v G)``: [0, 1]-unit std per scaling value and unit AR gain."""
    return 2.0 ** -e["scaling_shift"] * GAUSS_STD / 2.0 ** (4 + e["grain_scale_shift"]) / 255.0


def av1_to_model(e: dict[str, Any]) -> GrainModel:
    """A :class:`GrainModel` from one AV1 entry; every AV1 field is kept in ``model.av1`` (exact export)."""
    lag, shift = e.get("ar_coeff_lag", 0), e.get("ar_coeff_shift", 7)
    av1 = {k: (v if not isinstance(v, list) else [list(p) if isinstance(p, list) else p for p in v]) for k, v in e.items()}
    if not e.get("update_parameters"):
        return GrainModel(av1=av1, notes="AV1 entry without parameters (reuses the previous ones)")
    amp = _amplitude(e)
    a_y = [c / 2**shift for c in e["ar_coeffs_y"]]
    t_y, g2_y = _gain2(a_y, lag)
    scal = {"y": ScalingFunction(tuple((x / 255, v * amp * math.sqrt(g2_y)) for x, v in e["scaling_points_y"]))}
    ar_c = {}
    for plane in ("cb", "cr"):
        raw = [c / 2**shift for c in e[f"ar_coeffs_{plane}"]]
        t_c, m_c = _gain2(raw[:-1], lag)
        b = raw[-1]
        # AV1: u_c = T_c (e + b u_Y), u_Y = G_Y p_Y. Ours: p_c = T_c (sigma_e e + b' p_Y), var p_c = 1.
        m_cy = float(_full_mean((t_c * t_y).abs().square(), _N, _N))
        g2_c = m_c + b * b * m_cy
        ar_c[plane] = tuple(raw[:-1]) + (b * math.sqrt(g2_y) / math.sqrt(g2_c),)
        pts = e[f"scaling_points_{plane}"]
        scal[plane] = ScalingFunction(tuple((x / 255, v * amp * math.sqrt(g2_c)) for x, v in pts))
    return GrainModel(
        ar_lag=lag, ar_luma=tuple(a_y), ar_cb=ar_c["cb"], ar_cr=ar_c["cr"], scaling_luma=scal["y"],
        scaling_cb=scal["cb"], scaling_cr=scal["cr"], chroma_from_luma=bool(e["chroma_scaling_from_luma"]),
        synthesis="ar", av1=av1, notes="imported from an AV1 film-grain table",
    )


def _points8(sf: ScalingFunction, scale: float, most: int) -> list[list[int]]:
    pts = list(sf.points)
    if not pts or sf.is_zero:
        return []
    if len(pts) > most:  # resample evenly (keeps the ends)
        t = torch.linspace(pts[0][0], pts[-1][0], most, dtype=torch.float64)
        pts = list(zip(t.tolist(), sf(t).tolist(), strict=True))
    out: list[list[int]] = []
    for x, y in pts:
        xi = int(round(x * 255))
        if out and xi <= out[-1][0]:
            continue
        out.append([xi, int(min(255, max(0, round(y * scale))))])
    return out


def model_to_av1(model: GrainModel, *, start_time: int = 0, end_time: int | None = None,
                 random_seed: int | None = None) -> dict[str, Any]:
    """One AV1 entry for ``model``: its stored ``av1`` fields when it was imported and not changed since,
    else a conversion (coefficients quantised with the smallest shift that holds them, scaling values
    with the smallest scaling shift that keeps them <= 255 at the best precision)."""
    stored = dict(model.av1 or {})
    if stored.get("update_parameters") is not None and av1_to_model(stored).replace(av1={}, notes="") == \
            model.replace(av1={}, notes=""):
        return stored
    if stored and not stored.get("update_parameters"):
        return stored
    e = dict(_DEFAULTS)
    e.update({k: v for k, v in stored.items() if k in ("start_time", "end_time", "random_seed", "apply_grain",
                                                         "overlap_flag", "clip_to_restricted_range")})
    if start_time:
        e["start_time"] = start_time
    if end_time is not None:
        e["end_time"] = end_time
    if random_seed is not None:
        e["random_seed"] = int(random_seed) & 0xFFFF
    lag = model.ar_lag if (model.ar_luma or model.ar_cb or model.ar_cr) else 0
    n = ar_coefficient_count(lag)
    a_y = list(model.ar_luma) or [0.0] * n
    biggest = max([abs(c) for c in a_y + list(model.ar_cb) + list(model.ar_cr)] + [1e-9])
    shift = 9
    while shift > 6 and biggest * 2**shift > 127.5:
        shift -= 1
    q = lambda c: int(max(-128, min(127, round(c * 2**shift))))  # noqa: E731
    e["ar_coeff_lag"], e["ar_coeff_shift"] = lag, shift
    e["ar_coeffs_y"] = [q(c) for c in a_y]
    a_yq = [c / 2**shift for c in e["ar_coeffs_y"]]
    t_y, g2_y = _gain2(a_yq, lag)
    gains = {"y": math.sqrt(g2_y)}
    for plane, coeffs in (("cb", model.ar_cb), ("cr", model.ar_cr)):
        coeffs = list(coeffs) or [0.0] * (n + 1)
        a_c = [q(c) / 2**shift for c in coeffs[:-1]]
        t_c, m_c = _gain2(a_c, lag)
        m_cy = float(_full_mean((t_c * t_y).abs().square(), _N, _N))
        b_ours = coeffs[-1]
        var_e = max((1 - b_ours**2 * m_cy / g2_y) / m_c, 1e-6)
        # p_c = sqrt(var_e) T_c (e + b'/(sqrt(var_e)) p_Y) and p_Y = u_Y / G_Y, so b_av1 = b' / (sqrt(var_e) G_Y).
        b_av1 = b_ours / (math.sqrt(var_e) * gains["y"])
        e[f"ar_coeffs_{plane}"] = [q(c) for c in coeffs[:-1]] + [q(b_av1)]
        bq = e[f"ar_coeffs_{plane}"][-1] / 2**shift
        gains[plane] = math.sqrt(m_c + bq * bq * m_cy)
    e["chroma_scaling_from_luma"] = int(model.chroma_from_luma)
    funcs = {"y": model.scaling_luma, "cb": model.scaling_cb, "cr": model.scaling_cr}
    peak = max([y / gains[p] for p, f in funcs.items() for _, y in f.points] + [0.0])
    base = 2.0**-8 * GAUSS_STD / 2.0 ** (4 + e["grain_scale_shift"]) / 255.0  # std per value at scaling_shift 8
    ss = 8
    while ss < 11 and peak / (base * 2.0 ** (8 - ss - 1)) <= 255:
        ss += 1
    e["scaling_shift"] = ss
    amp = _amplitude(e)
    for plane in ("y", "cb", "cr"):
        if plane != "y" and model.chroma_from_luma:
            e[f"scaling_points_{plane}"] = []
            continue
        e[f"scaling_points_{plane}"] = _points8(funcs[plane], 1.0 / (amp * gains[plane]), _MAX_POINTS[plane])
    return e


def av1_exportable(model: GrainModel) -> bool:
    """Whether ``model`` fits an AV1 film-grain table without losing more than quantisation: AR synthesis
    (or white grain), lag <= 3, AV1's coefficient range, scaling values within 0..255 at the largest
    scaling shift."""
    if not isinstance(model, GrainModel):
        return False
    if model.synthesis != "ar" and model.ar_luma:
        return False
    if model.synthesis != "ar" and model.grain_size > 0:
        return False
    try:
        e = model_to_av1(model)
    except (InvalidParameterError, ValueError, RuntimeError):
        return False
    if validate_av1_params(e):
        return False
    coeffs = list(model.ar_luma) + list(model.ar_cb[:-1]) + list(model.ar_cr[:-1])
    return all(-128 / 64 <= c <= 127 / 64 for c in coeffs)


def read_av1_table(path: str | Path) -> list[GrainModel]:
    """The entries of an AV1 film-grain table file as grain models (AV1 fields kept in ``.av1``)."""
    p = Path(path)
    if not p.is_file():
        raise InvalidParameterError("grain table", f"{p} not found.", "check the path.")
    entries = parse_av1_table(p.read_text())
    if not entries:
        raise InvalidParameterError("grain table", f"{p} has no entries.", "give a table with at least one E line.")
    return [av1_to_model(e) for e in entries]


def write_av1_table(path: str | Path, models: list[GrainModel]) -> Path:
    """Write ``models`` as an AV1 film-grain table; returns the path. Models without stored times get
    consecutive whole-range entries (one model: the whole stream)."""
    entries = [model_to_av1(m) for m in models]
    for e in entries:
        bad = validate_av1_params(e)
        if bad:
            raise InvalidParameterError("grain", f"not expressible as an AV1 film-grain table: {'; '.join(bad)}.",
                                        "use an AR model with lag <= 3 (Grain Analyze's models are).")
    p = Path(path)
    p.write_text(format_av1_table(entries))
    return p


__all__ = ["av1_exportable", "av1_to_model", "format_av1_table", "model_to_av1", "parse_av1_table", "read_av1_table",
           "validate_av1_params", "write_av1_table"]
