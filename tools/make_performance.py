"""Time every registered operation at 512x512, 1080p and 4K RGB, and its peer where one exists; write docs/PERFORMANCE.md.

Each (operation, size) is timed in a subprocess of its own (a hang or a crash costs only that cell, and
``--timeout`` bounds it): inputs at the operation's defaults (a Gaussian PSF of 2 px where it takes one), one
warm-up call, then the median of ``--repeat`` timed calls (one when a call takes more than 2 s), synchronised
on CUDA. The peer (OpenCV, scikit-image, kornia or the bm3d package, see PEERS) is timed the same way on the
same image in the same subprocess; the ratio is ours / peer (below 1 = we are faster).

Results go to docs/performance.json under the device ("cpu" or "cuda") and are merged: a CPU run and a CUDA
run (or runs of different sizes) each replace only the cells they measured, and the Markdown is regenerated
from everything stored. On the CPU a size is skipped (with a note) when the previous size's time scaled by
the pixel count predicts more than ``--skip-over`` seconds.

    python tools/make_performance.py --device cpu --sizes 512 --timeout 120
    python tools/make_performance.py --device cuda              # 512, 1080p and 4K on the GPU
    python tools/make_performance.py --render-only              # rewrite the Markdown from the JSON
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

SIZES = {"512": (512, 512), "1080p": (1080, 1920), "4k": (2160, 3840)}
JSON_PATH = REPO / "docs" / "performance.json"
MD_PATH = REPO / "docs" / "PERFORMANCE.md"
MARK = "MAKE_PERFORMANCE_RESULT "


# ---- peers ---------------------------------------------------------------------------------------
# op name -> (label, builder). A builder gets (image [1, 3, H, W] float32 CPU tensor, device) and returns a
# zero-argument callable doing the peer's work at the closest settings to our defaults, or raises ImportError.

def _np_hwc(x):
    return x[0].permute(1, 2, 0).contiguous().numpy()


def _u8(x):
    import numpy as np

    return (np.clip(_np_hwc(x), 0, 1) * 255 + 0.5).astype(np.uint8)


def _peer_nlm(x, device):
    import cv2

    a = _u8(x)
    return lambda: cv2.fastNlMeansDenoisingColored(a, None, 10, 10, 7, 21)


def _peer_bm3d(x, device):
    import bm3d

    a = _np_hwc(x).astype("float64")
    return lambda: bm3d.bm3d_rgb(a, 25 / 255)


def _peer_tv(x, device):
    from skimage.restoration import denoise_tv_chambolle

    a = _np_hwc(x)
    return lambda: denoise_tv_chambolle(a, weight=0.1, channel_axis=-1)


def _peer_wavelet(x, device):
    from skimage.restoration import denoise_wavelet

    a = _np_hwc(x)
    return lambda: denoise_wavelet(a, channel_axis=-1, convert2ycbcr=True, method="BayesShrink", mode="soft",
                                   rescale_sigma=True)


def _peer_clahe(x, device):
    try:
        import kornia

        xd = x.to(device)
        return lambda: kornia.enhance.equalize_clahe(xd, clip_limit=2.0, grid_size=(8, 8))
    except ImportError:
        import cv2

        a = _u8(x)
        clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))

        def run():
            lab = cv2.cvtColor(a, cv2.COLOR_RGB2LAB)
            lab[..., 0] = clahe.apply(lab[..., 0])
            return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)

        return run


def _peer_unsharp(x, device):
    import cv2

    a = _np_hwc(x)

    def run():
        import numpy as np

        blur = cv2.GaussianBlur(a, (0, 0), sigmaX=1.0, borderType=cv2.BORDER_REFLECT)
        return np.clip(cv2.addWeighted(a, 2.0, blur, -1.0, 0.0), 0.0, 1.0)

    return run


def _psf_np():
    from restorekit.deblur.psf import gaussian_psf

    return gaussian_psf(2.0).kernel.double().numpy()


def _peer_rl(x, device):
    from skimage.restoration import richardson_lucy

    a, k = _np_hwc(x), _psf_np()
    return lambda: [richardson_lucy(a[..., c], k, num_iter=100, clip=True) for c in range(3)]


def _peer_wiener(x, device):
    from skimage.restoration import wiener

    a, k = _np_hwc(x).astype("float64"), _psf_np()
    return lambda: [wiener(a[..., c], k, balance=0.01) for c in range(3)]


PEERS: dict[str, tuple[str, Callable]] = {
    "nlm_denoise": ("OpenCV fastNlMeansDenoisingColored", _peer_nlm),
    "bm3d_denoise": ("bm3d package (bm3d_rgb)", _peer_bm3d),
    "tv_denoise": ("skimage denoise_tv_chambolle", _peer_tv),
    "wavelet_denoise": ("skimage denoise_wavelet", _peer_wavelet),
    "clahe": ("kornia equalize_clahe / OpenCV CLAHE", _peer_clahe),
    "unsharp_mask": ("OpenCV GaussianBlur + addWeighted", _peer_unsharp),
    "richardson_lucy": ("skimage richardson_lucy (100 it.)", _peer_rl),
    "wiener_deconvolution": ("skimage wiener", _peer_wiener),
}


# ---- one measurement (subprocess) -----------------------------------------------------------------


def _time(fn: Callable[[], object], device, repeat: int) -> float:
    import common

    first = common.timed(fn, device=device)[1]  # warm-up
    n = 1 if first > 2.0 else repeat
    return statistics.median(common.timed(fn, device=device)[1] for _ in range(n))


def child(name: str, sizes: list[str], device_name: str, repeat: int, peer_sizes: list[str], skip_over: float) -> None:
    """Measure ``name`` at every size in ``sizes`` (one process: the imports and first-call costs are paid once);
    print one result line per size."""
    import torch
    from bench_ops_speed import default_values as speed_defaults

    from restorekit.errors import RestoreError
    from restorekit.params import get_operation

    op = get_operation(name)
    device = torch.device(device_name)
    where = device if op.gpu else torch.device("cpu")
    previous: tuple[str, float] | None = None
    for size in sizes:
        h, w = SIZES[size]
        out = {"op": name, "size": size, "where": where.type}
        if previous and where.type == "cpu":
            (ph, pw) = SIZES[previous[0]]
            predicted = previous[1] * (h * w) / (ph * pw)
            if predicted > skip_over:
                out["note"] = f"skipped on CPU: about {predicted:.0f} s predicted"
                print(MARK + json.dumps(out), flush=True)
                continue
        gen = torch.Generator().manual_seed(0)
        image = torch.nn.functional.interpolate(torch.rand(1, 3, h // 8, w // 8, generator=gen), size=(h, w),
                                                mode="bilinear", align_corners=False)
        image = (image + (25 / 255) * torch.randn(1, 3, h, w, generator=gen)).clamp_(0, 1)
        try:
            from bench_oom import default_inputs

            values = default_inputs(op, image.to(where), speed_defaults)
        except RestoreError as error:
            out["note"] = f"skipped: {error.subject} {error.problem}"
            print(MARK + json.dumps(out), flush=True)
            continue
        try:
            out["ours_s"] = _time(lambda v=values: op.call(v), where, repeat)
            previous = (size, out["ours_s"])
        except Exception as error:  # noqa: BLE001 - recorded in the table
            out["note"] = f"failed: {type(error).__name__}: {str(error).splitlines()[0][:160]}"
        values = None
        if where.type == "cuda":
            torch.cuda.empty_cache()
        print(MARK + json.dumps(out), flush=True)  # ours first: a slow peer cannot lose it
        if size in peer_sizes and name in PEERS:
            label, build = PEERS[name]
            out["peer"] = label
            try:
                fn = build(image, device)
                out["peer_s"] = _time(fn, device, repeat)
            except ImportError as error:
                out["peer_note"] = f"not installed ({error.name})"
            except Exception as error:  # noqa: BLE001
                out["peer_note"] = f"failed: {type(error).__name__}"
            print(MARK + json.dumps(out), flush=True)


def measure(name: str, sizes: list[str], args: argparse.Namespace) -> list[dict]:
    """Results of ``name`` at ``sizes`` from one subprocess bounded by ``args.timeout`` per size."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", name, ",".join(sizes), "--device", args.device,
           "--repeat", str(args.repeat), "--skip-over", str(args.skip_over),
           "--peer-sizes", *(args.peer_sizes if args.peers else ["none"])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    stdout, note = "", None
    timeout = args.timeout * len(sizes)
    try:
        # a scratch working folder: operations that write files (Save Image 16-bit) must not write into the repo
        with tempfile.TemporaryDirectory(prefix="restorekit-perf-") as scratch:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=scratch)
        stdout = done.stdout
        if done.returncode:
            note = f"crashed (exit {done.returncode})"
    except subprocess.TimeoutExpired as error:
        stdout = error.stdout.decode() if isinstance(error.stdout, bytes) else (error.stdout or "")
        note = f"over the {timeout:.0f} s timeout"
    by_size: dict[str, dict] = {}
    for line in stdout.splitlines():
        if line.startswith(MARK):
            r = json.loads(line[len(MARK):])
            by_size[r["size"]] = r  # the last line of a size is the most complete
    results = []
    for size in sizes:
        r = by_size.get(size)
        if r is None:
            r = {"op": name, "size": size, "note": note or "no result"}
            note = note and "not reached (" + note + ")"
        elif note and size == list(by_size)[-1]:
            r.setdefault("peer_note" if "ours_s" in r else "note", note)
        results.append(r)
    return results


