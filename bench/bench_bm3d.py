"""Benchmark: our torch BM3D / CBM3D against the reference ``bm3d`` package (CPU), same noisy images.

Noise protocol of the reference literature: white Gaussian noise of std sigma/255 added to the
clean 8-bit image, *not* clipped, fixed seeds (``common.add_noise(x, sigma, seed=index)``). Gray sets
are converted to luma; CBSD68 is denoised as colour (CBM3D, opponent colour space) by both.

Quality mode (default) prints, per set and sigma: mean PSNR ours / reference / difference (image by
image, averaged), mean time per image ours / reference and the ratio. ``--speed`` times gray
512x512 and 1080p RGB (synthetic smooth images plus noise; warm-up, CUDA synchronised), ours and any
installed GPU port (``bm3d_triton``, ``bm3d_cupy``; never a dependency).

    python bench/bench_bm3d.py                                # quick: 3 images per set, 256x256 crops
    python bench/bench_bm3d.py --sets Set12 BSD68 CBSD68 --sigmas 15 25 50 --device cuda --full
    python bench/bench_bm3d.py --speed --device cuda
    python bench/bench_bm3d.py --no-reference --full --device cuda   # ours only (fast)
    python bench/bench_bm3d.py --speed --device cuda --backends fused torch    # time both, max|diff|
    python bench/bench_bm3d.py --speed --device cuda --profiler                # torch.profiler tables
    python bench/bench_bm3d.py --device cuda --sizes 512gray,1080rgb,4krgb    # first call, median, peak GiB
    python bench/bench_bm3d.py --device cpu --sizes 256gray,512gray,256rgb    # + the reference and the ratio
    OMP_NUM_THREADS=2 python bench/bench_bm3d.py --device cpu --threads 2 --sizes 256gray,256rgb  # CPU vs the
        # reference at the same thread count (--threads: torch; OMP_NUM_THREADS: the reference's own threads)

``--backends`` passes ``backend=`` to :func:`bm3d_denoise` ("auto", "torch", "fused", "reference"):
quality mode uses the first, speed mode times each and prints its max |difference| to the first.
Without it the keyword is not passed (the library's default). ``--profiler`` (with ``--speed``)
adds, per case and stage, a torch.profiler table of one call: where its time goes, by device
(CUDA) time and by CPU time, ``--profiler-rows`` rows each.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import time

import common
import numpy as np
import torch

from restorekit.denoise.bm3d import bm3d_denoise
from restorekit.errors import DatasetNotFoundError

COLOUR_SETS = ("CBSD68", "Set3C", "Set5", "Set14")
BACKENDS = ("auto", "torch", "fused", "reference")


def _backend_kw(backend: str | None) -> dict:
    """``{"backend": backend}``, or nothing for None (the library's default)."""
    return {} if backend is None else {"backend": backend}


def _reference(z: torch.Tensor, sigma: float, profile: str) -> np.ndarray:
    import bm3d

    arr = z[0].permute(1, 2, 0).double().numpy()
    if arr.shape[2] == 3:
        return bm3d.bm3d_rgb(arr, sigma, profile=profile)
    return bm3d.bm3d(arr[:, :, 0], sigma, profile=profile)


def _ours(
    z: torch.Tensor, sigma: float, profile: str, device: torch.device, backend: str | None = None
) -> tuple[torch.Tensor, float]:
    zd = z.to(device)
    y, t = common.timed(lambda: bm3d_denoise(zd, sigma=sigma, profile=profile, **_backend_kw(backend)), device=device)
    return y.cpu(), t


def _reference_timed(job: tuple) -> tuple[np.ndarray, float]:
    """The reference on one noisy image, in a worker process: (result, seconds)."""
    z, sigma, profile = job
    t0 = time.perf_counter()
    r = _reference(z, sigma, profile)
    return r, time.perf_counter() - t0


def quality(args: argparse.Namespace, device: torch.device) -> None:
    have_ref = not args.no_reference
    if have_ref:
        try:
            import bm3d  # noqa: F401
        except ImportError:
            print("reference package `bm3d` not installed: ours only")
            have_ref = False
    backend = args.backends[0] if args.backends else None
    print(
        f"device {device}; profile {args.profile}; backend {backend or 'default'}; "
        f"{'full sets' if args.full else 'quick subset'}"
        f"{'' if args.full or not args.crop else f', {args.crop}x{args.crop} crops'}"
    )
    header = (
        f"{'set':8} {'sigma':>5} {'n':>3} {'ours dB':>8} {'ref dB':>8} {'diff':>7} {'min diff':>8} "
        f"{'ours s':>8} {'ref s':>8} {'ratio':>7}"
    )
    print(header)
    warm = False
    for set_name in args.sets:
        colour = set_name in COLOUR_SETS
        paths = common.image_paths(set_name)
        if not args.full:
            paths = paths[: args.limit]
        images = [common.load_image(p, gray=not colour) for p in paths]
        if not args.full and args.crop:
            images = [x[:, :, : args.crop, : args.crop] for x in images]
        for sigma255 in args.sigmas:
            ours_db, ref_db, t_ours, t_ref = [], [], [], []
            pre = None
            noisy = common.noisy_images(images, sigma255, clip=False)
            if have_ref and args.jobs > 1:  # the reference for the whole set at once, in worker processes
                import multiprocessing

                jobs = [(z, sigma255 / 255, args.profile) for z in noisy]
                with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
                    pre = pool.map(_reference_timed, jobs)
            for i, (x, z) in enumerate(zip(images, noisy, strict=True)):
                if not warm:
                    _ours(z, sigma255 / 255, args.profile, device, backend)
                    warm = True
                y, t = _ours(z, sigma255 / 255, args.profile, device, backend)
                ours_db.append(common.psnr(y, x))
                t_ours.append(t)
                if have_ref:
                    if pre is not None:
                        r, tr_i = pre[i]
                    else:
                        t0 = time.perf_counter()
                        r = _reference(z, sigma255 / 255, args.profile)
                        tr_i = time.perf_counter() - t0
                    t_ref.append(tr_i)
                    rt = torch.from_numpy(np.ascontiguousarray(r)).float()
                    rt = rt[None, None] if rt.dim() == 2 else rt.permute(2, 0, 1)[None]
                    ref_db.append(common.psnr(rt, x))
                if args.verbose:
                    extra = f" ref {ref_db[-1]:.2f}" if have_ref else ""
                    print(f"   {paths[i].stem}: ours {ours_db[-1]:.2f}{extra}", flush=True)
            mo = float(np.mean(ours_db))
            to = float(np.mean(t_ours))
            if have_ref:
                d = np.array(ours_db) - np.array(ref_db)
                mr, tr = float(np.mean(ref_db)), float(np.mean(t_ref))
                print(
                    f"{set_name:8} {sigma255:5g} {len(images):3d} {mo:8.3f} {mr:8.3f} {d.mean():+7.3f} "
                    f"{d.min():+8.3f} {to:8.3f} {tr:8.3f} {tr / to:7.1f}x",
                    flush=True,
                )
            else:
                print(
                    f"{set_name:8} {sigma255:5g} {len(images):3d} {mo:8.3f} {'-':>8} {'-':>7} {'-':>8} "
                    f"{to:8.3f} {'-':>8} {'-':>7}",
                    flush=True,
                )


def _ports() -> dict:
    """Installed third-party GPU BM3D ports, as callables (tensor [1,C,H,W] in [0,1], sigma in [0,1])."""
    ports = {}
    try:
        import bm3d_triton  # type: ignore

        fn = getattr(bm3d_triton, "denoise", None) or getattr(bm3d_triton, "bm3d", None)
        if fn is not None:
            ports["bm3d_triton"] = lambda z, s: fn(z, sigma=s)
    except Exception:  # noqa: BLE001 - optional, only reported
        pass
    try:
        import cupy  # type: ignore
        from bm3d_cupy import bm3d_gpu  # type: ignore

        def run_cupy(z: torch.Tensor, s: float):
            arr = cupy.asarray(z[0].permute(1, 2, 0).contiguous())
            return bm3d_gpu(arr if arr.shape[2] == 3 else arr[:, :, 0], s)

        ports["bm3d_cupy"] = run_cupy
    except Exception:  # noqa: BLE001
        pass
    return ports


def _as_nchw(y, channels: int) -> torch.Tensor:
    """A port's output (torch [N,C,H,W], or a CuPy/NumPy [H,W] / [H,W,C] array) as a float tensor [1,C,H,W]."""
    if not isinstance(y, torch.Tensor):
        y = torch.from_dlpack(y) if hasattr(y, "__dlpack__") else torch.from_numpy(np.asarray(y))
    y = y.float()
    if y.dim() == 2:
        y = y[None, None]
    elif y.dim() == 3:
        y = y.permute(2, 0, 1)[None]
    return y.reshape(1, channels, *y.shape[-2:])


def _profile(fn, device: torch.device, rows: int) -> None:
    """torch.profiler tables of one call of ``fn`` (after it has been warmed up): by device time, by CPU time."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        fn()
        common.sync(device)
    table = prof.key_averages()
    if device.type == "cuda":
        print("    by device (CUDA) time")
        print(table.table(sort_by="device_time_total", row_limit=rows, max_name_column_width=50))
    print("    by CPU time")
    print(table.table(sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=50))


def _speed_image(c: int, h: int, w: int) -> torch.Tensor:
    """A Set12 (gray) / CBSD68 (RGB) image tiled to ``h x w``; a smooth synthetic image when the sets are missing."""
    try:
        x = common.load_image(common.image_paths("Set12" if c == 1 else "CBSD68")[0], gray=c == 1)
    except DatasetNotFoundError:
        return common.smooth_random(1, c, h, w, seed=0)
    reps = (h + x.shape[-2] - 1) // x.shape[-2], (w + x.shape[-1] - 1) // x.shape[-1]
    return x.repeat(1, 1, *reps)[:, :, :h, :w].contiguous()


def speed(args: argparse.Namespace, device: torch.device) -> None:
    cases = [("gray 512x512", 1, 512, 512), ("RGB 1920x1080", 3, 1080, 1920)]
    if device.type == "cpu" and not args.full:
        cases = cases[:1]  # 1080p colour takes minutes on a CPU: only with --full
    if args.size:
        h, w = args.size
        cases = [(f"{'gray' if c == 1 else 'RGB'} {w}x{h}", c, h, w) for _, c, _, _ in cases]
    ports = _ports() if device.type == "cuda" and not args.no_ports else {}
    backends = args.backends or [None]
    print(
        f"device {device} ({common.device_name(device)}); profile {args.profile}; sigma 25; median of {args.repeat}"
    )
    for label, c, h, w in cases:
        clean = _speed_image(c, h, w)
        z = common.add_noise(clean, 25, seed=0).to(device)
        first = None
        for backend in backends:
            kw = {"sigma": 25 / 255, "profile": args.profile, **_backend_kw(backend)}
            name = f"ours {backend}" if backend else "ours"
            for stage in ("hard", "all"):
                t = common.time_repeats(lambda z=z, stage=stage, kw=kw: bm3d_denoise(z, stage=stage, **kw), device,
                                        args.repeat)
                print(f"  {name:14} {label:14} stage={stage:4}: {t.median_ms:9.1f} ms", flush=True)
                if args.profiler:
                    _profile(lambda z=z, stage=stage, kw=kw: bm3d_denoise(z, stage=stage, **kw), device,
                             args.profiler_rows)
            y = bm3d_denoise(z, **kw).cpu()
            diff = "" if first is None else f", max|d| to {backends[0]} {float((y - first).abs().max()):.1e}"
            first = y if first is None else first
            print(f"  {name:14} {label:14} PSNR {common.psnr(y, clean):.2f} dB{diff}")
        for name, fn in ports.items():
            try:
                t = common.time_repeats(lambda fn=fn, z=z: fn(z, 25 / 255), device, args.repeat)
                y = _as_nchw(fn(z, 25 / 255), c).clamp(0, 1).cpu()
                print(
                    f"  {name:14} {label:14}           : {t.median_ms:9.1f} ms, PSNR {common.psnr(y, clean):.2f} dB",
                    flush=True,
                )
            except Exception as e:  # noqa: BLE001 - report the port's failure, keep going
                print(f"  {name:14} {label:14} failed: {type(e).__name__}: {str(e)[:120]}")
        if args.reference_speed and c == 1:
            _, t = common.timed(_reference, z.cpu(), 25 / 255, args.profile)
            print(f"  {'reference':14} {label:14} (CPU)      : {t * 1000:9.1f} ms")


SIZES = {"1080rgb": (3, 1080, 1920), "1440rgb": (3, 1440, 2560), "4krgb": (3, 2160, 3840)}


def _parse_size(label: str) -> tuple[int, int, int]:
    """``512gray`` / ``256rgb`` / ``1080rgb`` / ``4krgb`` as (channels, height, width)."""
    if label in SIZES:
        return SIZES[label]
    for kind, c in (("gray", 1), ("rgb", 3)):
        if label.endswith(kind) and label[: -len(kind)].isdigit():
            side = int(label[: -len(kind)])
            return c, side, side
    raise SystemExit(f"--sizes: unknown size {label!r} (e.g. 512gray, 256rgb, 1080rgb, 4krgb)")


def sizes(args: argparse.Namespace, device: torch.device) -> None:
    """Per size: the first call's time (in this process: kernel builds, cuFFT plans, the device
    constants), the median of ``--repeat`` warm calls, the peak memory (CUDA) and, on the CPU, the
    reference package on the same noisy image and the ratio t_ref / t_ours (> 1: ours faster)."""
    cuda = device.type == "cuda"
    ref = device.type == "cpu" and not args.no_reference and common.have_modules("bm3d")
    print(f"device {device} ({common.device_name(device)}); threads {torch.get_num_threads()}; profile "
          f"{args.profile}; sigma 25; median of {args.repeat}")
    print(f"{'size':<10}{'first ms':>11}{'median ms':>11}{'peak GiB':>10}{'PSNR':>8}"
          + (f"{'ref ms':>11}{'ref PSNR':>10}{'ratio':>8}" if ref else ""))
    for label in args.sizes.split(","):
        c, h, w = _parse_size(label.strip())
        clean = _speed_image(c, h, w)
        z = common.add_noise(clean, 25, seed=0).to(device)
        kw = {"sigma": 25 / 255, "profile": args.profile, **_backend_kw(args.backends[0] if args.backends else None)}
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        y, first = common.timed(lambda z=z, kw=kw: bm3d_denoise(z, **kw), device=device)
        t = common.time_repeats(lambda z=z, kw=kw: bm3d_denoise(z, **kw), device, args.repeat, warmup=0)
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if cuda else float("nan")
        line = f"{label:<10}{first * 1e3:>11.1f}{t.median_ms:>11.1f}{peak:>10.2f}{common.psnr(y.cpu(), clean):>8.2f}"
        if ref:
            r, tr = common.timed(_reference, z.cpu(), 25 / 255, args.profile)
            rp = common.psnr(_as_nchw(r, c).float().clamp(0, 1), clean)
            line += f"{tr * 1e3:>11.1f}{rp:>10.2f}{tr / t.median:>8.2f}"
        print(line, flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sets", nargs="+", default=["Set12", "CBSD68"])
    p.add_argument("--sigmas", nargs="+", type=float, default=[25.0])
    common.add_device_argument(p, default="auto")
    p.add_argument("--full", action="store_true", help="whole sets at full size")
    p.add_argument("--limit", type=int, default=3, help="images per set in quick mode")
    p.add_argument("--crop", type=int, default=256, help="crop side in quick mode (0 = full image)")
    p.add_argument("--profile", default="np", help="BM3D profile (parameter set), e.g. np, refilter")
    p.add_argument("--backends", nargs="+", choices=BACKENDS, default=None,
                   help="bm3d_denoise backend= values (quality: the first; speed: each); default: not passed")
    p.add_argument("--no-reference", action="store_true", help="skip the (slow, CPU) reference package")
    p.add_argument("--speed", action="store_true", help="time gray 512x512 and 1080p RGB instead")
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="with --speed: this size for every case")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--sizes", help="comma-separated sizes (512gray,1080rgb,4krgb,256rgb...): first call, median, "
                   "peak memory; on the CPU also the reference and the ratio")
    p.add_argument("--profiler", action="store_true", help="with --speed: torch.profiler tables of one call")
    p.add_argument("--profiler-rows", type=int, default=30, help="rows per profiler table")
    p.add_argument("--reference-speed", action="store_true", help="with --speed: also time the reference (gray)")
    common.add_threads_argument(p)
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--no-ports", action="store_true", help="with --speed: skip the third-party GPU ports")
    p.add_argument("--jobs", type=int, default=1, help="worker processes for the reference (times stay per image)")
    args = p.parse_args()
    if args.backends and "backend" not in inspect.signature(bm3d_denoise).parameters:
        sys.exit("--backends: this restorekit's bm3d_denoise has no backend= keyword")
    common.set_threads(args.threads)
    device = common.get_device(args.device)
    with torch.inference_mode():
        if args.sizes:
            sizes(args, device)
        elif args.speed:
            speed(args, device)
        else:
            quality(args, device)


if __name__ == "__main__":
    common.run(main)
