"""Benchmark: throughput of ``restorekit batch`` — the local engine's overlap, and the Ray engine's scaling.

1. Local engine, overlap: ``restorekit.batch.run`` (decode in threads → compute → encode in threads)
   over a folder of images vs pure compute (the same operation on the same images already in
   memory, on the device, nothing read or written). Items/s of both and their ratio; the target is
   >= 0.90 on one GPU for a fast operation (``unsharp_mask``). It runs on the CPU too, where
   decoding and encoding compete with compute for the same cores, so the ratio is lower there.
2. Ray engine on a local Ray instance with 1, 2 and 4 workers (CPU actors, one torch thread each):
   items/s over the same folder, each item read → unsharp mask → written atomically, as the
   runner's ``process_item`` does; Ray's start-up is not timed (a warm-up map runs first).

    python bench/bench_batch.py                       # CPU, 200 images of 256x256
    python bench/bench_batch.py --device cuda --size 1024 --count 400
    python bench/bench_batch.py --skip-ray
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import common
import numpy as np
import torch

from restorekit.io import read_image, write_image
from restorekit.sharpen.unsharp import unsharp_mask

OP = {"op": "unsharp_mask", "params": {}}


def _make_inputs(folder: Path, count: int, size: int) -> list[Path]:
    """``count`` RGB PNGs (8-bit) cut from the Set12/CBSD68 images, or smooth random images."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        sources = [x[0].permute(1, 2, 0).numpy() for x in common.load_set("CBSD68")[:8]]
    except Exception:  # the dataset is optional for a throughput figure
        sources = [common.smooth_random(1, 3, size, size, seed=i)[0].permute(1, 2, 0).numpy() for i in range(8)]
    paths = []
    for i in range(count):
        src = sources[i % len(sources)]
        reps = (max(1, -(-size // src.shape[0])), max(1, -(-size // src.shape[1])), 1)
        img = np.tile(src, reps)[:size, :size]
        paths.append(write_image(folder / f"img_{i:05d}.png", np.roll(img, i, axis=1)))
    return paths


def _pure_compute(paths: list[Path], device: torch.device) -> float:
    """Items/s of unsharp_mask alone on images already on the device."""
    xs = [torch.from_numpy(read_image(p).pixels).permute(2, 0, 1)[None].to(device) for p in paths]
    unsharp_mask(xs[0])  # warm-up (kernels, caches)
    common.sync(device)
    start = time.perf_counter()
    for x in xs:
        unsharp_mask(x)
    common.sync(device)
    return len(xs) / (time.perf_counter() - start)


def _local_engine(in_dir: Path, out_dir: Path, device: torch.device, count: int) -> tuple[float, str]:
    """Items/s of restorekit.batch.run over the folder (the whole run, decode + compute + encode)."""
    try:
        from restorekit import batch
    except ImportError as exc:
        return float("nan"), f"restorekit.batch not importable ({exc})"
    run = getattr(batch, "run", None)
    if run is None:
        return float("nan"), "restorekit.batch.run is not defined yet"
    start = time.perf_counter()
    try:
        run(OP, in_dir, out_dir, device=str(device))
    except TypeError as exc:  # the runner's keyword names differ: say so rather than guess further
        return float("nan"), f"restorekit.batch.run refused the call ({exc})"
    return count / (time.perf_counter() - start), ""


def _ray_work(item: tuple[str, str]) -> dict:
    """One item as the runner's process_item does it: read, unsharp mask, write atomically, a record."""
    start = time.perf_counter()
    src, dst = item
    x = torch.from_numpy(read_image(src).pixels).permute(2, 0, 1)[None]
    y = unsharp_mask(x)
    write_image(dst, y[0].permute(1, 2, 0).numpy(), 8)
    return {"input": src, "output": dst, "status": "ok", "seconds": time.perf_counter() - start}


def _ray_rows(paths: list[Path], out_dir: Path, workers: list[int]) -> list[list[str]]:
    from restorekit.batch.ray_engine import RayEngine

    rows = []
    items = [(str(p), str(out_dir / p.name)) for p in paths]
    base = None
    for n in workers:
        with RayEngine(num_workers=n) as engine:
            list(engine.map(_ray_work, items[: 2 * n]))  # warm-up: actors started, modules imported
            start = time.perf_counter()
            records = list(engine.map(_ray_work, items))
            rate = len(items) / (time.perf_counter() - start)
        failed = sum(r.get("status") != "ok" for r in records)
        base = base or rate
        rows.append([str(n), common.fmt(rate, ".1f"), common.fmt_ratio(rate, base), str(failed)])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_device_argument(ap, default="auto")
    common.add_threads_argument(ap)
    ap.add_argument("--count", type=int, default=200, help="images in the folder")
    ap.add_argument("--size", type=int, default=256, help="image side, pixels")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4], help="Ray worker counts")
    ap.add_argument("--skip-ray", action="store_true", help="only the local engine")
    args = ap.parse_args()
    device = common.get_device(args.device)
    common.set_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        tmp = Path(tmp)
        paths = _make_inputs(tmp / "in", args.count, args.size)
        print(f"device {common.device_name(device)}; {args.count} RGB PNGs of {args.size}x{args.size}; "
              f"operation unsharp_mask (defaults)")

        pure = _pure_compute(paths, device)
        local, why = _local_engine(tmp / "in", tmp / "out_local", device, args.count)
        print("\n1. local engine: overlap of decode / compute / encode vs pure compute (items/s)")
        common.print_table(
            ["pure compute", "local engine", "engine / pure (target >= 0.90 on one GPU)"],
            [[common.fmt(pure, ".1f"), common.fmt(local, ".1f"), common.fmt_ratio(local, pure)]],
        )
        if why:
            print(f"   local engine not measured: {why}")

        if not args.skip_ray:
            if not common.have_modules("ray"):
                print("\n2. Ray engine: skipped (pip install restorekit[ray])")
                return
            print(f"\n2. Ray engine on a local Ray instance, CPU actors ({common.device_name('cpu')})")
            common.print_table(["workers", "items/s", "vs 1 worker", "failed"],
                               _ray_rows(paths, tmp / "out_ray", args.workers))


if __name__ == "__main__":
    common.run(main)