# ---- storage and Markdown ------------------------------------------------------------------------


def machine(device: str) -> str:
    import torch

    if device == "cuda":
        return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch "
            f"threads, torch {torch.__version__}")


def load_store() -> dict:
    if JSON_PATH.exists():
        return json.loads(JSON_PATH.read_text())
    return {}


def fmt_s(s: float | None) -> str:
    if s is None:
        return "—"
    return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"


def render(store: dict) -> str:
    from restorekit.params import all_operations

    devices = [d for d in ("cpu", "cuda") if d in store]
    lines = [
        "# Performance",
        "",
        "Generated by `tools/make_performance.py` (do not edit by hand; rerun it). Every operation at its default",
        "parameters on an RGB image (smooth content plus noise of 25 grey levels; a Gaussian PSF of 2 px for the",
        "deblurring nodes): one warm-up call, then the median of a few calls. Peers at their closest settings;",
        "ratio = ours / peer (below 1 = restorekit is faster). CPU-only operations run on the CPU in the CUDA",
        "columns too (marked *). — = no peer or not measured.",
        "",
    ]
    for d in devices:
        info = store[d]
        lines.append(f"- **{d.upper()}**: {info.get('machine', '?')}; measured {info.get('date', '?')}. "
                     f"{info.get('comment', '')}".rstrip())
    lines.append("")
    header = ["operation", "size"]
    for d in devices:
        header += [f"{d.upper()} ours", f"{d.upper()} peer", f"{d.upper()} ratio"]
    header.append("peer / notes")
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] * 2 + ["---:"] * (3 * len(devices)) + ["---"]) + "|")
    for op in all_operations():
        for size in SIZES:
            cells = [d_res for d in devices if (d_res := store[d]["results"].get(op.name, {}).get(size))]
            if not cells:
                continue
            row = [op.name, size]
            notes: list[str] = []
            for d in devices:
                r = store[d]["results"].get(op.name, {}).get(size) or {}
                ours = fmt_s(r.get("ours_s"))
                if r.get("where") == "cpu" and d == "cuda" and "ours_s" in r:
                    ours += "*"
                peer = fmt_s(r.get("peer_s"))
                ratio = f"{r['ours_s'] / r['peer_s']:.2f}" if r.get("ours_s") and r.get("peer_s") else "—"
                row += [ours, peer, ratio]
                if r.get("note"):
                    notes.append(f"{d}: {r['note']}")
                if r.get("peer_note"):
                    notes.append(f"{d} peer: {r['peer_note']}")
                if r.get("peer") and r["peer"] not in notes:
                    notes.insert(0, r["peer"])
            row.append("; ".join(dict.fromkeys(notes)) or "")
            lines.append("| " + " | ".join(x.replace("|", "/") for x in row) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default=None, choices=("cpu", "cuda"), help="default: cuda when available")
    ap.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--ops", nargs="+", metavar="NAME", help="only these operations")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per operation and size (process start "
                    "included)")
    ap.add_argument("--skip-over", type=float, default=120.0,
                    help="CPU: skip a size whose predicted time (previous size scaled by pixels) exceeds this, s")
    ap.add_argument("--no-peers", dest="peers", action="store_false")
    ap.add_argument("--comment", default="", help="a note about the machine or the run, shown in the Markdown")
    ap.add_argument("--render-only", action="store_true", help="only rewrite the Markdown from the JSON")
    ap.add_argument("--peer-sizes", nargs="+", default=list(SIZES), choices=[*SIZES, "none"],
                    help="sizes at which peers are timed (CPU peers at 4K can take minutes)")
    ap.add_argument("--budget", type=float, default=1e9, help="stop starting new operations after this many seconds")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1].split(","), args.device or "cpu", args.repeat, args.peer_sizes,
              args.skip_over)
        return 0
    store = load_store()
    if not args.render_only:
        import torch

        from restorekit.params import all_operations

        args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        if args.device == "cuda" and not torch.cuda.is_available():
            sys.exit("CUDA is not available; use --device cpu")
        names = [op.name for op in all_operations()
                 if any(p.kind == "image" and not p.optional for p in op.inputs)]
        if args.ops:
            names = [n for n in names if n in args.ops]
        entry = store.setdefault(args.device, {"results": {}})
        entry.update(machine=machine(args.device), date=datetime.date.today().isoformat(), comment=args.comment)
        sizes = [x for x in SIZES if x in args.sizes]
        started = time.perf_counter()
        for name in names:
            if time.perf_counter() - started > args.budget:
                print(f"{name:26s} not measured: the --budget of {args.budget:.0f} s is spent", flush=True)
                continue
            start = time.perf_counter()
            for r in measure(name, sizes, args):
                size = r.pop("size")
                r.pop("op", None)
                entry["results"].setdefault(name, {})[size] = r
                print(f"{name:26s} {size:>6s}  ours {fmt_s(r.get('ours_s')):>10s}  peer {fmt_s(r.get('peer_s')):>10s}"
                      f"  {r.get('note', '')} {r.get('peer_note', '')}", flush=True)
            print(f"{'':26s} ({time.perf_counter() - start:.0f} s)", flush=True)
            JSON_PATH.parent.mkdir(parents=True, exist_ok=True)
            JSON_PATH.write_text(json.dumps(store, indent=1, sort_keys=True) + "\n")
            MD_PATH.write_text(render(store))
    MD_PATH.write_text(render(store))
    print(f"wrote {MD_PATH.relative_to(REPO)} and {JSON_PATH.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
