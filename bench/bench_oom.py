"""Every GPU-capable operation on an 8K RGB image: completes, or fails with a clean restorekit error, never a crash.

Each operation (every registered one with an image input, defaults, a Gaussian PSF of 2 px where it takes one)
runs in a subprocess of its own on a 7680x4320 RGB image, so that an out-of-memory crash or a hang of one
cannot take the others down. Per operation the table gives the outcome: ``completed``, ``restorekit error``
(a clear message, e.g. out of memory with the fix), ``other error`` (an exception that is not a restorekit
error: a bug to fix), ``crash`` (the process died: signal or exit without a result), ``timeout``, or
``skipped`` (needs a model); the seconds and the peak GPU memory (``torch.cuda.max_memory_allocated``).

    python bench/bench_oom.py                       # cuda, all operations, 8 minutes in all at most
    python bench/bench_oom.py --ops bm3d_deblur wavelet_denoise --timeout 120
    python bench/bench_oom.py --device cpu --size 512x512 --ops unsharp_mask   # a smoke test without a GPU

Exit status 1 when any operation crashed or raised something other than a restorekit error.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import common

MARK = "BENCH_OOM_RESULT "


def child(name: str, size: tuple[int, int], device_name: str) -> None:
    """Run one operation and print its result line (the parent reads it)."""
    import torch
    from bench_ops_speed import default_values as speed_defaults

    from restorekit.errors import RestoreError
    from restorekit.params import get_operation

    device = torch.device(device_name)
    op = get_operation(name)
    h, w = size
    gen = torch.Generator().manual_seed(0)
    # smooth content plus noise, like a photograph, built on the CPU in float32 then moved
    image = torch.nn.functional.interpolate(torch.rand(1, 3, h // 16, w // 16, generator=gen), size=(h, w),
                                            mode="bilinear", align_corners=False)
    image = (image + 0.05 * torch.randn(1, 3, h, w, generator=gen)).clamp_(0, 1)
    where = device if op.gpu else torch.device("cpu")
    result = {"op": name, "device": where.type, "peak_gib": float("nan"), "seconds": float("nan")}
    try:
        values = default_inputs(op, image.to(where), speed_defaults)
    except RestoreError as error:
        result.update(status="skipped", message=f"{error.subject}: {error.problem}")
        print(MARK + json.dumps(result), flush=True)
        return
    del image
    common.reset_peak_memory(where)
    start = time.perf_counter()
    try:
        op.call(values)
        common.sync(where)
        result["status"] = "completed"
    except RestoreError as error:
        result.update(status="restorekit error", message=str(error))
    except Exception as error:  # noqa: BLE001 - recorded: anything but a restorekit error is a bug
        result.update(status="other error", message=f"{type(error).__name__}: {str(error).splitlines()[0][:300]}")
    result["seconds"] = time.perf_counter() - start
    result["peak_gib"] = common.peak_memory_gib(where)
    print(MARK + json.dumps(result), flush=True)



def default_inputs(op, image, speed_defaults):
    """bench_ops_speed's default inputs, with optional model inputs left unconnected (None) instead of skipped."""
    optional = [p for p in op.inputs if p.kind == "model" and p.optional]
    if not optional:
        return speed_defaults(op, image)
    import dataclasses

    from restorekit.params import Param

    stub = dataclasses.replace(op, inputs=tuple(p for p in op.inputs if p not in optional))
    values = speed_defaults(stub, image)
    values.update({p.name: None for p in optional})
    assert all(isinstance(p, Param) for p in optional)
    return values


def image_operations() -> list[str]:
    from restorekit.params import all_operations

    return [op.name for op in all_operations() if any(p.kind == "image" and not p.optional for p in op.inputs)]


def run_one(name: str, args: argparse.Namespace, timeout: float) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", name, "--size", args.size, "--device", args.device]
    try:  # a scratch working folder: operations that write files (Save Image 16-bit) must not write here
        with tempfile.TemporaryDirectory(prefix="restorekit-oom-") as scratch:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=scratch)
    except subprocess.TimeoutExpired:
        return {"op": name, "status": "timeout", "message": f"no result within {timeout:.0f} s"}
    for line in done.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
    return {"op": name, "status": "crash", "message": f"exit code {done.returncode}: {tail[:300]}"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_device_argument(ap, default="auto")
    ap.add_argument("--ops", nargs="+", metavar="NAME", help="only these operations")
    ap.add_argument("--size", default="7680x4320", help="WxH of the RGB test image (default 8K: 7680x4320)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per operation, process start included")
    ap.add_argument("--budget", type=float, default=480.0, help="seconds for the whole run; the rest is skipped")
    ap.add_argument("--full", action="store_true", help="accepted for bench/run_all.py; no effect")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    if args.child:
        child(args.child, (h, w), args.device)
        return 0
    device = common.get_device(args.device)
    names = image_operations()
    if args.ops:
        unknown = sorted(set(args.ops) - set(names))
        if unknown:
            ap.error(f"not an operation with an image input: {', '.join(unknown)}")
        names = [n for n in names if n in args.ops]
    print(f"device {device} ({common.device_name(device)}); image {w}x{h} RGB; {len(names)} operations; "
          f"timeout {args.timeout:.0f} s each, {args.budget:.0f} s in all", flush=True)
    start = time.perf_counter()
    rows, results = [], []
    for name in names:
        left = args.budget - (time.perf_counter() - start)
        if left < 5:
            r = {"op": name, "status": "not run", "message": "out of --budget"}
        else:
            r = run_one(name, args, min(args.timeout, left))
        results.append(r)
        rows.append([name, r.get("device", "-"), r["status"], common.fmt(r.get("seconds"), ".1f", "-"),
                     common.fmt(r.get("peak_gib"), ".2f", "-"), (r.get("message") or "")[:110]])
        print(f"  {name}: {r['status']} {(r.get('message') or '')[:200]}", flush=True)
    print()
    common.print_table(["operation", "device", "outcome", "s", "peak GiB", "message"], rows)
    bad = [r["op"] for r in results if r["status"] in ("crash", "other error")]
    counts = {s: sum(r["status"] == s for r in results) for s in dict.fromkeys(r["status"] for r in results)}
    print("\n" + ", ".join(f"{k}: {v}" for k, v in counts.items()))
    if bad:
        print("not clean:", ", ".join(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    common.run(main)
