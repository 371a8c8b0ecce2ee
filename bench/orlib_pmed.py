"""OR-Library p-median benchmark: solve each instance exactly and compare with its proven optimum.

    python bench/orlib_pmed.py DIR [NAMES...]

DIR holds pmed1.txt .. pmed40.txt and pmedopt.txt (../shared/data/orlib-pmed). Prints one line per instance:
``name n p optimum objective seconds`` and a closing count. Each instance is solved on one core
(HiGHS threads = 1).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from sim.siting import read_orlib_pmed, solve_pmedian


def optima(folder: Path) -> dict[str, float]:
    values = {}
    for line in (folder / "pmedopt.txt").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith("pmed"):
            values[parts[0]] = float(parts[1])
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("names", nargs="*", default=[f"pmed{k}" for k in range(1, 41)])
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    best = optima(args.folder)
    print(f"{'name':8s} {'n':>4s} {'p':>4s} {'optimum':>8s} {'objective':>9s} {'seconds':>8s}", flush=True)
    reached = 0
    for name in args.names:
        cost, p = read_orlib_pmed(args.folder / f"{name}.txt")
        t0 = time.perf_counter()
        result = solve_pmedian(cost, np.ones(len(cost)), p)
        seconds = time.perf_counter() - t0
        ok = abs(result.objective - best[name]) < 0.5
        reached += ok
        print(
            f"{name:8s} {len(cost):4d} {p:4d} {best[name]:8.0f} {result.objective:9.0f} {seconds:8.2f}"
            f"{'' if ok else '  MISSED'}",
            flush=True,
        )
    print(f"{reached} of {len(args.names)} instances reached their proven optimum")


if __name__ == "__main__":
    main()
