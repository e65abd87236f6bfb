"""Run every benchmark script in bench/ one after the other with the same arguments.

Usage: python bench/run_all.py [--device cuda] [--full]
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    here = Path(__file__).resolve().parent
    failures = []
    for script in sorted(here.glob("bench_*.py")):
        print(f"\n===== {script.name} {' '.join(sys.argv[1:])}", flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(script), *sys.argv[1:]])
        print(f"===== {script.name}: exit {code}, {time.perf_counter() - start:.1f} s", flush=True)
        if code:
            failures.append(script.name)
    if failures:
        print("failed:", ", ".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
