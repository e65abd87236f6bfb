"""Run every benchmark script in bench/ (``bench_*.py``) one after the other, then list failures and times.

Each script gets ``--device`` and, with ``--full``, its own flag for the full run (``--full``;
``--full-size`` for bench_models.py; bench_ops_speed.py has none). Arguments after ``--`` go to every
script unchanged (so only options that every chosen script accepts).

    python bench/run_all.py --device cuda --full
    python bench/run_all.py --only bench_metrics bench_enhance --dry-run
    python bench/run_all.py --only bench_nlm bench_wavelet -- --threads 1
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# the flag of each script's full run where it is not "--full" (None: the script has none)
FULL_FLAG = {"bench_models": "--full-size", "bench_ops_speed": None}


def scripts() -> list[Path]:
    """The benchmark scripts, in name order."""
    return sorted(HERE.glob("bench_*.py"))


def command(script: Path, device: str, full: bool, extra: list[str]) -> list[str]:
    """The command line that runs ``script``."""
    cmd = [sys.executable, str(script), "--device", device]
    flag = FULL_FLAG.get(script.stem, "--full")
    if full and flag:
        cmd.append(flag)
    return cmd + extra


def main() -> int:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--full", action="store_true", help="each script's full run")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="run only these scripts (stem, e.g. bench_nlm)")
    ap.add_argument("--skip", nargs="+", metavar="NAME", default=[], help="leave these scripts out")
    ap.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = ap.parse_args(argv)
    chosen = [s for s in scripts() if (not args.only or s.stem in args.only) and s.stem not in args.skip]
    unknown = set(args.only or []) | set(args.skip)
    unknown -= {s.stem for s in scripts()}
    if unknown:
        ap.error(f"unknown scripts: {', '.join(sorted(unknown))}")
    failures, times = [], {}
    for script in chosen:
        cmd = command(script, args.device, args.full, extra)
        print(f"\n===== {' '.join([script.name, *cmd[2:]])}", flush=True)
        if args.dry_run:
            continue
        start = time.perf_counter()
        code = subprocess.call(cmd)
        times[script.name] = time.perf_counter() - start
        print(f"===== {script.name}: exit {code}, {times[script.name]:.1f} s", flush=True)
        if code:
            failures.append(script.name)
    if times:
        print("\ntimes: " + ", ".join(f"{name} {t:.0f} s" for name, t in times.items()))
    if failures:
        print("failed:", ", ".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
